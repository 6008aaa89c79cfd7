"""Grade submissions in other processes: pinned local workers, or the workers of a Dask cluster.

One task grades one submission from its bytes (:func:`grade_task`): the worker writes the notebook
and the client's master gradebook into a scratch folder, runs the same per-submission grading as
the grading command itself (:func:`autograder.grade.grade_submission`: the sealed kernel, the judge
in the worker, the limits, the retry of infrastructure crashes) and returns the result record, the
feedback page and an archive of the graded course root (for the merge into ``course/``). Workers
need the course environment (this repository and its ``.venv``), not a shared filesystem.

Before a Dask run the client asks every worker for its :func:`worker_profile` and refuses to grade
when one cannot seal submissions (unless ``--unsafe-no-sandbox``) or holds a different version of
the course (checks, release, grading code, fast mode); a task checks the same again where it runs.
A worker that dies mid-grade loses nothing: Dask's scheduler hands its tasks to another worker,
the dead worker's sandboxes die with it (``PR_SET_PDEATHSIG``), and each submission's result
reaches the client exactly once.

With ``cores_per_job`` in the limits a task first takes a free CPU slot on its machine
(:mod:`autograder.pinning`) and runs pinned. One task per process keeps the judges' timings apart
(two judges in one process would share its interpreter lock): the local pool has one process per
slot, and Dask workers are started with ``--nthreads 1``.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import socket
import tarfile
import tempfile
from pathlib import Path
from typing import Iterator

from .release import REPO
from .settings import Limits

#: what a worker must share with the client, file by file (globs relative to the repository)
_COURSE_FILES = ("autograder/*.py", "autograder/checks/*.py", "autograder/reference/*.py",
                 "course/effnn/**/*.py", "course/effnn/assets/*", "assignments/{a}/**/*")
_PACKAGES = ("torch", "nbgrader", "nbconvert", "torch-pruning", "transformers", "numpy")


class WorkerMismatch(RuntimeError):
    """A worker cannot grade like the client: no sandbox, or another version of the course."""


# ----------------------------------------------------------------------------- worker side
#: a course version the deployment vouches for on every machine (e.g. a commit id), instead of hashing files
VERSION_ENV = "EFFNN_COURSE_VERSION"


@functools.lru_cache(maxsize=None)
def course_fingerprint(assignment: str, repo: Path = REPO) -> str:
    """sha256 over the files and package versions that decide a grade of ``assignment``.

    Computed once per process: a worker grades with the course it started with. Where
    ``EFFNN_COURSE_VERSION`` is set, it stands for the files (package versions still count).
    """
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256()
    if os.environ.get(VERSION_ENV):
        digest.update(f"version={os.environ[VERSION_ENV]}\0".encode())
        files = []
    else:
        files = sorted({p for pattern in _COURSE_FILES for p in repo.glob(pattern.format(a=assignment))
                        if p.is_file() and "__pycache__" not in p.parts})
    for path in files:
        digest.update(str(path.relative_to(repo)).encode() + b"\0" + path.read_bytes() + b"\0")
    for name in _PACKAGES:
        try:
            digest.update(f"{name}={version(name)}\0".encode())
        except PackageNotFoundError:
            digest.update(f"{name}=none\0".encode())
    return digest.hexdigest()


def worker_profile(assignment: str, fingerprint: bool = True) -> dict:
    """What the client compares before trusting a worker with submissions."""
    from effnn import config

    from . import pinning
    from .sandbox import sandbox_problem

    return {"fingerprint": course_fingerprint(assignment) if fingerprint else "", "fast": config.fast_mode(),
            "data": config.data_source(), "sandbox": sandbox_problem(), "host": socket.gethostname(),
            "cpus": len(pinning.allowed_cpus())}


def _mismatch(profile: dict, expected: dict | None, unsafe: bool) -> str:
    """'' when a worker with ``profile`` may grade for a client that expects ``expected``.

    ``expected=None``: a local worker, same checkout: only the sandbox is checked.
    """
    where = f"worker on {profile.get('host', '?')}"
    if profile["sandbox"] and not unsafe:
        return (f"{where} cannot seal submissions ({profile['sandbox']}); fix it, or pass "
                "--unsafe-no-sandbox to accept that a notebook can read the solutions and hidden checks")
    if expected is None:
        return ""
    if profile["fingerprint"] != expected["fingerprint"]:
        return (f"{where} has another version of the course (checks, release, grading code or packages "
                "differ from the client's): update its checkout and environment")
    for key in ("fast", "data"):
        if profile[key] != expected[key]:
            return f"{where} runs with {key}={profile[key]!r}, the client with {expected[key]!r} (EFFNN_FAST/EFFNN_DATA)"
    return ""


def _scratch() -> str | None:
    """Where a task grades: the Dask worker's own folder when there is one (purged if it dies)."""
    try:
        from distributed import get_worker

        folder = Path(get_worker().local_directory) / "effnn-grading"
        folder.mkdir(exist_ok=True)
        return str(folder)
    except (ImportError, ValueError):
        return None


