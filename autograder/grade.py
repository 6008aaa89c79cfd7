"""Grade a folder of submissions of one assignment: parallel, limited, and nothing lost.

    python -m autograder.grade ASSIGNMENT SUBMISSIONS [--out DIR] [--jobs N] [--force]
                                [--cell-timeout S] [--timeout S] [--memory-mb M]
                                [--cores-per-job N] [--scheduler tcp://HOST:8786]

SUBMISSIONS is nbgrader's ``submitted/`` folder (``<student>/<assignment>/<assignment>.ipynb``) or a
flat LMS export (``<student>.ipynb`` or ``<student>.zip``). Results go to ``DIR`` (default
``out/grades/<assignment>``): ``grades.csv``, ``results.json``, ``feedback/<student>.html`` and, for
every regraded submission, the previous result under ``history/``.

Every submission ends in one status: graded, timed_out, crashed, malformed or missing. A run is
idempotent: an unchanged submission keeps its recorded result unless ``--force`` is given.

Where submissions are graded: by default in this process's threads; with ``cores_per_job`` (A1's
default, ``--cores-per-job``) in one local process per CPU slot, each submission pinned to its own
cores; with ``--scheduler`` on the workers of a Dask cluster (:mod:`autograder.cluster`). The
results, notes and files are the same in all three.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import functools
import itertools
import json
import os
import shutil
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import nbformat

from effnn.config import keep_file

from .release import REPO, SOLUTIONS
from . import pinning
from .sandbox import RunResult, privilege_note, run_autograde_and_feedback, sandbox_problem
from .settings import Limits, limits_for
from .submissions import Submission, discover, safe_student_id
from .tamper import inspect as inspect_cells

STATUSES = ("graded", "timed_out", "crashed", "malformed", "missing", "error")
#: what nbgrader's ``collect`` puts beside a submitted notebook, kept through grading: the late
#: penalty needs the timestamp, and ``release_feedback`` finds the student's copy by the secret
NBGRADER_RECORDS = ("timestamp.txt", "submission_secret.txt")


# ----------------------------------------------------------------------------- master gradebook
#: what the grader keeps between runs: in the checkout, which no sandbox mounts
GRADER_CACHE = REPO / "out" / "cache"
#: registered gradebooks, one per (assignment, digest of what registers it)
MASTER_CACHE = GRADER_CACHE / "masters"


def master_digest(assignment: str) -> str:
    """What registering ``assignment`` depends on: its instructor folder, the course config, nbgrader's version."""
    import hashlib

    import nbgrader

    from . import release

    h = hashlib.sha256(f"{assignment}\0{nbgrader.__version__}\0".encode())
    folder = release.SOLUTIONS / assignment
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                       and ".ipynb_checkpoints" not in p.parts):
        h.update(f"{path.relative_to(folder).as_posix()}\0".encode())
        h.update(path.read_bytes())
    h.update(release.COURSE_CONFIG.read_bytes())
    return h.hexdigest()[:24]


def prepare_master(assignment: str, root: Path, cache: Path | None = None) -> Path:
    """Register the assignment (cells, points, checksums) in a fresh gradebook under ``root``.

    Registering runs ``nbgrader generate_assignment`` (about 6 s); its gradebook depends only on
    :func:`master_digest`'s inputs, so it is kept in ``cache`` (default :data:`MASTER_CACHE`, the
    grader's own folder, which no sandbox mounts) and copied when nothing changed.
    """
    if not (SOLUTIONS / assignment / f"{assignment}.ipynb").exists():
        raise FileNotFoundError(f"unknown assignment {assignment!r}: no solutions/{assignment}/{assignment}.ipynb")
    root.mkdir(parents=True, exist_ok=True)
    db = root / "gradebook.db"
    cached = Path(cache or MASTER_CACHE) / f"{assignment}-{master_digest(assignment)}.db"
    if cached.is_file():
        shutil.copyfile(cached, db)
        return db
    from .release import nbgrader

    proc = nbgrader("generate_assignment", assignment, "--force", root=root,
                    extra=[f"--CourseDirectory.release_directory={root / 'release'}"])
    if proc.returncode != 0 or not db.exists():
        raise RuntimeError(f"could not register {assignment}:\n{proc.stdout}\n{proc.stderr}")
    keep_file(cached, lambda tmp: shutil.copyfile(db, tmp))
    return db


