"""Fuzz effnn's public API with bad input and print how each call fails.

Every spec below names a public function or class, a *valid* call (which must succeed) and, per
argument, bad values: wrong types, NaN/inf, negative or out-of-range numbers, wrong shapes, empty
data, models without prunable layers. Each bad call runs under a per-call timeout and is classified:

- ``clear``: a ``TypeError`` / ``ValueError`` / ``FileNotFoundError`` whose message names the argument;
- ``unclear``: any other exception, or one whose message does not name the argument;
- ``silent``: a value was returned for invalid input;
- ``hang``: the call did not finish within the timeout.

Public names without a spec are listed too, so the coverage is visible. Usage::

    EFFNN_FAST=1 EFFNN_QUIET=1 python tools/api_fuzz.py [--timeout 20] [--only prune,quant] [--json out.json]

The printed table has one row per module, then the totals over the whole package and over the
modules named in ``--mine`` (default: the modules of the effnn core API).
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import json
import math
import os
import pkgutil
import signal
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("EFFNN_FAST", "1")
os.environ.setdefault("EFFNN_QUIET", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "course"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

NAN, INF = float("nan"), float("inf")
CLEAR_ERRORS = (TypeError, ValueError, FileNotFoundError)

# ------------------------------------------------------------------------------- bad-value kinds
FRAC = [NAN, INF, -0.1, 1.0, 1.5, "0.5", None, True]
PROB = [NAN, INF, -0.1, 1.5, "0.5", None]
POSF = [NAN, INF, -1.0, 0.0, "1", None]
NONNEGF = [NAN, INF, -1.0, "1", None]
FINITE = [NAN, INF, "1", None]
POSINT = [0, -1, 1.5, "2", None, True, NAN]
NONNEGINT = [-1, 1.5, "2", None, True]
INT = [1.5, "2", None]
BITS = [0, 17, 2.5, "8", None, True]
FLAG = ["yes", None, 2]
MODEL = ["model", None, 3]
FUNC = [None, 3, "f"]


def STR(*_options):
    return ["nope", 3, None]


def TENSOR(ndim_bad=None):
    out = [[1.0, 2.0], None, "x", np.ones(3)]
    if ndim_bad is not None:
        out.append(ndim_bad)
    return out


def NANT(shape=(4, 4)):
    t = torch.randn(*shape)
    t.view(-1)[0] = NAN
    return t


def _xy(n=16, shape=(1, 8, 8), classes=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g), torch.randint(0, classes, (n,), generator=g)


DATA8 = _xy()
DATA64 = _xy(shape=(64,))
EMPTY8 = (torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.long))
MISMATCH8 = (DATA8[0], DATA8[1][:-1])


def DATA(empty=EMPTY8, mismatch=MISMATCH8):
    return [None, "data", 3, empty, mismatch, (DATA8[0].numpy(), DATA8[1].numpy())]


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))


def cnn():
    from effnn.models import LeNet5

    torch.manual_seed(0)
    return LeNet5()


def noprune():
    return nn.Sequential(nn.Flatten(), nn.ReLU())


def tcfg(**kw):
    from effnn.train import TrainConfig

    return TrainConfig(**{"epochs": 1, "fast_epochs": 1, "batch_size": 8, **kw})


# ------------------------------------------------------------------------------------- specs
@dataclass
class Spec:
    name: str  # "module.attr" (a class constructor or a function), or "module.attr.method"
    valid: object  # a zero-argument function returning the kwargs of a valid call
    bad: dict = field(default_factory=dict)  # argument -> list of bad values
    call: object = None  # optional (fn, kwargs) -> result, for methods


SPECS: list[Spec] = []


def spec(qualname, valid, /, *, _call=None, **bad):
    SPECS.append(Spec(qualname, valid, bad, _call))


def method(attr, make):
    """Call ``make().<attr>(**kwargs)``."""
    return lambda _fn, kw: getattr(make(), attr)(**kw)


# validate ------------------------------------------------------------------------------------
spec("validate.fraction", lambda: dict(value=0.5, name="value"), value=FRAC)
spec("validate.integer", lambda: dict(value=3, name="value", low=0), value=[-1, 1.5, "2", None, True])
spec("validate.data", lambda: dict(value=DATA8, name="value"), value=DATA())

spec("validate.number", lambda: dict(value=0.5, name="value", low=0), value=[NAN, INF, -1.0, "1", None, True])
spec("validate.positive_int", lambda: dict(value=3, name="value"), value=POSINT)
spec("validate.probability", lambda: dict(value=0.5, name="value"), value=PROB)
spec("validate.choice", lambda: dict(value="a", name="value", options=("a", "b")), value=["c", 3, None, ["a"]])
spec("validate.flag", lambda: dict(value=True, name="value"), value=FLAG + [1, 0])
spec("validate.module", lambda: dict(value=nn.Linear(1, 1), name="value"), value=MODEL)
spec("validate.tensor", lambda: dict(value=torch.ones(2, 2), name="value", ndim=2), value=TENSOR(torch.ones(2)))
spec("validate.nonempty", lambda: dict(value=[1], name="value"), value=[[], 3, None])
spec("validate.sequence_of", lambda: dict(value=[1, 2], name="value", check=lambda v, n: v), value=["ab", 3, None])
spec("validate.existing_path", lambda: dict(value=".", name="value"), value=["/nonexistent/effnn", 3, None])
spec("validate.bits", lambda: dict(value=8, name="value"), value=BITS)
spec("validate.function", lambda: dict(value=len, name="value"), value=[None, 3, "f"])
spec("validate.mapping", lambda: dict(value={}, name="value"), value=[None, [], "d"])

# train ---------------------------------------------------------------------------------------
spec("train.TrainConfig", lambda: dict(), epochs=NONNEGINT, fast_epochs=NONNEGINT, lr=POSF, batch_size=POSINT,
     weight_decay=NONNEGF, optimizer=STR(), momentum=[NAN, -0.5, 1.5, "0.9"], seed=INT)
spec("train.seed_everything", lambda: dict(seed=0), seed=INT)
spec("train.fit", lambda: dict(model=mlp(), train_data=DATA8, cfg=tcfg()), model=MODEL, train_data=DATA(),
     cfg=["cfg", 3, {}], loss_fn=[3, "ce"], after_step=[3, "x"], val_data=["v", 3, EMPTY8])
spec("train.accuracy", lambda: dict(model=mlp(), data=DATA8), model=MODEL, data=DATA(), batch_size=POSINT)
spec("train.evaluate_loss", lambda: dict(model=mlp(), data=DATA8), model=MODEL, data=DATA(), batch_size=POSINT)
spec("train.predict", lambda: dict(model=mlp(), data=DATA8), model=MODEL, data=DATA(), batch_size=POSINT)
spec("train.as_loader", lambda: dict(data=DATA8, batch_size=4, shuffle=False), data=DATA(), batch_size=POSINT,
     shuffle=FLAG)
spec("train.make_optimizer", lambda: dict(params=list(mlp().parameters()), cfg=tcfg()), cfg=["adam", None, 3],
     params=[[]])

# measure -------------------------------------------------------------------------------------
X8 = torch.randn(2, 1, 8, 8)
spec("measure.count_params", lambda: dict(model=mlp()), model=MODEL)
spec("measure.count_nonzero", lambda: dict(model=mlp()), model=MODEL)
spec("measure.sparsity", lambda: dict(model=mlp()), model=MODEL)
spec("measure.count_macs", lambda: dict(model=cnn(), example_inputs=X8), model=MODEL,
     example_inputs=TENSOR(torch.randn(2, 3, 5, 5)))
spec("measure.dense_bytes", lambda: dict(model=mlp()), model=MODEL, include_buffers=FLAG)
spec("measure.sparse_bytes", lambda: dict(model=mlp()), model=MODEL, value_bits=POSINT, index_bits=POSINT)
spec("measure.serialized_bytes", lambda: dict(model=mlp()), model=MODEL)
spec("measure.latency", lambda: dict(fn_or_model=mlp(), example_inputs=X8, min_run_time=0.01),
     fn_or_model=MODEL, example_inputs=TENSOR(torch.randn(2, 5)), threads=POSINT, min_run_time=POSF,
     warmup=NONNEGINT)
spec("measure.compare", lambda: dict(baseline=mlp(), candidate=mlp(), example_inputs=X8, rounds=1, min_run_time=0.01),
     baseline=MODEL, candidate=MODEL, example_inputs=TENSOR(torch.randn(2, 5)), threads=POSINT, rounds=POSINT,
     min_run_time=POSF)

spec("measure.effective_parameters", lambda: dict(model=mlp()), model=MODEL)
spec("measure.summary", lambda: dict(model=mlp(), example_inputs=X8), model=MODEL,
     example_inputs=TENSOR(torch.randn(2, 5)))

# prune ---------------------------------------------------------------------------------------
spec("prune.check_amount", lambda: dict(amount=np.float32(0.5)), amount=FRAC)
spec("prune.prunable_layers", lambda: dict(model=mlp()), model=MODEL, include_output=FLAG)
spec("prune.weight_of", lambda: dict(layer=nn.Linear(2, 2)), layer=MODEL + [nn.ReLU()])
spec("prune.mask_of", lambda: dict(layer=nn.Linear(2, 2)), layer=MODEL + [nn.ReLU()])
spec("prune.install_mask", lambda: dict(layer=nn.Linear(2, 2), mask=torch.ones(2, 2)), layer=MODEL,
     mask=TENSOR(torch.ones(3)))
spec("prune.magnitude_prune", lambda: dict(model=mlp(), amount=np.float32(0.5)), model=MODEL + [noprune()],
     amount=FRAC, scope=STR(), layers=[[], "net", 3],
     amounts=[{"nope": 0.5}, {"1": 1.5}, {"3": NAN}, "x", {3: 0.5}])
spec("prune.random_prune", lambda: dict(model=mlp(), amount=0.5), model=MODEL + [noprune()], amount=FRAC,
     scope=STR(), seed=INT)
spec("prune.prune_by_scores", lambda: (lambda m: dict(model=m, scores={m[1]: torch.rand(16, 64)}, amount=0.5))(mlp()),
     model=MODEL, scores=[{}, None, "s", {nn.Linear(2, 2): torch.rand(3)}], amount=FRAC, scope=STR())
spec("prune.remove_masks", lambda: dict(model=mlp()), model=MODEL)
spec("prune.layer_sparsity", lambda: dict(model=mlp()), model=MODEL + [noprune()])
spec("prune.weight_sparsity", lambda: dict(model=mlp()), model=MODEL + [noprune()])
spec("prune.nm_mask", lambda: dict(weight=torch.randn(4, 8)), weight=TENSOR(torch.randn(8)), n=[0, 5, 1.5, "2"],
     m=[0, -1, 2.5, "4", 3])
spec("prune.is_nm_sparse", lambda: dict(weight=torch.randn(4, 8)), weight=TENSOR(torch.randn(8)), n=[0, 1.5, "2"],
     m=[0, 2.5, "4"])
spec("prune.nm_prune", lambda: dict(model=mlp()), model=MODEL + [noprune()], n=[0, 5, 1.5], m=[0, 2.5, 7])
spec("prune.block_scores", lambda: dict(weight=torch.randn(4, 2, 3, 3), granularity="kernel"),
     weight=TENSOR(torch.randn(3)), granularity=STR())
spec("prune.block_prune", lambda: dict(model=cnn(), amount=0.5, granularity="filter"), model=MODEL + [noprune()],
     amount=FRAC, granularity=STR())
spec("prune.iterative_schedule", lambda: dict(final=0.9, steps=3), final=FRAC, steps=POSINT)
spec("prune.polynomial_schedule", lambda: dict(final=0.9, steps=3), final=FRAC, steps=POSINT, initial=FRAC,
     power=POSF)
spec("prune.PruneRetrainConfig", lambda: dict(), amount=FRAC, steps=POSINT, scope=STR(), schedule=STR(),
     profile=["x", (1.5,), (NAN,)], retrain=["cfg", 3], budget_steps=[0, -1, 1.5, "2"])
spec("prune.prune_retrain", lambda: dict(model=mlp(), train_data=DATA8, cfg=__import__("effnn.prune").prune.PruneRetrainConfig(
    amount=0.5, steps=1, retrain=tcfg())), model=MODEL + [noprune()], train_data=DATA(), cfg=["cfg", None, 3],
     val_data=["v", 3, EMPTY8])
spec("prune.HanConfig", lambda: dict(), amount=FRAC, steps=POSINT, scope=STR(), dense=["d", 3], retrain=["r", 3],
     seed=INT)
spec("prune.han_experiment", lambda: dict(cfg=__import__("effnn.prune").prune.HanConfig(steps=1, dense=tcfg(),
                                                                                         retrain=tcfg()),
                                          data={"train": DATA64, "test": DATA64}),
     cfg=["cfg", 3], data=["d", {"train": DATA64}, {"train": EMPTY8, "test": DATA64}])
spec("prune.run_han", lambda: dict(config=__import__("effnn.prune").prune.HanConfig(steps=1, dense=tcfg(),
                                                                                   retrain=tcfg()),
                                   data={"train": DATA64, "test": DATA64}),
     config=["cfg", 3], data=["d", {"train": DATA64}, {"train": EMPTY8, "test": DATA64}])

# criteria ------------------------------------------------------------------------------------
W = torch.randn(4, 3)
spec("criteria.magnitude", lambda: dict(weight=W), weight=TENSOR() + [NANT(), torch.zeros(0)], p=[3, 0, 1.5, "1"])
spec("criteria.filter_norm", lambda: dict(weight=W), weight=TENSOR() + [NANT()], p=[3, 1.5, "2"])
spec("criteria.bn_scale", lambda: dict(bn=nn.BatchNorm2d(3)), bn=MODEL + [nn.Linear(2, 2)])
spec("criteria.geometric_median_distance", lambda: dict(weight=W), weight=TENSOR() + [NANT(), torch.zeros(0)])
spec("criteria.taylor_weight", lambda: dict(weight=W, grad=W), weight=TENSOR(), grad=TENSOR(torch.ones(2)))
spec("criteria.taylor_group", lambda: dict(weight=W, grad=W), weight=TENSOR(), grad=TENSOR(torch.ones(2)))
spec("criteria.taylor_activation", lambda: dict(activation=torch.randn(2, 3, 4), grad=torch.randn(2, 3, 4)),
     activation=TENSOR(torch.randn(3)), grad=TENSOR(torch.randn(2, 3)))
spec("criteria.flat_params", lambda: dict(params=[W, W]), params=[[], None, W, ["a"]])
spec("criteria.hessian", lambda: dict(loss_of=lambda ts: (ts[0] ** 2).sum(), params=[torch.ones(2)]),
     loss_of=FUNC, params=[[], None, "p"])
spec("criteria.obd_saliency", lambda: dict(weight=W, hessian_diag=W), weight=TENSOR(),
     hessian_diag=TENSOR(torch.ones(2)))
spec("criteria.obs_saliency", lambda: dict(w=torch.ones(3), h_inv=torch.eye(3)), w=TENSOR(),
     h_inv=TENSOR(torch.eye(2)) + [-torch.eye(3), torch.zeros(3, 3)])
spec("criteria.obs_update", lambda: dict(w=torch.ones(3), h_inv=torch.eye(3), q=1), w=TENSOR(),
     h_inv=TENSOR(torch.eye(2)), q=[3, -1, 1.5, "1", None])
spec("criteria.obs_path", lambda: dict(w=torch.ones(3), h_inv=torch.eye(3)), w=TENSOR(),
     h_inv=TENSOR(torch.eye(2)) + [torch.zeros(3, 3)], candidates=[torch.ones(2, dtype=torch.bool), "c"])
spec("criteria.obs_prune", lambda: dict(w=torch.ones(3), h_inv=torch.eye(3), n_prune=1), w=TENSOR(),
     h_inv=TENSOR(torch.eye(2)) + [torch.zeros(3, 3)], n_prune=[1.5, 4, -1, "1", None, NAN],
     candidates=[torch.ones(2, dtype=torch.bool), "c", torch.full((3,), 2.0)])
spec("criteria.per_sample_grads", lambda: dict(model=mlp(), x=DATA64[0][:4], y=DATA64[1][:4]), model=MODEL,
     x=TENSOR(), y=TENSOR(DATA64[1][:3]), params=["w", ["nope"]])
spec("criteria.empirical_fisher", lambda: dict(grads=torch.randn(5, 3)), grads=TENSOR(torch.randn(3)),
     damp=NONNEGF)
spec("criteria.woodfisher_inverse", lambda: dict(grads=torch.randn(5, 3)), grads=TENSOR(torch.randn(3)), damp=POSF)
spec("criteria.kfac_factors", lambda: dict(inputs=torch.randn(5, 3), grad_outputs=torch.randn(5, 2)),
     inputs=TENSOR(torch.randn(3)), grad_outputs=TENSOR(torch.randn(4, 2)))
spec("criteria.TinyMLP", lambda: dict(), in_features=POSINT, hidden=POSINT, num_classes=POSINT)
spec("criteria.weight_loss_fn", lambda: dict(model=mlp(), x=DATA64[0], y=DATA64[1]), model=MODEL, x=TENSOR(),
     y=TENSOR(DATA64[1][:3]))
spec("criteria.damped_inverse", lambda: dict(h=torch.eye(3)), h=TENSOR(torch.ones(3)) + [torch.ones(2, 3), NANT((3, 3))],
     damp=POSF)
spec("criteria.criterion_weights", lambda: dict(model=__import__("effnn.criteria").criteria.TinyMLP(64, 2, 10),
                                                x=DATA64[0], y=DATA64[1], amounts=(0.5,), seeds=1),
     model=MODEL, x=TENSOR(), y=TENSOR(DATA64[1][:3]), amounts=[(1.0,), (), "x", (NAN,)], damp=POSF, seeds=POSINT,
     fisher_samples=[0, -1, 1.5])
spec("criteria.loss_increase", lambda: dict(model=__import__("effnn.criteria").criteria.TinyMLP(64, 2, 10),
                                            x=DATA64[0], y=DATA64[1], amounts=(0.5,), seeds=1),
     model=MODEL, x=TENSOR(), y=TENSOR(DATA64[1][:3]), amounts=[(1.0,), (), "x"])
spec("criteria.criteria_experiment", lambda: dict(hidden=2, epochs=1, amounts=(0.5,), data=DATA64),
     hidden=POSINT, epochs=POSINT, amounts=[(1.0,), (), "x"], seed=INT, data=DATA(_xy(0, (64,)), MISMATCH8)[1:])
spec("criteria.CriteriaConfig", lambda: dict(), hidden=POSINT, epochs=POSINT, amounts=[(1.0,), (), "x", (NAN,)],
     seed=INT, fisher_samples=[0, -1, 1.5, "2", True, NAN])
spec("criteria.run_criteria", lambda: dict(config=__import__("effnn.criteria").criteria.CriteriaConfig(
    hidden=2, epochs=1, amounts=(0.5,)), data=DATA64), config=[None, {"hidden": 2}, 3],
     data=DATA(_xy(0, (64,)), MISMATCH8)[1:])

# quant ---------------------------------------------------------------------------------------
spec("quant.qrange", lambda: dict(bits=8, symmetric=True), bits=BITS + [1], symmetric=FLAG)
spec("quant.qparams", lambda: dict(x_min=-1.0, x_max=1.0, bits=8), x_min=FINITE + [2.0], x_max=FINITE, bits=BITS)
spec("quant.quantize", lambda: dict(x=torch.randn(4), scale=0.1, zero_point=0, bits=8), x=TENSOR() + [NANT((4,))],
     scale=[0.0, -1.0, NAN, "s", None], zero_point=[NAN, "z", None], bits=BITS, axis=[5, 1.5, "0"])
spec("quant.dequantize", lambda: dict(q=torch.tensor([1, 2]), scale=0.1, zero_point=0), q=TENSOR(),
     scale=[0.0, -1.0, NAN, "s", None], zero_point=[NAN, "z", None], axis=[5, 1.5])
spec("quant.tensor_qparams", lambda: dict(x=torch.randn(4, 3), bits=8), x=TENSOR() + [NANT(), torch.zeros(0)],
     bits=BITS, axis=[5, 1.5, "0"])
spec("quant.quant_error", lambda: dict(x=torch.randn(4, 3), bits=8), x=TENSOR() + [NANT(), torch.zeros(0)],
     bits=BITS, axis=[5, 1.5])
spec("quant.fake_quantize", lambda: dict(x=torch.randn(4), bits=4), x=TENSOR() + [NANT((4,))], bits=BITS,
     axis=[5, 1.5], scale=[0.0, -1.0, NAN])
spec("quant.RangeObserver", lambda: dict(), method=STR(), percentile=[NAN, 50.0, 101.0, "99", None])
spec("quant.QuantWrapper", lambda: dict(layer=nn.Linear(2, 2)), layer=MODEL + [nn.ReLU()], w_bits=BITS,
     a_bits=[0, 17, 2.5, "8"], per_channel=FLAG, observer=STR())
spec("quant.quant_layers", lambda: dict(model=mlp()), model=MODEL)
spec("quant.wrap_for_quant", lambda: dict(model=mlp(), w_bits=4), model=MODEL + [noprune()], w_bits=BITS,
     a_bits=[0, 17, 2.5])
spec("quant.set_mode", lambda: dict(model=__import__("effnn.quant").quant.wrap_for_quant(mlp()), mode="quant"),
     model=MODEL + [mlp()], mode=STR())
spec("quant.calibrate", lambda: dict(model=__import__("effnn.quant").quant.wrap_for_quant(mlp()), data=DATA8),
     model=MODEL, data=DATA(), batches=POSINT, batch_size=POSINT)
spec("quant.ptq", lambda: dict(model=mlp(), calib_data=DATA8, w_bits=8, a_bits=8), model=MODEL + [noprune()],
     calib_data=DATA(), w_bits=BITS, a_bits=[0, 17, 2.5], batches=POSINT, observer=STR())
spec("quant.qat", lambda: dict(model=mlp(), train_data=DATA8, w_bits=8, a_bits=8, cfg=tcfg()), model=MODEL,
     train_data=DATA(), w_bits=BITS, cfg=["cfg", 3])
spec("quant.ternarize", lambda: dict(w=torch.randn(4), w_p=1.0, w_n=1.0), w=TENSOR() + [NANT((4,))],
     w_p=FINITE, w_n=FINITE, threshold=FRAC)
spec("quant.TernaryLinear", lambda: dict(in_features=2, out_features=3), in_features=POSINT, out_features=POSINT,
     threshold=FRAC, bias=["yes", None])
spec("quant.ternarize_model", lambda: dict(model=mlp()), model=MODEL + [noprune()], threshold=FRAC,
     skip_first_last=FLAG)
spec("quant.ternary_sparsity", lambda: dict(model=__import__("effnn.quant").quant.ternarize_model(mlp())),
     model=MODEL + [mlp()])
spec("quant.clip_latent", lambda: dict(model=__import__("effnn.quant").quant.ternarize_model(mlp())),
     model=MODEL + [mlp()], bound=POSF)
spec("quant.dynamic_int8", lambda: dict(model=mlp()), model=MODEL + [noprune()])
spec("quant.static_int8", lambda: dict(model=cnn(), calib_data=DATA8, batches=1), model=MODEL + [noprune()],
     calib_data=DATA(), backend=STR(), batches=POSINT, batch_size=POSINT)
spec("quant.compare_int8", lambda: dict(fp32=mlp(), int8=mlp(), example_inputs=X8, test_data=DATA8, rounds=1,
                                        min_run_time=0.01),
     fp32=MODEL, int8=MODEL, test_data=DATA(), rounds=POSINT, min_run_time=POSF, threads=POSINT)

# compression ---------------------------------------------------------------------------------
spec("compression.kmeans_codebook", lambda: dict(weights=torch.randn(20), bits=2), weights=TENSOR() + [NANT((20,))],
     bits=BITS, mask=["m", torch.ones(3)], seed=[-1, 1.5, "0"])
spec("compression.SharedWeight", lambda: dict(layer=nn.Linear(4, 4), bits=2), layer=MODEL + [nn.ReLU()],
     bits=BITS, bias_bits=[0, 17, 2.5])
spec("compression.share_weights", lambda: dict(model=mlp(), bits=2), model=MODEL + [noprune()],
     bits=BITS + [[2], [2, 0]], bias_bits=[0, 17, 2.5])
spec("compression.shared_layers", lambda: dict(model=mlp()), model=MODEL)
spec("compression.huffman_code", lambda: dict(symbols=[0, 0, 1]), symbols=[[], None, 3, "abc", [[1], [2]]])
spec("compression.huffman_encode", lambda: dict(symbols=[0, 1], code={0: "0", 1: "1"}), symbols=[None, 3, [5]],
     code=[None, {}, {0: "x"}, "c"])
spec("compression.huffman_decode", lambda: dict(bits="01", code={0: "0", 1: "1"}), bits=[None, 3, "012", "0 1"],
     code=[None, {}, {0: "0", 1: "01"}])
spec("compression.is_prefix_free", lambda: dict(code={0: "0", 1: "1"}), code=[None, {}, "c", {0: 3}])
spec("compression.huffman_bits", lambda: dict(symbols=[0, 0, 1]), symbols=[[], None, 3])
spec("compression.relative_index", lambda: dict(mask=torch.ones(5), index_bits=2), mask=TENSOR(), index_bits=BITS)
spec("compression.decode_positions", lambda: dict(gaps=[1, 2], padding=[0, 0]), gaps=[None, "g", [0, 1], [1.5, 1]],
     padding=[None, [0], [2, 0]])
spec("compression.layer_storage", lambda: dict(name="fc", index=torch.zeros(5, dtype=torch.long), mask=torch.ones(5),
                                               n_centroids=4),
     name=[3, None], index=TENSOR(torch.full((5,), 9)), mask=TENSOR(torch.ones(4)), n_centroids=POSINT,
     index_bits=BITS, huffman=FLAG)
spec("compression.model_storage", lambda: dict(model=__import__("effnn.compression").compression.share_weights(mlp(), 2)),
     model=MODEL + [mlp()], index_bits=BITS[:-2] + [True], huffman=FLAG)
spec("compression.compression_table", lambda: dict(dense_bytes=1000, layers=__import__("effnn.compression").compression.model_storage(
    __import__("effnn.compression").compression.share_weights(mlp(), 2))),
     dense_bytes=POSINT, layers=[[], None, "l", [3]])
spec("compression.prune_and_retrain", lambda: dict(model=mlp(), amounts=0.5, train_data=DATA8, cfg=tcfg(), steps=1),
     model=MODEL + [noprune()], amounts=FRAC + [[0.5]], train_data=DATA(), cfg=["cfg", None, 3], steps=POSINT)
spec("compression.share_and_finetune", lambda: dict(model=mlp(), bits=2, train_data=DATA8, cfg=tcfg()),
     model=MODEL + [noprune()], bits=BITS, train_data=DATA(), cfg=["cfg", 3])
spec("compression.han_table", lambda: dict(model=__import__("effnn.compression").compression.share_weights(mlp(), 2)),
     model=MODEL + [mlp()], index_bits=BITS[:-2] + [True])
spec("compression.markdown_table", lambda: dict(rows=[{"a": 1.0}]), rows=[[], None, "r", [3]], digits=[0, 1.5, "3"])

# lowrank -------------------------------------------------------------------------------------
spec("lowrank.singular_values", lambda: dict(layer=nn.Linear(4, 3)), layer=MODEL + [nn.ReLU()])
spec("lowrank.relative_error", lambda: dict(layer=nn.Linear(4, 3), rank=2), layer=MODEL, rank=[0, 4, 1.5, "2", None])
spec("lowrank.svd_linear", lambda: dict(layer=nn.Linear(4, 3), rank=2), layer=MODEL + [nn.Conv2d(1, 1, 1)],
     rank=[0, 4, 1.5, "2", None])
spec("lowrank.max_conv_rank", lambda: dict(conv=nn.Conv2d(2, 4, 3)), conv=MODEL + [nn.Linear(2, 2)], scheme=STR())
spec("lowrank.factorize_conv", lambda: dict(conv=nn.Conv2d(2, 4, 3), rank=2), conv=MODEL + [nn.Linear(2, 2)],
     rank=[0, 100, 1.5, "2"], scheme=STR())
spec("lowrank.factorize_linears", lambda: dict(model=mlp(), rank=4), model=MODEL + [noprune()],
     rank=[0, -1, 1.5, "2", None], skip=[3])
spec("lowrank.rank_sweep", lambda: dict(model=mlp(), ranks=[2], train_data=DATA8, test_data=DATA8, progress=False),
     model=MODEL, ranks=[[], [0], "r", 3], test_data=DATA(), finetune=["cfg", 3], progress=FLAG)

# distill -------------------------------------------------------------------------------------
LOG = torch.randn(4, 3)
spec("distill.softmax_t", lambda: dict(logits=LOG), logits=TENSOR(torch.randn(3)) + [NANT()], T=POSF)
spec("distill.soft_kl", lambda: dict(student_logits=LOG, teacher_logits=LOG),
     student_logits=TENSOR(torch.randn(3)), teacher_logits=TENSOR(torch.randn(4, 2)), T=POSF)
spec("distill.kd_loss", lambda: dict(student_logits=LOG, teacher_logits=LOG, targets=torch.tensor([0, 1, 2, 0])),
     student_logits=TENSOR(), teacher_logits=TENSOR(torch.randn(4, 2)), targets=[None, "t", torch.tensor([0])],
     T=POSF, alpha=PROB)
spec("distill.kd_loss_fn", lambda: dict(teacher=mlp()), teacher=MODEL, T=POSF, alpha=PROB)
spec("distill.FeatureTap", lambda: dict(module=nn.Linear(2, 2)), module=MODEL)
spec("distill.HintStudent", lambda: dict(student=mlp(), hint_layer=nn.Linear(2, 2), student_dim=2, teacher_dim=3),
     student=MODEL, hint_layer=MODEL, student_dim=POSINT, teacher_dim=POSINT)
spec("distill.hint_loss_fn", lambda: dict(teacher=mlp(), teacher_layer=nn.Linear(2, 2)), teacher=MODEL,
     teacher_layer=MODEL, beta=NONNEGF, T=POSF, alpha=PROB)
spec("distill.class_balanced_subset", lambda: dict(x=DATA8[0], y=DATA8[1], per_class=1), x=TENSOR(),
     y=TENSOR(DATA8[1][:3]), per_class=POSINT + [100], seed=INT)
spec("distill.train_student", lambda: dict(make_student=mlp, data=DATA64, cfg=tcfg()), make_student=FUNC,
     data=DATA(), cfg=["cfg", None, 3], teacher=["t", 3], T=POSF, alpha=PROB, seed=INT)

# nas -----------------------------------------------------------------------------------------
def supernet():
    from effnn.nas import SuperNet

    torch.manual_seed(0)
    return SuperNet(layers=2, widths=(2, 4), kernels=(1, 3))


spec("nas.kendall_tau", lambda: dict(a=[1, 2, 3], b=[1, 3, 2]), a=[None, 3, [1], "abc", [1, NAN, 2]],
     b=[None, [1, 2], [1, 1, 1]])
spec("nas.SuperNet", lambda: dict(), in_channels=POSINT, num_classes=POSINT, layers=POSINT,
     widths=[(), (0,), "w", None], kernels=[(2,), (), "k"], input_size=[0, 3, 1.5, "8"])
spec("nas.fresh_subnet", lambda: dict(supernet=supernet(), arch=((2, 1), (4, 3))), supernet=MODEL + [mlp()],
     arch=[None, "a", ((2, 1),), ((5, 1), (4, 3))], seed=INT)
spec("nas.train_supernet", lambda: dict(supernet=supernet(), train_data=DATA8, cfg=tcfg()), supernet=MODEL,
     train_data=DATA(), cfg=["cfg", 3])
spec("nas.supernet_accuracy", lambda: dict(supernet=supernet(), arch=((2, 1), (4, 3)), data=DATA8),
     supernet=MODEL, arch=[None, "a", ((2, 1),)], data=DATA())
spec("nas.spread_archs", lambda: dict(supernet=supernet(), n=3), supernet=MODEL, n=[1, 10_000, 1.5, "3", None],
     seed=INT)
spec("nas.SuperNet.forward", lambda: dict(x=X8, arch=((2, 1), (4, 3))), x=TENSOR(),
     arch=["a", ((2, 1),), ((5, 1), (4, 3))], _call=method("forward", supernet))

# arch ----------------------------------------------------------------------------------------
spec("arch.conv_macs", lambda: dict(c_in=3, c_out=8, k=3, h_out=4, w_out=4), c_in=POSINT, c_out=POSINT, k=POSINT,
     h_out=POSINT, w_out=POSINT, groups=POSINT + [2])
spec("arch.conv_params", lambda: dict(c_in=3, c_out=8, k=3), c_in=POSINT, c_out=POSINT, k=POSINT,
     groups=POSINT + [2], bias=FLAG)
spec("arch.separable_macs", lambda: dict(c_in=3, c_out=8, k=3, h_out=4, w_out=4), c_in=POSINT, c_out=POSINT,
     k=POSINT, h_out=POSINT)
spec("arch.separable_params", lambda: dict(c_in=3, c_out=8, k=3), c_in=POSINT, c_out=POSINT, k=POSINT)
spec("arch.DepthwiseSeparableConv", lambda: dict(c_in=3, c_out=8), c_in=POSINT, c_out=POSINT, k=POSINT,
     stride=POSINT)
spec("arch.Fire", lambda: dict(c_in=3, squeeze=2, expand1x1=4, expand3x3=4), c_in=POSINT, squeeze=POSINT,
     expand1x1=POSINT, expand3x3=POSINT)
spec("arch.squeezenet", lambda: dict(num_classes=10), num_classes=POSINT, version=STR())
spec("arch.compound_scaling", lambda: dict(phi=1), phi=[NAN, INF, -1, "1", None], alpha=[NAN, 0.5, "1"],
     beta=[NAN, 0.5], gamma=[NAN, 0.5], base_resolution=POSINT)
spec("arch.compound_grid", lambda: dict(step=0.1), target=[NAN, 0.5, "2"], step=[NAN, 0.0, -0.1, "0.1", 1e-9],
     tol=[NAN, -1.0], max_value=[NAN, 0.5])
spec("arch.build", lambda: dict(name="SqueezeNet-1.1", source="transformers"), name=["AlexNet", 3, None],
     source=["timm", 3])
spec("arch.scaled_cnn", lambda: dict(), depth_mult=POSF, width_mult=POSF, base_depth=POSINT, base_width=POSINT,
     num_classes=POSINT, in_channels=POSINT)
spec("arch.architecture_table", lambda: dict(names=["SqueezeNet-1.1"], resolution=32, source="transformers",
                                             min_run_time=0.01, progress=False),
     names=[["AlexNet"], 3, "SqueezeNet-1.1"], resolution=POSINT + [8], source=["timm", 3],
     min_run_time=POSF, progress=FLAG)
spec("arch.efficientnet_scaling_macs", lambda: dict(phis=(0,), resolution_scale=0.15), phis=[(), "p", (NAN,), (-1,)],
     resolution_scale=[NAN, 0.0, -1.0, 2.0, "1"])

# conditional ---------------------------------------------------------------------------------
def eecnn():
    from effnn.conditional import EarlyExitCNN

    torch.manual_seed(0)
    return EarlyExitCNN(widths=(2, 4))


spec("conditional.EarlyExitCNN", lambda: dict(), in_channels=POSINT, num_classes=POSINT, widths=[(4,), "w", (0, 4)],
     pool=POSINT)
spec("conditional.exits_loss", lambda: dict(model=eecnn(), x=DATA8[0], y=DATA8[1]), model=MODEL + [mlp()],
     x=TENSOR(torch.randn(8, 8)), y=TENSOR(DATA8[1][:3]), weights=["w", [1.0], [NAN, 1.0]])
spec("conditional.exit_macs", lambda: dict(model=eecnn(), example_inputs=X8), model=MODEL + [mlp()],
     example_inputs=TENSOR(torch.randn(8, 8)))
spec("conditional.cascade_predict", lambda: dict(model=eecnn(), x=X8, threshold=0.5), model=MODEL + [mlp()],
     x=TENSOR(torch.randn(8, 8)), threshold=PROB)
spec("conditional.threshold_sweep", lambda: dict(model=eecnn(), data=DATA8, thresholds=[0.5]), model=MODEL,
     data=DATA(), thresholds=[[NAN], [1.5], "t", 3, []])
spec("conditional.TopKMoE", lambda: dict(in_features=4, out_features=2), in_features=POSINT, out_features=POSINT,
     n_experts=POSINT, k=POSINT + [5], hidden=POSINT)

# energy / models / plot / sparse_speed --------------------------------------------------------
spec("energy.inference_energy", lambda: dict(macs=1000, weight_count=10), macs=[-1, NAN, "1", None, 1.5],
     weight_count=[-1, NAN, "1"], dtype=STR(), weights_in=STR())
spec("models.LeNet300100", lambda: dict(), in_features=POSINT, num_classes=[1, 0, 1.5, "10"],
     hidden=[(0,), "h", None])
spec("models.LeNet5", lambda: dict(), in_channels=POSINT, num_classes=[1, 1.5], input_size=[4, 1.5, "8"],
     channels=[(0, 1), (1,), "c"], hidden=[(0, 1), "h"])
spec("models.ResidualBlock", lambda: dict(channels=4), channels=POSINT)
spec("models.ResCNN", lambda: dict(width=4), in_channels=POSINT, num_classes=[1, 1.5], width=POSINT,
     blocks=NONNEGINT)
spec("models.segformer_config", lambda: dict(num_labels=2), num_labels=[0, 1.5, "2", None],
     hidden_sizes=[[32, 64, 160, 250]])
spec("models.conv_output_size", lambda: dict(size=28, kernel=5), size=POSINT, kernel=POSINT + [100], stride=POSINT,
     padding=NONNEGINT)
spec("models.build_segformer", lambda: dict(num_labels=2, hidden_sizes=[8, 8, 8, 8], num_attention_heads=[1, 1, 1, 1],
                                            decoder_hidden_size=8),
     num_labels=[0, 1.5, "2"], pretrained=[3, "/nonexistent/segformer"], seed=INT)
spec("plot.curve_with_band", lambda: dict(x=[1, 2], ys=[[1.0, 2.0]]), x=[None, "x", [NAN, 1]],
     ys=[None, [[1.0]], [[NAN, 1.0]], "y"], label=[3], ax=["ax", 3])
spec("plot.weight_histogram", lambda: dict(weights=torch.randn(10)), weights=[None, "w", torch.zeros(0), NANT()],
     bins=POSINT, log=FLAG, ax=["ax"])
spec("plot.mask_image", lambda: dict(mask=torch.ones(3, 3)), mask=[None, "m", torch.zeros(0), torch.tensor(1.0)],
     title=[3], ax=["ax"])
spec("sparse_speed.random_sparse", lambda: dict(rows=4, cols=4, amount=0.5), rows=POSINT, cols=POSINT,
     amount=FRAC, seed=INT)
spec("sparse_speed.time_sparse_vs_dense", lambda: dict(amounts=[0.5], rows=8, cols=8, batch=2, min_run_time=0.01),
     amounts=[[1.0], [NAN], [], "s", 3], rows=POSINT, cols=POSINT, batch=POSINT, min_run_time=POSF,
     progress=[3, "p"])
spec("sparse_speed.crossover", lambda: dict(timings=[]), timings=[None, 3, [1.0], "t"])

# lth -----------------------------------------------------------------------------------------
def lthcfg(**kw):
    from effnn.lth import LTHConfig

    return LTHConfig(**{"rounds": 1, "train": tcfg(), "controls": (), **kw})


def pruned_mlp():
    from effnn.prune import magnitude_prune

    return magnitude_prune(mlp(), 0.5)


spec("lth.snapshot", lambda: dict(model=mlp()), model=MODEL)
spec("lth.rewind", lambda: (lambda m: dict(model=m, state=__import__("effnn.lth").lth.snapshot(m)))(mlp()),
     model=MODEL, state=[None, {}, "s", {"1.weight": torch.ones(2)}])
spec("lth.masks", lambda: dict(model=pruned_mlp()), model=MODEL + [noprune()])
spec("lth.apply_masks", lambda: dict(model=mlp(), mask_dict=__import__("effnn.lth").lth.masks(pruned_mlp())),
     model=MODEL, mask_dict=[None, {}, "m", {"nope": torch.ones(2)}, {"1": torch.ones(2)}])
spec("lth.TrainingProbe", lambda: dict(), val_data=["v", 3, EMPTY8], rewind_step=NONNEGINT, eval_every=POSINT)
spec("lth.train_probed", lambda: dict(model=mlp(), train_data=DATA8, cfg=tcfg()), model=MODEL, train_data=DATA(),
     cfg=["cfg", None, 3], rewind_step=NONNEGINT, eval_every=POSINT, after_step=[3])
spec("lth.LTHConfig", lambda: dict(), rounds=NONNEGINT, amount=FRAC, output_amount=FRAC, rewind_step=NONNEGINT,
     train=["t", 3], controls=["snip", ("nope",), 3], eval_every=POSINT, seed=INT)
spec("lth.LTHConfig.layer_sparsity", lambda: dict(round_=1, n_layers=3), round_=NONNEGINT, n_layers=POSINT,
     _call=method("layer_sparsity", lambda: lthcfg()))
spec("lth.snip_scores", lambda: dict(model=mlp(), x=DATA64[0], y=DATA64[1]), model=MODEL + [noprune()],
     x=TENSOR(), y=TENSOR(DATA64[1][:3]))
spec("lth.snip_prune", lambda: dict(model=mlp(), x=DATA64[0], y=DATA64[1], amount=0.5), model=MODEL + [noprune()],
     x=TENSOR(), y=TENSOR(DATA64[1][:3]), amount=FRAC)
spec("lth.imp_prune", lambda: dict(model=mlp(), cfg=lthcfg(), round_=1), model=MODEL + [noprune()],
     cfg=["cfg", None, 3], round_=NONNEGINT)
spec("lth.find_tickets", lambda: dict(model_fn=mlp, train_data=DATA64, val_data=DATA64, test_data=DATA64,
                                      cfg=lthcfg()),
     model_fn=FUNC, train_data=DATA(), test_data=DATA(), cfg=["cfg", 3])
spec("lth.run_lth", lambda: dict(config=lthcfg(), data=(DATA64, DATA64, DATA64), model_fn=mlp),
     config=["cfg", None, 3], data=[None, "d", (DATA64, DATA64), (EMPTY8, DATA64, DATA64)], model_fn=[3, "f"])
spec("lth.interpolate", lambda: dict(model_a=mlp(), model_b=mlp(), alpha=0.5), model_a=MODEL, model_b=MODEL + [cnn()],
     alpha=FINITE)
spec("lth.error_barrier", lambda: dict(model_a=mlp(), model_b=mlp(), data=DATA64, alphas=[0.0, 1.0]),
     model_a=MODEL, model_b=MODEL + [cnn()], data=DATA(), alphas=[[], [NAN, 1.0], "a", 3])
spec("lth.spawn_and_compare", lambda: (lambda m: dict(parent=m, state=__import__("effnn.lth").lth.snapshot(m),
                                                      train_data=DATA64, test_data=DATA64, cfg=tcfg(),
                                                      alphas=[0.0, 1.0]))(mlp()),
     parent=MODEL, state=[None, {}, "s"], train_data=DATA(), test_data=DATA(), cfg=["cfg", 3], seeds=[(1,), "s", 3])
spec("lth.instability", lambda: dict(model_fn=mlp, train_data=DATA64, test_data=DATA64, cfg=tcfg(), rewind_step=1,
                                     alphas=[0.0, 1.0]),
     model_fn=FUNC, train_data=DATA(), test_data=DATA(), cfg=["cfg", 3], rewind_step=NONNEGINT, seed=INT,
     mask=["m", 3])
spec("lth.DeepR", lambda: dict(model=mlp(), density=0.5, lr=0.1), model=MODEL + [noprune()],
     density=[NAN, 0.0, 1.5, "0.5", None], lr=POSF, l1=NONNEGF, temperature=NONNEGF, seed=INT)
spec("lth.static_sparse", lambda: dict(model=mlp(), density=0.5), model=MODEL + [noprune()],
     density=[NAN, 0.0, 1.5, "0.5", None], seed=INT)
spec("lth.summarize", lambda: dict(runs=[[{"round": 0, "remaining": 1.0, "acc_ticket": 0.5, "early_stop": 1}]]),
     runs=[[], None, "r", [[]], [[3]]])

# search --------------------------------------------------------------------------------------
def resnet():
    from effnn.models import ResCNN

    torch.manual_seed(0)
    return ResCNN(width=4, blocks=0)


def macmodel():
    from effnn.search import MacModel

    return MacModel(resnet(), X8)


spec("search.MacModel", lambda: dict(model=resnet(), example_inputs=X8), model=MODEL + [noprune()],
     example_inputs=TENSOR())
spec("search.MacModel.estimate", lambda: dict(keep=[0.5, 0.5]), keep=[[0.5], [NAN, 0.5], [0.0, 0.5], "k", None],
     _call=method("estimate", macmodel))
spec("search.keep_for_budget", lambda: (lambda mm: dict(mac_model=mm, preferences=[1.0, 1.0], budget=mm.total * 0.6))(
    macmodel()),
     mac_model=["mm", None, 3], preferences=[[1.0], [0.0, 1.0], [NAN, 1.0], "p"], budget=[NAN, INF, -1.0, 0.0, 1.0, "b"],
     min_keep=[NAN, 0.0, 1.5])
spec("search.prune_to_keep", lambda: (lambda mm: dict(model=resnet(), example_inputs=X8, mac_model=mm,
                                                      keep=[0.5, 0.5]))(macmodel()),
     model=MODEL, example_inputs=TENSOR(), mac_model=["mm", 3], keep=[[0.5], [NAN, 0.5], "k"], importance=STR())
spec("search.prune_at_budget", lambda: dict(model=resnet(), example_inputs=X8, budget=macmodel().total * 0.6),
     model=MODEL, example_inputs=TENSOR(), budget=[NAN, INF, -1.0, 0.0, "b"], preferences=[[1.0], [0.0, 1.0]],
     importance=STR())
spec("search.global_at_budget", lambda: dict(model=resnet(), example_inputs=X8, budget=macmodel().total * 0.6,
                                             steps=3),
     model=MODEL, example_inputs=TENSOR(), budget=[NAN, INF, -1.0, 0.0, 1.0, "b"], importance=STR(), steps=POSINT)
spec("search.search_amounts", lambda: dict(model=resnet(), example_inputs=X8, budget=macmodel().total * 0.6,
                                          score=lambda m: 0.0, n_trials=1, progress=False),
     model=MODEL, budget=[NAN, -1.0, "b"], score=FUNC, n_trials=POSINT, low=[NAN, 0.0, 1.0], progress=FLAG)
spec("search.journal_storage", lambda: dict(path=Path(os.environ.get("TMPDIR", "/tmp")) / "effnn_fuzz_journal.log"),
     path=[3, ["p"]], study_name=[3, ""])
spec("search.fit_learning_curve", lambda: dict(values=[0.1, 0.2, 0.3]), values=[[0.1], None, "abc", [NAN, 0.1, 0.2]],
     family=STR())

# modules owned by other sessions: a sample of their public names ----------------------------
spec("structured.prune_channels", lambda: dict(model=resnet(), example_inputs=X8, amount=0.5), model=MODEL,
     amount=FRAC, importance=STR(), scope=STR(), amounts=[{"conv": 0.5}, "a", 3], round_to=[0, -1, 1.5, "2", True, NAN])
spec("structured.make_importance", lambda: dict(importance="l2"), importance=STR())
spec("structured.output_layers", lambda: dict(model=resnet(), example_inputs=X8), model=MODEL,
     example_inputs=TENSOR())
spec("segformer.portrait_tensors", lambda: dict(split="val", n=2, size=32), split=STR(), n=POSINT[:4] + POSINT[5:], size=[8, 1.5, "32"],
     seed=[-1, 1.5])
spec("segformer.as_float", lambda: dict(images=torch.zeros(1, 3, 4, 4, dtype=torch.uint8)), images=TENSOR())
spec("binary.sign_identity", lambda: dict(x=torch.randn(3)), x=TENSOR())
spec("binary.clip_binaryconnect", lambda: dict(model=mlp()), model=MODEL, bound=POSF)
spec("xnor.pack_rows", lambda: dict(x=np.ones((2, 8))), x=[None, "x", np.ones(3), np.full((2, 8), NAN)])
spec("xnor.random_signs", lambda: dict(rows=2, cols=8), rows=POSINT, cols=POSINT, seed=[1.5, "0"])
spec("data.classification", lambda: dict(split="test"), split=STR(), name=["nope", 3])
spec("data.portrait_split", lambda: dict(split="val", n=2, size=32), split=STR(), n=POSINT[:4] + POSINT[5:], size=[0, -1, 1.5])
spec("config.pick", lambda: dict(full=1, fast=0))
spec("segformer.upsample", lambda: dict(logits=torch.randn(1, 2, 4, 4), size=(8, 8)), logits=TENSOR(torch.randn(2, 4)),
     size=[(0, 8), "s", (8,), None])
spec("segformer.BaselineRecipe", lambda: dict(), size=POSINT, n_train=POSINT, steps=POSINT, batch_size=POSINT,
     lr=POSF, weight_decay=NONNEGF, warmup=NONNEGINT, clip=POSF, seed=INT, threads=POSINT, eval_every=POSINT)
spec("structured.SpeedupConfig", lambda: dict(), width=POSINT, blocks=NONNEGINT, amount=FRAC, epochs=POSINT,
     finetune_epochs=NONNEGINT, input_size=[0, -1, 1.5, "2", True, NAN], seed=INT, threads=POSINT, importance=STR())
spec("structured.run_speedup", lambda: dict(config=__import__("effnn.structured").structured.SpeedupConfig(
    width=4, epochs=1, finetune_epochs=0, threads=1), data=(DATA8, DATA8)),
     config=[None, {"width": 4}, 3], data=["d", (DATA8,), (DATA64, DATA64), (EMPTY8, DATA8)])
spec("binary.binarized_mlp", lambda: dict(hidden=(8, 8)), mode=STR(), in_features=POSINT, hidden=[(0,), "h", None],
     num_classes=POSINT, scale=FLAG)
spec("data.digits", lambda: dict(split="test"), split=STR(), flatten=FLAG, seed=[-1, 1.5, "0"])
spec("xnor.xnor_matmul_fast", lambda: (lambda xn: dict(a_bits=xn.pack_rows(np.ones((2, 64))),
                                                       b_bits=xn.pack_rows(np.ones((3, 64))), n=64))(
    __import__("effnn.xnor").xnor), a_bits=[None, "a", np.ones(3)], b_bits=[None, "b"], n=[0, -1, 1.5, 65, "64"])


# the course's further modules (binary nets, coarse pruning, CP, predictors, rewinding, slimming, gating,
# reconstruction, bit budgets, squeeze, ensembles, segformer): every public function and class --------------
def _mod(name):
    return importlib.import_module(f"effnn.{name}")


def rowt():
    torch.manual_seed(0)
    return _mod("coarse").RowTransformer(dim=16, num_heads=2, depth=1)


def rescnn():
    from effnn.models import ResCNN

    torch.manual_seed(0)
    return ResCNN(width=4, blocks=1)


def conv3():
    torch.manual_seed(0)
    return nn.Conv2d(3, 4, 3, padding=1)


def tiny_segformer():
    from effnn.models import build_segformer

    return build_segformer(2, seed=0, hidden_sizes=[8, 16, 40, 64], num_attention_heads=[1, 2, 5, 8],
                           decoder_hidden_size=32).eval()


X4 = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
X3 = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(2))
XY40 = (torch.randn(16, 40, generator=torch.Generator().manual_seed(3)), torch.arange(16) % 10)

spec("binary.approx_sign", lambda: dict(x=torch.randn(3)), x=TENSOR())
spec("binary.SignActivation", lambda: dict())
spec("rewinding.rewind_sweep", lambda: dict(model_fn=mlp, train_data=DATA8, test_data=DATA8, cfg=tcfg(), steps=[0, 1],
                                            amount=0.5, seeds=(0,)),
     model_fn=FUNC, train_data=DATA(), test_data=DATA(), cfg=[None, {"epochs": 1}], steps=[[], [-1], "s", None],
     amount=FRAC, output_amount=FRAC, seeds=["s", None, (), (-1,)], control=FLAG, warmup_steps=[0, -1, 1.5, "2"])
spec("binary.BinaryConnectLinear", lambda: dict(in_features=3, out_features=2), in_features=POSINT,
     out_features=POSINT, bias=FLAG, scale=FLAG)
spec("bit_budget.mlp_bytes", lambda: dict(in_features=40, hidden=16, num_classes=10, w_bits=8),
     in_features=POSINT, hidden=POSINT, num_classes=POSINT, w_bits=[0, 2.5, "8", None, True], depth=POSINT)
spec("bit_budget.widest_mlp", lambda: dict(budget_bytes=4000.0, w_bits=8), budget_bytes=POSF, w_bits=[0, 2.5, "8", None, True],
     in_features=POSINT, num_classes=POSINT)
spec("coarse.HeadAttention", lambda: dict(dim=8, num_heads=2), dim=POSINT, num_heads=POSINT + [3])
spec("coarse.TransformerBlock", lambda: dict(dim=8, num_heads=2), dim=POSINT, num_heads=POSINT, mlp_ratio=POSINT)
spec("coarse.RowTransformer", lambda: dict(dim=16, num_heads=2, depth=1), width=POSINT, height=POSINT, dim=POSINT,
     num_heads=POSINT, depth=POSINT, num_classes=POSINT)
spec("coarse.PlainBlock", lambda: dict(channels=4), channels=POSINT)
spec("coarse.attention_layers", lambda: dict(model=rowt()), model=MODEL)
spec("coarse.blocks_of", lambda: dict(model=rescnn()), model=MODEL)
spec("coarse.plain_twin", lambda: dict(model=rescnn()), model=MODEL + [nn.Linear(2, 2)])
spec("coarse.head_ablation", lambda: dict(model=rowt(), data=DATA8), model=MODEL + [nn.Linear(2, 2)], data=DATA())
spec("coarse.block_deletion", lambda: dict(model=rescnn(), data=DATA8), model=MODEL + [nn.Linear(2, 2)], data=DATA())
spec("coarse.prune_heads", lambda: dict(model=rowt(), example_inputs=X4, amount=0.5),
     model=MODEL + [nn.Linear(2, 2)], example_inputs=[None, "x", 3], amount=FRAC, ignored_layers=["a", 3, [3]])
spec("bit_budget.equal_bytes_experiment", lambda: dict(train=XY40, test=XY40, budget_width=8, bits=(32,), seeds=(0,),
                                                       train_cfg=tcfg(), qat_cfg=tcfg()),
     train=[None, "data", 3], test=[None, "data", 3], budget_width=POSINT, bits=[None, "8", (), (0,), (33,)],
     seeds=[None, "s", (), (-1,)], train_cfg=[{"epochs": 1}, 3], qat_cfg=[{"epochs": 1}, 3])
spec("cp.cp_params", lambda: dict(conv=conv3(), rank=2), conv=MODEL + [nn.Linear(2, 2)], rank=POSINT)
spec("cp.cp_layers", lambda: dict(conv=conv3(), rank=2), conv=MODEL + [nn.Linear(2, 2)], rank=POSINT)
spec("cp.cp_factors", lambda: dict(conv=conv3(), rank=2, n_iter_max=5), conv=MODEL + [nn.Linear(2, 2)], rank=POSINT,
     n_iter_max=POSINT, seed=[-1, 1.5, "0"])
spec("cp.cp_conv", lambda: dict(conv=conv3(), rank=2, n_iter_max=5), conv=MODEL + [nn.Linear(2, 2)], rank=POSINT,
     n_iter_max=POSINT, seed=[-1, 1.5, "0"])
spec("reconstruct.conv_responses", lambda: dict(conv=conv3(), inputs=X3), conv=MODEL + [nn.Linear(2, 2)],
     inputs=TENSOR(torch.randn(3, 6)) + [torch.randn(2, 5, 6, 6)])
spec("reconstruct.output_reconstruct_conv", lambda: dict(conv=conv3(), rank=2, inputs=X3),
     conv=MODEL + [nn.Linear(2, 2)], rank=POSINT, inputs=TENSOR(torch.randn(3, 6)))
spec("reconstruct.relative_output_error", lambda: dict(conv=conv3(), approx=conv3(), inputs=X3),
     conv=MODEL + [nn.Linear(2, 2)], approx=MODEL, inputs=TENSOR(torch.randn(3, 6)))
spec("predictor.mlp_space", lambda: dict(depths=(1, 2), widths=(8, 16)), depths=[(0,), "d", None, ()],
     widths=[(0,), "w", None, ()])
spec("predictor.sample_archs", lambda: dict(space=[(8,), (16,)], n=1), space=[[], None, 3], n=POSINT + [3])
spec("predictor.encode", lambda: dict(arch=(16, 32)), arch=[(), (0,), "a", None, (8, 8, 8, 8)], max_depth=POSINT,
     in_features=POSINT)
spec("predictor.mlp_params", lambda: dict(arch=(16,), in_features=40), arch=[(0,), "a", None],
     in_features=POSINT, classes=POSINT)
spec("predictor.rank_agreement", lambda: dict(predicted=[1, 2, 3], actual=[1, 3, 2], n_boot=10),
     predicted=[None, "p", [1, 2], [1, NAN, 3]], actual=[None, [1, 2]], n_boot=POSINT, seed=[-1, 1.5])
spec("predictor.tau_difference", lambda: dict(predicted_a=[1, 2, 3], predicted_b=[3, 2, 1], actual=[1, 2, 3],
                                              n_boot=10),
     predicted_a=[None, [1, 2]], predicted_b=[None, [1, 2]], actual=[None, [1, 2]], n_boot=POSINT)
spec("predictor.describe", lambda: dict(name="m", agreement=_mod("predictor").rank_agreement([1, 2, 3], [1, 3, 2],
                                                                                           n_boot=10)),
     name=[None, 3], agreement=[None, {}, "a"])
spec("dropout_tickets.add_dropout", lambda: dict(model=mlp(), p=0.5), model=MODEL + [nn.Linear(2, 2)], p=FRAC)
spec("dropout_tickets.dropout_experiment", lambda: dict(model_fn=mlp, train_data=DATA8, test_data=DATA8, cfg=tcfg(),
                                                        dropouts=(0.0,), amount=0.5, seeds=(0,)),
     model_fn=FUNC, train_data=DATA(), test_data=DATA(), cfg=[None, {"epochs": 1}], dropouts=[(), "d", None, (1.0,)],
     amount=FRAC, output_amount=FRAC, seeds=["s", None, (), (-1,)])
spec("rewinding.steps_per_epoch", lambda: dict(train_data=DATA8, batch_size=4), train_data=DATA(),
     batch_size=POSINT)
spec("rewinding.Snapshots", lambda: dict(model=mlp(), steps=[0, 1]), model=MODEL, steps=[[], [-1], "s", None, [1.5]])
spec("rewinding.fit_warmup", lambda: dict(model=mlp(), train_data=DATA8, cfg=tcfg(), warmup_steps=2), model=MODEL,
     train_data=DATA(), cfg=[None, {"epochs": 1}], warmup_steps=POSINT)
spec("slimming.ConvNet1d", lambda: dict(length=40, width=4), length=POSINT, width=POSINT, num_classes=POSINT)
spec("slimming.bn_scales", lambda: dict(model=_mod("slimming").ConvNet1d(width=4)), model=MODEL + [nn.Linear(2, 2)])
spec("slimming.slimming_loss", lambda: dict(l1=0.01), l1=NONNEGF)
spec("gating.GatedResNet", lambda: dict(width=4, blocks=2), in_channels=POSINT, num_classes=POSINT, width=POSINT,
     blocks=POSINT, gate_hidden=POSINT, gated=FLAG, temperature=POSF)
spec("gating.target_rate_loss_fn", lambda: dict(target=0.5), target=PROB, weight=NONNEGF)
spec("gating.per_sample_macs", lambda: dict(model=_mod("gating").GatedResNet(width=4, blocks=2), x=X4),
     model=MODEL + [nn.Linear(2, 2)], x=TENSOR(torch.randn(2, 8)))
spec("squeeze.mini_squeezenet", lambda: dict(width=8, squeeze=4), in_channels=POSINT, num_classes=POSINT,
     width=POSINT, squeeze=POSINT)
spec("ensemble.LogitEnsemble", lambda: dict(members=[nn.Linear(3, 2), nn.Linear(3, 2)]),
     members=[[], None, nn.Linear(3, 2), [3], "m"])
spec("xnor.backend", lambda: dict())
spec("xnor.warmup", lambda: dict())
spec("xnor.transpose_packed", lambda: dict(b_bits=np.ones((2, 3), np.uint64)), b_bits=[None, "b", np.ones(3)])
spec("xnor.time_gemms", lambda: dict(m=2, k=64, n=2, threads=1, rounds=1, min_run_time=0.01), m=POSINT, k=POSINT,
     n=POSINT, threads=POSINT, rounds=POSINT, min_run_time=POSF, extra=[3, "e"])
spec("xnor_conv.float_reference", lambda: dict(x=X3, weight=torch.randn(4, 3, 3, 3)),
     x=TENSOR(torch.randn(3, 6)) + [NANT((1, 3, 4, 4))], weight=TENSOR(torch.randn(4, 3)), stride=POSINT,
     padding=NONNEGINT)
spec("xnor_conv.pack_filters", lambda: dict(weight=torch.randn(4, 3, 3, 3)),
     weight=TENSOR(torch.randn(4, 3)) + [torch.randn(4, 3, 3, 2), NANT((4, 3, 3, 3))])
spec("xnor_conv.binary_conv2d", lambda: dict(x=X3, weight=torch.randn(4, 3, 3, 3)),
     x=TENSOR(torch.randn(3, 6)) + [torch.randn(2, 5, 6, 6)], weight=TENSOR(torch.randn(4, 3)), stride=POSINT,
     padding=NONNEGINT, packed=["p", 3])
spec("xnor_infer.time_models", lambda: dict(models={"z": lambda x: x}, batch_sizes=(1,), in_features=4, rounds=1,
                                            min_run_time=0.01),
     models=[{}, None, {"z": 3}], batch_sizes=[(0,), "b", None], in_features=POSINT, threads=POSINT, rounds=POSINT,
     min_run_time=POSF, seed=INT)
spec("xnor_infer.bn_affine", lambda: dict(bn=nn.BatchNorm1d(3).eval()), bn=MODEL + [nn.Linear(2, 2)])
spec("xnor_infer.packed_layer", lambda: dict(weight=torch.randn(5, 100), a=torch.ones(5), b=torch.zeros(5)),
     weight=TENSOR(torch.randn(5)) + [NANT((5, 100))], a=[None, torch.ones(4), "a"])
def binary_mlp_a2():
    """A2's fully binarized layout: a real layer, two binary ones (``binary_input``), a real classifier."""
    class BinaryLinear(nn.Linear):
        binary_input = True

    def block(cls):
        return [cls(8, 8, bias=False), nn.BatchNorm1d(8), nn.Hardtanh()]

    torch.manual_seed(0)
    return nn.Sequential(*block(nn.Linear), *block(BinaryLinear), *block(BinaryLinear), nn.Linear(8, 3)).eval()


