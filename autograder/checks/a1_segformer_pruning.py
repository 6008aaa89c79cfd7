"""Hidden checks of A1 (Segformer structural pruning, magnitude vs Taylor).

Each ``check_*(k)`` runs in the judge, outside the submission's sandbox, and drives the student's
functions in the kernel through ``k`` (:class:`autograder.judge.Kernel`). Inputs are seeded here and
never appear in the release; expected values come from the reference answers
(:mod:`autograder.reference.segformer`), computed here. Messages say what is wrong, never what the
expected value is.

Models built for a check live in the kernel (the student's code drives them there); what a check
concludes about a model rests on its ``state_dict`` and head counts fetched as plain data and
rebuilt here with the reference code. The final check re-measures the student's model that way:
mIoU on a held-out portraits split with a seed only this file knows, latency against the baseline
in this process. Nothing the notebook printed or computed is trusted.
"""
from __future__ import annotations

import functools
import math

import torch
from torch import nn

from .. import pinning
from ..judge import Remote, RemoteError
from ._common import call as _call
from ._common import expects_error as _expects_error
from ._common import tensor as _tensor

_HELD_OUT_SEED = 48611
_TINY = dict(hidden_sizes=[8, 16, 40, 64], num_attention_heads=[1, 2, 5, 8], decoder_hidden_size=32)


# ------------------------------------------------------------------------------------ helpers
def _ref():
    from ..reference import segformer as R

    return R


def _tiny(seed: int):
    from effnn.models import build_segformer

    return build_segformer(2, seed=seed, **_TINY).eval()


def _tiny_in_kernel(k, seed: int) -> Remote:
    """The same tiny Segformer as :func:`_tiny`, built in the kernel by the library."""
    model = k.build("effnn.models.build_segformer", 2, seed=seed, **_TINY)
    model.eval()
    return model


def _images(n: int, size: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=gen), torch.randint(0, 2, (n, size, size), generator=gen)


def _logits(model, x):
    out = model(x)
    return out.logits if hasattr(out, "logits") else out


def _attention_names(model) -> list[str]:
    from effnn.segformer import _segformer_classes

    hf = _segformer_classes()
    return [n for n, m in model.named_modules() if isinstance(m, hf.SegformerAttention)]


def _attrs(k, obj: Remote, paths: list[str], what: str):
    """``obj.<path>`` for every dotted path, read in the kernel in one request."""
    getter = k.build("operator.attrgetter", *paths)
    try:
        got = getter(obj)
    except RemoteError:
        raise AssertionError(f"{what} does not have the layers of a Segformer") from None
    return list(got) if len(paths) > 1 else [got]


def _kernel_logits(model, x, what: str) -> torch.Tensor:
    """``model(x)``'s logits, computed in the kernel (a HF output comes back as a dict)."""
    out = _call(model, x, what=what)
    if isinstance(out, dict):
        out = out.get("logits")
    return _tensor(out, f"{what}'s logits")


def _state_of(model, what: str) -> dict:
    """The kernel model's ``state_dict`` as plain tensors."""
    if not isinstance(model, Remote):
        raise AssertionError(f"{what} must be an nn.Module")
    try:
        state = model.state_dict()
    except RemoteError:
        raise AssertionError(f"{what} must be an nn.Module (its state_dict() failed)") from None
    if not isinstance(state, dict) or not state or not all(
            isinstance(key, str) and isinstance(v, torch.Tensor) for key, v in state.items()):
        raise AssertionError(f"{what}'s state_dict() is not a dict of tensors")
    return state


def _heads_of(k, model: Remote, names: list[str], what: str) -> list[int]:
    heads = _attrs(k, model, [f"{n}.num_attention_heads" for n in names], what)
    if not all(isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in heads):
        raise AssertionError(f"{what} has attention layers without a valid head count")
    return heads


def _rebuild(state: dict, heads: list[int], segformer_config, what: str) -> nn.Module:
    """The kernel model rebuilt here from its weights, shapes and head counts (reference code)."""
    try:
        return _ref().rebuild(state, heads, segformer_config)
    except Exception:
        raise AssertionError(f"{what} is not a consistent pruned Segformer: its weights do not fit the "
                             "architecture, or its widths cannot be split into its heads") from None


