"""Run the course's measured experiments and write one JSON file.

    python benchmarks/run.py --json OUT.json [--fast] [--only NAME[,NAME...]]

Each ``benchmarks/bench_*.py`` module exposes ``BENCHMARKS = {"name": fn}`` where ``fn(fast: bool)``
returns a JSON-able dict. They call the same ``effnn`` functions as the notebooks. A table of the
results is printed as well.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def registry() -> dict:
    sys.path.insert(0, str(HERE))
    found = {}
    for path in sorted(HERE.glob("bench_*.py")):
        module = importlib.import_module(path.stem)
        for name, fn in getattr(module, "BENCHMARKS", {}).items():
            if name in found:
                raise RuntimeError(f"benchmark {name!r} is defined twice")
            found[name] = fn
    return found


def _flat(prefix, value, rows):
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, rows)
    else:
        rows.append((prefix, value))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", required=True, help="where to write the results")
    parser.add_argument("--fast", action="store_true", help="shrink trainings (same code path)")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    args = parser.parse_args(argv)
    if args.fast:
        os.environ["EFFNN_FAST"] = "1"
    os.environ.setdefault("EFFNN_QUIET", "1")
    benches = registry()
    names = [n for n in args.only.split(",") if n] or list(benches)
    unknown = [n for n in names if n not in benches]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {sorted(benches)}")
    results, timings = {}, {}
    for name in names:
        t0 = time.perf_counter()
        print(f"[bench] {name} ...", flush=True)
        results[name] = benches[name](args.fast)
        timings[name] = round(time.perf_counter() - t0, 1)
        print(f"[bench] {name} done in {timings[name]} s", flush=True)
    results["_meta"] = {"fast": args.fast, "seconds": timings, "threads": 2}
    Path(args.json).write_text(json.dumps(results, indent=2, sort_keys=True))
    rows = []
    _flat("", {k: v for k, v in results.items() if k != "_meta"}, rows)
    width = max((len(k) for k, _ in rows), default=10)
    for k, v in rows:
        print(f"{k:<{width}}  {v:.4g}" if isinstance(v, float) else f"{k:<{width}}  {v}")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
