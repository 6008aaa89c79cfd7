"""The course as a book: executed lectures and the assignments' statements, as one static website.

    python -m tools.book [--out out/book] [--work build/book] [--fast]

Why a book: students read the course on a phone or a tablet where nothing runs, and a committed
lecture has no outputs. This command executes every lecture in ``lectures/`` (default mode unless
``--fast``, fixed seeds, measured one after the other so each run time is the notebook's own), copies
the assignments' *release* notebooks (``assignments/*/*.ipynb``, never ``solutions/`` or
``autograder/``) unexecuted, writes a table of contents that follows the syllabus, and builds the
site with Jupyter Book 1 (Sphinx + MyST-NB, offline). The result is a plain folder of HTML: copy it
to any static web host.

Nothing is fetched from the network when the site is read: MathJax is bundled from a local copy
(``--mathjax DIR``, ``EFFNN_MATHJAX``, or the ``jupyter_server_mathjax`` package) or left out, in
which case formulas show as their TeX source; the widget JavaScript (a CDN) is left out and each
``interact`` cell shows the figure it drew for its default values instead.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import html
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).resolve().parent / "book"
SYLLABUS = REPO.parent / "shared" / "SYLLABUS.md"
MARKER = ".effnn-book"  # in every folder this command writes; it only ever replaces such a folder
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
# Settings that would change what a lecture computes or shows; the build sets its own.
CLEARED_ENV = ("EFFNN_FAST", "NBGRADER_EXECUTION", "EFFNN_DATA", "EFFNN_DATA_DIR", "MPLBACKEND")


# ----------------------------------------------------------------------------- what goes in the book
@dataclass
class Chapter:
    """One entry of the navigation: a lecture number (its notebooks) or an assignment."""
    key: str                      # "04" or "a1"
    title: str
    notebooks: list[Path] = field(default_factory=list)


def _first_heading(nb_path: Path) -> str:
    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if m:
                return m.group(1).strip()
    return nb_path.stem


def syllabus_titles(path: Path = SYLLABUS) -> dict[str, str]:
    """Titles from the syllabus: {"00": "Motivation", ..., "a0": "Warm-up", ...}; {} without it."""
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    titles = {}
    lectures = text.split("## Lectures", 1)[-1].split("\n## ", 1)[0]
    for m in re.finditer(r"^\|\s*(\d\d)\s*\|\s*([^|]+?)\s*\|", lectures, re.M):
        titles[m.group(1)] = m.group(2)[:1].upper() + m.group(2)[1:]
    for m in re.finditer(r"^\*\*A(\d+),\s*(.+?)\s*(?:\([^)]*\))?\.?:?\*\*", text, re.M):
        name = m.group(2).rstrip(".:")
        titles[f"a{m.group(1)}"] = name[:1].upper() + name[1:]
    return titles


def lecture_chapters(lectures: Path, titles: dict[str, str]) -> list[Chapter]:
    """Lectures grouped by number prefix (``04_x``, or ``04a_x`` + ``04b_y``), in number order."""
    groups: dict[str, list[Path]] = {}
    for nb in sorted(lectures.glob("*.ipynb")):
        m = re.match(r"(\d+)", nb.name)
        if m:
            groups.setdefault(m.group(1), []).append(nb)
    chapters = []
    for key in sorted(groups, key=int):
        name = titles.get(key) or re.sub(r"^(Lecture\s+)?\d+\w?\s*[·—:-]\s*", "", _first_heading(groups[key][0]))
        chapters.append(Chapter(key, f"{key} · {name}", groups[key]))
    return chapters


def assignment_chapters(assignments: Path, titles: dict[str, str]) -> list[Chapter]:
    """One chapter per release notebook ``assignments/<name>/<name>.ipynb``, A0 first."""
    chapters = []
    for folder in sorted(p for p in assignments.iterdir() if p.is_dir()):
        nb = folder / f"{folder.name}.ipynb"
        m = re.match(r"a(\d+)", folder.name)
        if not nb.is_file() or not m:
            continue
        key = f"a{int(m.group(1))}"
        name = titles.get(key) or re.sub(r"^A\d+\s*[·—:-]\s*", "", _first_heading(nb))
        chapters.append(Chapter(key, f"A{int(m.group(1))} · {name}", [nb]))
    return sorted(chapters, key=lambda c: int(c.key[1:]))


def toc_yaml(lectures: list[Chapter], assignments: list[Chapter]) -> str:
    """_toc.yml (jb-book): intro, the lectures in syllabus order, the assignments, about this build."""
    def q(s: str) -> str:
        return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid YAML scalar

    lines = ["format: jb-book", "root: intro", "parts:", "  - caption: Lectures", "    chapters:"]
    for ch in lectures:
        if len(ch.notebooks) == 1:
            lines += [f"      - file: lectures/{ch.notebooks[0].stem}", f"        title: {q(ch.title)}"]
        else:  # a split lecture: a landing page, its notebooks as sections
            lines += [f"      - file: lectures/{ch.key}", f"        title: {q(ch.title)}", "        sections:"]
            lines += [f"          - file: lectures/{nb.stem}" for nb in ch.notebooks]
    lines += ["  - caption: Assignments", "    chapters:"]
    for ch in assignments:
        nb = ch.notebooks[0]
        lines += [f"      - file: assignments/{nb.parent.name}/{nb.stem}", f"        title: {q(ch.title)}"]
    lines += ["  - caption: About", "    chapters:", "      - file: about", '        title: "About this build"']
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- the machine
def machine() -> dict:
    """What the reader needs to compare run times: CPU model, cores, torch and Python versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    from effnn.config import allowed_cpus

    usable = len(allowed_cpus())
    return {"cpu": cpu, "cores": usable, "logical_cpus": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}"}


