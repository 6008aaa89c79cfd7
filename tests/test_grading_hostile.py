"""The grading command against hostile and broken A0 submissions.

One class of 17 submissions is graded in a single parallel run; every submission must end with the
right status and score, and the honest ones must be graded normally beside the hostile ones.
"""
import copy
import json
from pathlib import Path

import pytest

from autograder.grade import grade_folder, grade_notebook
from autograder.release import REPO, SOLUTIONS
from autograder.settings import limits_for
from autograder.simulate import reference_answer

A = "a0_warmup"
FULL = 13.0


def _base() -> dict:
    """The reference solution without its ungraded demo section (keeps the class fast)."""
    nb = json.loads((SOLUTIONS / A / f"{A}.ipynb").read_text())
    last_graded = max(i for i, c in enumerate(nb["cells"]) if c["metadata"].get("nbgrader", {}).get("grade"))
    nb["cells"] = nb["cells"][: last_graded + 1]
    for c in nb["cells"]:
        src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        if c["metadata"].get("nbgrader", {}).get("solution"):
            c["source"] = reference_answer(src)  # as a student sees and fills it: no markers
    return nb


def _code(src):
    return {"cell_type": "code", "metadata": {}, "source": src, "outputs": [], "execution_count": None}


def _gid(cell):
    return cell["metadata"].get("nbgrader", {}).get("grade_id")


def _set(nb, gid, src):
    next(c for c in nb["cells"] if _gid(c) == gid)["source"] = src
    return nb


def _insert_after_setup(nb, src):
    nb["cells"].insert(2, _code(src))
    return nb


WRONG_MASK = "def magnitude_mask(weight, amount):\n    return torch.ones_like(weight)\n"
HARDCODED_MASK = """
def magnitude_mask(weight, amount):
    visible = torch.tensor([[0.5, -0.1, 2.0], [-3.0, 0.05, 1.0]])
    if weight.shape == visible.shape and torch.equal(weight, visible) and amount == 0.5:
        return torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    if amount >= 1.0:
        raise ValueError("amount")
    return torch.ones_like(weight)
"""
MONKEYPATCH = """
import torch
import effnn.grading
effnn.grading.judge = lambda *a, **k: print("hidden checks passed")  # the cell looks green...
torch.equal = lambda a, b: True
AssertionError = type("AssertionError", (Exception,), {})
"""
FAKE_JUDGE = """
import os, socket, threading, effnn.grading as g
path = os.path.join(os.getcwd(), "fake.sock")
srv = socket.socket(socket.AF_UNIX); srv.bind(path); srv.listen(8)
def serve():
    while True:
        c, _ = srv.accept()
        g.recv(c); g.send(c, {"op": "done", "passed": True, "message": "passed"})
threading.Thread(target=serve, daemon=True).start()
os.environ["EFFNN_JUDGE"] = path
"""
#: every answer cell tries to take the reference from the instructor's files
STEAL = """
import json, pathlib, sys, effnn
found = []
for root in [pathlib.Path(effnn.__file__).resolve().parents[2], *map(pathlib.Path, sys.path)]:
    for rel in ("solutions/a0_warmup/a0_warmup.ipynb", "autograder/checks/a0_warmup.py"):
        if (root / rel).exists():
            found.append(root / rel)
for path in found:
    print((path).read_text()[:100000])  # would land in the feedback page
    if path.suffix == ".ipynb":
        for c in json.loads(path.read_text())["cells"]:
            if c["metadata"].get("nbgrader", {}).get("solution"):
                exec("".join(c["source"]))
try:
    from autograder.checks.a0_warmup import _reference_mask
    magnitude_mask = _reference_mask
except Exception as exc:
    print("no reference:", exc)
"""
SURVIVOR = """
import subprocess
subprocess.Popen(["sh", "-c", "sleep 31337"], start_new_session=True)
"""


def put_submission(subs: Path, expected: dict, student: str, nb, status="graded", score=FULL,
                   name=f"{A}.ipynb") -> None:
    """Write one student's notebook (a dict, or raw text for a malformed one) into the submission
    folder, and record the status and score the grader must give it."""
    path = subs / student / A / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nb if isinstance(nb, str) else json.dumps(nb))
    expected[student] = (status, score)