def _kernel_pruner(k, model: Remote, amount: float, scope: str) -> Remote:
    """torch-pruning's MetaPruner configured like the reference, built in the kernel around ``model``.

    ``amount`` and ``scope`` are A1's names for torch-pruning's ``pruning_ratio`` and ``global_pruning``.
    """
    return k.build("torch_pruning.pruner.MetaPruner", model, torch.rand(1, 3, 64, 64),
                   importance=k.build("torch_pruning.importance.GroupMagnitudeImportance", p=2),
                   pruning_ratio=float(amount), global_pruning=scope == "global",
                   ignored_layers=[model.decode_head.classifier], num_heads=k.build("effnn.segformer.head_counts", model),
                   output_transform=k.build("operator.itemgetter", "logits"))


def _pruned_in_kernel(k, seed: int, amount: float):
    """A tiny Segformer pruned uniformly in the kernel (library code only), heads synced remotely.

    Uniform pruning leaves each sequence reduction as many output as input channels, so the library's
    own forward still works without the student's patch. Returns the kernel model and its copy here.
    """
    model = _tiny_in_kernel(k, seed)
    _kernel_pruner(k, model, amount, scope="layer").step()
    names = _attention_names(_tiny(seed))
    heads = _heads_of(k, model, names, "the pruned model")
    state = _state_of(model, "the pruned model")
    here = _rebuild(state, heads, _tiny(seed).config, "the pruned model")
    for name, att in zip(names, _attrs(k, model, names, "the pruned model")):
        mine = here.get_submodule(name)
        att.head_dim = mine.head_dim
        att.scaling = mine.scaling
    return model, here


# -------------------------------------------------------------------------------------- mIoU
def check_mean_iou(k):
    """mean_iou matches the reference on seeded logits/labels (upsampling, absent classes, ignore_index,
    a custom ignore_index), leaves its inputs unchanged, and raises ValueError for 3-D logits and for a
    label outside [0, C) that is not the ignore index."""
    R = _ref()
    mean_iou = k.arg("mean_iou")
    gen = torch.Generator().manual_seed(9127)
    cases = []
    for n, c, h, up in ((3, 2, 12, 1), (2, 4, 8, 2), (1, 5, 6, 4), (4, 3, 10, 1)):
        logits = torch.randn(n, c, h, h, generator=gen)
        labels = torch.randint(0, c, (n, h * up, h * up), generator=gen)
        cases.append((logits, labels))
    # a class absent from both prediction and labels, and ignored pixels
    logits = torch.randn(2, 4, 8, 8, generator=gen)
    logits[:, 3] = -50.0
    labels = torch.randint(0, 3, (2, 8, 8), generator=gen)
    labels[0, :3] = 255
    cases.append((logits, labels))
    # ignored pixels hide the only mistakes
    logits = torch.zeros(1, 2, 4, 4)
    logits[0, 1, :2] = 5.0
    labels = torch.zeros(1, 4, 4, dtype=torch.long)
    labels[0, 0] = 255
    labels[0, 1] = 1
    cases.append((logits, labels))

    def number(value) -> float:
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AssertionError("mean_iou must return a number")
        return float(value)

    for i, (logits, labels) in enumerate(cases):
        kl, ky = k.put(logits), k.put(labels)
        got = number(_call(mean_iou, kl, ky, what="mean_iou"))
        if not torch.equal(k.value(kl), logits) or not torch.equal(k.value(ky), labels):
            raise AssertionError("mean_iou must not modify its inputs")
        if not math.isfinite(got) or not 0.0 <= got <= 1.0:
            raise AssertionError("mean_iou must return a finite number in [0, 1]")
        if abs(got - R.mean_iou(logits, labels)) > 1e-6:
            if i >= len(cases) - 2:
                raise AssertionError("mean_iou is wrong when a class is absent or some pixels carry "
                                     "the ignore index")
            if logits.shape[-1] != labels.shape[-1]:
                raise AssertionError("mean_iou is wrong when logits are smaller than the labels "
                                     "(upsample the logits bilinearly first)")
            raise AssertionError("mean_iou is wrong on some seeded logits/labels")
    custom = number(_call(mean_iou, cases[-1][0], torch.where(cases[-1][1] == 255, 7, cases[-1][1]),
                          ignore_index=7, what="mean_iou(..., ignore_index=7)"))
    if abs(custom - R.mean_iou(cases[-1][0], cases[-1][1])) > 1e-6:
        raise AssertionError("mean_iou does not honour a custom ignore_index")
    _expects_error(mean_iou, (torch.randn(2, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long)), ("ValueError",),
                   "mean_iou with 3-D logits")
    # a label outside [0, C) that is not the ignore index must be refused, not clamped into a class
    outside = cases[0][1].clone()
    outside[0, 0, 0] = cases[0][0].shape[1] + 3
    _expects_error(mean_iou, (cases[0][0], outside), ("ValueError",), "mean_iou with a label outside [0, C)")