def grade_ids(db: Path, assignment: str) -> list[str]:
    """The graded cells of the assignment, in notebook order."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gb:
        nb = gb.find_notebook(assignment, assignment)
        cells = [(c.name, c.max_score) for c in nb.grade_cells]
    return [name for name, _ in cells]


# ----------------------------------------------------------------------------- one submission
def _read_scores(db: Path, assignment: str, student: str) -> dict | None:
    from nbgrader.api import Gradebook, MissingEntry

    try:
        with Gradebook(f"sqlite:///{db}") as gb:
            nb = gb.find_submission_notebook(assignment, assignment, student)
            cells = {g.name: {"score": float(g.score or 0.0), "max": float(g.max_score),
                              "manual": bool(g.needs_manual_grade)} for g in nb.grades}
    except MissingEntry:
        return None
    return cells


def _check_notebook(path: Path) -> str:
    """'' when the file is a readable notebook, else why not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # missing cell ids etc. are repaired by nbgrader
            nb = nbformat.read(str(path), as_version=4)
            nbformat.validate(nb)
    except Exception as exc:  # JSON errors, schema errors, binary junk
        return f"not a valid notebook: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    return ""


#: nbrun output that means the kernel or nbgrader failed for a reason outside the submission's code
_INFRASTRUCTURE = ("Kernel died before replying", "Kernel didn't respond", "kernel_info", "DeadKernelError",
                   "Kernel died", "ZMQError", "Address already in use")


def _crash_reason(run: RunResult, limits: Limits) -> str:
    """What happened to a submission nbgrader could not grade, in words an instructor can act on."""
    out = run.output
    if "refusing to autograde" in out:
        return "not graded: " + out.split("refusing to autograde", 1)[1].split("\n")[0].strip(" :")
    if "MemoryError" in out or "can't allocate memory" in out or "Cannot allocate memory" in out:
        return f"hit the memory limit ({limits.memory_mb} MB)"
    if "DeadKernelError" in out or "Kernel died" in out:
        return "the kernel died (a crash, os._exit, a signal or memory); nothing could be graded"
    if "Kernel didn't respond" in out or "kernel_info" in out:
        return "the kernel did not start"
    if "File size limit exceeded" in out or "SIGXFSZ" in out:
        return f"a file over the {limits.output_mb} MB limit was written"
    last = [line for line in out.strip().splitlines() if "ERROR" in line or "Error" in line]
    return "nbgrader failed on this notebook" + (f" ({last[-1].strip()[:200]})" if last else "")


def _infrastructure_crash(run: RunResult) -> bool:
    """A crash with no cause in the submission: worth one retry in a fresh sandbox."""
    return not run.timed_out and run.returncode not in (0, None) and any(m in run.output for m in _INFRASTRUCTURE)


def _cell_problems(nb_path: Path, limits: Limits) -> list[str]:
    """Timeouts, memory errors and truncated outputs in the autograded notebook, naming the cells."""
    from .execute import TRUNCATED

    if not nb_path.exists():
        return []
    nb = nbformat.read(str(nb_path), as_version=4)
    notes = []
    for i, cell in enumerate(nb.cells):
        name = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"#{i}"
        for out in cell.get("outputs", []):
            ename = out.get("ename", "")
            text = str(out.get("text", "")) + str(out.get("evalue", ""))
            if ename == "CellTimeoutError":
                notes.append(f"cell {name} hit the {limits.cell_timeout} s cell limit")
            elif ename == "MemoryError" or "can't allocate memory" in text:
                notes.append(f"cell {name} hit the memory limit ({limits.memory_mb} MB)")
            elif "did not run" in text and "hidden checks" in text:
                notes.append(f"cell {name}: its hidden checks never reached the judge (flagged for review)")
            elif TRUNCATED in text:
                notes.append(f"cell {name} output over the limit: {text.split(': ', 1)[1].strip(' []')}")
    return notes