spec("xnor_infer.from_sequential", lambda: dict(model=binary_mlp_a2(),
                                              fold=lambda alpha, a, b: (torch.ones(8).long(), torch.zeros(8).long())),
     model=MODEL + [nn.Sequential(nn.Linear(2, 2))], fold=FUNC)
spec("segformer.portraits", lambda: dict(split="val", n=2, size=32), split=STR(), n=POSINT[:4] + POSINT[5:],
     size=[8, 1.5, "32"])
spec("segformer.deploy_input", lambda: dict(size=32), size=[8, 1.5, "32", None])
spec("segformer.baseline_config", lambda: dict(), num_labels=POSINT)
spec("segformer.new_baseline", lambda: dict(), seed=[1.5, "0", -1], num_labels=POSINT)
spec("segformer.load_baseline", lambda: dict(), path=["no/such.pt", 3], pretrained=["no/such/folder", 3])
spec("segformer.baseline_record", lambda: dict(), path=["no/such.pt", 3])
spec("segformer.logits_of", lambda: dict(model=tiny_segformer(), x=torch.zeros(1, 3, 32, 32)), model=MODEL)
spec("segformer.baseline_path", lambda: dict())
spec("segformer.attentions", lambda: dict(model=tiny_segformer()), model=MODEL)
spec("segformer.head_counts", lambda: dict(model=tiny_segformer()), model=MODEL)
spec("segformer.predict_logits", lambda: dict(model=tiny_segformer(), images=torch.zeros(1, 3, 32, 32)),
     model=MODEL, images=TENSOR(torch.zeros(3, 32, 32)), batch_size=POSINT)
