"""A2: binarized digits models (fp32 / binary weights / binary weights + activations), packed
memory, and the XNOR-popcount GEMM against fp32 ``torch.matmul``.

The models are A2's reference answers (``autograder.reference.binary``, instructors only; the
assignment's solution builds the same ones), the numpy XNOR product is the reference answer of
Exercise 5 (``autograder.reference.xnor``), the compiled kernel is ``effnn.xnor``'s. Accuracies are
on the held-out ``digits("test")`` split (training uses ``train`` only). GEMM timings: all candidates
in one process, alternating, best median of each (``effnn.xnor.time_gemms``), 2 threads. ``no_avx512`` re-times the compiled kernel
in a subprocess whose numba targets a Haswell CPU (AVX2, no AVX-512 popcount), on this machine.

``e2e``: the trained fully binary MLP run end to end on bits (``effnn.xnor_infer``, BatchNorm folded into
integer thresholds by the reference ``fold_threshold``; first and last layers real) against the trained
fp32 MLP of the same architecture, same process, alternating, 2 threads, batch 1 and 256. ``speedup``
is the ratio of best medians, ``speedup_min`` that of the fastest single runs (the least distorted
on a loaded machine), ``one_thread`` the same with one thread each (2-thread timings suffer most from
background load), ``breakdown_256`` where the packed model's time goes at batch 256 (first real
layer, the compiled pass of binary layers and classifier) and ``amdahl_cap``, the speedup were that
pass free; ``exact``: the packed model's predictions on the test split equal the simulated binary
model's. ``binary_conv_exact``: ``effnn.xnor_conv.binary_conv2d`` (packed im2col, XNOR kernel)
equals the float convolution of the signs on the trained CNN's binary layers and on odd geometries.
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


def _e2e(models: dict, rounds: int) -> dict:
    import torch

    from autograder.reference import binary
    from effnn import xnor_infer
    from effnn.data import digits

    simulated, fp32 = models["mlp_binary_full"].eval(), models["mlp_fp32"].eval()
    packed = xnor_infer.from_sequential(simulated, binary.fold_threshold)
    x, _ = digits("test")
    with torch.no_grad():
        exact = bool(torch.equal(packed(x).argmax(1), simulated(x).argmax(1)))
    out = {"exact": exact, **_speedups(fp32, packed, rounds, threads=2)}
    out["one_thread"] = _speedups(fp32, packed, rounds, threads=1)
    out["breakdown_256"] = _breakdown(fp32, packed, rounds, threads=2)
    return out


def _breakdown(fp32, packed, rounds: int, threads: int, batch: int = 256) -> dict:
    """Where the packed model's time goes at ``batch`` (ms, best medians and fastest single calls): the real first
    layer, the compiled pass (binary layers and the real classifier); and the fp32 model's own first layer and
    total. ``amdahl_cap``: fp32 total over the packed model's first layer, the speedup if the compiled pass
    cost nothing (fastest runs, the least distorted by load)."""
    import numpy as np
    import torch

    from effnn import measure, xnor_infer

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 64, generator=gen)
    with torch.inference_mode():
        h = packed._first(x)
        logits = np.empty((batch, packed.last.out_features), dtype=np.float32)
        linear = next(m for m in fp32 if isinstance(m, torch.nn.Linear))
        flat = torch.flatten(x, 1)
        parts = {"packed_first": lambda: packed._first(x),
                 "packed_binary": lambda: packed._pass(h, threads, logits),
                 "packed_total": lambda: packed(x),
                 "fp32_first_linear": lambda: linear(flat),
                 "fp32_total": lambda: fp32(x)}
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        numba_threads = xnor_infer._numba_threads(threads)
        try:
            best = {name: [float("inf"), float("inf")] for name in parts}
            for _ in range(rounds):
                for name, fn in parts.items():
                    r = measure.latency(fn, threads=threads, min_run_time=0.2)
                    fastest = xnor_infer._fastest_call(fn, 0.1)
                    best[name] = [min(best[name][0], r.median_ms), min(best[name][1], r.min_ms, fastest)]
        finally:
            torch.set_num_threads(previous)
            xnor_infer._numba_threads(numba_threads)
    out = {name: {"median_ms": round(v[0], 4), "min_ms": round(v[1], 4)} for name, v in best.items()}
    out["amdahl_cap"] = round(best["fp32_total"][1] / best["packed_first"][1], 2)
    out["threads"], out["batch"] = threads, batch
    return out


def _speedups(fp32, packed, rounds: int, threads: int) -> dict:
    """``{"1": {...}, "256": {...}}``: fp32 over packed, best medians and fastest runs, same process."""
    from effnn import xnor_infer

    times = xnor_infer.time_models({"fp32": fp32, "packed": packed}, (1, 256), threads=threads, rounds=rounds,
                                   min_run_time=0.3)
    return {str(batch): {"speedup": round(t["fp32"]["median_ms"] / t["packed"]["median_ms"], 2),
                         "speedup_min": round(t["fp32"]["min_ms"] / t["packed"]["min_ms"], 2),
                         "fp32_ms": round(t["fp32"]["median_ms"], 4), "packed_ms": round(t["packed"]["median_ms"], 4)}
            for batch, t in times.items()}


def _e2e_wide(rounds: int, width: int = 1024) -> dict:
    """The same runner on a wider MLP (random weights and BatchNorm statistics: speed does not depend on
    training), where the binary layers are ~97 % of the MACs instead of ~88 %: Amdahl's side of e2e."""
    import torch

    from autograder.reference import binary
    from effnn import xnor_infer

    gen = torch.Generator().manual_seed(0)
    simulated = binary.binarized_mlp("binary_full", hidden=(width,) * 3).eval()
    with torch.no_grad():
        for m in simulated.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.copy_(torch.randn(width, generator=gen))
                m.bias.copy_(torch.randn(width, generator=gen))
    fp32 = binary.binarized_mlp("fp32", hidden=(width,) * 3).eval()
    packed = xnor_infer.from_sequential(simulated, binary.fold_threshold)
    x = torch.rand(256, 64, generator=gen)
    with torch.no_grad():
        exact = bool(torch.equal(packed(x).argmax(1), simulated(x).argmax(1)))
    return {"exact": exact, "width": width, **_speedups(fp32, packed, rounds, threads=2),
            "one_thread": _speedups(fp32, packed, rounds, threads=1)}


def _binary_conv_exact(models: dict) -> bool:
    import torch

    from autograder.reference import binary
    from effnn import xnor_conv

    gen = torch.Generator().manual_seed(0)
    cases = [(m.weight.detach(), m.padding[0], 1, (8, m.in_channels, 4, 4))
             for _, m in binary.binary_layers(models["cnn_binary_full"])]
    cases += [(torch.randn(5, 3, 3, 3, generator=gen), 1, 2, (2, 3, 9, 7)),
              (torch.randn(4, 70, 3, 3, generator=gen), 2, 1, (2, 70, 5, 5))]
    ok = True
    for weight, padding, stride, shape in cases:
        x = torch.randn(*shape, generator=gen)
        got = xnor_conv.binary_conv2d(x, weight, stride=stride, padding=padding)
        ok &= bool(torch.equal(got, xnor_conv.float_reference(x, weight, stride=stride, padding=padding)))
    return ok


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
        "e2e": _e2e(models, rounds),
        "e2e_width_1024": _e2e_wide(rounds),
        "binary_conv_exact": _binary_conv_exact(models),
    }


BENCHMARKS = {"a2": a2}