def _git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "lectures", "assignments", "course/effnn"],
                               cwd=REPO, capture_output=True, text=True).stdout.strip()
        return sha + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# ----------------------------------------------------------------------------- execution
def kernel_env(fast: bool, cache: Path) -> dict:
    """The lectures' environment: default mode (or fast), no progress bars, inline figures, a fresh cache."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env.update(EFFNN_QUIET="1", PYTHONHASHSEED="0", EFFNN_CACHE=str(cache))
    if fast:
        env["EFFNN_FAST"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def execute(nb_path: Path, env: dict, timeout: int) -> tuple[nbformat.NotebookNode, float, str | None]:
    """Run a notebook in its own folder; returns (executed notebook, seconds, error or None)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(nb_path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(nb_path.parent)}})
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits this process's environment
    error = None
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as exc:
        error = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    except Exception as exc:  # a kernel that dies or a cell that times out
        error = f"{type(exc).__name__}: {exc}"
    finally:
        seconds = time.perf_counter() - start
        os.environ.clear()
        os.environ.update(saved)
    return nb, seconds, error


def _output_widget_outputs(state: dict, model_id: str, seen: set | None = None) -> list:
    """The outputs captured by the Output widgets under a widget (e.g. ``interact``'s figure)."""
    seen = set() if seen is None else seen
    if model_id in seen or model_id not in state:
        return []
    seen.add(model_id)
    model = state[model_id]
    outputs = list(model.get("state", {}).get("outputs", [])) if model.get("model_name") == "OutputModel" else []
    for child in model.get("state", {}).get("children", []):
        if isinstance(child, str) and child.startswith("IPY_MODEL_"):
            outputs += _output_widget_outputs(state, child[len("IPY_MODEL_"):], seen)
    return outputs


def flatten_widgets(nb: nbformat.NotebookNode) -> int:
    """Replace each widget display by the outputs it captured, so a static page shows the figure.

    Returns how many widget displays were replaced. Without this the page would need the widget
    JavaScript from a CDN; a slider cannot move on a static page anyway, so the page says so.
    """
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    replaced = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        new = []
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW) if out.get("output_type") == "display_data" else None
            if view is None:
                new.append(out)
                continue
            replaced += 1
            new.append(nbformat.v4.new_output("display_data", data={
                "text/markdown": "*Interactive in JupyterLab; the book shows the output for the default values:*",
                "text/plain": "(interactive widget)"}))
            new += [nbformat.from_dict(o) for o in _output_widget_outputs(state, view.get("model_id", ""))]
        cell.outputs = new
    nb.metadata.pop("widgets", None)
    return replaced


