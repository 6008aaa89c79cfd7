"""Grading merges into an nbgrader course root: Formgrader sees every submission, manual grades
entered there (through nbgrader's Gradebook API, as Formgrader does) reach the exports and survive
an unchanged regrade; a changed submission loses them to history and is flagged."""
import csv
import json
import shutil

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.grade import grade_folder, refresh
from autograder.release import SOLUTIONS, write_root_config

A = "a2_binarized_nn"
WRITTEN = "written_58x"


def _grade(subs, out, course, force=False):
    return {r["student"]: r for r in grade_folder(A, subs, out, jobs=1, force=force, progress=False,
                                                   course_root=course)}


def _csv(out):
    with (out / "grades.csv").open() as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("formgrader")
    course, subs, out = tmp / "course", tmp / "submitted", tmp / "out"
    write_root_config(course)
    (subs / "alice" / A).mkdir(parents=True)
    shutil.copy2(SOLUTIONS / A / f"{A}.ipynb", subs / "alice" / A / f"{A}.ipynb")
    return course, subs, out, _grade(subs, out, course)


@pytest.mark.slow
def test_course_root_holds_what_formgrader_reads(graded):
    course, _, out, by = graded
    assert by["alice"]["status"] == "graded" and by["alice"]["needs_manual"], by["alice"]
    assert (course / "autograded" / "alice" / A / f"{A}.ipynb").exists()
    assert (course / "submitted" / "alice" / A / f"{A}.ipynb").exists()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        sub = gb.find_submission(A, "alice")
        assert sub.needs_manual_grade
        auto = sum(g.auto_score or 0 for g in gb.find_submission_notebook(A, A, "alice").grades)
    assert auto == by["alice"]["total"] > 0
    assert _csv(out)["alice"]["needs_manual"] == "1"


@pytest.mark.slow
def test_manual_grades_reach_the_exports_and_survive_a_regrade(graded):
    course, subs, out, by = graded
    before = by["alice"]["total"]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        grade = gb.find_grade(WRITTEN, A, A, "alice")
        grade.manual_score = grade.max_score
        grade.needs_manual_grade = False
        gb.find_comment(WRITTEN, A, A, "alice").manual_comment = "Clear and complete."
        gb.db.commit()
        points = grade.max_score
    refreshed = {r["student"]: r for r in refresh(A, out, course)}
    assert refreshed["alice"]["total"] == before + points
    row = _csv(out)["alice"]
    assert float(row["total"]) == before + points and row["needs_manual"] == "0"
    assert "Clear and complete." in row["comments"]
    assert "Clear and complete." in (out / "feedback" / "alice.html").read_text()
    # an unchanged submission regraded keeps its manual grade and comment
    again = _grade(subs, out, course, force=True)
    assert again["alice"]["total"] == before + points
    assert json.loads((out / "results.json").read_text())["alice"]["comments"][WRITTEN] == "Clear and complete."


@pytest.mark.slow
def test_formgrader_shows_the_written_answer_in_a_browser(graded, tmp_path):
    """Formgrader's manual-grading page of one graded submission, in Debian's Chromium."""
    import os
    import secrets
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    from test_browser_lab import CHROMIUM, _free_port, _lab_settings, browser_page, sync_playwright

    if CHROMIUM is None or sync_playwright is None:
        pytest.skip("no Chromium/Playwright on this machine: `make browser` installs them")
    course = graded[0]
    port, token = _free_port(), secrets.token_hex(16)
    env = {**{k: v for k, v in os.environ.items() if k != "MPLBACKEND"}, "JUPYTER_PORT": str(port),
           "JUPYTER_TOKEN": token, "JUPYTERLAB_SETTINGS_DIR": str(_lab_settings(tmp_path / "settings"))}
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--ServerApp.root_dir={course.parent}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = tmp_path / "lab.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=course, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                with urllib.request.urlopen(f"{url}/formgrader/api/submitted_notebooks/{A}/{A}?token={token}",
                                            timeout=10) as r:
                    notebooks = json.load(r)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(1)
        alice = next(n for n in notebooks if n["student"] == "alice")
        with browser_page(tmp_path) as page:
            page.goto(f"{url}/formgrader/submissions/{alice['id']}/?index=0&token={token}")
            page.get_by_text("The 32× memory is 32-bit floats").first.wait_for()
            assert page.locator("input.score").count() >= 1  # where the instructor types the points
            page.screenshot(path=str(tmp_path / "manual_grading.png"), full_page=True)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


@pytest.mark.slow
def test_changed_submission_is_flagged_and_loses_its_manual_grade(graded):
    course, subs, out, _ = graded
    path = subs / "alice" / A / f"{A}.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("print('a late change')"))
    nbformat.write(nb, str(path))
    by = _grade(subs, out, course)
    assert "flagged for review" in by["alice"]["note"] and by["alice"]["flagged"]
    assert by["alice"]["needs_manual"]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert gb.find_grade(WRITTEN, A, A, "alice").manual_score is None
        assert gb.find_submission_notebook(A, A, "alice").flagged
    history = list((out / "history" / "alice").rglob("result.json"))
    assert any(json.loads(p.read_text())["cells"][WRITTEN]["score"] > 0 for p in history)
