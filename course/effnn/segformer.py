"""Segformer on portraits: the baseline of assignment A1 and everything needed to prune it.

- :data:`BASELINE` / :func:`train_baseline` / :func:`load_baseline`: a narrow MiT-b0-like Segformer
  trained from scratch, deterministically, by ``python -m effnn.segformer train-baseline``.
- :func:`mean_iou` / :func:`evaluate_miou`: the segmentation metric.
- :func:`make_prunable`, :func:`build_pruner`, :func:`prune`: structural pruning with torch-pruning.
- :func:`finetune`: recover accuracy, with distillation from the unpruned model.
- :func:`save_pruned` / :func:`load_pruned`: a pruned model cannot be pickled; store shapes instead.
- :func:`sweep` / :func:`best_under_drop`: the homework question.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import config
from .train import progress_bar, seed_everything

ASSETS = Path(__file__).resolve().parent / "assets"
BASELINE_CHECKPOINT = ASSETS / "segformer_portraits.pt"
BASELINE_META = ASSETS / "segformer_portraits.json"
DEPLOY_SIZE = 256  # latency is measured here: at 96x96 per-op overhead hides most of the gain
# ... on one thread: a batch-1 deployment on one laptop or phone core, and the only stable timing on a
# shared 2-core machine (there, 2-thread ratios of the same pair of models drift by about 10 %)
DEPLOY_THREADS = 1

#: The baseline architecture: MiT-b0's depths, strides and heads at half its width. Half width
#: passes 0.90 val mIoU on portraits in a CPU budget where the full b0 width still underfits.
BASELINE = dict(hidden_sizes=[16, 32, 80, 128], num_attention_heads=[1, 2, 5, 8], decoder_hidden_size=128)


@dataclass
class BaselineRecipe:
    """How the committed baseline was trained: all of it is recorded next to the checkpoint."""
    size: int = 96
    n_train: int = 6000
    n_val: int = 400
    steps: int = 1800
    fast_steps: int = 4
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup: int = 100
    clip: float = 1.0
    seed: int = 0
    threads: int = 2
    eval_every: int = 300
    architecture: dict = field(default_factory=lambda: dict(BASELINE))


# ----------------------------------------------------------------------------------------- data
def portrait_tensors(split: str = "train", n: int | None = None, size: int = 96, seed: int = 0):
    """``(images uint8 (n,3,H,W), masks uint8 (n,H,W))`` of portraits, cached on disk.

    Rendering costs ~10-25 ms a sample, so thousands of training images are rendered once and kept
    under ``config.cache_dir()``. Images are stored as 8-bit like real photos; :func:`as_float`
    turns a batch into the [0, 1] floats the model takes. ``EFFNN_DATA=real`` reads the Human
    Matting folder instead (alpha > 0.5 is foreground).
    """
    from .data import segmentation

    if config.data_source() == "real":
        x, y = segmentation(split, n=n, size=size, seed=seed)
        return (x * 255).round().to(torch.uint8), y.to(torch.uint8)
    from .data import portrait_split

    ds = portrait_split(split, n=n, size=size, seed=seed)
    folder = config.cache_dir() / "portraits"
    path = folder / f"{split}_n{ds.n}_s{size}_seed{seed}.pt"
    # sample i depends only on (seed, i), so a larger cached set serves any smaller request
    for cached in sorted(folder.glob(f"{split}_n*_s{size}_seed{seed}.pt")) if folder.is_dir() else []:
        try:
            if int(cached.name.split("_n")[1].split("_")[0]) >= ds.n:
                x, y = torch.load(cached)
                return x[:ds.n].clone(), y[:ds.n].clone()
        except Exception:  # a half-written or foreign file: ignore it
            continue
    x, y = ds.tensors(progress=not config.quiet())
    x = (x * 255).round().to(torch.uint8)
    y = y.to(torch.uint8)
    try:  # a read-only or size-limited sandbox (the grader) simply renders again next time
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{id(x)}.tmp")
        torch.save((x, y), tmp)
        tmp.replace(path)
    except OSError:
        pass
    return x, y


def as_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [0, 1]; float images pass through."""
    return images.float() / 255 if images.dtype == torch.uint8 else images.float()


