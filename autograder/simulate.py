"""Build simulated submissions from the instructor and release notebooks (demo and tests).

``partial_submission`` fills in the release with the reference answers of some exercises only, as a
student who solved part of the assignment would.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from .release import ASSIGNMENTS, SOLUTIONS

_MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def reference_answer(source: str) -> str:
    """The student-visible form of a solution: the reference code without the markers."""
    return "\n".join(line for line in source.splitlines() if not _MARKERS.match(line))


def partial_submission(assignment: str, solve: list[str], dest: Path) -> Path:
    """Write the release notebook with the reference answers of the ``solve`` grade ids filled in."""
    src = json.loads((SOLUTIONS / assignment / f"{assignment}.ipynb").read_text())
    rel = json.loads((ASSIGNMENTS / assignment / f"{assignment}.ipynb").read_text())
    answers = {_grade_id(c): "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
               for c in src["cells"] if _grade_id(c)}
    unknown = set(solve) - set(answers)
    if unknown:
        raise ValueError(f"no solution cells {sorted(unknown)} in {assignment}")
    for cell in rel["cells"]:
        gid = _grade_id(cell)
        if gid in solve:
            cell["source"] = reference_answer(answers[gid])
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(rel, indent=1))
    return dest


def reference_submission(assignment: str, dest: Path) -> Path:
    """The instructor notebook itself, as a student who solved everything would hand it in."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes((SOLUTIONS / assignment / f"{assignment}.ipynb").read_bytes())
    return dest


def blank_submission(assignment: str, dest: Path) -> Path:
    """The release notebook untouched."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes((ASSIGNMENTS / assignment / f"{assignment}.ipynb").read_bytes())
    return dest
