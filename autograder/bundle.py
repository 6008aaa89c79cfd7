"""Build the student bundle: lectures, the release notebooks, the effnn library and the lab settings.

    python -m autograder.bundle --out out/effnn-student.zip [--book out/book]

Solutions, hidden checks, the grading command and the nbgrader course config stay out. The bundle
installs with the same two steps as the course (pinned torch first, then the package). ``--book``
(or ``make student-bundle BOOK=out/book``) adds the course book built by ``make book`` as ``book/``,
for reading without installing anything.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from .release import REPO

INCLUDE = ["lectures", "assignments", "course/effnn", "pyproject.toml", "environment.yml", "LICENSE"]
# The student's Jupyter settings (the same folder `make lab` uses), shipped as jupyter-config/: no
# instructor tools (Create Assignment, Formgrader, Course List) and no Assignment List, which needs a
# hub's exchange. They matter where nbgrader is installed too (conda's environment.yml installs it).
STUDENT_CONFIG = "course/jupyterhub/student-local"
STUDENT_CONFIG_DEST = "jupyter-config"
EXCLUDED_PARTS = {"__pycache__", ".ipynb_checkpoints"}

STUDENT_README = """# effnn: student bundle

Lectures are in `lectures/`, assignments in `assignments/`. To set up (Python 3.11):

    python3 -m venv .venv
    .venv/bin/pip install torch==2.13.0        # first, pinned: the CPU build
    .venv/bin/pip install -e .                 # the effnn library and Jupyter
    JUPYTER_CONFIG_PATH="$PWD/jupyter-config" .venv/bin/jupyter lab    # add --allow-root as root

Leave torchvision out on a pip install (its PyPI wheel needs CUDA and breaks transformers);
conda users: `conda env create -f environment.yml`.

JUPYTER_CONFIG_PATH points JupyterLab at this bundle's settings (`jupyter-config/`). Figures show
inline; if none appear, unset MPLBACKEND before starting JupyterLab.

Start with `lectures/00_motivation.ipynb`. Assignments are the notebooks in `assignments/`: your
instructor hands them out with this bundle (or through the course's JupyterHub, whose Assignment List
fetches and submits them). In an assignment, replace each `raise NotImplementedError()` with your code
and run the test cell right after it. Before you submit: Kernel -> Restart Kernel and Run All Cells…,
then save. More checks run when it is graded.
Set EFFNN_FAST=1 for quicker (smaller) trainings while you develop.
"""


def tracked_files() -> list[Path]:
    """Files under INCLUDE that git tracks (so local caches and outputs never ship)."""
    out = subprocess.run(["git", "ls-files", "-z", "--", *INCLUDE, STUDENT_CONFIG], cwd=REPO, capture_output=True,
                         check=True)
    files = [REPO / p for p in out.stdout.decode().split("\0") if p]
    return [f for f in files if f.is_file() and not (EXCLUDED_PARTS & set(f.parts))]


BOOK_README = """
The course book is in `book/`: open `book/index.html` in a browser (every lecture executed, with its
figures, and the assignments' statements); nothing needs installing to read it.
"""


def book_files(book: Path) -> list[Path]:
    """The built site's files; a clear error when ``book`` is not a site built by ``make book``."""
    from tools.book import MARKER

    book = Path(book)
    if not (book / "index.html").is_file() or not (book / MARKER).is_file():
        raise FileNotFoundError(f"book={str(book)!r} is not a course book built by `make book` "
                                f"(no index.html and {MARKER} there); run `make book` first")
    return sorted(p for p in book.rglob("*") if p.is_file() and p.name != MARKER)


def build(dest: Path, book: Path | None = None) -> Path:
    """Write the bundle to ``dest``; with ``book``, the built course book goes in as ``book/``."""
    extra = book_files(book) if book is not None else []
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in tracked_files():
            rel = f.relative_to(REPO)
            if rel.is_relative_to(STUDENT_CONFIG):
                rel = STUDENT_CONFIG_DEST / rel.relative_to(STUDENT_CONFIG)
            zf.write(f, Path("effnn-course") / rel)
        for f in extra:
            zf.write(f, Path("effnn-course") / "book" / f.relative_to(book))
        zf.writestr("effnn-course/README.md", STUDENT_README + (BOOK_README if extra else ""))
    return dest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "effnn-student.zip")
    parser.add_argument("--book", type=Path, default=os.environ.get("BOOK") or None,
                        help="include this built course book (make book: out/book) as book/; "
                             "default: $BOOK, which `make student-bundle BOOK=out/book` sets")
    args = parser.parse_args(argv)
    try:
        path = build(args.out, book=args.book)
    except FileNotFoundError as exc:
        parser.error(str(exc))
    with zipfile.ZipFile(path) as zf:
        n = len(zf.namelist())
    print(f"wrote {path} ({n} files, {path.stat().st_size / 2**20:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
