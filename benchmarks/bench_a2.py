"""A2: binarized digits models (fp32 / binary weights / binary weights + activations), packed
memory, and the XNOR-popcount GEMM against fp32 ``torch.matmul``.

The models are A2's reference answers (``autograder.reference.binary``, instructors only; the
assignment's solution builds the same ones), the numpy XNOR product is the reference answer of
Exercise 5 (``autograder.reference.xnor``), the compiled kernel is ``effnn.xnor``'s. Accuracies are
on the held-out ``digits("test")`` split (training uses ``train`` only). GEMM timings: all candidates
in one process, alternating, best median of each (``effnn.xnor.time_gemms``), 2 threads. ``no_avx512`` re-times the compiled kernel
in a subprocess whose numba targets a Haswell CPU (AVX2, no AVX-512 popcount), on this machine.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

SHAPES_FULL = [(1024, 1024, 1024), (256, 256, 256), (64, 4096, 1024), (4096, 4096, 1024)]
SHAPES_FAST = [(1024, 1024, 1024), (256, 256, 256)]

_HASWELL = """
import json, sys
from effnn import xnor
out = {{}}
for threads in (2, 1):
    r = xnor.time_gemms(1024, 1024, 1024, threads=threads, rounds={rounds}, min_run_time=0.2)
    out[f"threads_{{threads}}"] = {{"fast_vs_fp32": r["fast_vs_fp32"], "exact": r["exact"]["fast"], "ms": r["ms"]}}
print(json.dumps(out))
"""


def _accuracies(fast: bool) -> dict:
    import torch

    from autograder.reference import binary
    from effnn import train
    from effnn.data import digits

    torch.set_num_threads(2)
    train_set, test_set = digits("train"), digits("test")
    out, models = {}, {}
    for builder, name, epochs, fast_epochs in ((binary.binarized_mlp, "mlp", 10, 4),
                                               (binary.binarized_cnn, "cnn", 6, 2)):
        for mode in binary.MODES:
            torch.manual_seed(0)
            model = builder(mode)
            cfg = train.TrainConfig(epochs=epochs, fast_epochs=fast_epochs, lr=1e-3 if mode == "fp32" else 1e-2)
            train.fit(model, train_set, cfg, after_step=binary.clip_latent_weights, desc=f"{name} {mode}")
            out[f"{name}_{mode}"] = round(train.accuracy(model, test_set), 4)
            models[f"{name}_{mode}"] = model
    return out, models


#: Haswell's features (AVX2, scalar popcnt) with AVX-512 switched off: numba otherwise keeps the host's.
HASWELL_FEATURES = ("+64bit,+avx,+avx2,+bmi,+bmi2,+cmov,+cx16,+f16c,+fma,+fxsr,+lzcnt,+mmx,+movbe,+popcnt,"
                    "+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3,+xsave,-avx512f,-avx512vpopcntdq,-avx512bw,"
                    "-avx512vl,-avx512dq,-avx512cd,-avx512bitalg")


def _no_avx512(rounds: int) -> dict | None:
    env = dict(os.environ, NUMBA_CPU_NAME="haswell", NUMBA_CPU_FEATURES=HASWELL_FEATURES,
               NUMBA_CACHE_DIR=tempfile.mkdtemp(prefix="numba-haswell-"))
    try:
        proc = subprocess.run([sys.executable, "-c", _HASWELL.format(rounds=rounds)], capture_output=True,
                              text=True, env=env, timeout=300)
        return {k: v for k, v in json.loads(proc.stdout.strip().splitlines()[-1]).items()}
    except Exception as exc:  # report, do not fail the whole benchmark
        return {"error": f"{type(exc).__name__}: {exc}"}


def a2(fast: bool) -> dict:
    from autograder.reference import binary
    from autograder.reference.xnor import numpy_candidate
    from effnn import measure, xnor

    acc, models = _accuracies(fast)
    full = models["mlp_binary_full"]
    fp32_bytes, packed_bytes = binary.packed_weight_bytes(full)
    rounds = 3 if fast else 5
    gemms = [xnor.time_gemms(*shape, rounds=rounds, min_run_time=0.2, extra=numpy_candidate) for shape in
             (SHAPES_FAST if fast else SHAPES_FULL)]
    main = gemms[0]
    # one thread each: a per-core ratio that background load on a shared machine distorts far less
    single = xnor.time_gemms(1024, 1024, 1024, threads=1, rounds=rounds, min_run_time=0.2,
                             extra=numpy_candidate)
    return {
        "acc_fp32": acc["mlp_fp32"], "acc_binary_weights": acc["mlp_binary_weights"],
        "acc_binary_full": acc["mlp_binary_full"],
        "acc_cnn": {k[4:]: v for k, v in acc.items() if k.startswith("cnn_")},
        "memory_ratio": round(fp32_bytes / packed_bytes, 2),
        "memory_ratio_whole_model": round(measure.dense_bytes(full) / binary.packed_model_bytes(full), 2),
        "xnor_exact": all(all(g["exact"].values()) for g in gemms),
        "xnor_numpy_vs_fp32": round(main["numpy_vs_fp32"], 3),
        "xnor_fast_vs_fp32": round(main["fast_vs_fp32"], 3),
        "xnor_backend": main["backend"],
        "gemm": {"x".join(map(str, g["shape"])): {
            "fp32_ms": round(g["ms"]["fp32"], 3), "numpy_ms": round(g["ms"]["numpy"], 3),
            "fast_ms": round(g["ms"]["fast"], 3), "pack_a_ms": round(g["ms"]["pack_a"], 3),
            "fast_vs_fp32": round(g["fast_vs_fp32"], 3), "numpy_vs_fp32": round(g["numpy_vs_fp32"], 3),
            "fast_g_binary_macs_per_s": round(g["fast_gbmacs_per_s"], 1)} for g in gemms},
        "one_thread_1024": {"fp32_ms": round(single["ms"]["fp32"], 3), "fast_ms": round(single["ms"]["fast"], 3),
                            "numpy_ms": round(single["ms"]["numpy"], 3),
                            "fast_vs_fp32": round(single["fast_vs_fp32"], 3),
                            "numpy_vs_fp32": round(single["numpy_vs_fp32"], 3), "exact": all(single["exact"].values())},
        "no_avx512_1024": _no_avx512(rounds),
    }


BENCHMARKS = {"a2": a2}