def _join_notes(*parts) -> str:
    """One single-line note from several remarks, empty ones left out."""
    return "; ".join(" ".join(str(p).split()) for p in parts if p)


def _empty_result(sub: Submission, assignment: str, status: str, note: str, ids: list[str], maxes: dict) -> dict:
    return {"student": sub.student, "assignment": assignment, "status": status, "note": note,
            "total": 0.0, "max": float(sum(maxes.values())), "needs_manual": False,
            "cells": {gid: {"score": 0.0, "max": maxes.get(gid, 0.0), "manual": False} for gid in ids},
            "digest": sub.digest(), "graded_at": dt.datetime.now().isoformat(timespec="seconds")}


def _zero_cells(db: Path, assignment: str, student: str, ids) -> None:
    """Set the automatic score of these cells to 0 in a per-submission gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{db}") as gb:
        for gid in ids:
            try:
                grade = gb.find_grade(gid, assignment, assignment, student)
            except MissingEntry:
                continue
            grade.auto_score = 0.0
        gb.db.commit()


def _attempt(sub: Submission, assignment: str, master_db: Path, root: Path, limits: Limits, unsafe: bool,
             cpus: tuple[int, ...] | None = None):
    """One try in a fresh course root: the findings of the pre-check and nbgrader's run."""
    if root.exists():
        shutil.rmtree(root)
    target = root / "submitted" / sub.student / assignment
    target.mkdir(parents=True)
    shutil.copy2(sub.notebook, target / f"{assignment}.ipynb")
    for record in NBGRADER_RECORDS:
        if (sub.notebook.parent / record).is_file():
            shutil.copy2(sub.notebook.parent / record, target / record)
    shutil.copy2(master_db, root / "gradebook.db")
    # the release's other files (data, helpers) sit beside the notebook, as for the student
    release = REPO / "assignments" / assignment
    for extra in release.iterdir() if release.is_dir() else []:
        if extra.suffix != ".ipynb" and extra.is_file():
            shutil.copy2(extra, target / extra.name)
    findings = inspect_cells(target / f"{assignment}.ipynb", release / f"{assignment}.ipynb")
    return findings, run_autograde_and_feedback(assignment, sub.student, root, limits, unsafe=unsafe, cpus=cpus)


@functools.lru_cache(maxsize=None)
def warm_cache(assignment: str) -> str:
    """Fill the grader's data cache with what every submission of ``assignment`` loads (once per process).

    Kernels read that cache read-only (:func:`autograder.sandbox._spawn` passes it), so data the
    notebook renders (A1's portraits) is made once per grader instead of once per submission. An
    assignment opts in with a ``warm_cache()`` in its checks module. Returns '' or why it failed:
    a cold cache only costs time, never a grade.
    """
    import importlib

    try:
        checks = importlib.import_module(f"autograder.checks.{assignment}")
    except ImportError:
        return ""
    warm = getattr(checks, "warm_cache", None)
    if warm is None:
        return ""
    try:
        warm()
    except Exception as exc:  # noqa: BLE001 - a cold cache is slower, not wrong
        return f"{type(exc).__name__}: {exc}"
    return ""