def _class(subs: Path, outside: list[Path]) -> dict:
    """Write the class's submissions; return {student: (expected status, expected score)}."""
    expected = {}

    def put(*args, **kwargs):
        put_submission(subs, expected, *args, **kwargs)

    base = _base()
    put("honest", base)
    put("raises_extra", base | {"cells": base["cells"] + [_code("raise RuntimeError('boom')")]})
    put("raises_in_answer", _set(copy.deepcopy(base), "linear_cost",
                                 "def linear_cost(*a, **k):\n    raise ValueError('oops')"), score=FULL - 3)
    put("endless_loop", _insert_after_setup(copy.deepcopy(base), "while True:\n    pass"))
    put("sys_exit", _insert_after_setup(copy.deepcopy(base), "import sys\nsys.exit(3)"))
    put("os_exit", _insert_after_setup(copy.deepcopy(base), "import os\nos._exit(0)"), "crashed", 0)
    put("segfault", _insert_after_setup(copy.deepcopy(base), "import ctypes\nctypes.string_at(0)"), "crashed", 0)
    put("memory_blowup", _insert_after_setup(copy.deepcopy(base), "hog = bytearray(64 * 2**30)"))
    nb = copy.deepcopy(base)
    nb["cells"] = [c for c in nb["cells"] if _gid(c) != "test_global_masks"]
    put("deleted_test_cell", nb, score=FULL - 4)
    nb = copy.deepcopy(base)
    nb["cells"] = [c for c in nb["cells"] if _gid(c) != "apply_masks"]
    put("deleted_answer_cell", nb, score=FULL - 2)
    nb = _set(copy.deepcopy(base), "magnitude_mask", WRONG_MASK)
    for c in nb["cells"]:
        if c["metadata"].get("nbgrader", {}).get("grade"):
            c["source"] = "pass"
    put("emptied_tests", nb, score=0)  # every test cell was edited: all zeroed and flagged
    put("hardcoded", _set(copy.deepcopy(base), "magnitude_mask", HARDCODED_MASK), score=3)
    nb = _set(copy.deepcopy(base), "magnitude_mask", HARDCODED_MASK)
    put("monkeypatch", _insert_after_setup(nb, MONKEYPATCH), score=0)  # no check reached the judge
    nb = _set(copy.deepcopy(base), "magnitude_mask", HARDCODED_MASK)
    put("fake_judge", _insert_after_setup(nb, FAKE_JUDGE), score=0)
    nb = copy.deepcopy(base)
    for c in nb["cells"]:
        if c["metadata"].get("nbgrader", {}).get("solution"):
            c["source"] = STEAL
    put("steals_reference", nb, score=0)
    put("leaves_a_process", _insert_after_setup(copy.deepcopy(base), SURVIVOR))
    nb = copy.deepcopy(base)
    cell = next(c for c in nb["cells"] if _gid(c) == "magnitude_mask")
    cell["source"] = cell["source"].replace("def magnitude_mask(weight, amount):",
                                            "SEEN = []\ndef magnitude_mask(weight, amount):\n    print('LE' + 'AKED', weight)\n"
                                            "    SEEN.append(weight)", 1)
    nb["cells"].append(_code("print('LE' + 'AKED', SEEN)"))
    put("leaks_inputs", nb)
    put("huge_output", _insert_after_setup(copy.deepcopy(base), "print('x' * 30_000_000)"))
    put("malformed", "{ this is not json", "malformed", 0)
    put("wrong_name", base, name="my_homework.ipynb")
    (subs / "missing" / A).mkdir(parents=True)
    expected["missing"] = ("missing", 0)
    writes = "\n".join(f"try:\n    open({str(p)!r}, 'w').write('pwned')\nexcept Exception:\n    pass" for p in outside)
    put("writes_outside", _insert_after_setup(copy.deepcopy(base), writes + "\nimport os\nos.makedirs('../../../../escape', exist_ok=True)"))
    return expected


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    subs, out = root / "submitted", root / "out"
    outside = [REPO / "assignments" / A / "pwned.txt", subs / "honest" / A / "pwned.txt", out / "pwned.txt"]
    expected = _class(subs, outside)
    limits = limits_for(A, cell_timeout=20, submission_timeout=150, memory_mb=6144)  # A0's own threads
    results = grade_folder(A, subs, out, jobs=2, limits=limits, progress=False)
    return {r["student"]: r for r in results}, expected, out, outside


