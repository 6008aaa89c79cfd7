"""effnn.segformer (data, baseline, helpers) and the A1 reference answers in autograder.reference.segformer:
baseline command, metric, prunable patch, pruner, importance, KD fine-tune, save/load."""
import copy
import json

import pytest
import torch

from autograder.reference import segformer as R
from effnn import segformer as S
from effnn.measure import count_params
from effnn.models import build_segformer

TINY = dict(hidden_sizes=[8, 16, 40, 64], num_attention_heads=[1, 2, 5, 8], decoder_hidden_size=32)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(seed=0):
    return build_segformer(2, seed=seed, **TINY).eval()


def images(n, size, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=gen), torch.randint(0, 2, (n, size, size), generator=gen)


# ------------------------------------------------------------------------------ baseline command
def test_train_baseline_fast_writes_a_loadable_deterministic_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("EFFNN_CACHE", str(tmp_path / "cache"))
    assert R.main(["train-baseline", "--fast", "--out", str(tmp_path / "a.pt")]) == 0
    meta = json.loads((tmp_path / "a.json").read_text())
    assert meta["fast"] is True and meta["steps"] == S.BaselineRecipe().fast_steps
    assert meta["recipe"]["architecture"] == S.BASELINE and meta["recipe"]["seed"] == 0
    assert meta["command"].startswith(R.COMMAND + " --fast")
    model = S.load_baseline(tmp_path / "a.pt")
    assert model.config.hidden_sizes == S.BASELINE["hidden_sizes"]
    R.train_baseline(tmp_path / "b.pt", fast=True)  # same command again: bit-identical weights
    a, b = torch.load(tmp_path / "a.pt"), torch.load(tmp_path / "b.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_committed_baseline_matches_its_record():
    meta = json.loads(S.BASELINE_META.read_text())
    assert meta["fast"] is False and meta["recipe"]["architecture"] == S.BASELINE
    # recorded when the command still lived in effnn.segformer; it is now R.COMMAND (same code)
    assert meta["command"].startswith(("python -m effnn.segformer train-baseline", R.COMMAND))
    assert meta["val_miou"] >= 0.90
    assert S.BASELINE_CHECKPOINT.stat().st_size < 20 * 2**20
    model = S.load_baseline()
    x, y = S.portraits("val", n=48)
    assert R.evaluate_miou(model, (x, y)) > 0.85


def test_load_baseline_reports_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        S.load_baseline(tmp_path / "nothing.pt")
    with pytest.raises(FileNotFoundError):
        S.load_baseline(pretrained=tmp_path / "no_folder")


# ------------------------------------------------------------------------------------- metric
def test_mean_iou_exact_values():
    logits = torch.zeros(1, 3, 2, 2)
    logits[0, 0, 0, 0] = logits[0, 1, 0, 1] = logits[0, 1, 1, 0] = logits[0, 0, 1, 1] = 1.0
    labels = torch.tensor([[[0, 1], [0, 0]]])
    # class 0: pred {00, 11}, label {00, 10, 11} -> 2/3; class 1: pred {01, 10}, label {01} -> 1/2;
    # class 2 absent from both -> skipped
    assert R.mean_iou(logits, labels) == pytest.approx((2 / 3 + 1 / 2) / 2)
    ignored = torch.tensor([[[0, 1], [255, 0]]])  # hide the one wrong pixel
    assert R.mean_iou(logits, ignored) == pytest.approx(1.0)
    assert R.mean_iou(logits, torch.full((1, 2, 2), 255)) != R.mean_iou(logits, labels)  # nan: nothing left


def test_mean_iou_upsamples_logits_and_checks_shapes():
    logits = torch.randn(2, 2, 4, 4)
    up = torch.nn.functional.interpolate(logits, size=(16, 16), mode="bilinear", align_corners=False)
    labels = torch.randint(0, 2, (2, 16, 16))
    assert R.mean_iou(logits, labels) == pytest.approx(R.mean_iou(up, labels))
    with pytest.raises(ValueError, match="logits"):
        R.mean_iou(torch.randn(2, 4, 4), labels)
    with pytest.raises(ValueError, match="labels"):
        R.mean_iou(logits, torch.zeros(16, 16, dtype=torch.long))


def test_evaluate_miou_accumulates_over_batches():
    model = tiny(3)
    x, y = images(10, 64, 4)
    whole = R.mean_iou(S.predict_logits(model, x), y)
    assert R.evaluate_miou(model, (x, y), batch_size=3) == pytest.approx(whole)


# ------------------------------------------------------------------------------- prunability
def test_make_prunable_leaves_the_unpruned_output_identical():
    model = tiny(1)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        before = model(x).logits
        after = R.make_prunable(model)(x).logits
    assert torch.equal(before, after)


def test_library_model_breaks_and_patched_model_prunes_at_two_sizes():
    import torch_pruning as tp

    broken = tiny(2)
    pruner = tp.pruner.MetaPruner(broken, torch.rand(1, 3, 64, 64), importance=tp.importance.GroupMagnitudeImportance(),
                                  pruning_ratio=0.5, global_pruning=True, output_transform=lambda o: o.logits,
                                  ignored_layers=[broken.decode_head.classifier], num_heads=S.head_counts(broken))
    pruner.step()
    R.sync_attention(broken, pruner.num_heads)
    with pytest.raises(RuntimeError):
        broken(torch.rand(1, 3, 64, 64))
    model = R.prune(tiny(2), "magnitude", 0.5)
    for size in (64, 96):
        assert model(torch.rand(1, 3, size, size)).logits.shape == (1, 2, size // 4, size // 4)
    for att in S.attentions(model):
        assert att.head_dim * att.num_attention_heads == att.q_proj.out_features
        assert att.k_proj.out_features == att.v_proj.out_features == att.q_proj.out_features
        assert att.scaling == pytest.approx(att.head_dim ** -0.5)


def test_uniform_pruning_parameter_count_is_exact_and_classifier_kept():
    base = tiny(0)
    uniform = R.prune(copy.deepcopy(base), "magnitude", 0.5, scope="layer")
    assert count_params(base) == 227738 and count_params(uniform) == 60942
    assert uniform.decode_head.classifier.out_channels == 2
    assert [a.num_attention_heads for a in S.attentions(uniform)] == [1, 1, 2, 2, 5, 5, 8, 8]


def test_round_to_keeps_every_pruned_width_a_multiple():
    base = tiny(0)
    rounded = R.prune(copy.deepcopy(base), "magnitude", 0.45, scope="layer", round_to=8)
    plain = R.prune(copy.deepcopy(base), "magnitude", 0.45, scope="layer")
    lin = lambda m: {n: l.out_features for n, l in m.named_modules()  # noqa: E731
                     if isinstance(l, torch.nn.Linear) and "classifier" not in n}
    assert all(w % 8 == 0 for w in lin(rounded).values())
    assert any(w % 8 for w in lin(plain).values())  # without it the widths are odd
    with torch.no_grad():
        assert rounded(torch.rand(1, 3, 96, 96)).logits.shape == (1, 2, 24, 24)
    with pytest.raises(ValueError, match="round_to"):
        R.build_pruner(tiny(), "magnitude", 0.3, round_to=0)


def test_bad_pruning_arguments_raise():
    with pytest.raises(ValueError, match="amount"):
        R.build_pruner(tiny(), "magnitude", 1.0)
    with pytest.raises(ValueError, match="scope"):  # the old global_pruning=True spelling is refused by name
        R.build_pruner(tiny(), "magnitude", 0.3, scope=True)
    with pytest.raises(ValueError, match="head_amount"):
        R.build_pruner(tiny(), "magnitude", 0.3, head_amount=1.0)
    with pytest.raises(ValueError, match="importance"):
        R.importance("l1")
    with pytest.raises(TypeError, match="model"):
        R.build_pruner("not a model", "magnitude", 0.3)
    with pytest.raises(ValueError, match="calibration"):
        R.prune(tiny(), "taylor", 0.3)
    model = tiny()
    with pytest.raises(ValueError, match="heads"):
        R.sync_attention(model, {S.attentions(model)[-1].q_proj: 3})


# -------------------------------------------------------------------------------- importance
def test_taylor_gradients_are_the_mean_over_batches():
    batches = [images(2, 64, 10 + i) for i in range(2)]
    both, one, two = tiny(5), tiny(5), tiny(5)
    assert R.accumulate_taylor_gradients(both, batches) == 2
    R.accumulate_taylor_gradients(one, batches[:1])
    R.accumulate_taylor_gradients(two, batches[1:])
    for p, a, b in zip(both.parameters(), one.parameters(), two.parameters()):
        assert torch.allclose(p.grad, (a.grad + b.grad) / 2, atol=1e-6)
    with pytest.raises(ValueError, match="batches"):
        R.accumulate_taylor_gradients(tiny(), [])


def test_magnitude_and_taylor_choose_different_channels():
    calib = [images(4, 64, 20 + i) for i in range(2)]
    mag = R.prune(tiny(6), "magnitude", 0.4, calibration=calib)
    tay = R.prune(tiny(6), "taylor", 0.4, calibration=calib)
    widths = lambda m: [l.out_features for l in m.modules() if isinstance(l, torch.nn.Linear)]  # noqa: E731
    assert widths(mag) != widths(tay)


# ---------------------------------------------------------------------------- fine-tune, save
def test_finetune_with_teacher_logits_moves_towards_the_teacher():
    from effnn.distill import kd_loss

    teacher = tiny(7)
    x, _ = images(16, 64, 8)
    t = S.teacher_logits(teacher, x)
    y = S.upsample(t, (64, 64)).argmax(1)
    student = R.prune(copy.deepcopy(teacher), "magnitude", 0.5)

    def gap():
        s = S.upsample(S.predict_logits(student, x), (64, 64))
        return float(kd_loss(s, S.upsample(t, (64, 64)), y))

    start = gap()
    losses = R.finetune(student, (x, y), 20, teacher=t)
    assert len(losses) == 20 and not student.training
    assert gap() < start
    with pytest.raises(ValueError, match="teacher"):
        R.finetune(student, (x, y), 1, teacher=t[:3])
    with pytest.raises(ValueError, match="steps"):
        R.finetune(student, (x, y), -1)


def test_pruned_model_save_reload_equality(tmp_path):
    calib = [images(2, 64, 30)]
    model = R.prune(tiny(9), "taylor", 0.45, calibration=calib)
    with pytest.raises(Exception):
        torch.save(model, tmp_path / "pickled.pt")  # the pitfall the helpers avoid
    R.save_pruned(model, tmp_path / "p.pt")
    loaded = R.load_pruned(tmp_path / "p.pt")
    assert loaded is not model and count_params(loaded) == count_params(model)
    for size in (64, 128):
        x = torch.rand(1, 3, size, size)
        with torch.no_grad():
            assert torch.equal(model(x).logits, loaded(x).logits)
    with pytest.raises(FileNotFoundError):
        R.load_pruned(tmp_path / "missing.pt")


def test_rebuild_from_a_state_dict_and_head_counts():
    model = R.prune(tiny(11), "magnitude", 0.5)
    heads = [a.num_attention_heads for a in S.attentions(model)]
    again = R.rebuild(model.state_dict(), heads, model.config)
    x = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        assert torch.equal(model(x).logits, again(x).logits)
    with pytest.raises(ValueError, match="head"):
        R.rebuild(model.state_dict(), heads[:-1], model.config)
    with pytest.raises(RuntimeError):
        R.rebuild({k: v for k, v in model.state_dict().items() if "classifier" not in k}, heads, model.config)


def test_effnn_segformer_holds_no_a1_answers():
    answers = {"mean_iou", "iou_counts", "evaluate_miou", "make_prunable", "sync_attention", "build_pruner",
               "importance", "accumulate_taylor_gradients", "prune", "finetune", "save_pruned", "load_pruned",
               "sweep", "best_under_drop", "train_baseline", "rebuild", "_resize_module", "_prunable_sr_class"}
    assert not answers & set(dir(S))


# ------------------------------------------------------------------------------------- sweep
def test_best_under_drop_picks_the_fastest_within_budget():
    recs = [{"kind": "magnitude", "miou": 0.905, "speedup": 1.5}, {"kind": "magnitude", "miou": 0.899, "speedup": 3.0},
            {"kind": "taylor", "miou": 0.901, "speedup": 2.0}, {"kind": "taylor", "miou": 0.95, "speedup": 1.1}]
    assert R.best_under_drop(recs, 0.91)["speedup"] == 2.0
    assert R.best_under_drop(recs, 0.91, kind="magnitude")["speedup"] == 1.5
    assert R.best_under_drop(recs, 0.99) is None


# ------------------------------------------------------------------------- bad input (issue 18)
def test_portrait_tensors_and_helpers_validate_their_arguments():
    for bad in (0, -3):
        with pytest.raises(ValueError, match="n must be"):
            S.portrait_tensors("val", n=bad)
    with pytest.raises(TypeError, match="n must be an int"):
        S.portrait_tensors("val", n=2.5)
    with pytest.raises(ValueError, match="split"):
        S.portrait_tensors("validation", n=2)
    with pytest.raises(TypeError, match="model"):
        S.predict_logits("not a model", torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match="batch_size"):
        S.predict_logits(tiny(), torch.zeros(1, 3, 64, 64), batch_size=0)
    with pytest.raises(ValueError, match="size"):
        S.deploy_input(0)


def test_mean_iou_refuses_out_of_range_labels_instead_of_clamping():
    logits = torch.zeros(1, 2, 2, 2)
    with pytest.raises(ValueError, match="labels must be in"):
        R.mean_iou(logits, torch.tensor([[[0, 1], [2, 0]]]))
    with pytest.raises(ValueError, match="labels must be in"):
        R.mean_iou(logits, torch.tensor([[[0, 1], [-1, 0]]]))
    with pytest.raises(TypeError, match="integer"):
        R.mean_iou(logits, torch.zeros(1, 2, 2))
    assert R.mean_iou(logits, torch.tensor([[[0, 0], [255, 0]]])) == pytest.approx(1.0)  # ignored is fine


# ----------------------------------------------------------- heads, iterative, search (issue 14)
def test_head_pruning_removes_whole_heads_and_keeps_single_head_attentions():
    model = R.prune(tiny(3), "magnitude", 0.2, head_amount=0.5, scope="layer")
    before = [a.num_attention_heads for a in S.attentions(tiny(3))]
    after = [a.num_attention_heads for a in S.attentions(model)]
    assert after[:2] == [1, 1]  # stage 1's single head is never removed
    assert all(a < b for a, b in zip(after[2:], before[2:]))
    for att in S.attentions(model):  # whole heads go: the head width stays the original one
        assert att.head_dim * att.num_attention_heads == att.q_proj.out_features
    for att, old in zip(S.attentions(model)[2:], S.attentions(tiny(3))[2:]):
        assert att.head_dim == old.head_dim
    assert model(torch.rand(1, 3, 96, 96)).logits.shape == (1, 2, 24, 24)


def test_iterative_schedule_reaches_the_one_shot_amount_with_the_same_steps():
    x, y = images(8, 64, 5)
    one = R.prune(tiny(4), "magnitude", 0.5, scope="layer")
    it = R.prune_iteratively(tiny(4), "magnitude", 0.5, iterative_steps=3, train=(x, y), steps=4,
                             scope="layer")
    assert count_params(it) == count_params(one)
    assert not it.training
    with pytest.raises(ValueError, match="iterative_steps"):
        R.prune_iteratively(tiny(4), "magnitude", 0.5, iterative_steps=0, train=(x, y), steps=4)


def test_bisection_finds_the_largest_amount_within_budget():
    # a fake trial: mIoU falls linearly past 0.8, speed grows with the amount
    def trial(a):
        return {"amount": a, "miou": 0.95 - max(0.0, a - 0.8), "speedup": 1 + 5 * a}

    best, records = R.bisect_amount(trial, 0.95, low=0.5, high=0.95, trials=6, max_drop=0.01)
    assert [r["amount"] for r in records][:3] == pytest.approx([0.5, 0.725, 0.8375], abs=1e-3)
    assert 0.8 <= best["amount"] <= 0.81 and 0.95 - best["miou"] <= 0.01
    best, records = R.bisect_amount(lambda a: {"amount": a, "miou": 0.0, "speedup": 9.0}, 0.95, trials=4)
    assert best is None and len(records) == 1  # even the lower end misses: stop
    with pytest.raises(ValueError, match="low"):
        R.bisect_amount(trial, 0.95, low=0.9, high=0.5)


def test_run_config_records_one_pruned_fine_tuned_measured_model():
    base = tiny(6)
    x, y = images(8, 64, 6)
    val = images(4, 64, 7)
    teacher = S.teacher_logits(base, x)
    calibration = R.make_calibration((x, y), n_batches=2, batch_size=4)
    assert len(calibration) == 2 and calibration[0][0].shape == (4, 3, 64, 64)
    rec = R.run_config(base, "taylor", 0.5, train=(x, y), val=val, teacher=teacher, calibration=calibration,
                       steps=2, round_to=None, iterative_steps=2, deploy_size=64)
    assert rec["kind"] == "taylor" and rec["iterative_steps"] == 2 and 0.0 <= rec["miou"] <= 1.0
    assert (rec["amount"], rec["scope"], rec["head_amount"]) == (0.5, "global", 0.0)
    assert rec["macs_ratio"] > 1.0 and rec["params"] < count_params(base)
    assert count_params(rec["model"]) == rec["params"] and not rec["model"].training


def test_module_amounts_prune_only_the_named_submodules_at_their_own_amount():
    # decoder only, uniform: every decoder projection loses half its width, the encoder keeps all of it
    model = R.prune(tiny(8), "magnitude", 0.0, scope="layer", module_amounts={"decode_head": 0.5})
    ref = tiny(8)
    assert [p.proj.out_features for p in model.decode_head.linear_projections] == [16, 16, 16, 16]
    assert model.decode_head.linear_fuse.out_channels == 16
    for (name, a), (_, b) in zip(model.segformer.named_parameters(), ref.segformer.named_parameters()):
        assert a.shape == b.shape, name
    # a "+" key ranks two submodules together with one amount; the rest follows the global amount
    both = R.prune(tiny(8), "magnitude", 0.0, module_amounts={
        "segformer.stages.0.blocks.0.mlp+segformer.stages.0.blocks.1.mlp": 0.5})
    assert sum(b.mlp.fc1.out_features for b in both.segformer.stages[0].blocks) == 32
    assert both(torch.rand(1, 3, 64, 64)).logits.shape == (1, 2, 16, 16)
    with pytest.raises(ValueError, match="module_amounts"):
        R.prune(tiny(8), "magnitude", 0.2, module_amounts={"decode_head.nothing": 0.5})
    with pytest.raises(ValueError, match="module_amounts"):
        R.prune(tiny(8), "magnitude", 0.2, module_amounts={"decode_head": 1.5})


# ------------------------------------------------------------------------------ the sweep as a config
def test_sweep_config_grid_and_bad_fields():
    assert R.SweepConfig(amounts=(0.5,), kinds=("taylor", "magnitude"), scopes=("global", "layer")).grid() == [
        ("taylor", "global", 0.5), ("taylor", "layer", 0.5), ("magnitude", "global", 0.5), ("magnitude", "layer", 0.5)]
    assert R.SweepConfig(configs=[("magnitude", "layer", 0.3)]).grid() == [("magnitude", "layer", 0.3)]
    assert R.SweepConfig.fast(steps=7).steps == 7
    for bad, match in [(dict(amounts=(1.0,)), "amounts"), (dict(amounts=()), "amounts"), (dict(kinds=("l1",)), "kinds"),
                       (dict(scopes=(True,)), "scopes"), (dict(steps=0), "steps"),
                       (dict(configs=[("magnitude", "global")]), "configs"),
                       (dict(configs=[("magnitude", True, 0.5)]), "scope"),
                       (dict(configs=[("magnitude", "global", 1.5)]), "amount"), (dict(round_to=0), "round_to")]:
        with pytest.raises((ValueError, TypeError), match=match):
            R.SweepConfig(**bad)
    with pytest.raises(TypeError, match="SweepConfig"):
        R.run_sweep(tiny(), {"amounts": (0.5,)}, images(4, 32, 0), images(2, 32, 1))


def test_run_sweep_and_the_keyword_form_give_the_same_records():
    """``sweep(**fields)`` is ``run_sweep(SweepConfig(**fields))``: same configurations, same mIoU and MACs
    (latency is timed, so only its presence is compared)."""
    base, train, val = tiny(12), images(8, 32, 2), images(4, 32, 3)
    fields = dict(kinds=("magnitude",), scopes=("global", "layer"), steps=1, round_to=None, calibration_batches=1,
                  deploy_size=32, keep_models=False)
    a = R.sweep(base, [0.4], train=train, val=val, **fields)
    b = R.run_sweep(base, R.SweepConfig(amounts=(0.4,), **fields), train, val)
    assert [(r["kind"], r["scope"], r["amount"]) for r in a] == [("magnitude", "global", 0.4),
                                                                   ("magnitude", "layer", 0.4)]
    for ra, rb in zip(a, b):
        assert {k: ra[k] for k in ("kind", "scope", "amount", "miou", "miou_before_ft", "macs_ratio", "params")} == \
               {k: rb[k] for k in ("kind", "scope", "amount", "miou", "miou_before_ft", "macs_ratio", "params")}
        assert ra["speedup"] > 0 and "model" not in ra


# ------------------------------------------------------------------------------ depth pruning
def _silence_block(block):
    """Zero both residual branches' last layers: the block then passes its input through unchanged."""
    with torch.no_grad():
        for layer in (block.attention.o_proj, block.mlp.fc2):
            layer.weight.zero_()
            layer.bias.zero_()


def test_dropping_a_block_equals_silencing_its_residual_branches():
    model, silenced = tiny(12), tiny(12)
    R.drop_blocks(model, [(1, 1), (3, 0)])
    _silence_block(silenced.segformer.stages[1].blocks[1])
    _silence_block(silenced.segformer.stages[3].blocks[0])
    assert model.config.depths == [2, 1, 2, 1] and len(S.attentions(model)) == 6
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x).logits, silenced(x).logits)