# -------------------------------------------------------------------------------- prunability
def check_make_prunable(k):
    """The patch keeps the unpruned output; globally pruned and head-synced, it equals the reference."""
    R = _ref()
    make_prunable, sync_attention_heads = k.arg("make_prunable"), k.arg("sync_attention_heads")
    x, _ = _images(2, 64, 312)
    with torch.no_grad():
        before = _logits(_tiny(311), x)
    model = _tiny_in_kernel(k, 311)
    patched = _call(make_prunable, model, what="make_prunable")
    patched = patched if isinstance(patched, Remote) and patched.is_module else model
    after = _kernel_logits(patched, x, "the patched model")
    if after.shape != before.shape or not torch.allclose(before, after, atol=1e-6, rtol=0):
        raise AssertionError("make_prunable changes the output of the unpruned model")
    # prune the student's patched model with torch-pruning as the reference does, then let the student sync heads
    try:
        pruner = _kernel_pruner(k, patched, 0.5, scope="global")
        pruner.step()
    except RemoteError:
        raise AssertionError("after make_prunable the model still cannot be pruned globally "
                             "(the sequence reduction's reshape)") from None
    _call(sync_attention_heads, patched, pruner.num_heads, what="sync_attention_heads")
    reference = R.prune(_tiny(311), "magnitude", 0.5)
    names = _attention_names(reference)
    geometry = _attrs(k, patched, [f"{n}.{a}" for n in names for a in ("num_attention_heads", "head_dim", "scaling")],
                      "the patched model")
    for i, name in enumerate(names):
        att = reference.get_submodule(name)
        heads, head_dim, scaling = geometry[3 * i:3 * i + 3]
        if (heads, head_dim) != (att.num_attention_heads, att.head_dim):
            raise AssertionError("sync_attention_heads leaves a wrong head count or head_dim")
        if not isinstance(scaling, (int, float)) or abs(scaling - att.scaling) > 1e-9:
            raise AssertionError("sync_attention_heads leaves a stale attention scaling")
    patched.eval()
    for size in (64, 96):
        xs, _ = _images(1, size, 313 + size)
        try:
            got = _kernel_logits(patched, xs, "the pruned model")
        except AssertionError:
            raise AssertionError(f"the pruned, synced model fails at a {size}x{size} input") from None
        with torch.no_grad():
            want = _logits(reference, xs)
        if got.shape != want.shape or not torch.allclose(got, want, atol=1e-4, rtol=1e-4):
            raise AssertionError("the pruned model's output differs from a correctly patched one")


