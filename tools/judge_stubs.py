"""Rewrite a solution notebook's hidden blocks into judge stubs (a one-off migration helper).

``hidden.check_x(a, b)`` under ``from autograder.checks import <asg> as hidden`` becomes
``judge("<asg>.check_x", a=a, b=b)``; arguments that are not plain names need hand editing.

    python -m tools.judge_stubs solutions/a0_warmup/a0_warmup.ipynb
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

_CALL = re.compile(r"^hidden\.(check_\w+)\((.*)\)\s*$")


def rewrite(path: Path) -> int:
    nb = nbformat.read(str(path), as_version=4)
    asg = path.stem
    changed = 0
    for cell in nb.cells:
        if cell.cell_type != "code" or "### BEGIN HIDDEN TESTS" not in cell.source:
            continue
        head, rest = cell.source.split("### BEGIN HIDDEN TESTS", 1)
        body, tail = rest.split("### END HIDDEN TESTS", 1)
        lines = ["from effnn.grading import judge"]
        for line in body.strip().splitlines():
            if line.startswith("from autograder.checks import"):
                continue
            m = _CALL.match(line.strip())
            if not m:
                raise SystemExit(f"{path}: cannot rewrite {line!r}")
            args = [a.strip() for a in m.group(2).split(",") if a.strip()]
            if not all(a.isidentifier() for a in args):
                raise SystemExit(f"{path}: arguments of {line!r} are not plain names")
            lines.append(f'judge("{asg}.{m.group(1)}", ' + ", ".join(f"{a}={a}" for a in args) + ")")
        cell.source = head + "### BEGIN HIDDEN TESTS\n" + "\n".join(lines) + "\n### END HIDDEN TESTS" + tail
        changed += 1
    nbformat.write(nb, str(path))
    return changed


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(p, rewrite(Path(p)), "hidden blocks")