def portraits(split: str = "val", n: int | None = None, size: int = 96, seed: int = 0):
    """``(images float (n,3,H,W) in [0,1], masks long (n,H,W))`` ready for a model."""
    x, y = portrait_tensors(split, n=n, size=size, seed=seed)
    return as_float(x), y.long()


# ---------------------------------------------------------------------------------------- model
def baseline_config(num_labels: int = 2):
    """The ``SegformerConfig`` of the baseline (MiT-b0 layout, :data:`BASELINE` widths)."""
    from .models import segformer_config

    return segformer_config(num_labels, **BASELINE)


def new_baseline(seed: int = 0, num_labels: int = 2):
    """A randomly initialised baseline ``SegformerForSemanticSegmentation`` (deterministic)."""
    from .models import build_segformer

    return build_segformer(num_labels, seed=seed, **BASELINE)


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Logits ``(N, C, H/4, W/4)`` of every image (uint8 or float), in eval mode."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    was_training = model.training
    model.eval()
    out = torch.cat([logits_of(model, as_float(images[i:i + batch_size]))
                     for i in range(0, len(images), batch_size)])
    model.train(was_training)
    return out


def logits_of(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits ``(N, C, H/4, W/4)`` whatever the model returns (a HF output or a tensor)."""
    out = model(x)
    return out.logits if hasattr(out, "logits") else out


def upsample(logits: torch.Tensor, size) -> torch.Tensor:
    """Bilinear upsampling of logits to the label size, as Segformer's own loss does."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return nn.functional.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


def _lr_at(step: int, total: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to zero: the factor applied to the base learning rate."""
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(total - warmup, 1)
    return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def train_baseline(out: str | Path | None = None, fast: bool | None = None,
                   recipe: BaselineRecipe | None = None) -> dict:
    """Train the baseline from scratch on portraits and save ``state_dict`` + a JSON record.

    Deterministic for the recipe's seed and thread count: the run is capped by steps, not by the
    clock. The loop is written out (rather than ``effnn.train.fit``) because it is step-based with
    warm-up, cosine decay, gradient clipping and flip augmentation.
    """
    recipe = recipe or BaselineRecipe()
    fast = config.fast_mode() if fast is None else fast
    out = Path(out) if out is not None else config.cache_dir() / "segformer" / "baseline.pt"
    steps = recipe.fast_steps if fast else recipe.steps
    n_train = min(recipe.n_train, 64) if fast else recipe.n_train
    n_val = min(recipe.n_val, 32) if fast else recipe.n_val
    torch.set_num_threads(recipe.threads)
    x_train, y_train = portrait_tensors("train", n=n_train, size=recipe.size)
    x_val, y_val = portraits("val", n=n_val, size=recipe.size)

    seed_everything(recipe.seed)
    model = new_baseline(seed=recipe.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_at(s, steps, recipe.warmup))
    gen = torch.Generator().manual_seed(recipe.seed)
    curve, t0 = [], time.perf_counter()
    order = torch.randperm(len(x_train), generator=gen)
    pos = 0
    model.train()
    bar = progress_bar(range(steps), desc="baseline")
    for step in bar:
        if pos + recipe.batch_size > len(order):
            order, pos = torch.randperm(len(x_train), generator=gen), 0
        idx = order[pos:pos + recipe.batch_size]
        pos += recipe.batch_size
        x, y = as_float(x_train[idx]), y_train[idx].long()
        flip = torch.rand(len(idx), generator=gen) < 0.5
        x[flip], y[flip] = x[flip].flip(-1), y[flip].flip(-1)
        loss = model(pixel_values=x, labels=y).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), recipe.clip)
        opt.step()
        sched.step()
        if (step + 1) % recipe.eval_every == 0 or step + 1 == steps:
            miou = evaluate_miou(model, (x_val, y_val))
            curve.append({"step": step + 1, "val_miou": round(miou, 5), "loss": round(loss.item(), 5),
                          "seconds": round(time.perf_counter() - t0, 1)})
            bar.set_postfix(loss=f"{loss.item():.3f}", miou=f"{miou:.3f}")
            print(json.dumps(curve[-1]), flush=True)
            model.train()
    model.eval()
    meta = {"recipe": asdict(recipe), "fast": fast, "steps": steps, "n_train": n_train, "n_val": n_val,
            "val_miou": curve[-1]["val_miou"], "curve": curve,
            "train_seconds": round(time.perf_counter() - t0, 1),
            "torch": torch.__version__, "command": "python -m effnn.segformer train-baseline"
            + (" --fast" if fast else "") + f" --out {out}"}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out)
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    return meta


def baseline_path() -> Path:
    """The checkpoint :func:`load_baseline` uses: the committed one, else the cached one."""
    candidates = [BASELINE_CHECKPOINT, config.cache_dir() / "segformer" / "baseline.pt"]
    path = next((p for p in candidates if p.exists()), None)
    if path is None:
        raise FileNotFoundError("no baseline checkpoint: run `python -m effnn.segformer train-baseline` "
                                "(about 15 min on 2 cores) or pass pretrained=<local folder>")
    return path


def baseline_record(path: str | Path | None = None) -> dict:
    """The JSON written next to a baseline checkpoint: recipe, seed, command, learning curve."""
    path = Path(path) if path is not None else baseline_path()
    return json.loads(path.with_suffix(".json").read_text())


def load_baseline(path: str | Path | None = None, pretrained: str | Path | None = None):
    """The trained baseline, in eval mode.

    ``pretrained``: a local ``save_pretrained`` folder (nothing is downloaded). ``path``: a
    checkpoint written by :func:`train_baseline`. Neither: the committed checkpoint in
    ``effnn/assets``, else the one cached by ``train-baseline``.
    """
    if pretrained is not None:
        from .models import build_segformer

        return build_segformer(2, pretrained=pretrained).eval()
    path = Path(path) if path is not None else baseline_path()
    if not path.exists():
        raise FileNotFoundError(f"baseline checkpoint not found: {path}")
    model = new_baseline()
    model.load_state_dict(torch.load(path, map_location="cpu"))
    return model.eval()


# --------------------------------------------------------------------------------------- metric
def iou_counts(logits: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None,
               ignore_index: int | None = 255):
    """Per-class intersection and union pixel counts of ``argmax(logits)`` against ``labels``.

    ``logits`` ``(N, C, h, w)`` are upsampled to the labels' ``(N, H, W)`` first; pixels whose label
    is ``ignore_index`` count for nothing.
    """
    if not torch.is_tensor(logits) or logits.dim() != 4:
        raise ValueError(f"logits must be a (N, C, H, W) tensor, got {getattr(logits, 'shape', type(logits))}")
    if not torch.is_tensor(labels) or labels.dim() != 3 or labels.shape[0] != logits.shape[0]:
        raise ValueError(f"labels must be a (N, H, W) tensor matching logits, got {getattr(labels, 'shape', type(labels))}")
    num_classes = num_classes or logits.shape[1]
    pred = upsample(logits.float(), labels.shape[-2:]).argmax(1)
    labels = labels.long()
    valid = labels != ignore_index if ignore_index is not None else torch.ones_like(labels, dtype=torch.bool)
    pred, labels = pred[valid], labels[valid]
    inter = torch.bincount(labels[pred == labels], minlength=num_classes)[:num_classes]
    area_pred = torch.bincount(pred, minlength=num_classes)[:num_classes]
    area_label = torch.bincount(labels.clamp(0, num_classes - 1), minlength=num_classes)[:num_classes]
    return inter.double(), (area_pred + area_label - inter).double()


def mean_iou(logits: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None,
             ignore_index: int | None = 255) -> float:
    """Mean over classes of |pred ∩ label| / |pred ∪ label|; classes absent from both are skipped."""
    inter, union = iou_counts(logits, labels, num_classes, ignore_index)
    present = union > 0
    if not present.any():
        return float("nan")
    return float((inter[present] / union[present]).mean())


@torch.no_grad()
def evaluate_miou(model: nn.Module, data, batch_size: int = 32, num_classes: int = 2) -> float:
    """Dataset-level mIoU: intersections and unions summed over all images, then averaged."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    x, y = data
    was_training = model.training
    model.eval()
    inter = union = 0
    for i in range(0, len(x), batch_size):
        a, b = iou_counts(logits_of(model, as_float(x[i:i + batch_size])), y[i:i + batch_size].long(),
                          num_classes)
        inter, union = inter + a, union + b
    model.train(was_training)
    present = union > 0
    return float((inter[present] / union[present]).mean())


# -------------------------------------------------------------------------------- prunability
def _segformer_classes():
    from transformers.models.segformer import modeling_segformer as hf

    return hf


def _prunable_sr_class():
    hf = _segformer_classes()

    class PrunableSequenceReduction(hf.SegformerSequenceReduction):
        """Sequence reduction whose reshape reads the conv's *actual* output channel count.

        The library flattens the strided conv's output with the input channel count; once
        torch-pruning removes the conv's output channels the two differ and ``reshape`` fails.
        """

        def forward(self, hidden_states, height, width):
            batch, _, channels = hidden_states.shape
            hidden_states = hidden_states.transpose(1, 2).reshape(batch, channels, height, width)
            hidden_states = self.sequence_reduction(hidden_states)
            hidden_states = hidden_states.flatten(2).transpose(1, 2)
            return self.layer_norm(hidden_states)

    return PrunableSequenceReduction


_PRUNABLE_SR = None


def make_prunable(model: nn.Module) -> nn.Module:
    """Patch every sequence reduction in place (same weights, same outputs) and return the model."""
    global _PRUNABLE_SR
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if _PRUNABLE_SR is None:
        _PRUNABLE_SR = _prunable_sr_class()
    hf = _segformer_classes()
    for module in model.modules():
        if isinstance(module, hf.SegformerSequenceReduction):
            module.__class__ = _PRUNABLE_SR
    return model


def attentions(model: nn.Module) -> list:
    """Every ``SegformerAttention`` of the model, in order."""
    hf = _segformer_classes()
    return [m for m in model.modules() if isinstance(m, hf.SegformerAttention)]


def head_counts(model: nn.Module) -> dict:
    """``{q_proj: h, k_proj: h, v_proj: h}`` for every attention: torch-pruning's ``num_heads``."""
    heads = {}
    for att in attentions(model):
        for proj in (att.q_proj, att.k_proj, att.v_proj):
            heads[proj] = att.num_attention_heads
    return heads


def sync_attention(model: nn.Module, num_heads: dict | None = None) -> nn.Module:
    """Write the head geometry back after pruning: heads, ``head_dim`` and ``scaling``.

    ``num_heads`` is the pruner's (updated) ``{layer: heads}``; layers missing from it keep their
    head count. Attention reshapes with ``view(..., -1, head_dim)``, so a stale ``head_dim`` would
    silently mix heads or fail.
    """
    num_heads = num_heads or {}
    for att in attentions(model):
        heads = int(num_heads.get(att.q_proj, att.num_attention_heads))
        width = att.q_proj.out_features
        if heads < 1 or width % heads:
            raise ValueError(f"{width} query channels cannot be split into {heads} heads")
        att.num_attention_heads = heads
        att.head_dim = width // heads
        att.scaling = att.head_dim ** -0.5
    return model


# ------------------------------------------------------------------------------------- pruning
IMPORTANCES = ("magnitude", "taylor")


def importance(kind: str):
    """torch-pruning's group importance: ``magnitude`` (L2 of weights) or ``taylor`` (|w * dL/dw|)."""
    import torch_pruning as tp

    if kind == "magnitude":
        return tp.importance.GroupMagnitudeImportance(p=2)
    if kind == "taylor":
        return tp.importance.GroupTaylorImportance()
    raise ValueError(f"importance must be one of {IMPORTANCES}, got {kind!r}")


def build_pruner(model: nn.Module, imp, ratio: float, *, global_pruning: bool = True,
                 example_inputs: torch.Tensor | None = None, iterative_steps: int = 1,
                 round_to: int | None = None):
    """A torch-pruning ``MetaPruner`` for Segformer: heads declared, classifier kept, logits out.

    ``ratio`` is the fraction of channels removed (of each group when uniform, of all of them
    ranked together when ``global_pruning``). ``round_to`` keeps every pruned width a multiple of
    it: CPU kernels (oneDNN convolutions, GEMM) vectorise over 8 or 16 channels, so odd widths
    waste part of the saving. The model is made prunable first.
    """
    import torch_pruning as tp

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(ratio, (int, float)) or not 0 <= ratio < 1:
        raise ValueError(f"ratio must be in [0, 1), got {ratio!r}")
    if round_to is not None and (not isinstance(round_to, int) or round_to < 1):
        raise ValueError(f"round_to must be a positive int or None, got {round_to!r}")
    if isinstance(imp, str):
        imp = importance(imp)
    make_prunable(model)
    if example_inputs is None:
        example_inputs = torch.rand(1, 3, 64, 64)
    return tp.pruner.MetaPruner(
        model, example_inputs, importance=imp, pruning_ratio=float(ratio), global_pruning=global_pruning,
        iterative_steps=iterative_steps, ignored_layers=[model.decode_head.classifier],
        num_heads=head_counts(model), output_transform=lambda out: out.logits, round_to=round_to)


def accumulate_taylor_gradients(model: nn.Module, batches) -> int:
    """Gradients of the mean loss over calibration ``batches`` of ``(images, masks)``, left in ``.grad``.

    Taylor importance ``|w * dL/dw|`` reads them; one batch gives a noisy estimate, so several are
    averaged. Returns the number of batches used.
    """
    model.zero_grad(set_to_none=True)
    batches = list(batches)
    if not batches:
        raise ValueError("batches must contain at least one (images, masks) pair")
    was_training = model.training
    model.eval()  # no dropout: the score should describe the deployed model
    for x, y in batches:
        loss = model(pixel_values=as_float(x), labels=y.long()).loss / len(batches)
        loss.backward()
    model.train(was_training)
    return len(batches)


def prune(model: nn.Module, kind: str, ratio: float, *, global_pruning: bool = True, calibration=None,
          example_inputs: torch.Tensor | None = None, round_to: int | None = None) -> nn.Module:
    """Prune ``model`` in place with one criterion and return it (eval mode, head geometry synced).

    ``calibration``: ``(images, masks)`` batches for Taylor importance (required for ``taylor``).
    """
    if kind == "taylor" and calibration is None:
        raise ValueError("calibration batches are required for Taylor importance")
    pruner = build_pruner(model, kind, ratio, global_pruning=global_pruning, example_inputs=example_inputs,
                          round_to=round_to)
    if kind == "taylor":
        accumulate_taylor_gradients(model, calibration)
    pruner.step()
    model.zero_grad(set_to_none=True)
    sync_attention(model, pruner.num_heads)
    return model.eval()


# ----------------------------------------------------------------------------------- fine-tune
@torch.no_grad()
def teacher_logits(teacher: nn.Module, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """The teacher's logits for every image, computed once and reused by every fine-tuning run."""
    teacher.eval()
    return torch.cat([logits_of(teacher, as_float(images[i:i + batch_size]))
                      for i in range(0, len(images), batch_size)])


def finetune(model: nn.Module, data, steps: int, *, teacher=None, lr: float = 2e-3, batch_size: int = 16,
             warmup: int | None = None, T: float = 4.0, alpha: float = 0.5, seed: int = 0,
             desc: str = "fine-tune") -> list[float]:
    """Fine-tune a pruned model in place; return the loss of every step.

    A fresh linear warm-up and a cosine decay, and distillation from the unpruned model. The default
    rate is the baseline's peak rate: a model that lost most of its channels has far to go, and at
    a quarter of it a few hundred steps recover only part of the loss (the A1 benchmark shows the
    difference). ``teacher`` is the unpruned model, or its logits for
    every image of ``data`` (see :func:`teacher_logits`; far cheaper when several runs share it).
    Without a teacher the loss is plain cross-entropy. Per-pixel KD uses ``effnn.distill.kd_loss``
    on logits upsampled to the mask size.
    """
    from .distill import kd_loss

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    x_all, y_all = data
    if teacher is not None and torch.is_tensor(teacher) and len(teacher) != len(x_all):
        raise ValueError(f"teacher logits cover {len(teacher)} images, data has {len(x_all)}")
    seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    warmup = max(1, steps // 10) if warmup is None else warmup
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_at(s, steps, warmup))
    losses = []
    model.train()
    for _ in progress_bar(range(steps), desc=desc, leave=False):
        idx = torch.randint(len(x_all), (batch_size,), generator=gen)
        x, y = as_float(x_all[idx]), y_all[idx].long()
        logits = upsample(logits_of(model, x), y.shape[-2:])
        if teacher is None:
            loss = nn.functional.cross_entropy(logits, y)
        else:
            with torch.no_grad():
                t = teacher[idx] if torch.is_tensor(teacher) else logits_of(teacher.eval(), x)
            loss = kd_loss(logits, upsample(t, y.shape[-2:]), y, T=T, alpha=alpha)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
    model.eval()
    return losses


# --------------------------------------------------------------------------------- save / load
def save_pruned(model: nn.Module, path: str | Path) -> Path:
    """Save a pruned Segformer as config + tensor shapes + head counts + ``state_dict``.

    ``torch.save(model)`` fails (transformers' hooks don't pickle) and ``from_pretrained`` rejects
    the changed shapes, so the file records what a fresh model must be resized to.
    """
    if not hasattr(model, "config"):
        raise TypeError("model must be a transformers Segformer (it needs .config)")
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    payload = {"config": model.config.to_dict(), "shapes": {k: tuple(v.shape) for k, v in state.items()},
               "heads": [a.num_attention_heads for a in attentions(model)], "state_dict": state}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    return path


def _resize_module(module: nn.Module, shapes: dict, prefix: str) -> None:
    """Give one module's own parameters/buffers the saved shapes and fix its size attributes."""
    for name, p in list(module.named_parameters(recurse=False)):
        shape = shapes.get(prefix + name)
        if shape is not None and tuple(p.shape) != tuple(shape):
            setattr(module, name, nn.Parameter(torch.zeros(shape, dtype=p.dtype), requires_grad=p.requires_grad))
    for name, b in list(module.named_buffers(recurse=False)):
        shape = shapes.get(prefix + name)
        if shape is not None and b is not None and tuple(b.shape) != tuple(shape):
            module.register_buffer(name, torch.zeros(shape, dtype=b.dtype))
    w = getattr(module, "weight", None)
    if w is None:
        return
    if isinstance(module, nn.Linear):
        module.out_features, module.in_features = w.shape
    elif isinstance(module, nn.Conv2d):
        depthwise = module.groups > 1 and module.groups == module.in_channels
        module.out_channels = w.shape[0]
        module.groups = w.shape[0] if depthwise else module.groups
        module.in_channels = w.shape[1] * module.groups
    elif isinstance(module, nn.LayerNorm):
        module.normalized_shape = (w.shape[0],)
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        module.num_features = w.shape[0]


def load_pruned(path: str | Path) -> nn.Module:
    """Rebuild a model saved by :func:`save_pruned`: fresh model, resized, weights loaded, eval mode."""
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no pruned model at {path}")
    payload = torch.load(path, map_location="cpu", weights_only=False)
    model = make_prunable(SegformerForSemanticSegmentation(SegformerConfig.from_dict(payload["config"])))
    for name, module in model.named_modules():
        _resize_module(module, payload["shapes"], f"{name}." if name else "")
    heads = dict(zip((a.q_proj for a in attentions(model)), payload["heads"]))
    sync_attention(model, heads)
    model.load_state_dict(payload["state_dict"])
    return model.eval()


# ---------------------------------------------------------------------------------------- sweep
def deploy_input(size: int = DEPLOY_SIZE) -> torch.Tensor:
    """The latency probe: one RGB image at the deployment resolution, batch 1."""
    return torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))


def sweep(baseline: nn.Module, ratios, *, train, val, kinds=IMPORTANCES, global_pruning=(True,),
          steps: int = 400, lr: float = 2e-3, round_to: int | None = 8, calibration_batches: int = 8,
          teacher=None, deploy_size: int = DEPLOY_SIZE, keep_models: bool = True, configs=None) -> list[dict]:
    """Prune a copy of ``baseline`` for every (criterion, global, ratio), fine-tune, and measure it.

    ``configs``, a list of ``(kind, global, ratio)``, replaces the grid ``kinds x global_pruning x
    ratios``. Each record holds ``kind, ratio, global, miou, miou_before_ft, macs_ratio, speedup,
    speedup_min, latency_ms`` (and ``model`` when ``keep_models``). Latency is measured at
    ``deploy_size``, batch 1, against the baseline in this process (``effnn.measure.compare``).
    """
    import copy

    from .measure import compare

    x_train, y_train = train
    if teacher is None:
        teacher = teacher_logits(baseline, x_train)
    gen = torch.Generator().manual_seed(1)
    pick = torch.randperm(len(x_train), generator=gen)[:16 * calibration_batches]
    calibration = [(x_train[pick[i:i + 16]], y_train[pick[i:i + 16]]) for i in range(0, len(pick), 16)]
    probe = deploy_input(deploy_size)
    records = []
    if configs is None:
        configs = [(k, g, r) for k in kinds for g in global_pruning for r in ratios]
    for kind, glob, ratio in progress_bar(configs, desc="sweep"):
        model = copy.deepcopy(baseline)
        prune(model, kind, ratio, global_pruning=glob, calibration=calibration, round_to=round_to)
        before = evaluate_miou(model, val)
        finetune(model, train, steps, teacher=teacher, lr=lr, desc=f"{kind} {ratio}")
        # best-of-rounds medians: a burst of background load in one round does not decide the ratio
        cmp = compare(baseline, model, probe, threads=DEPLOY_THREADS, rounds=config.pick(5, 3),
                      min_run_time=config.pick(0.2, 0.1))
        rec = {"kind": kind, "ratio": ratio, "global": glob, "miou": evaluate_miou(model, val),
               "miou_before_ft": before, "macs_ratio": cmp["ratio"]["macs"], "speedup": cmp["ratio"]["latency_ms"],
               "speedup_min": cmp["ratio"]["latency_min_ms"], "latency_ms": cmp["candidate"]["latency_ms"],
               "base_latency_ms": cmp["baseline"]["latency_ms"], "params": cmp["candidate"]["params"]}
        if keep_models:
            rec["model"] = model
        records.append(rec)
    return records


def best_under_drop(records, baseline_miou: float, max_drop: float = 0.01, kind: str | None = None):
    """The record with the largest speedup whose mIoU is at most ``max_drop`` below the baseline."""
    ok = [r for r in records if baseline_miou - r["miou"] <= max_drop and (kind is None or r["kind"] == kind)]
    return max(ok, key=lambda r: r["speedup"]) if ok else None


# ------------------------------------------------------------------------------------------ cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m effnn.segformer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    tb = sub.add_parser("train-baseline", help="train the A1 baseline deterministically (~15 min on 2 cores)")
    tb.add_argument("--fast", action="store_true", help="a few steps on a few images (for tests)")
    tb.add_argument("--out", default=None, help="checkpoint path (default: the effnn cache)")
    args = parser.parse_args(argv)
    if args.cmd == "train-baseline":
        meta = train_baseline(args.out, fast=args.fast)
        print(json.dumps({k: meta[k] for k in ("val_miou", "steps", "train_seconds")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