spec("segformer.teacher_logits", lambda: dict(teacher=tiny_segformer(), images=torch.zeros(1, 3, 32, 32)),
     teacher=MODEL, images=TENSOR(torch.zeros(3, 32, 32)), batch_size=POSINT)

# ------------------------------------------------------------------------------------ running
class Hang(Exception):
    pass


def _alarm(_signum, _frame):
    raise Hang()


def _resolve(name: str):
    mod, _, rest = name.partition(".")
    obj = importlib.import_module(f"effnn.{mod}")
    for part in rest.split("."):
        obj = getattr(obj, part)
    return obj


def _names_argument(message: str, arg: str) -> bool:
    return arg in message or arg.rstrip("_") in message


def _call(s: Spec, fn, kwargs, timeout: float):
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ("ok", s.call(fn, kwargs) if s.call else fn(**kwargs))
    except Hang:
        return ("hang", None)
    except BaseException as err:  # noqa: BLE001 - classify everything the call raises
        if isinstance(err, KeyboardInterrupt):
            raise
        return ("error", err)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def classify(outcome, value, arg: str) -> str:
    if outcome == "hang":
        return "hang"
    if outcome == "ok":
        return "silent"
    if isinstance(value, CLEAR_ERRORS) and _names_argument(str(value), arg):
        return "clear"
    return "unclear"