def _run_note(seconds: float, mach: dict, fast: bool, error: str | None) -> nbformat.NotebookNode:
    mode = "fast mode (`EFFNN_FAST=1`)" if fast else "default mode (fast mode off)"
    text = (f"*Executed by the book build in **{seconds:.0f} s**, {mode}, seeds fixed in the notebook, on "
            f"{mach['cpu']} ({mach['cores']} cores), torch {mach['torch']}. "
            f"See [About this build](../about.md).*")
    if error:
        text += f"\n\n**This notebook stopped with an error during the build:** `{error}`"
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["tags"] = ["book-run-note"]
    return cell


# ----------------------------------------------------------------------------- local MathJax
def find_mathjax(explicit: str | None = None) -> Path | None:
    """A local MathJax 2 folder (with MathJax.js): --mathjax, EFFNN_MATHJAX or jupyter_server_mathjax."""
    candidates = [explicit, os.environ.get("EFFNN_MATHJAX")]
    try:
        import jupyter_server_mathjax

        candidates.append(str(Path(jupyter_server_mathjax.__file__).parent / "static"))
    except ImportError:
        pass
    for c in candidates:
        if c and (Path(c) / "MathJax.js").is_file():
            return Path(c)
    return None


MATHJAX_PARTS = ("MathJax.js", "config", "jax", "extensions", "fonts", "localization/en")
MATHJAX_CONFIGS = ("TeX-AMS_CHTML", "TeX-AMS-MML_HTMLorMML", "TeX-AMS-MML_HTMLorMML-full")


def mathjax_settings(src: Path) -> tuple[str, dict]:
    """(mathjax_path relative to _static, MathJax 2 configuration) for the copy in ``src``."""
    name = next((c for c in MATHJAX_CONFIGS if (src / "config" / f"{c}.js").is_file()), MATHJAX_CONFIGS[0])
    config = {"tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]],
                          "processRefs": False, "processEnvironments": False},
              "showMathMenu": False, "messageStyle": "none"}
    fonts = sorted(p.name for p in (src / "fonts" / "HTML-CSS").glob("*") if p.is_dir())
    if fonts and "TeX" not in fonts:  # e.g. only STIX-Web: use it as the web font, ask for no other
        config["HTML-CSS"] = {"availableFonts": [], "preferredFont": None, "webFont": fonts[0], "imageFont": None}
    return f"mathjax/MathJax.js?config={name}", config


def copy_mathjax(src: Path, static: Path) -> None:
    dest = static / "mathjax"
    for part in MATHJAX_PARTS:
        s = src / part
        if s.is_dir():
            shutil.copytree(s, dest / part, dirs_exist_ok=True)
        elif s.is_file():
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(s, dest / part)


# ----------------------------------------------------------------------------- the leak check
SECRET_BLOCKS = (("### BEGIN SOLUTION", "### END SOLUTION"), ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"),
                 ("=== BEGIN MARK SCHEME ===", "=== END MARK SCHEME ==="))
MIN_SECRET_CHARS = 24  # shorter lines ("return out", "import torch") are not distinctive
PUBLIC_SOURCES = ("lectures/*.ipynb", "assignments/*/*.ipynb", "course/effnn/**/*.py", "tools/book/**/*")
SECRET_SOURCES = ("solutions/**/*.ipynb", "autograder/checks/*.py", "autograder/reference/*.py")
SCANNED = (".html", ".htm", ".js", ".txt", ".ipynb", ".json", ".md", ".py", ".css", ".xml", ".svg")


def _norm(line: str) -> str:
    return " ".join(line.split())


def _secret_blocks(text: str) -> list[str]:
    lines, inside = [], None
    for line in text.splitlines():
        stripped = line.strip()
        if inside is None:
            inside = next((end for begin, end in SECRET_BLOCKS if stripped.startswith(begin)), None)
        elif stripped.startswith(inside):
            inside = None
        else:
            lines.append(line)
    return lines


