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


INSTRUCTOR_LAB = ("@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:course-list")
INSTRUCTOR_SERVER = ("nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list")


def _disabled(config_dir, monkeypatch):
    """(lab plugins, server extensions) that JupyterLab started with this config folder switches off."""
    from jupyter_core.paths import jupyter_config_path
    from jupyter_server.extension.config import ExtensionConfigManager
    from jupyterlab_server.config import get_static_page_config

    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(config_dir))
    assert jupyter_config_path()[0] == str(config_dir)
    lab = {k for k, v in get_static_page_config(level="all").get("disabledExtensions", {}).items() if v}
    server = {k for k, v in ExtensionConfigManager(read_config_path=jupyter_config_path())
              .get_jpserver_extensions().items() if not v}
    return lab, server


def test_bundle_ships_the_student_lab_settings(bundle, tmp_path, monkeypatch):
    zipfile.ZipFile(bundle).extractall(tmp_path)
    config = tmp_path / "effnn-course" / "jupyter-config"
    assert (config / "labconfig" / "page_config.json").is_file()
    lab, server = _disabled(config, monkeypatch)
    assert set(INSTRUCTOR_LAB) | {"@jupyter/nbgrader:assignment-list"} <= lab
    assert set(INSTRUCTOR_SERVER) | {"nbgrader.server_extensions.assignment_list"} <= server
    readme = zipfile.ZipFile(bundle).read("effnn-course/README.md").decode()
    assert "JUPYTER_CONFIG_PATH" in readme and "jupyter-config" in readme


def test_hub_students_keep_the_assignment_list(monkeypatch):
    from autograder.release import REPO

    lab, server = _disabled(REPO / "course" / "jupyterhub" / "student", monkeypatch)
    assert set(INSTRUCTOR_LAB) <= lab and "@jupyter/nbgrader:assignment-list" not in lab
    assert set(INSTRUCTOR_SERVER) <= server and "nbgrader.server_extensions.assignment_list" not in server
    hub = (REPO / "course" / "jupyterhub" / "jupyterhub_config.py").read_text()
    assert "JUPYTER_CONFIG_PATH" in hub


def _fake_book(folder):
    from tools.book import MARKER

    (folder / "lectures").mkdir(parents=True)
    (folder / MARKER).write_text("built\n")
    (folder / "index.html").write_text("<html>the course book</html>")
    (folder / "lectures" / "00_motivation.html").write_text("<html>lecture 00</html>")
    return folder


def test_bundle_can_include_the_built_book(tmp_path):
    book = _fake_book(tmp_path / "book")
    zf = zipfile.ZipFile(build(tmp_path / "with-book.zip", book=book))
    names = zf.namelist()
    assert "effnn-course/book/index.html" in names and "effnn-course/book/lectures/00_motivation.html" in names
    assert not any(n.endswith(".effnn-book") for n in names)
    assert "book/index.html" in zf.read("effnn-course/README.md").decode()
    plain = zipfile.ZipFile(build(tmp_path / "plain.zip"))
    assert not any(n.startswith("effnn-course/book/") for n in plain.namelist())
    assert "book/index.html" not in plain.read("effnn-course/README.md").decode()


def test_bundle_refuses_a_folder_that_is_not_a_built_book(tmp_path, monkeypatch, capsys):
    from autograder.bundle import main

    (tmp_path / "notabook").mkdir()
    (tmp_path / "notabook" / "index.html").write_text("<html>something else</html>")
    with pytest.raises(FileNotFoundError, match="make book"):
        build(tmp_path / "x.zip", book=tmp_path / "notabook")
    monkeypatch.setenv("BOOK", str(tmp_path / "missing"))  # what `make student-bundle BOOK=...` passes
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path / "y.zip")])
    assert exc.value.code == 2 and "missing" in capsys.readouterr().err
    assert not (tmp_path / "x.zip").exists() and not (tmp_path / "y.zip").exists()