# ------------------------------------------------------------------------------------ pruner
def check_build_pruner(k):
    """build_pruner(model, importance, amount, scope=..., example_inputs=..., round_to=...) builds working
    pruners for scope="layer", scope="global" and scope="layer" with round_to: heads kept, classifier
    kept, widths multiples of round_to, parameter counts like the reference's; and it raises ValueError
    for amount=1.0 and for a scope other than "global"/"layer"."""
    import torch_pruning as tp

    from effnn.measure import count_params

    R = _ref()
    build_pruner = k.arg("build_pruner")
    # uniform, global, and uniform with round_to (widths multiples of it, torch-pruning's own count)
    for seed, scope, amount, round_to in ((521, "layer", 0.5, None), (521, "global", 0.4, None),
                                          (523, "layer", 0.45, 8)):
        original = _tiny(seed)
        names = _attention_names(original)
        heads = [original.get_submodule(n).num_attention_heads for n in names]
        model = _tiny_in_kernel(k, seed)
        imp = k.build("torch_pruning.importance.GroupMagnitudeImportance", p=2)
        extra = {} if round_to is None else {"round_to": round_to}
        try:
            pruner = build_pruner(model, imp, amount, scope=scope,
                                  example_inputs=torch.rand(1, 3, 64, 64), **extra)
        except RemoteError as exc:
            if exc.is_a("NotImplementedError"):
                raise AssertionError("build_pruner is not implemented yet") from None
            if exc.is_a("TypeError") and "scope" in str(exc.message):  # e.g. the old global_pruning= signature
                raise AssertionError("build_pruner must take scope='global' or scope='layer' (torch-pruning's "
                                     "global_pruning=True/False) and amount, the fraction removed") from None
            if extra and exc.is_a("TypeError"):
                raise AssertionError("build_pruner must accept round_to") from None
            raise AssertionError(f"build_pruner raised {exc.names[0]} on a valid input") from None
        if not isinstance(pruner, Remote):
            raise AssertionError("build_pruner must return a torch-pruning pruner (with .step())")
        try:
            step = pruner.step
        except RemoteError:
            raise AssertionError("build_pruner must return a torch-pruning pruner (with .step())") from None
        try:
            step()
        except RemoteError as exc:
            raise AssertionError(f"pruner.step() raised {exc.names[0]}") from None
        try:
            declared = pruner.num_heads
        except RemoteError:
            declared = None
        if not isinstance(declared, dict) or not declared:
            raise AssertionError("the pruner does not know the attention heads: declare num_heads")
        if sorted(declared.values()) != sorted(h for h in heads for _ in range(3)):
            raise AssertionError("heads were removed: declare num_heads and prune head dimensions only")
        state = _state_of(model, "the pruned model")
        cls = state.get("decode_head.classifier.weight")
        if cls is None or cls.shape[0] != 2:
            raise AssertionError("the classifier lost output channels: it must be ignored")
        try:
            pruned = R.rebuild(state, heads, original.config)
        except Exception:
            raise AssertionError("the pruned model cannot keep its heads (num_heads or the heads' "
                                 "geometry)") from None
        for size in (64, 96):
            try:
                with torch.no_grad():
                    out = _logits(pruned, torch.rand(1, 3, size, size))
            except Exception:
                raise AssertionError(f"the pruned model fails at a {size}x{size} input "
                                     "(num_heads or the heads' geometry)") from None
            if tuple(out.shape) != (1, 2, size // 4, size // 4):
                raise AssertionError("the pruned model returns logits of a wrong shape")
        if round_to and any(m.out_features % round_to for m in pruned.modules() if isinstance(m, nn.Linear)):
            raise AssertionError(f"with round_to={round_to} some pruned widths are not multiples of it")
        reference = R.make_prunable(_tiny(seed))
        ref = R.build_pruner(reference, tp.importance.GroupMagnitudeImportance(p=2), amount,
                             scope=scope, example_inputs=torch.rand(1, 3, 64, 64), round_to=round_to)
        ref.step()
        got, want = count_params(pruned), count_params(reference)
        if scope == "layer" and got != want:
            raise AssertionError("with scope='layer' (uniform pruning) the parameter count does not match "
                                 "the requested amount")
        if scope == "global" and abs(got - want) > 0.1 * want:
            raise AssertionError("with scope='global' the parameter count is far from the requested amount")
    # bad arguments: a clear ValueError, not a pruner that removes everything or ignores the scope
    model = _tiny_in_kernel(k, 521)
    imp = k.build("torch_pruning.importance.GroupMagnitudeImportance", p=2)
    _expects_error(build_pruner, (model, imp, 1.0), ("ValueError",), "build_pruner with amount=1.0",
                   kwargs={"scope": "global"})
    _expects_error(build_pruner, (model, imp, 0.3), ("ValueError",), "build_pruner with scope='local'",
                   kwargs={"scope": "local"})


# -------------------------------------------------------------------------------- importance
def check_importance(k):
    """Per-channel magnitude/Taylor scores on seeded weights; gradients averaged over all calibration batches."""
    R = _ref()
    magnitude_scores, taylor_scores = k.arg("magnitude_scores"), k.arg("taylor_scores")
    accumulate_gradients = k.arg("accumulate_gradients")
    gen = torch.Generator().manual_seed(733)
    for shape in ((7, 5), (6, 3, 3, 3), (4, 1, 3, 3)):
        w, g = torch.randn(*shape, generator=gen), torch.randn(*shape, generator=gen)
        m = _call(magnitude_scores, w, what="magnitude_scores")
        t = _call(taylor_scores, w, g, what="taylor_scores")
        for name, got, want in (("magnitude_scores", m, w.flatten(1).pow(2).sum(1)),
                                ("taylor_scores", t, (w * g).flatten(1).abs().sum(1))):
            if not torch.is_tensor(got) or tuple(got.shape) != (shape[0],):
                raise AssertionError(f"{name} must return one score per output channel")
            if not torch.allclose(got.float(), want, rtol=1e-5, atol=1e-6):
                raise AssertionError(f"{name} gives wrong scores on some seeded weights")
    # gradients of the mean loss over several calibration batches
    reference, single = _tiny(947), _tiny(947)
    batches = [_images(2, 64, 950 + i) for i in range(3)]
    model = _tiny_in_kernel(k, 947)
    _call(accumulate_gradients, model, batches, what="accumulate_gradients")
    R.accumulate_taylor_gradients(reference, batches)
    R.accumulate_taylor_gradients(single, batches[:1])
    names = [n for n, _ in reference.named_parameters()]
    grads = dict(zip(names, _attrs(k, model, [f"{n}.grad" for n in names], "the model")))
    got_all, want_all, one_all = [], [], []
    for (name, q), (_, r) in zip(reference.named_parameters(), single.named_parameters()):
        if q.grad is None:
            continue
        p = grads[name]
        if p is None:
            raise AssertionError("accumulate_gradients leaves some parameters without a gradient")
        if not isinstance(p, torch.Tensor) or p.shape != q.shape:
            raise AssertionError("accumulate_gradients leaves gradients of a wrong shape")
        got_all.append(p.flatten().float())
        want_all.append(q.grad.flatten())
        one_all.append(r.grad.flatten())
    got, want, one = torch.cat(got_all), torch.cat(want_all), torch.cat(one_all)
    if not torch.isfinite(got).all():
        raise AssertionError("accumulate_gradients leaves non-finite gradients")
    cos = float(nn.functional.cosine_similarity(got, want, dim=0))
    if cos > 0.9999 and float(nn.functional.cosine_similarity(got, one, dim=0)) > 0.9999:
        raise AssertionError("accumulate_gradients seems to use one batch only")
    if cos < 0.999:
        raise AssertionError("accumulate_gradients does not give the gradient of the loss averaged "
                             "over all calibration batches (in eval mode, no dropout)")
    if abs(float(got.norm() / want.norm()) - 1) > 1e-3 and abs(float(got.norm() / want.norm()) - 3) > 3e-3:
        raise AssertionError("accumulate_gradients scales the gradient oddly: average (or sum) the batches")
    # Taylor scores from those gradients rank the channels of one layer like the reference
    ref_layer = reference.decode_head.linear_fuse
    t = _tensor(_call(taylor_scores, ref_layer.weight.detach(), grads["decode_head.linear_fuse.weight"],
                      what="taylor_scores"), "taylor_scores' result")
    want = (ref_layer.weight * ref_layer.weight.grad).flatten(1).abs().sum(1)
    if t.shape != want.shape:
        raise AssertionError("taylor_scores must return one score per output channel")
    if not torch.equal(torch.argsort(t.float()), torch.argsort(want)) and \
            float(nn.functional.cosine_similarity(t.float(), want, dim=0)) < 0.999:
        raise AssertionError("Taylor scores from accumulated gradients rank the channels wrongly")


# ---------------------------------------------------------------------------------- fine-tune
def check_finetune(k):
    """Fine-tuning a pruned model towards seeded teacher logits changes it, ends in eval mode, and gets closer."""
    from effnn import segformer as S
    from effnn.distill import kd_loss

    finetune = k.arg("finetune")
    teacher = _tiny(1201)
    x, y = _images(16, 64, 1202)
    with torch.no_grad():
        y = _logits(teacher, x).argmax(1)  # labels the teacher agrees with, at logit size
        y = nn.functional.interpolate(y[:, None].float(), size=(64, 64), mode="nearest")[:, 0].long()
    t_logits = S.teacher_logits(teacher, x)
    student, start_model = _pruned_in_kernel(k, 1201, 0.5)
    names = _attention_names(start_model)
    heads = [start_model.get_submodule(n).num_attention_heads for n in names]
    before = {n: v.clone() for n, v in start_model.state_dict().items()}

    def distance(model):
        with torch.no_grad():
            s = S.upsample(S.predict_logits(model, x), (64, 64))
            return float(kd_loss(s, S.upsample(t_logits, (64, 64)), y, T=4.0, alpha=0.5))

    _call(finetune, student, (x, y), 12, teacher=t_logits, what="finetune")
    state = _state_of(student, "the fine-tuned model")
    if set(state) != set(before) or any(state[n].shape != v.shape for n, v in before.items()):
        raise AssertionError("finetune changed the model's structure: it must only train the weights")
    if all(torch.equal(state[n], v) for n, v in before.items()):
        raise AssertionError("finetune did not change the weights")
    if student.training is not False:
        raise AssertionError("finetune must leave the model in eval mode")
    tuned = _rebuild(state, heads, start_model.config, "the fine-tuned model")
    if not distance(tuned) < distance(start_model):
        raise AssertionError("finetune with a teacher does not bring the student closer to it")


# ---------------------------------------------------------------------------------- save/load
def check_save_load(k):
    """A pruned model saved to a file and loaded back is a new model with the saved model's outputs at two sizes."""
    model, here = _pruned_in_kernel(k, 1409, 0.45)
    save_pruned, load_pruned = k.arg("save_pruned"), k.arg("load_pruned")
    probes = [_images(1, s, 1410 + s)[0] for s in (64, 96)]
    with torch.no_grad():
        want = [_logits(here, p) for p in probes]
    folder = k.lib("tempfile.mkdtemp")()
    path = k.build("pathlib.Path", folder, "pruned.pt")
    try:
        _call(save_pruned, model, path, what="save_pruned")
        if k.lib("os.path.exists")(path) is not True:
            raise AssertionError("save_pruned did not write the file it was given")
        # a loader that keeps the live object would now return wrong outputs
        params = {n for n, _ in here.named_parameters()}
        model.load_state_dict({n: v + 1.0 if n in params else v for n, v in here.state_dict().items()})
        loaded = _call(load_pruned, path, what="load_pruned")
        if not isinstance(loaded, Remote) or not loaded.is_module or k.same(loaded, model):
            raise AssertionError("load_pruned must return a new model built from the file")
        try:
            loaded.eval()
        except RemoteError:
            raise AssertionError("load_pruned must return a new model built from the file") from None
        for p, w in zip(probes, want):
            try:
                g = _kernel_logits(loaded, p, "the reloaded model")
            except AssertionError:
                raise AssertionError("the reloaded model fails on some input size") from None
            if g.shape != w.shape or not torch.allclose(g, w, atol=1e-5, rtol=1e-5):
                raise AssertionError("the reloaded model's outputs differ from the saved model's")
    finally:
        try:
            k.lib("shutil.rmtree")(folder, ignore_errors=True)
        except RemoteError:
            pass


# ------------------------------------------------------------------------------ final answer
@functools.lru_cache(maxsize=2)
def _held_out(n: int, size: int = 96):
    """The held-out portraits and the baseline's mIoU on them: rendered once per judge process.

    A grading worker judges submission after submission; the tensors stay in the judge (a kernel
    only ever receives copies) and on the grader's disk (:func:`._common.judge_cache`), so keeping
    them costs no trust and saves ~2 s of rendering per worker.
    """
    import effnn.data.portraits
    from effnn import segformer as S
    from effnn.data import Portraits

    from ._common import judge_cache

    def render():
        x, y = Portraits(n, size=size, seed=_HELD_OUT_SEED).tensors()
        return (x * 255).round() / 255, y  # 8-bit like the training images

    x, y = judge_cache(f"a1-held-out-{n}-{size}-{_HELD_OUT_SEED}", render, effnn.data.portraits.__file__)
    return x, y, _ref().evaluate_miou(S.load_baseline(), (x, y))


#: what the released notebook loads under nbgrader (fast mode): ``portrait_tensors(split, n)``
GRADING_PORTRAITS = {"train": 160, "val": 96}


def warm_cache() -> None:
    """Render the portraits the notebook will load into the grader's cache, which kernels read, and
    the judge's held-out set.

    Called by the grader before the first submission (:func:`autograder.grade.warm_cache`): the
    sandbox mounts the cache read-only, so without this every submission renders them again.
    """
    from effnn import config
    from effnn import segformer as S

    for split, n in GRADING_PORTRAITS.items():
        S.portrait_tensors(split, n=n)
    _held_out(config.pick(200, 96))


def check_final_answer(k, max_drop: float = 0.01):
    """answer has the keys criterion, amount, scope, miou, speedup, macs_ratio (well typed); the chosen
    model, rebuilt here from its weights, is pruned, within 1 pp on held-out portraits, and as fast as
    claimed when re-measured."""
    from effnn import config
    from effnn import segformer as S
    from effnn.measure import compare, count_macs, count_params

    R = _ref()
    answer, final_model = k.arg("answer"), k.arg("final_model")
    if not isinstance(answer, dict):
        raise AssertionError("answer must be a dict")
    needed = {"criterion", "amount", "scope", "miou", "speedup", "macs_ratio"}
    if not needed <= set(answer):
        old = sorted({"ratio", "global"} & set(answer))
        hint = f" (rename {old}: the pruned fraction is 'amount', global or uniform is 'scope')" if old else ""
        raise AssertionError(f"answer must have the keys {sorted(needed)}{hint}")
    if answer["criterion"] not in ("magnitude", "taylor"):
        raise AssertionError("answer['criterion'] must be 'magnitude' or 'taylor'")
    if not isinstance(answer["scope"], str) or answer["scope"] not in ("global", "layer"):
        raise AssertionError("answer['scope'] must be 'global' or 'layer'")
    claimed = {}
    for key in ("amount", "miou", "speedup", "macs_ratio"):
        value = answer[key]
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AssertionError("answer's amount, miou, speedup and macs_ratio must be numbers")
        claimed[key] = float(value)
    if not all(math.isfinite(v) for v in claimed.values()):
        raise AssertionError("answer's numbers must be finite")
    if not 0.0 <= claimed["amount"] < 1.0:
        raise AssertionError("answer['amount'] must be the fraction of channels removed, in [0, 1)")
    if not isinstance(final_model, Remote) or not final_model.is_module:
        raise AssertionError("final_model must be the pruned nn.Module of the chosen configuration")
    baseline = S.load_baseline()
    names = _attention_names(baseline)
    state = _state_of(final_model, "final_model")
    heads = _heads_of(k, final_model, names, "final_model")
    try:
        model = R.rebuild(state, heads)
    except Exception:
        raise AssertionError("final_model is not a pruned copy of the baseline: its weights do not fit the "
                             "baseline's layers, or its widths cannot be split into its heads") from None
    probe = S.deploy_input()
    try:
        with torch.no_grad():
            out = _logits(model, probe)
    except Exception:
        raise AssertionError("final_model fails on a 256x256 image") from None
    if tuple(out.shape) != (1, 2, 64, 64):
        raise AssertionError("final_model returns logits of a wrong shape")
    try:
        final_model.eval()
    except RemoteError:
        pass
    try:
        theirs = _kernel_logits(final_model, probe, "final_model")
    except AssertionError:
        raise AssertionError("final_model fails on a 256x256 image") from None
    if theirs.shape != out.shape or not torch.allclose(theirs.float(), out, atol=1e-3, rtol=1e-3):
        raise AssertionError("final_model does not compute what its weights and head counts say "
                             "(a Segformer with these weights gives other outputs)")
    if count_params(model) >= count_params(baseline):
        raise AssertionError("final_model is not structurally pruned (it has as many parameters as the baseline)")
    macs_ratio = count_macs(baseline, probe) / max(count_macs(model, probe), 1)
    if macs_ratio < 1.05:
        raise AssertionError("final_model does not need fewer MACs than the baseline")
    if abs(macs_ratio - claimed["macs_ratio"]) > 0.05 * macs_ratio:
        raise AssertionError("the reported macs_ratio does not match final_model")
    x, y, base_miou = _held_out(config.pick(200, 96))
    miou = R.evaluate_miou(model, (x, y))
    if abs(miou - claimed["miou"]) > 0.03:
        raise AssertionError("the reported mIoU does not match final_model on held-out portraits")
    if base_miou - miou > max_drop + 0.01:
        raise AssertionError("final_model loses more than 1 pp of mIoU on held-out portraits")
    # CPU timings are noisy: re-measure (interleaved, same process) up to three times before judging,
    # and accept the ratio of medians or of fastest runs (background load slows runs, never speeds them)
    # in this machine's timing turn: no other judge times meanwhile and the other slots hold still
    speedup = 0.0
    with pinning.timing_turn():
        for _ in range(3):
            ratio = compare(baseline, model, probe, threads=S.DEPLOY_THREADS, rounds=4, min_run_time=0.15)["ratio"]
            speedup = max(speedup, ratio["latency_ms"], ratio["latency_min_ms"])
            if speedup >= 0.8 * claimed["speedup"]:
                break
    if speedup < 1.05:
        raise AssertionError("final_model is not measurably faster than the baseline at 256x256")
    if speedup < 0.6 * claimed["speedup"]:
        raise AssertionError("the reported speedup is not reproduced by re-measuring final_model")