@contextlib.contextmanager
def _torch_threads(count: int):
    """The judge's torch uses only the slot's cores (one task per process, so this is the task's)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _archive(root: Path) -> bytes:
    """The graded course root, as the merge into ``course/`` needs it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=3) as tar:
        for name in ("submitted", "autograded", "feedback", "gradebook.db"):
            if (root / name).exists():
                tar.add(root / name, arcname=name)
    return buf.getvalue()


def grade_task(assignment: str, student: str, notebook: bytes, problem: str, master_db: bytes,
               limits: Limits, unsafe: bool, expected: dict | None, records: dict | None = None) -> dict:
    """Grade one submission here; return ``{"result", "feedback", "archive", "cpus", "host"}``.

    ``feedback`` is the feedback page (HTML, '' when none), ``archive`` the graded course root
    (tar.gz, b'' when nothing ran), ``cpus`` the slot it was pinned to (``None``: not pinned).
    """
    from . import pinning
    from .grade import _max_scores, grade_ids, grade_submission
    from .submissions import Submission

    why = _mismatch(worker_profile(assignment, fingerprint=expected is not None), expected, unsafe)
    if why:
        raise WorkerMismatch(why)
    with tempfile.TemporaryDirectory(prefix=f"effnn-task-{student}-", dir=_scratch()) as tmp:
        tmp = Path(tmp)
        os.chmod(tmp, 0o755)
        (tmp / "master").mkdir()
        db = tmp / "master" / "gradebook.db"
        db.write_bytes(master_db)
        (tmp / "in").mkdir()
        path = tmp / "in" / f"{assignment}.ipynb"
        path.write_bytes(notebook)
        for name, data in (records or {}).items():  # nbgrader's timestamp.txt, submission_secret.txt
            (tmp / "in" / name).write_bytes(data)
        work = tmp / "work"
        work.mkdir()
        os.chmod(work, 0o755)
        ids, maxes = grade_ids(db, assignment), _max_scores(db, assignment)
        sub = Submission(student, path, problem)
        cpus = None
        if limits.cores_per_job:
            with pinning.claim(pinning.slots(limits.cores_per_job)) as cpus, pinning.pinned(cpus), \
                    _torch_threads(len(cpus)):
                res = grade_submission(sub, assignment, db, work, limits, ids, maxes, unsafe, cpus=cpus)
        else:
            res = grade_submission(sub, assignment, db, work, limits, ids, maxes, unsafe)
        page = res.pop("_feedback", "")
        feedback = Path(page).read_text() if page else ""
        root = work / student
        archive = _archive(root) if root.is_dir() else b""
    return {"result": res, "feedback": feedback, "archive": archive, "cpus": cpus, "host": socket.gethostname()}


# ----------------------------------------------------------------------------- client side
def _unpack(payload: dict, student: str, assignment: str, work: Path) -> dict:
    """Put a task's graded root under ``work/student`` and point the result at its feedback page."""
    res = dict(payload["result"])
    root = work / student
    if payload["archive"]:
        root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(payload["archive"]), mode="r:gz") as tar:
            tar.extractall(root, filter="data")
    if payload["feedback"]:
        page = root / "feedback" / student / assignment / f"{assignment}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(payload["feedback"])
        res["_feedback"] = str(page)
    return res