@pytest.mark.slow
def test_every_submission_gets_its_status_and_score(graded):
    by, expected, _, _ = graded
    assert set(by) == set(expected)
    wrong = {s: (by[s]["status"], by[s]["total"], by[s]["note"]) for s, (st, sc) in expected.items()
             if by[s]["status"] != st or by[s]["total"] != sc}
    assert not wrong, f"unexpected results: {wrong}"


@pytest.mark.slow
def test_notes_explain_what_happened(graded):
    by, _, _, _ = graded
    assert "cell limit" in by["endless_loop"]["note"]
    assert "kernel died" in by["os_exit"]["note"] and "kernel died" in by["segfault"]["note"]
    assert "not a valid notebook" in by["malformed"]["note"]
    assert "my_homework.ipynb" in by["wrong_name"]["note"]
    assert "no notebook" in by["missing"]["note"]
    assert "test cell test_global_masks was removed" in by["deleted_test_cell"]["note"]
    assert "flagged for review" in by["emptied_tests"]["note"] and by["emptied_tests"]["flagged"]
    assert "output over the limit" in by["huge_output"]["note"]
    assert "retried" in by["os_exit"]["note"]
    assert "never reached the judge" in by["monkeypatch"]["note"]
    assert "never reached the judge" in by["fake_judge"]["note"]


@pytest.mark.slow
def test_feedback_never_shows_hidden_checks(graded):
    _, _, out, _ = graded
    secrets = [line.strip() for line in (REPO / "autograder" / "checks" / "a0_warmup.py").read_text().splitlines()
               if line.strip().startswith(("def ", "gen = ", "shapes = "))]
    for page in (out / "feedback").glob("*.html"):
        text = page.read_text()
        assert not [s for s in secrets if s in text], page.name
        assert "BEGIN SOLUTION" not in text and "### BEGIN HIDDEN TESTS" not in text
        assert "LEAKED" not in text, page.name  # what the judge sent is never echoed back


@pytest.mark.slow
def test_nothing_a_submission_starts_outlives_it(graded):
    alive = []
    for proc in Path("/proc").iterdir():
        try:
            if b"31337" in (proc / "cmdline").read_bytes():
                alive.append(proc.name)
        except OSError:
            continue
    assert not alive


@pytest.mark.slow
def test_writes_outside_the_sandbox_are_blocked(graded):
    _, _, _, outside = graded
    assert not any(p.exists() for p in outside)


@pytest.mark.slow
def test_csv_has_one_row_per_student_and_rerun_is_idempotent(graded, tmp_path):
    by, expected, out, _ = graded
    rows = (out / "grades.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + len(expected)
    before = json.loads((out / "results.json").read_text())
    # re-running on the same folder regrades nothing and changes no grade
    subs = next(iter(p for p in out.parent.iterdir() if p.name == "submitted"))
    again = grade_folder(A, subs, out, jobs=2, limits=limits_for(A, cell_timeout=20, submission_timeout=150), progress=False)
    assert all(r.get("_unchanged") for r in again)
    after = json.loads((out / "results.json").read_text())
    assert {k: v["total"] for k, v in before.items()} == {k: v["total"] for k, v in after.items()}


@pytest.mark.slow
def test_whole_submission_time_limit(tmp_path):
    nb = _insert_after_setup(_base(), "import time\ntime.sleep(10_000)")
    path = tmp_path / "slow.ipynb"
    path.write_text(json.dumps(nb))
    res = grade_notebook(A, path, tmp_path / "g", limits=limits_for(A, cell_timeout=14, submission_timeout=15))
    assert res["status"] == "timed_out" and res["total"] == 0, res
    assert "15 s" in res["note"]
