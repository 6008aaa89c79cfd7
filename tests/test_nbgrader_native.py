"""nbgrader's own `autograde` (what Formgrader's Autograde button runs) grades through the judge and
the sandbox, and refuses, scoring nothing, where no sandbox can be built."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder.release import REPO, SOLUTIONS, tool_path, write_root_config

A = "a0_warmup"


def _course(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    write_root_config(root)
    target = root / "submitted" / "alice" / A
    target.mkdir(parents=True)
    shutil.copy2(SOLUTIONS / A / f"{A}.ipynb", target / f"{A}.ipynb")
    return root


def _nbgrader(root: Path, *args, path: str | None = None):
    env = {**os.environ, "PYTHONPATH": str(REPO), "PATH": path or tool_path(os.environ.get("PATH"))}
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=600)


def _scores(root: Path):
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        try:
            nb = gb.find_submission_notebook(A, A, "alice")
        except Exception:
            return None
        return {g.name: (g.auto_score, g.max_score) for g in nb.grades}


@pytest.mark.slow
def test_nbgrader_autograde_gives_the_solution_full_marks(tmp_path):
    root = _course(tmp_path)
    rel = tmp_path / "release"
    assert _nbgrader(root, "generate_assignment", A, "--force", f"--CourseDirectory.release_directory={rel}").returncode == 0
    proc = _nbgrader(root, "autograde", A, "--force")
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores = _scores(root)
    assert scores and all(auto == top > 0 for auto, top in scores.values()), scores


@pytest.mark.slow
def test_nbgrader_autograde_refuses_without_a_sandbox(tmp_path):
    root = _course(tmp_path)
    rel = tmp_path / "release"
    assert _nbgrader(root, "generate_assignment", A, "--force", f"--CourseDirectory.release_directory={rel}").returncode == 0
    # a PATH without util-linux's unshare: the sandbox cannot be built
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("jupyter", "alembic"):
        src = Path(sys.executable).parent / tool
        if src.exists():
            (bare / tool).symlink_to(src)
    proc = _nbgrader(root, "autograde", A, "--force", path=str(bare))
    assert "refusing to autograde" in proc.stdout + proc.stderr
    assert "python -m autograder.grade" in proc.stdout + proc.stderr
    scores = _scores(root)
    assert scores is None or all(auto is None for auto, _ in scores.values()), scores


FORMGRADER_BUTTON = """
from nbgrader.apps.api import NbGraderAPI
from nbgrader.apps.baseapp import NbGrader
from nbgrader.auth import Authenticator
from nbgrader.coursedir import CourseDirectory

app = NbGrader()
app.load_config_file()  # the course root's nbgrader_config.py, as Formgrader loads it
api = NbGraderAPI(CourseDirectory(parent=app), Authenticator(parent=app), parent=app)
result = api.autograde("a0_warmup", "alice")
print("SUCCESS", result["success"])
"""


@pytest.mark.slow
def test_formgraders_autograde_button_grades_through_the_judge(tmp_path):
    """What Formgrader's Autograde button calls (NbGraderAPI.autograde, in the server's process)."""
    root = _course(tmp_path)
    rel = tmp_path / "release"
    assert _nbgrader(root, "generate_assignment", A, "--force", f"--CourseDirectory.release_directory={rel}").returncode == 0
    env = {**os.environ, "PYTHONPATH": str(REPO), "PATH": tool_path(os.environ.get("PATH"))}
    proc = subprocess.run([sys.executable, "-c", FORMGRADER_BUTTON], cwd=root, env=env, capture_output=True,
                          text=True, timeout=600)
    assert "SUCCESS True" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-3000:]
    scores = _scores(root)
    assert scores and all(auto == top > 0 for auto, top in scores.values()), scores
