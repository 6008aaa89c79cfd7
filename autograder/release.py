"""Regenerate the student release (``assignments/``) from the instructor notebooks (``solutions/``).

    python -m autograder.release            # every assignment
    python -m autograder.release a0_warmup  # one

Runs ``nbgrader generate_assignment`` in a throw-away course root (so no gradebook is left in the
repository), then strips volatile metadata so that the release is byte-stable and diffable.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
ASSIGNMENTS = REPO / "assignments"


def assignment_names() -> list[str]:
    return sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and (p / f"{p.name}.ipynb").exists())


COURSE_CONFIG = REPO / "course" / "nbgrader_config.py"


def write_root_config(root: Path) -> Path:
    """An ``nbgrader_config.py`` in ``root`` that loads the course's and moves the root there.

    nbgrader reads its config from the working directory, so every throw-away course root (release
    builds, per-submission grading) gets this two-line file and runs with ``cwd=root``.
    """
    root.mkdir(parents=True, exist_ok=True)
    path = root / "nbgrader_config.py"
    path.write_text(f"c = get_config()  # noqa: F821\nload_subconfig({str(COURSE_CONFIG)!r})  # noqa: F821\n"
                    f"c.CourseDirectory.root = {str(root)!r}\n")
    return path


def nbgrader(*args: str, root: Path, extra: list[str] | None = None, timeout: float | None = None,
             **kwargs) -> subprocess.CompletedProcess:
    """Run an nbgrader subcommand with the course's config in the course root ``root``."""
    write_root_config(root)
    cmd = [sys.executable, "-m", "nbgrader", *args, *(extra or [])]
    env = kwargs.pop("env", None) or dict(os.environ)
    env["PATH"] = tool_path(env.get("PATH"))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=root, env=env, **kwargs)


def tool_path(path: str | None) -> str:
    """PATH with this interpreter's bin folder first: nbgrader shells out to ``alembic`` and ``jupyter``."""
    return os.pathsep.join(filter(None, [str(Path(sys.executable).parent), path]))


def normalize(path: Path) -> None:
    """Drop volatile metadata and outputs so a regenerated release is byte-identical.

    The result is what JupyterLab itself would save (nbformat 4.5, every cell with an id, the kernel's
    language_info, nbformat's JSON layout), so a notebook opens unmodified and saving it without an
    edit changes no byte. The lectures are normalized with it too. Cell ids come from the instructor notebook (nbgrader keeps them); a cell without one gets
    an id derived from its position and grade id, never a random one.
    """
    from ipykernel.ipkernel import IPythonKernel  # the course kernel's own language_info

    nb = json.loads(path.read_text())
    nb.get("metadata", {}).pop("widgets", None)
    # JupyterLab writes the kernel's language_info into the notebook when the kernel starts, and a
    # notebook that lacks it (or has another) is marked modified at once. The Python version in it is
    # this interpreter's, the one the course kernel runs.
    nb.setdefault("metadata", {})["language_info"] = dict(IPythonKernel.language_info)
    seen: set[str] = set()
    for i, cell in enumerate(nb["cells"]):
        cell.get("metadata", {}).pop("execution", None)
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cid = cell.get("id")
        if not cid or cid in seen:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
            cid = hashlib.sha1(f"{path.stem}:{i}:{grade_id}".encode()).hexdigest()[:8]
        seen.add(cid)
        cell["id"] = cid
        if isinstance(cell.get("source"), str):  # nbformat stores sources as lists of lines
            cell["source"] = cell["source"].splitlines(keepends=True)
    nb["nbformat"], nb["nbformat_minor"] = 4, 5
    path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def generate(name: str, dest: Path = ASSIGNMENTS) -> Path:
    """Generate the release of one assignment into ``dest/<name>`` and return that folder."""
    if not (SOLUTIONS / name / f"{name}.ipynb").exists():
        raise FileNotFoundError(f"no instructor notebook solutions/{name}/{name}.ipynb")
    with tempfile.TemporaryDirectory(prefix="effnn-release-") as tmp:
        tmp = Path(tmp)
        out = tmp / "release"
        proc = nbgrader("generate_assignment", name, "--force", root=tmp,
                        extra=[f"--CourseDirectory.release_directory={out}"])
        if proc.returncode != 0:
            raise RuntimeError(f"generate_assignment {name} failed:\n{proc.stdout}\n{proc.stderr}")
        target = dest / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(out / name, target)
    for nb in target.rglob("*.ipynb"):
        normalize(nb)
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="assignments to regenerate (default: all)")
    args = parser.parse_args(argv)
    for name in args.names or assignment_names():
        print(f"released {generate(name).relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
