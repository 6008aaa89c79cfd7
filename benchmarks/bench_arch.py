"""Lectures 06-07: low-rank, early exit, budgeted pruning search, supernet ranking.

Each function repeats its lecture's experiment with the same ``effnn`` calls, seeds and sizes
(the ``fast`` argument shrinks them, as ``config.pick`` does in the lecture).
"""
from __future__ import annotations

import torch

from effnn import conditional, lowrank, nas, search
from effnn.data import digits
from effnn.measure import count_macs
from effnn.models import LeNet300100, LeNet5
from effnn.train import TrainConfig, accuracy, fit, seed_everything


def _pick(fast: bool, full, small):
    """``small`` when ``run.py --fast`` asked for fast mode, else ``full`` (the ``fast`` argument decides)."""
    return small if fast else full


def _setup():
    torch.set_num_threads(1)  # tiny models train faster on one thread
    return digits("train"), digits("val"), digits("test")


def bench_lowrank(fast: bool) -> dict:
    train, _, test = _setup()
    seed_everything(0)
    mlp = LeNet300100()
    fit(mlp, train, TrainConfig(epochs=20, fast_epochs=3, lr=1e-3))
    rows = lowrank.rank_sweep(mlp, [4, 8, 16, 32], train, test, TrainConfig(epochs=5, fast_epochs=1, lr=5e-4),
                              skip=("net.5",), progress=False)
    dense = accuracy(mlp, test)
    return {str(r["rank"]): {"params_ratio": round(r["params_ratio"], 4), "acc": r["acc"], "acc_svd": r["acc_svd"],
                             "acc_dense": dense} for r in rows}


def bench_early_exit(fast: bool) -> dict:
    train, _, test = _setup()
    seed_everything(0)
    ee = conditional.EarlyExitCNN(widths=(8, 16, 32))
    fit(ee, train, TrainConfig(epochs=15, fast_epochs=2, lr=3e-3), loss_fn=conditional.exits_loss)
    curve = conditional.threshold_sweep(ee, test, [0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0])
    full = curve[-1]
    chosen = min((r for r in curve if r["acc"] >= full["acc"] - 0.005), key=lambda r: r["macs"])
    return {"acc_full": full["acc"], "macs_full": full["macs"], "acc_exit": chosen["acc"],
            "macs_exit": chosen["macs"], "threshold": chosen["threshold"]}


def bench_search(fast: bool) -> dict:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    train, val, test = _setup()
    seed_everything(0)
    base = LeNet5(channels=(16, 32))
    fit(base, train, TrainConfig(epochs=15, fast_epochs=2, lr=3e-3))
    example = test[0][:1]
    macs = search.MacModel(base, example)
    budget = 0.25 * macs.total
    tune = TrainConfig(epochs=1, fast_epochs=1, lr=1e-3)

    def score(pruned):
        fit(pruned, train, tune)
        return accuracy(pruned, val)

    uniform, _ = search.prune_at_budget(base, example, budget, mac_model=macs)
    global_, _ = search.global_at_budget(base, example, budget, steps=_pick(fast, 10, 6))
    study = search.search_amounts(base, example, budget, score, n_trials=_pick(fast, 30, 6), seed=0,
                                 study_name="bench_amc", progress=False)
    searched, _ = search.prune_at_budget(base, example, budget,
                                         [study.best_params[f"p{i}"] for i in range(len(macs.names))], mac_model=macs)
    out = {"macs_budget": budget, "macs_dense": macs.total, "n_trials": len(study.trials)}
    for name, model in (("uniform", uniform), ("global", global_), ("optuna", searched)):
        fit(model, train, TrainConfig(epochs=10, fast_epochs=2, lr=1e-3))
        out[f"acc_{name}"] = accuracy(model, test)
        out[f"macs_{name}"] = count_macs(model, example)
    return out


def bench_nas(fast: bool) -> dict:
    train, val, test = _setup()
    seed_everything(0)
    supernet = nas.SuperNet(widths=(4, 8, 16), kernels=(1, 3, 5))
    nas.train_supernet(supernet, train, TrainConfig(epochs=12, fast_epochs=3, lr=3e-3))
    archs = nas.spread_archs(supernet, _pick(fast, 10, 5), seed=0)
    proxy = [nas.supernet_accuracy(supernet, a, val) for a in archs]
    alone = []
    for i, a in enumerate(archs):
        net = nas.fresh_subnet(supernet, a, seed=i)
        fit(net, train, TrainConfig(epochs=8, fast_epochs=2, lr=3e-3))
        alone.append(accuracy(net, test))
    return {"kendall_tau": nas.kendall_tau(proxy, alone), "n_subnets": len(archs)}


BENCHMARKS = {"lowrank": bench_lowrank, "early_exit": bench_early_exit, "search": bench_search, "nas": bench_nas}
