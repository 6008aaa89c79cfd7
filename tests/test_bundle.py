"""The student bundle holds lectures, the release and effnn, and nothing for instructors only."""
import subprocess
import sys
import zipfile

import pytest

from autograder.bundle import build


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return build(tmp_path_factory.mktemp("bundle") / "student.zip")


def test_bundle_contents(bundle):
    names = zipfile.ZipFile(bundle).namelist()
    assert "effnn-course/README.md" in names and "effnn-course/pyproject.toml" in names
    assert "effnn-course/course/effnn/__init__.py" in names
    assert "effnn-course/lectures/00_motivation.ipynb" in names
    assert "effnn-course/assignments/a0_warmup/a0_warmup.ipynb" in names
    for forbidden in ("solutions/", "autograder/", "nbgrader_config.py", "tests/", "gradebook.db", ".venv/"):
        assert not any(forbidden in n for n in names), forbidden


def test_bundle_leaks_no_solution_or_hidden_check(bundle):
    zf = zipfile.ZipFile(bundle)
    for name in zf.namelist():
        if name.endswith((".ipynb", ".py", ".md")):
            text = zf.read(name).decode("utf-8", "replace")
            for leak in ("BEGIN HIDDEN TESTS", "### BEGIN SOLUTION", "from autograder", "import autograder"):
                assert leak not in text, f"{name} contains {leak!r}"


@pytest.mark.slow
def test_bundle_builds_an_installable_effnn(bundle, tmp_path):
    zipfile.ZipFile(bundle).extractall(tmp_path)
    root = tmp_path / "effnn-course"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", ".",
                    "-w", str(tmp_path / "dist")], cwd=root, check=True)
    wheel = next((tmp_path / "dist").glob("effnn-*.whl"))
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    code = "import effnn, effnn.data as d; x, y = d.digits('test'); print(effnn.__file__, x.shape)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"}, check=True)
    assert str(tmp_path / "site") in out.stdout and "torch.Size([300, 1, 8, 8])" in out.stdout