def grade_submission(sub: Submission, assignment: str, master_db: Path, work: Path, limits: Limits,
                     ids: list[str], maxes: dict, unsafe: bool = False, cpus: tuple[int, ...] | None = None) -> dict:
    """Autograde and generate feedback for one submission in its own course root.

    A crash with no cause in the submission (the kernel died or did not start) is retried once in
    a fresh sandbox; a second crash keeps ``crashed`` with both attempts noted. With ``cpus`` the
    kernel runs pinned to them; the caller pins its own thread (the judge's) to the same CPUs.
    """
    if sub.notebook is None:
        return _empty_result(sub, assignment, "missing", sub.problem, ids, maxes)
    problem = _check_notebook(sub.notebook)
    if problem:
        return _empty_result(sub, assignment, "malformed", problem, ids, maxes)

    root = work / sub.student
    warm_cache(assignment)
    findings, run = _attempt(sub, assignment, master_db, root, limits, unsafe, cpus)
    retried = ""
    if _infrastructure_crash(run):
        first = _crash_reason(run, limits)
        findings, run = _attempt(sub, assignment, master_db, root, limits, unsafe, cpus)
        retried = f"first attempt: {first}; retried in a fresh sandbox"
    cells = _read_scores(root / "gradebook.db", assignment, sub.student)
    if run.timed_out:
        return _empty_result(sub, assignment, "timed_out", _join_notes(
            f"stopped after {limits.submission_timeout} s (whole-submission limit)",
            *_cell_problems(root / "autograded" / sub.student / assignment / f"{assignment}.ipynb", limits),
            retried), ids, maxes)
    if cells is None or run.returncode != 0:
        return _empty_result(sub, assignment, "crashed",
                             _join_notes(_crash_reason(run, limits), retried and f"second attempt too; {retried}"),
                             ids, maxes)

    if findings.zeroed:
        _zero_cells(root / "gradebook.db", assignment, sub.student, findings.zeroed)
        cells = _read_scores(root / "gradebook.db", assignment, sub.student)
    autograded = root / "autograded" / sub.student / assignment / f"{assignment}.ipynb"
    note = _join_notes(sub.problem, retried, *findings.notes(), *_cell_problems(autograded, limits))
    feedback = root / "feedback" / sub.student / assignment / f"{assignment}.html"
    if not feedback.exists():
        note = _join_notes(note, "feedback timed out" if run.feedback_timed_out else "feedback could not be generated")
    total = sum(c["score"] for c in cells.values())
    return {"student": sub.student, "assignment": assignment, "status": "graded", "note": note,
            "total": round(total, 4), "max": float(sum(c["max"] for c in cells.values())),
            "needs_manual": any(c["manual"] for c in cells.values()), "cells": cells,
            "flagged": bool(findings.zeroed or findings.duplicated),
            "digest": sub.digest(), "graded_at": dt.datetime.now().isoformat(timespec="seconds"),
            "_feedback": str(feedback) if feedback.exists() else ""}


def grade_notebook(assignment: str, notebook: Path, workdir: Path, student: str = "student",
                   limits: Limits | None = None, unsafe: bool = False) -> dict:
    """Grade a single notebook (tests and demos use this); returns the result record."""
    workdir = Path(workdir)
    db = prepare_master(assignment, workdir / "master")
    ids = grade_ids(db, assignment)
    maxes = _max_scores(db, assignment)
    sub = Submission(safe_student_id(student), Path(notebook) if notebook else None,
                     "" if notebook else "no notebook")
    if sub.notebook is not None and not sub.notebook.is_file():
        sub = Submission(sub.student, None, f"{notebook} does not exist")
    return grade_submission(sub, assignment, db, workdir / "work", limits or limits_for(assignment),
                            ids, maxes, unsafe)


def _max_scores(db: Path, assignment: str) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gb:
        return {c.name: float(c.max_score) for c in gb.find_notebook(assignment, assignment).grade_cells}


# ----------------------------------------------------------------------------- a whole folder
def _load_previous(out: Path) -> dict:
    path = out / "results.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        backup = path.with_suffix(f".corrupt-{dt.datetime.now():%Y%m%d%H%M%S}.json")
        shutil.copy2(path, backup)
        print(f"warning: {path} was unreadable; kept a copy at {backup} and regrading everything")
        return {}


def _archive_previous(out: Path, student: str, previous: dict) -> Path:
    stamp = previous.get("graded_at", "unknown").replace(":", "")
    dest = out / "history" / student / stamp
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "result.json").write_text(json.dumps(previous, indent=2))
    fb = out / "feedback" / f"{student}.html"
    if fb.exists():
        shutil.copy2(fb, dest / fb.name)
    return dest


def status_page(result: dict) -> str:
    """A short feedback page for a submission that could not be autograded."""
    import html

    return (f"<html><body><h2>{html.escape(result['assignment'])}: {html.escape(result['student'])}</h2>"
            f"<p>Status: <b>{html.escape(result['status'])}</b>. Score: {result['total']:g} / {result['max']:g}.</p>"
            f"<p>{html.escape(result.get('note', ''))}</p></body></html>\n")


