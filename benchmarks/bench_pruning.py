"""Lectures 01-03: Han et al. 2015, pruning criteria, lottery tickets, structured speedup.

Each function runs the same ``effnn`` experiment the lecture runs, averaged over seeds where the
result is noisy, and returns plain numbers.
"""
from __future__ import annotations

import numpy as np
import torch

from effnn.criteria import CriteriaConfig, run_criteria
from effnn.data import classification
from effnn.lth import LTHConfig, run_lth, summarize
from effnn.prune import HanConfig, run_han
from effnn.structured import SpeedupConfig, run_speedup
from effnn.train import TrainConfig


def _pick(fast: bool, full, small):
    """``small`` when ``run.py --fast`` asked for fast mode, else ``full`` (the ``fast`` argument decides)."""
    return small if fast else full


def _small_models_one_thread():
    torch.set_num_threads(1)  # tiny models: thread sync costs more than it saves


def han2015(fast: bool) -> dict:
    _small_models_one_thread()
    seeds = _pick(fast, 3, 1)
    data = {s: classification(s) for s in ("train", "test")}
    runs = [run_han(HanConfig(seed=s), data) for s in range(seeds)]
    mean = lambda k: float(np.mean([r[k] for r in runs]))  # noqa: E731
    return {"weight_ratio": mean("weight_ratio"), "acc_dense": mean("acc_dense"),
            "acc_pruned": mean("acc_iterative"), "acc_oneshot_same_sparsity": mean("acc_oneshot"),
            "acc_oneshot_equal_budget": mean("acc_oneshot_equal_budget"), "seeds": seeds,
            "paper_weight_ratio": 12.0, "paper_error_dense": 0.0164, "paper_error_pruned": 0.0159}


def criteria(fast: bool) -> dict:
    _small_models_one_thread()
    res = run_criteria(CriteriaConfig.fast() if fast else CriteriaConfig())
    return {str(round(100 * s)): {k: float(v) for k, v in row.items()} for s, row in res["table"].items()}


def lth(fast: bool) -> dict:
    _small_models_one_thread()
    seeds = _pick(fast, 3, 2)
    train, val, test = (classification(s) for s in ("train", "val", "test"))
    cfg = lambda s: LTHConfig(rounds=_pick(fast, 4, 2), amount=0.4, seed=s,  # noqa: E731
                              train=TrainConfig(epochs=15, fast_epochs=2, lr=1.2e-3))
    runs = [run_lth(cfg(s), (train, val, test)).records for s in range(seeds)]
    rows = summarize(runs)
    last = rows[-1]
    return {"remaining_frac": last["remaining"], "acc_dense": rows[0]["acc_ticket"],
            "acc_ticket": last["acc_ticket"], "acc_reinit": last["acc_reinit"], "acc_snip": last["acc_snip"],
            "acc_ticket_std": last["acc_ticket_std"], "acc_reinit_std": last["acc_reinit_std"], "seeds": seeds}


def structured(fast: bool) -> dict:
    _small_models_one_thread()  # training only: compare() times both models with 2 threads
    # batch-1 latency on one thread: on a busy shared machine two-thread timings of a small CNN swing
    # by orders of magnitude (each parallel region waits for a descheduled worker)
    res = run_speedup(SpeedupConfig(width=32, amount=0.5, epochs=_pick(fast, 6, 1),
                                    finetune_epochs=_pick(fast, 3, 1), threads=1))
    out = {k: float(res[k]) for k in ("macs_ratio", "latency_ratio", "params_ratio", "acc_dense", "acc_pruned")}
    out["latency_dense_ms"] = float(res["compare"]["baseline"]["latency_ms"])
    out["latency_pruned_ms"] = float(res["compare"]["candidate"]["latency_ms"])
    out["latency_threads"] = 1
    return out


BENCHMARKS = {"han2015": han2015, "criteria": criteria, "lth": lth, "structured": structured}