def _notebook_texts(path: Path) -> list[str]:
    """Cell sources and text outputs of a notebook (images left out)."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return [path.read_text(encoding="utf-8", errors="replace")]
    texts = []
    for cell in nb.get("cells", []):
        src = cell.get("source", "")
        texts.append("".join(src) if isinstance(src, list) else src)
        for out in cell.get("outputs", []):
            for key in ("text",):
                if key in out:
                    texts.append("".join(out[key]) if isinstance(out[key], list) else out[key])
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/") or mime.endswith(("json", "javascript")):
                    texts.append("".join(value) if isinstance(value, list) else json.dumps(value))
            texts.append("\n".join(out.get("traceback", [])))
    return texts


def secret_lines(repo: Path = REPO) -> dict[str, str]:
    """Distinctive lines of the solutions, hidden checks and reference answers -> the file they come from.

    A line counts when it is at least MIN_SECRET_CHARS long (whitespace collapsed) and does not also
    appear in what is published anyway (lectures, the release, effnn): those may show up in the book.
    """
    found: dict[str, str] = {}
    for pattern in SECRET_SOURCES:
        for path in sorted(repo.glob(pattern)):
            rel = str(path.relative_to(repo))
            if path.suffix == ".ipynb":
                lines = [l for t in _notebook_texts(path) for l in _secret_blocks(t)]
            else:
                lines = path.read_text(encoding="utf-8").splitlines()
            for line in lines:
                n = _norm(line)
                if len(n) >= MIN_SECRET_CHARS and re.search(r"[A-Za-z]", n) and not n.startswith("#!"):
                    found.setdefault(n, rel)
    public = Corpus()
    for pattern in PUBLIC_SOURCES:
        for path in repo.glob(pattern):
            if path.is_file():
                public.add_texts(_notebook_texts(path) if path.suffix == ".ipynb"
                                 else [path.read_text(encoding="utf-8", errors="replace")])
    published = set(public.find(found))
    return {line: src for line, src in found.items() if line not in published}


class Corpus:
    """Text to search for many lines at once: whitespace-normalized, with a word index to skip misses."""

    def __init__(self):
        self.parts: list[str] = []
        self.words: set[str] = set()

    def add_texts(self, texts) -> None:
        for t in texts:
            n = _norm(t)
            self.parts.append(n)
            self.words.update(re.findall(r"\w+", n))

    def add_file(self, path: Path) -> None:
        """A built file as a reader or a crawler sees it: raw, without tags and entities, JSON-unescaped."""
        if path.suffix == ".ipynb":
            self.add_texts(_notebook_texts(path))
            return
        raw = path.read_text(encoding="utf-8", errors="replace")
        raw = re.sub(r"[A-Za-z0-9+/=]{200,}", " ", raw)  # inline base64 images
        untagged = html.unescape(re.sub(r"<[^>]+>", "", raw))
        unescaped = raw.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        self.add_texts([raw, untagged, unescaped, html.unescape(re.sub(r"<[^>]+>", "", unescaped))])

    def find(self, lines, tokens: dict[str, frozenset] | None = None) -> list[str]:
        """The lines that occur in this text (``tokens``: each line's words, precomputed)."""
        tokens = tokens if tokens is not None else _tokens(lines)
        text = "\n".join(self.parts)
        return [l for l in lines if tokens[l] <= self.words and l in text]


def _tokens(lines) -> dict[str, frozenset]:
    return {l: frozenset(re.findall(r"\w+", l)) for l in lines}


def find_leaks(site: Path, secrets: dict[str, str]) -> dict[str, list[str]]:
    """{built file: [secret lines it contains]} over every text file of the site."""
    leaks, tokens = {}, _tokens(secrets)
    for path in sorted(site.rglob("*")):
        if path.is_file() and path.suffix.lower() in SCANNED:
            corpus = Corpus()
            corpus.add_file(path)
            hits = corpus.find(secrets, tokens)
            if hits:
                leaks[str(path.relative_to(site))] = hits
    return leaks


# ----------------------------------------------------------------------------- the build
def _replace_folder(path: Path) -> None:
    """Empty ``path`` for a new build, refusing to delete a folder this command did not write."""
    if path.exists():
        if any(path.iterdir()) and not (path / MARKER).exists():
            raise SystemExit(f"--out/--work {path} exists and was not written by tools.book; "
                             "choose an empty or new folder")
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / MARKER).write_text("written by python -m tools.book; replaced by the next build\n")