def test_a_shallower_model_prunes_saves_and_reloads(tmp_path):
    model = R.prune(R.drop_blocks(tiny(13), [(0, 1), (2, 0)]), "magnitude", 0.5, round_to=8)
    R.save_pruned(model, tmp_path / "shallow.pt")
    loaded = R.load_pruned(tmp_path / "shallow.pt")
    assert loaded.config.depths == [1, 2, 1, 2] and count_params(loaded) == count_params(model)
    again = R.rebuild(model.state_dict(), [a.num_attention_heads for a in S.attentions(model)])  # baseline config
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x).logits, loaded(x).logits)
        assert torch.equal(model(x).logits, again(x).logits)


def test_drop_blocks_refuses_blocks_that_do_not_exist():
    model = tiny(14)
    for bad, error in (([(4, 0)], ValueError), ([(1, 2)], ValueError), ([(1, 0), (1, 0)], ValueError),
                       (["1,1"], TypeError), ([(1.0, 0)], TypeError)):
        with pytest.raises(error):
            R.drop_blocks(model, bad)
    assert model.config.depths == [2, 2, 2, 2]  # nothing was removed by a refused call


def test_block_importance_scores_every_block_on_a_copy():
    model = tiny(15)
    before = [p.clone() for p in model.parameters()]
    scores = R.block_importance(model, images(4, 64, 16))
    assert sorted(scores) == [(s, i) for s in range(4) for i in range(2)]
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters())) and model.config.depths == [2, 2, 2, 2]
