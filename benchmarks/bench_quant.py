"""Quantization, Deep Compression and distillation: the measured figures of lectures 04 and 05.

Each function repeats the lecture's cells with the same ``effnn`` calls, seeds and configs, so the
numbers match the notebooks run in the same mode.
"""
from __future__ import annotations

import copy
import functools
import warnings
from functools import lru_cache

import torch

from effnn import compression as C
from effnn import distill as D
from effnn import quant
from effnn.data import digits
from effnn.models import LeNet5, LeNet300100
from effnn.train import TrainConfig, accuracy, fit, seed_everything

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", message=r".*(quantiz|reduce_range|TypedStorage).*")


def _one_thread(fn):
    """Train on one thread, as the lectures do (latency measurements set their own 2 threads)."""

    @functools.wraps(fn)
    def wrapper(fast: bool):
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn(fast)
        finally:
            torch.set_num_threads(before)

    return wrapper


def _data():
    return digits("train"), digits("test")


@lru_cache(maxsize=2)
def _lenet(fast: bool):
    """Lecture 04a's fp32 LeNet-300-100 (``fast`` only keys the cache: the config picks the epochs)."""
    train, test = _data()
    seed_everything(0)
    model = LeNet300100()
    fit(model, train, TrainConfig(epochs=20, fast_epochs=2), desc="LeNet-300-100")
    return model


def _timing(fast: bool) -> dict:
    return {"rounds": 1 if fast else 10, "min_run_time": 0.05 if fast else 0.1}


def bench_int8(fast: bool) -> dict:
    """Dynamic int8 of the wide MLP (the headline) and static int8 of the wide LeNet-5."""
    train, test = _data()
    batch = torch.rand(256, 1, 8, 8)
    seed_everything(0)
    wide = LeNet300100(hidden=(1024, 1024))
    fit(wide, train, TrainConfig(epochs=5, fast_epochs=1), desc="wide MLP")
    dynamic = quant.compare_int8(wide, quant.dynamic_int8(wide), batch, test, **_timing(fast))
    seed_everything(0)
    cnn = LeNet5(channels=(32, 64), hidden=(256, 128))
    fit(cnn, train, TrainConfig(epochs=8, fast_epochs=1), desc="LeNet-5 (wide)")
    static = quant.compare_int8(cnn, quant.static_int8(cnn, train, backend="x86"), batch, test, **_timing(fast))
    out = {k: dynamic.as_dict()[k] for k in ("speedup", "size_ratio", "acc_fp32", "acc_int8", "fp32_ms", "int8_ms")}
    out["model"] = "LeNet-300-100 with 1024-wide hidden layers, quantize_dynamic, batch 256, 2 threads"
    out["static_cnn"] = {k: static.as_dict()[k] for k in ("speedup", "size_ratio", "acc_fp32", "acc_int8")}
    return out


def bench_ptq(fast: bool) -> dict:
    """W = A bits, min-max calibration, per-channel weights."""
    train, test = _data()
    base = _lenet(fast)
    return {str(b): accuracy(quant.ptq(base, train, b, b, observer="minmax"), test) for b in (8, 4, 2)}


def bench_qat(fast: bool) -> dict:
    train, test = _data()
    base = _lenet(fast)
    cfg = TrainConfig(epochs=5, fast_epochs=1, lr=1e-4)
    return {str(b): accuracy(quant.qat(base, train, b, b, cfg), test) for b in (4, 2)}


def bench_deep_compression(fast: bool) -> dict:
    """Prune, share, Huffman on LeNet-300-100 (``compression.LENET_SETTING``)."""
    train, test = _data()
    base = _lenet(fast)
    setting = C.LENET_SETTING
    model = copy.deepcopy(base)
    C.prune_and_retrain(model, setting["amounts"], train, TrainConfig(epochs=10, fast_epochs=1),
                        steps=setting["steps"])
    acc_pruned = accuracy(model, test)
    C.share_and_finetune(model, setting["bits"], train, TrainConfig(epochs=5, fast_epochs=1, lr=1e-4))
    dense_bytes = sum(p.numel() * 4 for p in base.parameters())
    table = C.compression_table(dense_bytes, C.model_storage(model, index_bits=setting["index_bits"]))
    return {"ratio": table["ratio"], "acc_dense": accuracy(base, test), "acc_pruned": acc_pruned,
            "acc_compressed": accuracy(model, test), "kept": table["kept"],
            "compressed_bytes": table["compressed_bytes"], "dense_bytes": dense_bytes,
            "bits_per_weight": table["bits_per_weight"]}


def bench_kd(fast: bool) -> dict:
    """Lecture 05, section 3: 5 labelled images per class, mean over seeds."""
    train, test = _data()
    seed_everything(0)
    teacher = LeNet300100()
    fit(teacher, train, TrainConfig(epochs=20, fast_epochs=3), desc="teacher")
    cfg = TrainConfig(epochs=240, fast_epochs=30, lr=3e-3, batch_size=32)
    seeds = [0] if fast else [0, 1, 2]
    make_student = lambda: LeNet300100(hidden=(100, 30))  # noqa: E731
    plain, kd = [], []
    for seed in seeds:
        subset = D.class_balanced_subset(*train, per_class=5, seed=seed)
        plain.append(accuracy(D.train_student(make_student, subset, cfg, seed=seed), test))
        kd.append(accuracy(D.train_student(make_student, subset, cfg, teacher=teacher, T=4.0, alpha=0.9,
                                           seed=seed), test))
    return {"acc_teacher": accuracy(teacher, test), "acc_student_plain": sum(plain) / len(plain),
            "acc_student_kd": sum(kd) / len(kd), "seeds": len(seeds), "labelled_per_class": 5}


BENCHMARKS = {
    "int8": _one_thread(bench_int8),
    "ptq": _one_thread(bench_ptq),
    "qat": _one_thread(bench_qat),
    "deep_compression": _one_thread(bench_deep_compression),
    "kd": _one_thread(bench_kd),
}