def write_csv(path: Path, results: list[dict], ids: list[str]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["student", "assignment", "status", "total", "max", "needs_manual", *ids, "note", "comments"])
        for r in sorted(results, key=lambda r: r["student"]):
            comments = " | ".join(f"{k}: {v}" for k, v in sorted((r.get("comments") or {}).items()))
            w.writerow([r["student"], r["assignment"], r["status"], r["total"], r["max"],
                        int(r.get("needs_manual", False)),
                        *[r["cells"].get(g, {}).get("score", 0.0) for g in ids], r.get("note", ""), comments])


def parallel_jobs(limits: Limits, jobs: int | None = None) -> int:
    """Submissions graded at once: ``jobs`` when given, else one per core up to the assignment's max_jobs.

    A pinned assignment (``cores_per_job``) grades at most one submission per CPU slot, whatever
    ``jobs`` says: more would wait for a free slot anyway.
    """
    if limits.cores_per_job:
        count = len(pinning.slots(limits.cores_per_job))
        jobs = min(count, jobs or count, limits.max_jobs or count)
    elif jobs is None:
        cores = os.cpu_count() or 1
        jobs = min(cores, limits.max_jobs or cores)
    return max(1, jobs)


def where_graded(limits: Limits, jobs: int, scheduler: str | None = None) -> str:
    """One line for the grading summary: where and how many at once."""
    if scheduler:
        return f"on the Dask cluster at {scheduler}" + (
            f", each submission pinned to {limits.cores_per_job} core(s) of its worker's machine"
            if limits.cores_per_job else "")
    if limits.cores_per_job:
        return (f"{jobs} at once, each pinned to its own core(s): "
                f"{pinning.describe(pinning.slots(limits.cores_per_job)[:jobs])}")
    return f"{jobs} at once in this process"


def _thread_results(todo, assignment, db, work, limits, ids, maxes, unsafe, jobs):
    """Grade ``todo`` in this process's threads; yield ``(sub, result or exception)`` as they finish."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(grade_submission, s, assignment, db, work, limits, ids, maxes, unsafe): s
                   for s in todo}
        for fut in as_completed(futures):
            try:
                yield futures[fut], fut.result()
            except Exception as exc:  # noqa: BLE001 - recorded as the submission's "error" status
                yield futures[fut], exc


def _with_course_scores(res: dict, assignment: str, course_root: Path) -> dict:
    """The result with the course gradebook's points (automatic plus any manual grading)."""
    from .course import scores

    got = scores(assignment, res["student"], course_root)
    if got is None:
        return res
    cells = {gid: {k: c[k] for k in ("score", "max", "manual")} for gid, c in got["cells"].items()}
    return {**res, "cells": cells, "total": round(sum(c["score"] for c in cells.values()), 4),
            "needs_manual": any(c["needs_grading"] for c in got["cells"].values()),
            "comments": got["comments"], "flagged": bool(res.get("flagged") or got["flagged"])}