def _fmt_seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min ({s:.0f} s)"


def about_page(mach: dict, runs: list[dict], fast: bool, jb_seconds: float | None, mathjax: bool) -> str:
    lines = ["# About this build", "",
             "Every figure and number in the lectures was produced by running the notebook when this "
             "book was built, on the machine below. Run times are wall-clock seconds for the whole "
             "notebook, measured one notebook at a time; your laptop will differ.", "",
             "| | |", "|---|---|",
             f"| CPU | {mach['cpu']} |", f"| cores available | {mach['cores']} (of {mach['logical_cpus']} logical CPUs) |",
             f"| torch | {mach['torch']} ({mach['torch_threads']} threads by default) |",
             f"| Python | {mach['python']} |", f"| OS | {mach['os']} |",
             f"| mode | {'fast (`EFFNN_FAST=1`: smaller trainings)' if fast else 'default (fast mode off)'} |",
             f"| built | {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC, commit {_git_commit()} |",
             "", "## Run time of each lecture", "", "| lecture | run time | status |", "|---|---:|---|"]
    for r in runs:
        status = "ok" if not r["error"] else f"error: `{r['error']}`"
        lines.append(f"| [{r['title']}]({r['page']}.ipynb) | {r['seconds']:.1f} s | {status} |")
    total = sum(r["seconds"] for r in runs)
    lines += [f"| **all lectures** | **{total:.0f} s** | |", "",
              "The assignments are shown as students receive them (the release notebooks, not executed); "
              "their solutions and hidden checks are not part of this site.", "",
              "Formulas are typeset by a copy of MathJax bundled with the site." if mathjax else
              "MathJax was not available when this book was built, so formulas show as TeX source.",
              "Interactive widgets (sliders) need a running kernel: the book shows the output for their "
              "default values.", ""]
    return "\n".join(lines)


def _jb_config(title: str, mathjax_dir: Path | None) -> str:
    path, mj2 = mathjax_settings(mathjax_dir) if mathjax_dir else ("no-mathjax.js", None)
    cfg = {
        "title": title, "author": "the effnn course", "copyright": "", "only_build_toc_files": True,
        "exclude_patterns": ["_build", "**.ipynb_checkpoints"],
        "execute": {"execute_notebooks": "off"},
        "parse": {"myst_enable_extensions": ["colon_fence", "dollarmath", "amsmath", "substitution", "tasklist"]},
        "html": {"use_repository_button": False, "use_issues_button": False, "use_edit_page_button": False,
                 "use_multitoc_numbering": False, "home_page_in_navbar": True},
        "launch_buttons": {"binderhub_url": "", "jupyterhub_url": "", "thebe": False, "colab_url": "",
                           "deepnote_url": ""},
        "repository": {"url": ""},
        "sphinx": {"config": {
            # not "_static": Jupyter Book would add every .js under it (all of MathJax) to every page
            "html_static_path": ["_book_static"],
            "myst_update_mathjax": False,  # its MathJax 3 options would be read as MathJax 2 settings
            "nb_ipywidgets_js": {},          # the widget manager comes from a CDN: left out (see flatten_widgets)
            "html_show_sphinx": False,
            "mathjax_path": path,
            "mathjax3_config": None,
            "mathjax2_config": mj2,
            "html_theme_options": {"use_download_button": True, "use_fullscreen_button": False,
                                   "show_toc_level": 2},
        }, "local_extensions": {"book_offline": str(TEMPLATES)}},
    }
    return json.dumps(cfg, indent=1, ensure_ascii=False)  # JSON is valid YAML


