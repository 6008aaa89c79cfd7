"""Find submissions: nbgrader's ``submitted/<student>/<assignment>/`` layout, or a flat LMS export.

A flat export holds ``<student>.ipynb`` files or ``<student>.zip`` archives. Zips are unpacked
safely: no absolute paths, no ``..``, bounded size. Each submission becomes a :class:`Submission`
whose ``notebook`` is ``None`` when nothing usable was found (``problem`` says why).
"""
from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

MAX_ZIP_BYTES = 200 * 2**20
_STUDENT_RE = re.compile(r"[^A-Za-z0-9_.@-]+")


@dataclass
class Submission:
    student: str
    notebook: Path | None
    problem: str = ""          # why there is no notebook, or a note about the one found
    origin: Path | None = None  # the file or folder it came from

    def digest(self) -> str:
        """sha256 of the notebook bytes (empty string when missing)."""
        if self.notebook is None or not self.notebook.is_file():
            return ""
        return hashlib.sha256(self.notebook.read_bytes()).hexdigest()


def safe_student_id(name: str) -> str:
    """A student id that is safe as a folder name and a CSV field."""
    cleaned = _STUDENT_RE.sub("_", name).strip("._") or "unnamed"
    return cleaned[:64]


def _pick_notebook(folder: Path, assignment: str) -> tuple[Path | None, str]:
    expected = folder / f"{assignment}.ipynb"
    if expected.is_file():
        return expected, ""
    notebooks = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if len(notebooks) == 1:
        return notebooks[0], f"notebook named {notebooks[0].name!r}, graded as {assignment}.ipynb"
    if not notebooks:
        return None, f"no notebook found (expected {assignment}.ipynb)"
    return None, f"{len(notebooks)} notebooks and none named {assignment}.ipynb"


def _unzip(archive: Path, dest: Path) -> str:
    """Extract ``archive`` into ``dest``; return a problem string ('' when fine)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
                return "zip archive too large when unpacked"
            for m in members:
                target = (dest / m.filename).resolve()
                if m.filename.startswith("/") or ".." in Path(m.filename).parts or \
                        not str(target).startswith(str(dest.resolve())):
                    return f"zip entry {m.filename!r} points outside the archive"
            zf.extractall(dest)
    except zipfile.BadZipFile:
        return "not a valid zip archive"
    return ""


def discover(source: Path, assignment: str, scratch: Path) -> list[Submission]:
    """All submissions of ``assignment`` under ``source`` (either layout)."""
    source = Path(source)
    if not source.is_dir():
        raise FileNotFoundError(f"submissions folder not found: {source}")
    subs: dict[str, Submission] = {}
    for entry in sorted(source.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():  # nbgrader layout: <student>/<assignment>/
            student = safe_student_id(entry.name)
            folder = entry / assignment
            if not folder.is_dir():
                subs[student] = Submission(student, None, f"no {assignment}/ folder in the submission", entry)
                continue
            nb, note = _pick_notebook(folder, assignment)
            subs[student] = Submission(student, nb, note, entry)
        elif entry.suffix == ".ipynb":
            student = safe_student_id(entry.stem)
            subs[student] = Submission(student, entry, "", entry)
        elif entry.suffix == ".zip":
            student = safe_student_id(entry.stem)
            dest = scratch / "unzipped" / student
            dest.mkdir(parents=True, exist_ok=True)
            problem = _unzip(entry, dest)
            if problem:
                subs[student] = Submission(student, None, problem, entry)
            else:
                nb, note = _pick_notebook(dest, assignment)
                subs[student] = Submission(student, nb, note, entry)
    return list(subs.values())