def grade_folder(assignment: str, source: Path, out: Path, *, jobs: int | None = None, force: bool = False,
                 limits: Limits | None = None, unsafe: bool = False, progress: bool = True,
                 course_root: Path | None = None, scheduler: str | None = None) -> list[dict]:
    """Grade every submission under ``source``; write CSV, JSON and feedback under ``out``.

    With ``course_root`` (the CLI passes ``course/``) every graded submission is also merged into
    that nbgrader course root, for Formgrader and manual grading (:mod:`autograder.course`). With
    ``scheduler`` (``tcp://HOST:8786``) the submissions are graded on that Dask cluster's workers.
    Pinned grading starts worker processes with multiprocessing's *spawn*: a script that calls this
    needs the usual ``if __name__ == "__main__":`` guard.
    """
    from effnn.train import progress_bar

    from . import course

    limits = limits or limits_for(assignment)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "feedback").mkdir(exist_ok=True)
    previous = _load_previous(out)
    with tempfile.TemporaryDirectory(prefix=f"effnn-grade-{assignment}-") as tmp:
        tmp = Path(tmp)
        os.chmod(tmp, 0o755)
        db = prepare_master(assignment, tmp / "master")
        ids, maxes = grade_ids(db, assignment), _max_scores(db, assignment)
        subs = discover(Path(source), assignment, tmp)
        todo, results = [], {}
        for sub in subs:
            old = previous.get(sub.student)
            if old and not force and old.get("digest") == sub.digest() and old.get("status") in STATUSES:
                results[sub.student] = {**old, "_unchanged": True}
            else:
                todo.append(sub)
        if course_root is not None and todo:
            course.register(assignment, course_root)
            course.copy_duedate(assignment, course_root, db)  # nbgrader's late penalty needs it
        jobs = parallel_jobs(limits, jobs)
        work = tmp / "work"
        work.mkdir()
        os.chmod(work, 0o755)
        bar = progress_bar(total=len(todo), desc=f"grading {assignment}", disable=not progress)
        if scheduler or limits.cores_per_job:
            from . import cluster

            # nothing to send for a missing notebook: its record is made here
            here = [s for s in todo if s.notebook is None]
            there = [s for s in todo if s.notebook is not None]
            graded = (cluster.dask_results(there, assignment, db, work, limits, unsafe, scheduler) if scheduler
                      else cluster.pool_results(there, assignment, db, work, limits, unsafe, jobs))
            stream = itertools.chain(_thread_results(here, assignment, db, work, limits, ids, maxes, unsafe, 1), graded)
        else:
            stream = _thread_results(todo, assignment, db, work, limits, ids, maxes, unsafe, jobs)
        for sub, res in stream:
            if isinstance(res, Exception):  # a bug of ours must not cost the other students their grade
                res = _empty_result(sub, assignment, "error", f"grader error: {type(res).__name__}: {res}", ids, maxes)
            old = previous.get(sub.student)
            if old:
                kept = _archive_previous(out, sub.student, old)
                res["note"] = _join_notes(res.get("note"), f"regraded; previous result kept in {kept.relative_to(out)}")
            if course_root is not None and res["status"] == "graded":
                unchanged = bool(old) and old.get("digest") == res["digest"]
                if course.merge(assignment, sub.student, work / sub.student, keep_manual=unchanged,
                                root=course_root):
                    res["note"] = _join_notes(res["note"], "changed since it was graded by hand: the manual "
                                              "grades are in history/, flagged for review")
                res = _with_course_scores(res, assignment, course_root)
            fb_src = res.pop("_feedback", "")
            fb_dst = out / "feedback" / f"{sub.student}.html"
            if fb_src:
                shutil.copy2(fb_src, fb_dst)
            else:  # replaces stale feedback of an older version (archived above)
                fb_dst.write_text(status_page(res))
            results[sub.student] = res
            bar.update(1)
        bar.close()
    # students graded before but absent now keep their record
    for student, old in previous.items():
        results.setdefault(student, {**old, "note": _join_notes(old.get("note"), "not in this run's submissions; previous result kept")})
    final = [{k: v for k, v in r.items() if not k.startswith("_")} for r in results.values()]
    (out / "results.json").write_text(json.dumps({r["student"]: r for r in final}, indent=2, sort_keys=True))
    write_csv(out / "grades.csv", final, ids)
    return [results[s] for s in sorted(results)]


def refresh(assignment: str, out: Path, course_root: Path) -> list[dict]:
    """After manual grading: reread the course gradebook into results, CSV and feedback pages."""
    from .course import regenerate_feedback

    out = Path(out)
    previous = _load_previous(out)
    if not previous:
        raise FileNotFoundError(f"no results to refresh in {out}: grade the assignment first")
    proc = regenerate_feedback(assignment, course_root)
    if proc.returncode != 0:
        print(f"warning: nbgrader generate_feedback failed; feedback pages kept as they were\n{proc.stderr[-2000:]}")
    results = {}
    for student, res in previous.items():
        if res.get("status") == "graded":
            res = _with_course_scores(res, assignment, course_root)
            page = course_root / "feedback" / student / assignment / f"{assignment}.html"
            if page.exists():
                shutil.copy2(page, out / "feedback" / f"{student}.html")
        results[student] = res
    ids = list(next(iter(results.values()))["cells"]) if results else []
    (out / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True))
    write_csv(out / "grades.csv", list(results.values()), ids)
    return [results[s] for s in sorted(results)]


