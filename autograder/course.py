"""The course root (``course/``) that nbgrader's Formgrader reads: merge graded submissions into it.

Each submission is graded in a throw-away course root (see :mod:`autograder.grade`); afterwards its
submitted and autograded notebooks, its feedback page and its scores are merged into ``course/``:
``submitted/``, ``autograded/``, ``feedback/`` and ``gradebook.db``. Formgrader then lists every
submission and the instructor grades the written answers there.

Manual grading survives a regrade:

- an unchanged submission keeps its manual scores, extra credit and comments;
- a changed one starts without them (they are kept in the grading command's ``history/``) and is
  flagged in Formgrader for review.

:func:`export` reads the course gradebook back (automatic plus manual points) into the results,
``grades.csv`` and feedback pages; ``python -m autograder.grade ASSIGNMENT --refresh`` runs it after
manual grading.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .release import REPO, tool_path

COURSE = REPO / "course"


def _gradebook(root: Path):
    from nbgrader.api import Gradebook

    return Gradebook(f"sqlite:///{root / 'gradebook.db'}")


def course_nbgrader(*args: str, root: Path = COURSE, timeout: float | None = 600) -> subprocess.CompletedProcess:
    """An nbgrader command in the course root itself, with its own ``nbgrader_config.py``."""
    env = dict(os.environ)
    env["PATH"] = tool_path(env.get("PATH"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=timeout)


def register(assignment: str, root: Path = COURSE) -> None:
    """Make sure the course gradebook knows the assignment (its cells, points and checksums)."""
    with tempfile.TemporaryDirectory(prefix="effnn-register-") as tmp:
        proc = course_nbgrader("generate_assignment", assignment, "--force",
                               f"--CourseDirectory.release_directory={tmp}", root=root)
    if proc.returncode != 0:
        raise RuntimeError(f"could not register {assignment} in {root}:\n{proc.stdout}\n{proc.stderr}")


def _replace_tree(src: Path, dst: Path) -> None:
    if src.resolve() == dst.resolve():
        return
    if dst.exists():
        shutil.rmtree(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, dst, symlinks=False)


def merge(assignment: str, student: str, graded_root: Path, *, keep_manual: bool, root: Path = COURSE) -> bool:
    """Copy one graded submission into the course root; return whether it was flagged for review."""
    from nbgrader.api import MissingEntry

    for kind in ("submitted", "autograded", "feedback"):
        src = graded_root / kind / student / assignment
        if src.is_dir():
            _replace_tree(src, root / kind / student / assignment)
    with _gradebook(graded_root) as source, _gradebook(root) as gb:
        sub = source.find_submission(assignment, student)
        manual, flagged = {}, False
        try:
            old = gb.find_submission(assignment, student)
        except MissingEntry:
            old = None
        if old is not None:
            for nb in old.notebooks:
                for g in nb.grades:
                    if g.manual_score is not None or g.extra_credit:
                        manual[("grade", nb.name, g.name)] = (g.manual_score, g.extra_credit)
                for c in nb.comments:
                    if c.manual_comment:
                        manual[("comment", nb.name, c.name)] = c.manual_comment
            gb.remove_submission(assignment, student)
        gb.update_or_create_student(student)
        gb.add_submission(assignment, student, timestamp=sub.timestamp)
        for nb in sub.notebooks:
            target = gb.find_submission_notebook(nb.name, assignment, student)
            target.flagged = nb.flagged
            target.late_submission_penalty = nb.late_submission_penalty
            grades = {g.name: g for g in target.grades}
            for g in nb.grades:
                t = grades[g.name]
                t.auto_score, t.needs_manual_grade = g.auto_score, g.needs_manual_grade
                if keep_manual and ("grade", nb.name, g.name) in manual:
                    t.manual_score, t.extra_credit = manual[("grade", nb.name, g.name)]
            comments = {c.name: c for c in target.comments}
            for c in nb.comments:
                comments[c.name].auto_comment = c.auto_comment
                if keep_manual and ("comment", nb.name, c.name) in manual:
                    comments[c.name].manual_comment = manual[("comment", nb.name, c.name)]
            if manual and not keep_manual:
                target.flagged = flagged = True
        gb.db.commit()
    return flagged


def copy_duedate(assignment: str, root: Path, master_db: Path) -> None:
    """Give the per-submission gradebook the course's due date (nbgrader's late penalty needs it)."""
    from nbgrader.api import Gradebook

    with _gradebook(root) as gb:
        due = gb.find_assignment(assignment).duedate
    if due is not None:
        with Gradebook(f"sqlite:///{master_db}") as master:
            master.update_or_create_assignment(assignment, duedate=due)


def scores(assignment: str, student: str, root: Path = COURSE) -> dict | None:
    """Per-cell points from the course gradebook, manual grades included (None: not there)."""
    from nbgrader.api import MissingEntry

    try:
        with _gradebook(root) as gb:
            nb = gb.find_submission_notebook(assignment, assignment, student)
            cells = {g.name: {"score": float(g.score or 0.0), "max": float(g.max_score),
                              "manual": bool(g.cell.cell_type == "markdown"),
                              "needs_grading": bool(g.needs_manual_grade and g.manual_score is None)}
                     for g in nb.grades}
            comments = {c.name: c.manual_comment for c in nb.comments if c.manual_comment}
            flagged = bool(nb.flagged)
    except MissingEntry:
        return None
    return {"cells": cells, "comments": comments, "flagged": flagged}


def regenerate_feedback(assignment: str, root: Path = COURSE) -> subprocess.CompletedProcess:
    """nbgrader's own feedback for every student of the assignment, from the course gradebook."""
    return course_nbgrader("generate_feedback", assignment, "--force", root=root)
