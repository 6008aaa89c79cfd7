"""A whole term of A0 through nbgrader's own exchange: an instructor and three students.

The instructor releases ``a0_warmup``; three students fetch it, answer and submit (one submits
twice, one after the due date); the instructor collects, grades with the course's grading command
(``python -m autograder.grade ... --course-root``) and releases the feedback; each student fetches
their own feedback and nothing else. Late penalties are nbgrader's: ``LateSubmissionPlugin`` with
``penalty_method = "zero"``, and the penalty must show in the course gradebook.

As root, each person is a separate Unix user (created here with ``useradd``, removed afterwards),
and every command runs with that user's uid. The instructor works in a private copy of the course
(solutions, hidden checks, course root, gradebook: mode 0700), as on a real course machine, and
the test checks from each student's uid that none of it, and no other student's work, can be read.
In the exchange itself nbgrader's protection is unlistable folders plus unguessable names (a
random suffix on submissions, a hash of the submission's secret on feedback), not file modes: the
test checks that too. Without root the people are separate homes of one Unix user (nbgrader's
student id set per home, as the demo hub does), and the privacy checks are skipped (one uid cannot
be kept from itself). The repository's ``course/`` is never touched.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder import jail
from autograder.simulate import partial_submission

REPO = Path(__file__).resolve().parent.parent
A = "a0_warmup"
EXERCISES = ["linear_cost", "magnitude_mask", "global_magnitude_masks", "apply_masks"]
ROOT = os.geteuid() == 0
STEP_S, GRADE_S = 600, 1800  # generous: a busy 2-core machine

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


@dataclass
class Person:
    name: str
    home: Path
    uid: int
    gid: int


# ----------------------------------------------------------------------------- running as a person
def _hidden_python() -> list[Path]:
    """Python folders under an unreadable /root (then an ordinary user needs them made visible)."""
    if os.stat("/root").st_mode & stat.S_IXOTH:
        return []
    return [p for p in jail.python_paths() if Path("/root") in p.parents]


def as_person(person: Person, cmd: list[str], stage: Path) -> list[str]:
    """``cmd`` with the person's uid (root only): setpriv, in a private mount namespace where /root
    is an empty tmpfs holding only the Python environment, when Python lives under /root."""
    drop = ["setpriv", f"--reuid={person.uid}", f"--regid={person.gid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--"]
    hidden = _hidden_python()
    if not hidden:
        return drop + cmd
    binds = "".join(f'mkdir -p "{stage}{p}" && mount --bind "{p}" "{stage}{p}"\n' for p in hidden)
    back = "".join(f'mkdir -p "{p}" && mount --bind "{stage}{p}" "{p}"\n' for p in hidden)
    script = f'set -e\n{binds}mount -t tmpfs -o mode=755 tmpfs /root\n{back}exec "$@"'
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *drop, *cmd]


class Term:
    """The people, their folders, and a way to run a command as one of them."""

    def __init__(self, base: Path):
        self.base = base
        self.exchange = base / "exchange"
        self.stage = base / "stage"
        self.people: dict[str, Person] = {}
        self.created: list[str] = []

    def add(self, role: str, name: str) -> Person:
        home = self.base / "home" / role
        home.mkdir(parents=True)
        if ROOT:
            subprocess.run(["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/usr/sbin/nologin",
                            "--user-group", name], check=True, capture_output=True, text=True)
            self.created.append(name)
            import pwd

            entry = pwd.getpwnam(name)
            uid, gid = entry.pw_uid, entry.pw_gid
        else:
            uid, gid = os.getuid(), os.getgid()
        person = Person(name, home, uid, gid)
        self.people[role] = person
        return person

    def give(self, person: Person, path: Path, mode: int | None = None) -> None:
        """Hand ``path`` (recursively) to ``person``; ``mode`` for its top folder."""
        if ROOT:
            for p in [path, *path.rglob("*")]:
                os.lchown(p, person.uid, person.gid)
        if mode is not None:
            os.chmod(path, mode)

    def run(self, role: str, *args: str, cwd: Path | None = None, env: dict | None = None,
            timeout: float = STEP_S, check: bool = True) -> subprocess.CompletedProcess:
        person = self.people[role]
        base_env = {"PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/sbin:/usr/bin:/sbin:/bin"]),
                    "HOME": str(person.home), "LANG": os.environ.get("LANG", "C.UTF-8"),
                    "EFFNN_FAST": "1", "EFFNN_QUIET": "1", "MPLBACKEND": "Agg"}
        cmd = [sys.executable, *args]
        if ROOT:
            cmd = as_person(person, cmd, self.stage)
        proc = subprocess.run(cmd, cwd=cwd or person.home, env={**base_env, **(env or {})},
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            pytest.fail(f"{role} ({person.name}): {' '.join(args)} -> {proc.returncode}\n"
                        f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def nbgrader(self, role: str, *args: str, **kw) -> subprocess.CompletedProcess:
        return self.run(role, "-m", "nbgrader", *args, **kw)

    def remove_users(self) -> None:
        uids = {p.uid for p in self.people.values()} if self.created else set()
        for proc in Path("/proc").glob("[0-9]*"):  # leftovers of the users made here, by process id
            try:
                if proc.stat().st_uid in uids:
                    os.kill(int(proc.name), 9)
            except (OSError, ValueError):
                pass
        for name in self.created:
            subprocess.run(["userdel", name], capture_output=True)


def _exchange_config(person: Person, exchange: Path, student_id: str | None) -> None:
    """The person's ~/.jupyter/nbgrader_config.py: the course's shared exchange settings."""
    lines = ["c = get_config()  # noqa: F821",
             f"load_subconfig({str(REPO / 'course' / 'jupyterhub' / 'nbgrader_config.py')!r})  # noqa: F821",
             f"c.Exchange.root = {str(exchange)!r}"]
    if student_id:  # one Unix user for all (not root): nbgrader would file every submission under it
        lines.append(f"c.CourseDirectory.student_id = {student_id!r}")
    path = person.home / ".jupyter" / "nbgrader_config.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _instructor_copy(dest: Path) -> Path:
    """The instructor's private course: A0's solution and release, the autograder, the course config
    (with nbgrader's late penalty), and an empty course root."""
    for rel in (f"solutions/{A}", f"assignments/{A}", "autograder"):
        shutil.copytree(REPO / rel, dest / rel, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    (dest / "course").mkdir()
    config = (REPO / "course" / "nbgrader_config.py").read_text()
    (dest / "course" / "nbgrader_config.py").write_text(
        config + "\n# This course's late policy (nbgrader's plugin): a late submission scores zero.\n"
                 'c.LateSubmissionPlugin.penalty_method = "zero"\n')
    return dest


# ----------------------------------------------------------------------------- the probe
PROBE = r"""
import json, os, sys
readable, listable = [], []
for p in json.loads(sys.argv[1]):
    try:
        if os.path.isdir(p):
            os.listdir(p); listable.append(p)
        else:
            open(p, 'rb').read(1); readable.append(p)
    except OSError:
        pass
print(json.dumps({"readable": readable, "listable": listable}))
"""


def _probe(term: Term, role: str, paths: list[Path]) -> dict:
    proc = term.run(role, "-c", PROBE, json.dumps([str(p) for p in paths]))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _penalties(db: Path) -> dict:
    """Per student: (late seconds > 0, late penalty, auto score) from the course gradebook."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{db}") as gb:
        for sub in gb.assignment_submissions(A):
            nb = sub.notebooks[0]
            out[sub.student.id] = (sub.total_seconds_late > 0, nb.late_submission_penalty, nb.score)
    return out


# ----------------------------------------------------------------------------- the term
@pytest.fixture
def term():
    if jail.available():
        pytest.skip(f"no grading sandbox on this machine: {jail.available()}")
    if ROOT and (shutil.which("useradd") is None or shutil.which("setpriv") is None):
        pytest.skip("running as root needs useradd and setpriv to act as separate students")
    base = Path(tempfile.mkdtemp(prefix="effnn-term-"))
    os.chmod(base, 0o711)  # everyone may pass through to their own folder; nobody lists it
    t = Term(base)
    try:
        yield t
    finally:
        t.remove_users()
        shutil.rmtree(base, ignore_errors=True)


def test_a_term_through_the_exchange(term):
    tag = secrets.token_hex(3)
    term.exchange.mkdir()
    os.chmod(term.exchange, 0o1777)  # as the README says for Exchange.root
    (term.base / "home").mkdir()
    os.chmod(term.base / "home", 0o711)
    teacher = term.add("instructor", f"effnn{tag}t")
    students = {role: term.add(role, f"effnn{tag}{role[-1]}") for role in ("s1", "s2", "s3")}
    for role, person in term.people.items():
        _exchange_config(person, term.exchange, None if ROOT or role == "instructor" else person.name)
    repo = _instructor_copy(teacher.home / "effnn")
    course = repo / "course"
    for person in term.people.values():
        term.give(person, person.home, 0o700)
    private = {"PYTHONPATH": str(repo)}  # the instructor's own copy of autograder/ and solutions/

    # 1. The instructor releases A0.
    term.nbgrader("instructor", "release_assignment", A, cwd=course, env=private)

    # 2. The students fetch, answer and submit; s1 twice, s3 after the due date.
    def answer(role: str, solve: list[str]) -> bytes:
        fetched = students[role].home / "effnn" / A / f"{A}.ipynb"
        partial_submission(A, solve, fetched)
        term.give(students[role], fetched)
        return fetched.read_bytes()

    for role in students:
        term.nbgrader(role, "fetch_assignment", A)
        fetched = students[role].home / "effnn" / A / f"{A}.ipynb"
        assert fetched.read_bytes() == (REPO / "assignments" / A / f"{A}.ipynb").read_bytes()
        if ROOT:
            assert fetched.stat().st_uid == students[role].uid
    answer("s1", EXERCISES[:1])
    term.nbgrader("s1", "submit", A)
    s1_final = answer("s1", EXERCISES)
    term.nbgrader("s1", "submit", A)
    answer("s2", EXERCISES[:2])
    term.nbgrader("s2", "submit", A)
    due = dt.datetime.now(dt.timezone.utc)
    term.nbgrader("instructor", "db", "assignment", "add", A, f"--duedate={due:%Y-%m-%d %H:%M:%S.%f} UTC",
                  cwd=course, env=private)
    answer("s3", EXERCISES)
    term.nbgrader("s3", "submit", A)

    # 3. The instructor collects (the latest submission of each) and grades.
    inbound = sorted(p.name for p in (term.exchange / "effnn" / "inbound").iterdir())
    assert sum(n.startswith(students["s1"].name + "+") for n in inbound) == 2, inbound
    term.nbgrader("instructor", "collect", A, cwd=course, env=private)
    submitted = course / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == sorted(p.name for p in students.values())
    assert (submitted / students["s1"].name / A / f"{A}.ipynb").read_bytes() == s1_final
    out = teacher.home / "grades"
    term.run("instructor", "-m", "autograder.grade", A, str(submitted), "--course-root", str(course),
             "--out", str(out), "--cell-timeout=600", "--timeout=1200", cwd=repo, env=private, timeout=GRADE_S)
    results = json.loads((out / "results.json").read_text())
    by_role = {role: results[p.name] for role, p in students.items()}
    assert all(r["status"] == "graded" for r in by_role.values()), by_role
    full = by_role["s1"]["max"]
    assert by_role["s1"]["total"] == by_role["s3"]["total"] == full > 0  # s1's second submission counts
    assert 0 < by_role["s2"]["total"] < full

    # 4. Nothing of the instructor's, and no other student's work, is readable from a student's uid.
    #    The instructor's files are closed by their modes. In the exchange, nbgrader keeps the other
    #    students' submissions (and, below, feedback) in folders a student cannot list, under names
    #    nobody can guess (a random suffix; a hash of the submission's secret): those may be readable
    #    by their exact name, which only their owner and the instructor ever see.
    unguessable = {role: [term.exchange / "effnn" / "inbound" / name / f"{A}.ipynb" for name in inbound
                          if not name.startswith(p.name + "+")] for role, p in students.items()}
    for names in unguessable.values():
        assert all(len(Path(n).parent.name.split("+")[-1]) >= 12 for n in names), names
    _assert_private(term, students, unguessable, [
        repo / "solutions" / A / f"{A}.ipynb", repo / "autograder" / "checks" / f"{A}.py",
        course / "gradebook.db", course / "nbgrader_config.py", out / "results.json",
        *(submitted / p.name / A / f"{A}.ipynb" for p in students.values()),
        *(course / "autograded" / p.name / A / f"{A}.ipynb" for p in students.values()),
        *(course / "feedback" / p.name / A / f"{A}.html" for p in students.values()),
        teacher.home, course, submitted, term.exchange / "effnn" / "inbound"])

    # the grading command keeps what collect put beside each notebook (late penalty, feedback release)
    for p in students.values():
        for record in ("timestamp.txt", "submission_secret.txt"):
            assert (submitted / p.name / A / record).is_file(), (p.name, record)

    # 5. The late submission carries nbgrader's penalty in the gradebook; the others none.
    late = _penalties(course / "gradebook.db")
    assert late[students["s3"].name][0] and late[students["s3"].name][1] == pytest.approx(full), late
    for role in ("s1", "s2"):
        assert not late[students[role].name][0] and not late[students[role].name][1], late

    # 6. Feedback goes back through the exchange; each student fetches their own, and only theirs.
    term.nbgrader("instructor", "release_feedback", A, cwd=course, env=private)
    pages = {}
    for role, person in students.items():
        term.nbgrader(role, "fetch_feedback", A)
        got = sorted((person.home / "effnn" / A / "feedback").rglob("*.html"))
        assert len(got) == 1, (role, got)  # s1's first submission was never graded: no page for it
        pages[role] = got[0].read_bytes()
        own = (course / "feedback" / person.name / A / f"{A}.html").read_bytes()
        assert pages[role] == own, role
    assert len(set(pages.values())) == 3
    released = sorted((term.exchange / "effnn" / "feedback").iterdir())
    assert len(released) == 3
    others_pages = {role: [f for f in released if f.read_bytes() != pages[role]] for role in students}
    assert all(len(v) == 2 for v in others_pages.values())
    _assert_private(term, students, others_pages,
                    [term.exchange / "effnn" / "feedback", *(p.home / "effnn" / A / "feedback" for p in students.values())],
                    own_ok=True)


def _assert_private(term: Term, students: dict, by_name: dict, paths: list[Path], own_ok: bool = False) -> None:
    """From each student's uid: none of ``paths`` (nor another student's home) can be read or listed,
    and of ``by_name[role]`` (files behind an unlistable folder and an unguessable name) only those."""
    if not ROOT:
        return  # one Unix user cannot be kept from its own files
    for role, person in students.items():
        others = [p for r, p in students.items() if r != role]
        mine = [p for p in paths if own_ok and person.home in p.parents]
        closed = [p for p in paths if p not in mine] + [
            *(p.home for p in others), *(p.home / "effnn" / A / f"{A}.ipynb" for p in others)]
        seen = _probe(term, role, closed + by_name.get(role, []))
        assert seen["listable"] == [] and set(seen["readable"]) <= {str(p) for p in by_name.get(role, [])}, \
            (role, seen)
        if mine:
            assert _probe(term, role, mine)["listable"], (role, mine)  # their own feedback stays theirs
        own = _probe(term, role, [term.exchange / "effnn" / "outbound" / A / f"{A}.ipynb",
                                  person.home / "effnn" / A / f"{A}.ipynb"])
        assert len(own["readable"]) == 2, (role, own)  # the release and their own work stay readable