def print_table(results: list[dict], out: Path | None = None) -> None:
    width = max([len(r["student"]) for r in results] + [7])
    print(f"{'student':<{width}}  {'status':<10} {'score':>12}  note")
    for r in results:
        score = f"{r['total']:g} / {r['max']:g}"
        flag = " (unchanged)" if r.get("_unchanged") else ""
        print(f"{r['student']:<{width}}  {r['status']:<10} {score:>12}  {r.get('note', '')}{flag}")
    counts = {s: sum(r["status"] == s for r in results) for s in STATUSES}
    print("  ".join(f"{k}: {v}" for k, v in counts.items() if v))
    if out is not None:
        print(f"grades:   {out / 'grades.csv'}\nfeedback: {out / 'feedback'}\nresults:  {out / 'results.json'}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment")
    parser.add_argument("submissions", type=Path, nargs="?")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--course-root", type=Path, default=None,
                        help="nbgrader course root to merge results into, for Formgrader (default: course/)")
    parser.add_argument("--refresh", action="store_true",
                        help="after grading by hand in Formgrader: reread the course gradebook into "
                             "grades.csv, results.json and the feedback pages (grades nothing)")
    parser.add_argument("--jobs", type=int, default=None, help="parallel graders (default: CPU count, or the assignment's max_jobs)")
    parser.add_argument("--force", action="store_true", help="regrade unchanged submissions too")
    parser.add_argument("--cell-timeout", type=int, default=None)
    parser.add_argument("--timeout", type=int, default=None, help="wall-clock seconds per submission")
    parser.add_argument("--memory-mb", type=int, default=None)
    parser.add_argument("--cores-per-job", type=int, default=None,
                        help="pin each submission to its own N physical cores and grade one per slot "
                             "(default: the assignment's setting; A1 pins 1; 0 turns pinning off)")
    parser.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786",
                        help="grade on the workers of this Dask cluster (started with `dask scheduler` and "
                             "`dask worker`; see the README) instead of on this machine")
    parser.add_argument("--unsafe-no-sandbox", action="store_true",
                        help="grade even where submissions cannot be sealed: a notebook can then read the "
                             "solutions and hidden checks")
    args = parser.parse_args(argv)
    out = args.out or REPO / "out" / "grades" / args.assignment
    course_root = (args.course_root or REPO / "course").resolve()
    if args.refresh:
        print_table(refresh(args.assignment, out, course_root), out)
        return 0
    if args.submissions is None:
        parser.error("SUBMISSIONS is required (unless --refresh)")
    problem = sandbox_problem()
    if problem and not args.unsafe_no_sandbox:
        print(f"refusing to grade: submissions cannot be sealed on this machine ({problem}).\n"
              "Without the sandbox a notebook can read the solutions and the hidden checks. Pass "
              "--unsafe-no-sandbox to grade anyway, accepting that risk.", file=sys.stderr)
        return 2
    if args.cores_per_job is not None and args.cores_per_job < 0:
        parser.error(f"--cores-per-job must be >= 0, got {args.cores_per_job}")
    limits = limits_for(args.assignment, cell_timeout=args.cell_timeout, submission_timeout=args.timeout,
                        memory_mb=args.memory_mb, cores_per_job=args.cores_per_job)
    print(f"{privilege_note(args.unsafe_no_sandbox)}; limits: {limits}")
    print(f"grading {where_graded(limits, parallel_jobs(limits, args.jobs), args.scheduler)}")
    from .cluster import WorkerMismatch

    try:
        results = grade_folder(args.assignment, args.submissions, out, jobs=args.jobs, force=args.force,
                               limits=limits, unsafe=args.unsafe_no_sandbox, course_root=course_root,
                               scheduler=args.scheduler)
    except WorkerMismatch as exc:
        print(f"refusing to grade on the cluster: {exc}", file=sys.stderr)
        return 2
    print_table(results, out)
    print(f"course:   {course_root} (Formgrader: make formgrader; after grading by hand: "
          f"python -m autograder.grade {args.assignment} --refresh)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