def _task_args(sub, assignment: str, master_db, limits: Limits, unsafe: bool, expected: dict | None) -> dict:
    return {"assignment": assignment, "student": sub.student, "notebook": sub.notebook.read_bytes(),
            "problem": sub.problem, "master_db": master_db, "limits": limits, "unsafe": unsafe,
            "expected": expected, "records": _records(sub)}


def _records(sub) -> dict:
    """nbgrader's files beside the submitted notebook (``collect``'s timestamp and secret)."""
    from .grade import NBGRADER_RECORDS

    folder = sub.notebook.parent
    return {name: (folder / name).read_bytes() for name in NBGRADER_RECORDS if (folder / name).is_file()}


def _expected(assignment: str) -> dict:
    from effnn import config

    return {"fingerprint": course_fingerprint(assignment), "fast": config.fast_mode(), "data": config.data_source()}


def pool_results(todo, assignment: str, db: Path, work: Path, limits: Limits, unsafe: bool,
                 jobs: int) -> Iterator[tuple]:
    """Grade ``todo`` in ``jobs`` local processes (one per CPU slot); yield ``(sub, result or exception)``."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    if not todo:
        return
    expected, master = None, db.read_bytes()  # same machine, same checkout: no version to compare
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(grade_task, **_task_args(s, assignment, master, limits, unsafe, expected)): s
                   for s in todo}
        for fut in as_completed(futures):
            sub = futures[fut]
            try:
                yield sub, _unpack(fut.result(), sub.student, assignment, work)
            except Exception as exc:  # noqa: BLE001 - recorded as the submission's "error" status
                yield sub, exc


def check_workers(client, assignment: str, unsafe: bool, expected: dict | None = None) -> dict:
    """Every worker's profile, or :class:`WorkerMismatch` naming the first that cannot grade."""
    expected = expected or _expected(assignment)
    workers = list(client.scheduler_info()["workers"])
    futures = {w: client.submit(worker_profile, assignment, workers=[w], allow_other_workers=False, pure=False,
                                key=f"effnn-profile-{assignment}-{w}-{os.urandom(4).hex()}") for w in workers}
    profiles = {w: f.result() for w, f in futures.items()}
    for w, profile in profiles.items():
        why = _mismatch(profile, expected, unsafe)
        if why:
            raise WorkerMismatch(f"{why} ({w})")
    return profiles


@contextlib.contextmanager
def connect(scheduler: str, timeout: float = 60):
    """A Dask client of ``scheduler`` (``tcp://HOST:8786``) with at least one worker."""
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - distributed is in the grading extra
        raise RuntimeError("--scheduler needs dask distributed: pip install 'effnn[grading]'") from exc
    client = Client(scheduler, timeout=timeout)
    try:
        client.wait_for_workers(1, timeout=timeout)
        yield client
    finally:
        client.close()


def dask_results(todo, assignment: str, db: Path, work: Path, limits: Limits, unsafe: bool,
                 scheduler: str, log=print) -> Iterator[tuple]:
    """Grade ``todo`` on the Dask cluster at ``scheduler``; yield ``(sub, result or exception)``."""
    from distributed import as_completed

    if not todo:
        return
    expected = _expected(assignment)
    with connect(scheduler) as client:
        profiles = check_workers(client, assignment, unsafe, expected)
        threads = client.nthreads()
        if limits.cores_per_job and any(n > 1 for n in threads.values()):
            log("warning: some Dask workers run several tasks at once (--nthreads > 1): pinned judges in one "
                "process share its interpreter lock, so timings are fairer with --nthreads 1")
        log(f"dask: {len(profiles)} workers on {len({p['host'] for p in profiles.values()})} machine(s), "
            f"{sum(threads.values())} tasks at once")
        master = client.scatter(db.read_bytes(), broadcast=True)
        run = os.urandom(4).hex()
        futures = {}
        for sub in todo:
            fut = client.submit(grade_task, **_task_args(sub, assignment, master, limits, unsafe, expected),
                                key=f"effnn-grade-{assignment}-{sub.student}-{run}", pure=False)
            futures[fut] = sub
        for fut in as_completed(futures):
            sub = futures[fut]
            try:
                yield sub, _unpack(fut.result(), sub.student, assignment, work)
            except Exception as exc:  # noqa: BLE001 - KilledWorker, WorkerMismatch, a bug: "error" status
                yield sub, exc
