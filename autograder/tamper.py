"""Compare a submission's graded cells with the release before grading, and say what was changed.

nbgrader restores a deleted test cell and overwrites an edited one from the gradebook, and it fails
outright on duplicated grade ids. The instructor should hear about all three in words, and a test
cell the student removed, retyped or edited is graded 0 and flagged for review (the restored cell
may pass, but what the student ran was not the test). Duplicated cells are removed (the first copy
of each grade id is kept) so that the rest of the notebook can still be graded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nbformat


@dataclass
class Findings:
    zeroed: dict = field(default_factory=dict)  # grade_id -> what happened to that test cell
    duplicated: list = field(default_factory=list)

    def notes(self) -> list[str]:
        out = [f"test cell {gid} {what}: graded 0, flagged for review" for gid, what in self.zeroed.items()]
        if self.duplicated:
            out.append(f"duplicated cells {', '.join(sorted(set(self.duplicated)))}: later copies removed")
        return out


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _norm(source) -> str:
    """A test cell's source without its hidden block (the release has none) and trailing blanks."""
    import re

    text = "".join(source) if isinstance(source, list) else str(source)
    text = re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", text, flags=re.S)
    return "\n".join(line.rstrip() for line in text.strip().splitlines() if line.strip())


def test_cells(release: Path) -> dict:
    """grade_id -> source of every graded test cell (code, graded, not a solution) of the release."""
    nb = nbformat.read(str(release), as_version=4)
    return {_meta(c)["grade_id"]: _norm(c.source) for c in nb.cells
            if c.cell_type == "code" and _meta(c).get("grade") and not _meta(c).get("solution")}


def inspect(path: Path, release: Path) -> Findings:
    """Check the submission at ``path`` against ``release``; rewrite it without duplicated cells."""
    nb = nbformat.read(str(path), as_version=4)
    expected = test_cells(release)
    found, seen, kept, dup = {}, set(), [], []
    for cell in nb.cells:
        gid = _meta(cell).get("grade_id")
        if gid and gid in seen:
            dup.append(gid)
            continue
        if gid:
            seen.add(gid)
        kept.append(cell)
        if gid in expected:
            found[gid] = cell
    findings = Findings(duplicated=dup)
    for gid, source in expected.items():
        cell = found.get(gid)
        if cell is None:
            findings.zeroed[gid] = "was removed"
        elif cell.cell_type != "code":
            findings.zeroed[gid] = f"was turned into {cell.cell_type}"
        elif _norm(cell.source) != source:
            findings.zeroed[gid] = "was edited"
    if dup:
        nb.cells = kept
        nbformat.write(nb, str(path))
    return findings