def stage(src: Path, *, fast: bool, timeout: int, mathjax_dir: Path | None, only: set[str] | None,
          cache: Path) -> tuple[list[dict], dict, list[Chapter], list[Chapter]]:
    """Write the book's source folder: executed lectures, release notebooks, toc, config, pages."""
    titles = syllabus_titles()
    lectures = lecture_chapters(REPO / "lectures", titles)
    assignments = assignment_chapters(REPO / "assignments", titles)
    if only:
        lectures = [c for c in lectures if c.key in only]
    mach = machine()
    env = kernel_env(fast, cache)
    runs = []
    (src / "lectures").mkdir(parents=True)
    for ch in lectures:
        for nb_path in ch.notebooks:
            work = src / "lectures" / nb_path.name
            shutil.copy2(nb_path, work)
            print(f"executing {nb_path.name} ({'fast' if fast else 'default'} mode)...", flush=True)
            nb, seconds, error = execute(work, env, timeout)
            widgets = flatten_widgets(nb)
            nb.cells.insert(1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0,
                            _run_note(seconds, mach, fast, error))
            nbformat.write(nb, work)
            print(f"  {nb_path.name}: {seconds:.1f} s{f', ERROR: {error}' if error else ''}"
                  f"{f', {widgets} widget(s) shown as their default output' if widgets else ''}", flush=True)
            runs.append({"notebook": nb_path.name, "title": ch.title if len(ch.notebooks) == 1
                         else f"{ch.title}: {_first_heading(nb_path)}", "page": f"lectures/{nb_path.stem}",
                         "seconds": round(seconds, 1), "error": error})
        if len(ch.notebooks) > 1:
            items = "\n".join(f"- [{_first_heading(nb)}]({nb.stem}.ipynb)" for nb in ch.notebooks)
            (src / "lectures" / f"{ch.key}.md").write_text(f"# {ch.title}\n\nThis lecture comes in "
                                                           f"{len(ch.notebooks)} notebooks:\n\n{items}\n")
    for ch in assignments:
        nb = ch.notebooks[0]
        dest = src / "assignments" / nb.parent.name / nb.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        release = nbformat.read(nb, as_version=4)
        for cell in release.cells:  # as the student sees them, before running anything
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(release, dest)
    static = src / "_book_static"
    static.mkdir()
    if mathjax_dir:
        copy_mathjax(mathjax_dir, static)
    else:
        (static / "no-mathjax.js").write_text("/* MathJax was not bundled with this build: formulas show as TeX. */\n")
    nav = "\n".join(f"- [{c.title}]({p})" for c, p in
                    [(c, f"lectures/{c.notebooks[0].stem if len(c.notebooks) == 1 else c.key}") for c in lectures]
                    + [(c, f"assignments/{c.notebooks[0].parent.name}/{c.notebooks[0].stem}") for c in assignments])
    intro = (TEMPLATES / "intro.md").read_text(encoding="utf-8")
    total = sum(r["seconds"] for r in runs)
    intro = intro.replace("{{nav}}", nav).replace(
        "{{machine}}", f"{mach['cpu']}, {mach['cores']} cores, torch {mach['torch']}; the lectures ran in "
                       f"{total:.0f} s in all ({'fast' if fast else 'default'} mode)")
    (src / "intro.md").write_text(intro, encoding="utf-8")
    (src / "_toc.yml").write_text(toc_yaml(lectures, assignments), encoding="utf-8")
    return runs, mach, lectures, assignments


