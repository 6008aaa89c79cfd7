"""The course's main job, end to end on embedded data (``make demo``).

1. regenerate the student release from ``solutions/``;
2. execute lecture 00;
3. build three simulated A0 submissions: the reference solution, the blank release, and one that
   solves exercises 1 and 2 only;
4. autograde them, generate feedback and export a grades CSV with the grading command;
5. print the grade table, check that it is right (full, zero, partial) and where the outputs are.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .grade import grade_folder, print_table
from .release import REPO, assignment_names, generate, tool_path
from .simulate import blank_submission, partial_submission, reference_submission

ASSIGNMENT = "a0_warmup"
HALF = ["linear_cost", "magnitude_mask"]
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def count_figures(path: Path) -> int:
    """How many images (PNG/SVG/JPEG outputs) a notebook keeps."""
    nb = json.loads(path.read_text())
    return sum(any(k.startswith("image/") for k in out.get("data", {}))
               for cell in nb["cells"] for out in cell.get("outputs", []))


def execute_notebook(path: Path, dest: Path, timeout: int = 600) -> float:
    """Run a notebook top to bottom with nbconvert (figures kept); return the seconds it took."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    # The inline backend, whatever the caller's MPLBACKEND (Agg under `make test`): with Agg,
    # plt.show() draws nothing and the executed notebook would keep none of its figures.
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": INLINE_BACKEND, "EFFNN_QUIET": "1",
           "PATH": tool_path(os.environ.get("PATH"))}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                    f"--ExecutePreprocessor.timeout={timeout}", "--output", str(dest.resolve()), str(path)],
                   check=True, env=env, capture_output=True, text=True)
    return time.perf_counter() - t0


def main() -> int:
    out = REPO / "out" / "demo"
    print("1/4 generating the student release ...")
    for name in assignment_names():
        print(f"    {generate(name).relative_to(REPO)}")
    print("2/4 executing lecture 00 ...")
    secs = execute_notebook(REPO / "lectures" / "00_motivation.ipynb", out / "lectures" / "00_motivation.ipynb")
    executed = out / "lectures" / "00_motivation.ipynb"
    print(f"    done in {secs:.0f} s, {count_figures(executed)} figures kept -> {executed.relative_to(REPO)}")
    print("3/4 building three simulated submissions of A0 ...")
    subs = out / "submitted"
    reference_submission(ASSIGNMENT, subs / "reference" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    blank_submission(ASSIGNMENT, subs / "blank" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    partial_submission(ASSIGNMENT, HALF, subs / "half_right" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    print("4/4 autograding, feedback and grades CSV ...")
    t0 = time.perf_counter()
    results = grade_folder(ASSIGNMENT, subs, out / "grades", force=True)
    print(f"    graded {len(results)} submissions in {time.perf_counter() - t0:.0f} s\n")
    print_table(results, out / "grades")
    by = {r["student"]: r for r in results}
    full = by["reference"]["max"]
    ok = (by["reference"]["total"] == full and by["blank"]["total"] == 0
          and 0 < by["half_right"]["total"] < full)
    print("\nscores are", "right: full, zero and partial." if ok else "WRONG: expected full, zero and partial!")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