def run(specs, timeout: float, verbose: bool = False):
    rows = []
    for s in specs:
        try:
            fn = _resolve(s.name) if not s.call else None
        except (ImportError, AttributeError) as err:
            rows.append({"name": s.name, "arg": "-", "value": "-", "outcome": "missing", "detail": repr(err)})
            continue
        t0 = time.perf_counter()
        outcome, value = _call(s, fn, s.valid(), timeout * 3)
        rows.append({"name": s.name, "arg": "(valid call)", "value": "",
                     "outcome": "valid_ok" if outcome == "ok" else "valid_fails",
                     "detail": "" if outcome == "ok" else f"{outcome}: {value!r}"[:300]})
        for arg, values in _with_generic(s, fn).items():
            for bad in values:
                try:
                    kwargs = s.valid()
                except Exception as err:  # noqa: BLE001
                    rows.append({"name": s.name, "arg": arg, "value": "", "outcome": "unclear",
                                 "detail": f"valid kwargs failed: {err!r}"})
                    continue
                kwargs[arg] = bad
                outcome, value = _call(s, fn, kwargs, timeout)
                kind = classify(outcome, value, arg)
                detail = "" if outcome == "ok" else (f"{type(value).__name__}: {value}" if value else outcome)
                rows.append({"name": s.name, "arg": arg, "value": _short(bad), "outcome": kind,
                             "detail": detail[:300]})
        if verbose:
            print(f"  {s.name}: {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return rows


class Opaque:
    """A value of no kind any effnn argument accepts (the generic wrong type)."""

    def __repr__(self):
        return "Opaque()"


def _with_generic(s: Spec, fn) -> dict:
    """The spec's bad values plus, for *every* parameter of the signature (listed or not), an
    :class:`Opaque` instance: arguments the catalogue forgot are fuzzed too."""
    bad = {arg: list(values) + [Opaque()] for arg, values in s.bad.items()}
    internal = s.name.startswith("validate.") or s.name == "prune.check_amount"  # name/low/high: the caller's code
    if GENERIC and fn is not None and s.bad and not internal:
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            params = []
        for p in params:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name == "self":
                continue
            bad.setdefault(p.name, [Opaque()])
    return bad


GENERIC = True


def _short(v) -> str:
    if torch.is_tensor(v):
        return f"tensor{tuple(v.shape)}" + (" nan" if v.is_floating_point() and bool(v.isnan().any()) else "")
    if isinstance(v, np.ndarray):
        return f"ndarray{v.shape}"
    if isinstance(v, nn.Module):
        return type(v).__name__
    r = repr(v)
    return r if len(r) < 40 else r[:37] + "..."


def public_names() -> list[str]:
    """Every public function and class defined in an effnn module (not imported into it)."""
    import effnn

    out = []
    for info in pkgutil.walk_packages(effnn.__path__, prefix="effnn."):
        if info.name.endswith("assets"):
            continue
        try:
            mod = importlib.import_module(info.name)
        except Exception:  # noqa: BLE001
            continue
        # a private submodule (effnn.segformer._data) counts under the package that re-exports it
        public = ".".join(p for p in info.name.split(".") if not p.startswith("_"))
        for attr, obj in vars(mod).items():
            if attr.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if getattr(obj, "__module__", "") != info.name or hasattr(obj, "__deprecated_alias_of__"):
                continue  # defined elsewhere, or a deprecated old name (its new name is fuzzed)
            if public != info.name and getattr(importlib.import_module(public), attr, None) is not obj:
                continue
            out.append(f"{public[len('effnn.'):]}.{attr}")
    return sorted(set(out))


MINE = ("validate", "train", "measure", "prune", "criteria", "quant", "compression", "lowrank", "distill", "nas",
        "arch", "conditional", "energy", "models", "plot", "sparse_speed", "lth", "search")


def table(rows, mine=MINE):
    kinds = ("clear", "unclear", "silent", "hang")
    by_mod: dict[str, dict] = {}
    for r in rows:
        mod = r["name"].split(".")[0]
        d = by_mod.setdefault(mod, {k: 0 for k in kinds + ("valid_ok", "valid_fails", "missing")})
        d[r["outcome"]] = d.get(r["outcome"], 0) + 1

    def line(label, d):
        bad = sum(d[k] for k in kinds)
        pct = 100 * d["clear"] / bad if bad else 100.0
        return (f"| {label:<22} | {bad:5d} | {d['clear']:5d} ({pct:5.1f}%) | {d['unclear']:7d} | {d['silent']:6d} | "
                f"{d['hang']:4d} | {d['valid_ok']:3d}/{d['valid_ok'] + d['valid_fails']:<3d} |")

    out = ["| module                 |   bad |  clear (%)      | unclear | silent | hang | valid ok |",
           "|---|---|---|---|---|---|---|"]
    for mod in sorted(by_mod):
        out.append(line(mod, by_mod[mod]))

    def total(mods):
        d = {k: 0 for k in kinds + ("valid_ok", "valid_fails")}
        for m in mods:
            for k in d:
                d[k] += by_mod[m].get(k, 0)
        return d

    out.append(line("TOTAL (all fuzzed)", total(by_mod)))
    out.append(line("TOTAL (core modules)", total([m for m in by_mod if m in mine])))
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per bad call (valid calls get 3x)")
    parser.add_argument("--only", default="", help="comma-separated modules to fuzz (default: all specs)")
    parser.add_argument("--json", default="", help="write every call's row to this file")
    parser.add_argument("--show", default="unclear,silent,hang,valid_fails,missing",
                        help="outcomes to list call by call after the table")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    only = {m for m in args.only.split(",") if m}
    specs = [s for s in SPECS if not only or s.name.split(".")[0] in only]
    t0 = time.perf_counter()
    rows = run(specs, args.timeout, args.verbose)
    print(table(rows))
    show = set(args.show.split(","))
    listed = [r for r in rows if r["outcome"] in show]
    if listed:
        print("\ncalls to look at:")
        for r in listed:
            print(f"  {r['outcome']:<11} {r['name']}({r['arg']}={r['value']}): {r['detail']}")
    specced = {s.name for s in SPECS}
    names = public_names()
    covered = [n for n in names if n in specced]
    print(f"\n{len(specs)} specs, {len(rows)} calls in {time.perf_counter() - t0:.0f} s; "
          f"{len(covered)} of {len(names)} public effnn names have a spec")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