def build(out: Path, work: Path, *, fast: bool = False, timeout: int = 1800, mathjax: str | None = None,
          only: set[str] | None = None) -> dict:
    """Execute, stage and build; returns the build summary (also written to ``out/build.json``)."""
    t0 = time.perf_counter()
    out, work = out.resolve(), work.resolve()
    if out == work or out.is_relative_to(work) or work.is_relative_to(out):
        raise SystemExit("--out and --work must be separate folders")
    _replace_folder(work)
    src = work / "src"
    mathjax_dir = find_mathjax(mathjax)
    runs, mach, lectures, assignments = stage(src, fast=fast, timeout=timeout, mathjax_dir=mathjax_dir,
                                              only=only, cache=work / "cache")
    (src / "about.md").write_text(about_page(mach, runs, fast, None, mathjax_dir is not None), encoding="utf-8")
    (src / "_config.yml").write_text(_jb_config("effnn: efficient neural networks", mathjax_dir),
                                     encoding="utf-8")
    t1 = time.perf_counter()
    jb = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(src), "--path-output", str(work), "--quiet"]
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    (work / "jupyter-book.log").write_text(log)
    html = work / "_build" / "html"
    if proc.returncode != 0 or not (html / "index.html").is_file():
        raise SystemExit(f"jupyter-book build failed (log: {work / 'jupyter-book.log'}):\n{log[-4000:]}")
    warnings = [l for l in log.splitlines() if "WARNING" in l]
    _replace_folder(out)
    shutil.copytree(html, out, dirs_exist_ok=True)
    (out / ".buildinfo").unlink(missing_ok=True)
    pages = sorted(str(p.relative_to(out)) for p in out.rglob("*.html")  # _static/*.html: theme macros
                   if not p.name.startswith(("genindex", "search")) and p.relative_to(out).parts[0] != "_static")
    figures = sum(len(re.findall(r"<img\b", (out / p).read_text(encoding="utf-8", errors="replace"))) for p in pages
                  if p.startswith("lectures/"))
    summary = {"out": str(out), "fast": fast, "machine": mach, "lectures": runs,
               "assignments": [c.notebooks[0].parent.name for c in assignments],
               "pages": len(pages), "figures": figures, "mathjax": str(mathjax_dir) if mathjax_dir else None,
               "external_resources": external_resources(out), "sphinx_warnings": warnings,
               "execute_seconds": round(t1 - t0, 1), "sphinx_seconds": round(time.perf_counter() - t1, 1),
               "total_seconds": round(time.perf_counter() - t0, 1)}
    summary["leaks"] = find_leaks(out, secret_lines())
    (out / "build.json").write_text(json.dumps(summary, indent=1))
    if summary["leaks"]:
        shutil.rmtree(out)  # never leave a site with solutions where it could be published
        raise SystemExit(f"solution or hidden-check text in the built site (removed {out}): {summary['leaks']}")
    return summary


def external_resources(site: Path) -> list[str]:
    """Scripts, stylesheets and images that a page would load from another host."""
    found = set()
    tag = re.compile(r"<(?:script|img|link)\b[^>]*?(?:src|href)=[\"']((?:https?:)?//[^\"']+)[\"'][^>]*>", re.I)
    for page in site.rglob("*.html"):
        for m in tag.finditer(page.read_text(encoding="utf-8", errors="replace")):
            whole = m.group(0).lower()
            if whole.startswith("<link") and not re.search(r"rel=[\"'](stylesheet|preload|icon|modulepreload)", whole):
                continue
            found.add(m.group(1))
    return sorted(found)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "book", help="where the site goes (out/book)")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "book",
                        help="executed notebooks, book source and Sphinx cache (build/book)")
    parser.add_argument("--fast", action="store_true", help="fast mode (EFFNN_FAST=1), for tests; not for publishing")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds one cell may run (1800)")
    parser.add_argument("--mathjax", help="a local MathJax 2 folder (with MathJax.js) to bundle")
    parser.add_argument("--only", help="comma-separated lecture numbers to execute (e.g. 00,04); for trying things out")
    args = parser.parse_args(argv)
    from effnn import validate

    validate.positive_int(args.timeout, "timeout")
    only = {s.strip() for s in args.only.split(",")} if args.only else None
    summary = build(args.out, args.work, fast=args.fast, timeout=args.timeout, mathjax=args.mathjax, only=only)
    print(f"\nbook: {summary['out']}/index.html: {summary['pages']} pages, {summary['figures']} figures in the "
          f"lectures; lectures executed in {summary['execute_seconds']:.0f} s, site built in "
          f"{summary['sphinx_seconds']:.0f} s ({_fmt_seconds(summary['total_seconds'])} in all)")
    for r in summary["lectures"]:
        print(f"  {r['notebook']:<45} {r['seconds']:7.1f} s  {'ok' if not r['error'] else 'ERROR ' + r['error']}")
    if not summary["mathjax"]:
        print("note: no local MathJax found (pip install jupyter-server-mathjax, or --mathjax DIR): formulas show as TeX")
    if summary["external_resources"]:
        print("external resources the pages reference:", *summary["external_resources"], sep="\n  ")
    failed = [r["notebook"] for r in summary["lectures"] if r["error"]]
    if failed:
        print(f"FAILED lectures (the book shows their error): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
