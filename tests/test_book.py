"""The course as a book (``make book``, ``tools/book.py``).

Fast tests: the table of contents follows the syllabus and groups a split lecture, widgets become
their default output, and the leak scanner finds a planted solution line however the site encodes
it. Slow tests build the whole book in fast mode into a temporary folder, scan every built file for
solution and hidden-check text, and read every page in Debian's chromium through Playwright: HTTP
200, no console errors, every figure decoded, every internal link and anchor resolves, and nothing
is fetched from another host. ``EFFNN_TEST_BOOK=out/book`` runs the slow tests on a book already
built (e.g. by ``make book``) instead of building one.
"""
from __future__ import annotations

import functools
import json
import os
import threading
import urllib.error
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import nbformat
import pytest

from browser import CHROMIUM, NEEDS_CHROMIUM, NEEDS_PLAYWRIGHT, sync_playwright
from tools import book

REPO = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- navigation
SYLLABUS_EXCERPT = """## Lectures
| # | notebook | covers (seed) | experiments |
|---|---|---|---|
| 00 | motivation | scale | count |
| 04 | quantization | int8 | error |

## Seed topics still to cover
| 01 | im2col | x |

## Assignments (nbgrader; solutions/ → assignments/)
**A0, warm-up:** measure a model.

**A1, Segformer: magnitude vs Taylor structural pruning (001's homework).**
"""


def test_syllabus_titles_come_from_the_lecture_table_and_assignment_headings(tmp_path):
    path = tmp_path / "SYLLABUS.md"
    path.write_text(SYLLABUS_EXCERPT)
    assert book.syllabus_titles(path) == {"00": "Motivation", "04": "Quantization", "a0": "Warm-up",
                                          "a1": "Segformer: magnitude vs Taylor structural pruning"}
    assert book.syllabus_titles(tmp_path / "missing.md") == {}


def _notebook(path: Path, title: str) -> Path:
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {title}\n\ntext")]), path)
    return path


def test_a_split_lecture_is_one_chapter_with_its_notebooks_as_sections(tmp_path):
    for name, title in [("00_motivation", "00 · Why?"), ("04a_int8", "Lecture 04a — Int8"),
                        ("04b_binary", "Lecture 04b — Binary"), ("10_extra", "Lecture 10 — Extra")]:
        _notebook(tmp_path / f"{name}.ipynb", title)
    (tmp_path / "notes.ipynb").write_text("{}")  # no number: not a lecture
    chapters = book.lecture_chapters(tmp_path, {"00": "Motivation", "04": "Quantization"})
    assert [(c.key, c.title, [n.stem for n in c.notebooks]) for c in chapters] == [
        ("00", "00 · Motivation", ["00_motivation"]),
        ("04", "04 · Quantization", ["04a_int8", "04b_binary"]),
        ("10", "10 · Extra", ["10_extra"]),  # not in the syllabus: the notebook's own title
    ]
    toc = book.toc_yaml(chapters, [])
    assert toc.index("lectures/00_motivation") < toc.index("file: lectures/04\n") < toc.index(
        "- file: lectures/04a_int8") < toc.index("- file: lectures/04b_binary") < toc.index("lectures/10_extra")
    assert "sections:" in toc and "file: about" in toc


def test_the_real_course_is_in_syllabus_order():
    titles = book.syllabus_titles()
    lectures = book.lecture_chapters(REPO / "lectures", titles)
    assignments = book.assignment_chapters(REPO / "assignments", titles)
    keys = [c.key for c in lectures]
    assert keys == sorted(keys, key=int) and keys[:1] == ["00"] and len(keys) >= 8
    assert [c.key for c in assignments][:3] == ["a0", "a1", "a2"]
    assert all(c.title.startswith(f"{c.key} · ") for c in lectures)
    assert all(c.title.startswith(f"A{c.key[1:]} · ") for c in assignments)
    if book.SYLLABUS.is_file():
        assert lectures[0].title == "00 · Motivation" and assignments[0].title == "A0 · Warm-up"


def test_a_widget_display_becomes_the_output_it_captured():
    nb = nbformat.v4.new_notebook()
    view = {"model_id": "box", "version_major": 2, "version_minor": 0}
    cell = nbformat.v4.new_code_cell("interact(f)", outputs=[
        nbformat.v4.new_output("stream", text="before\n"),
        nbformat.v4.new_output("display_data", data={book.WIDGET_VIEW: view, "text/plain": "interactive(...)"})])
    nb.cells = [cell]
    png = {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"},
           "metadata": {}}
    nb.metadata["widgets"] = {book.WIDGET_STATE: {"state": {
        "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_slider", "IPY_MODEL_out"]}},
        "slider": {"model_name": "FloatSliderModel", "state": {"value": 0.8}},
        "out": {"model_name": "OutputModel", "state": {"outputs": [png]}}}}}
    assert book.flatten_widgets(nb) == 1
    kinds = [(o.output_type, sorted(o.get("data", {}))) for o in nb.cells[0].outputs]
    assert kinds == [("stream", []), ("display_data", ["text/markdown", "text/plain"]),
                     ("display_data", ["image/png", "text/plain"])]
    assert "widgets" not in nb.metadata


# ----------------------------------------------------------------------------- the leak scanner
@pytest.fixture(scope="module")
def secrets():
    return book.secret_lines()


def test_secret_lines_cover_solutions_checks_and_references(secrets):
    sources = set(secrets.values())
    assert any(s.startswith("solutions/") for s in sources)
    assert any(s.startswith("autograder/checks/") for s in sources)
    assert any(s.startswith("autograder/reference/") for s in sources)
    assert len(secrets) > 100
    assert all(len(line) >= book.MIN_SECRET_CHARS for line in secrets)
    # nothing the release shows students counts as a secret (else every book would "leak")
    release = book.Corpus()
    for nb in REPO.glob("assignments/*/*.ipynb"):
        release.add_texts(book._notebook_texts(nb))
    assert release.find(secrets) == []


def _planted(secrets) -> str:
    """A real solution line with characters that HTML and JSON escape (quotes, <, &), if there is one."""
    tricky = [l for l, src in secrets.items() if src.startswith("solutions/") and any(c in l for c in "\"'<&")]
    return sorted(tricky or [l for l, src in secrets.items() if src.startswith("solutions/")])[0]


def test_the_scanner_finds_a_planted_line_however_the_site_encodes_it(secrets, tmp_path):
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    line = _planted(secrets)
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "index.html").write_text("<html><body><pre>import torch\nx = torch.zeros(3)</pre></body></html>")
    (clean / "searchindex.js").write_text('Search.setIndex({"docs": ["x"]})')
    assert book.find_leaks(clean, secrets) == {}

    site = tmp_path / "site"
    (site / "_sources").mkdir(parents=True)
    (site / "page.html").write_text(f"<div class='highlight'>{highlight(line, PythonLexer(), HtmlFormatter())}</div>")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1\n    " + line)])
    nbformat.write(nb, site / "_sources" / "copy.ipynb")
    (site / "index.js").write_text("var docs = " + json.dumps({"text": "before\n" + line}) + ";")
    (site / "notes.txt").write_text("  ".join(line.split(" ")))  # whitespace changed
    leaks = book.find_leaks(site, secrets)
    assert sorted(leaks) == ["_sources/copy.ipynb", "index.js", "notes.txt", "page.html"]
    assert all(line in hits for hits in leaks.values())


# ----------------------------------------------------------------------------- the built book
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A fast-mode build in a temporary folder; EFFNN_TEST_BOOK=out/book checks an existing build instead."""
    if os.environ.get("EFFNN_TEST_BOOK"):
        site = Path(os.environ["EFFNN_TEST_BOOK"]).resolve()
        return site, json.loads((site / "build.json").read_text())
    root = tmp_path_factory.mktemp("book")
    summary = book.build(root / "site", root / "work", fast=True, timeout=900)
    return Path(summary["out"]), summary


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_the_book_has_every_lecture_and_assignment_and_the_build_facts(built):
    site, summary = built
    lectures = sorted(p.stem for p in (REPO / "lectures").glob("[0-9]*.ipynb"))
    assert [r["notebook"][:-6] for r in summary["lectures"]] == lectures
    assert [r for r in summary["lectures"] if r["error"]] == []
    for stem in lectures:
        assert (site / "lectures" / f"{stem}.html").is_file(), stem
    for nb in REPO.glob("assignments/*/*.ipynb"):
        assert (site / "assignments" / nb.parent.name / f"{nb.stem}.html").is_file(), nb
    about = (site / "about.html").read_text()
    assert summary["machine"]["cpu"] in about and summary["machine"]["torch"] in about
    for r in summary["lectures"]:
        assert f"{r['seconds']:.1f} s" in about
    assert summary["figures"] >= len(lectures) and summary["external_resources"] == []
    assert summary["leaks"] == {}
    # the assignments are the release, unexecuted: no outputs, the exercises still to write
    a0 = (site / "assignments" / "a0_warmup" / "a0_warmup.html").read_text()
    assert "NotImplementedError" in a0 and 'class="cell_output' not in a0


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_no_solution_or_hidden_check_text_in_any_built_file(built, secrets):
    site, _ = built
    assert book.find_leaks(site, secrets) == {}
    for path in site.rglob("*"):
        if path.is_file() and path.suffix in book.SCANNED:
            text = path.read_text(encoding="utf-8", errors="replace")
            for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "autograder.checks", "autograder.reference"):
                assert marker not in text, f"{path.relative_to(site)} contains {marker!r}"


@pytest.fixture
def served(built):
    site, summary = built

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", site, summary
    finally:
        server.shutdown()
        server.server_close()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


PAGE_FACTS = """async () => {
  const images = Array.from(document.images);
  for (const img of images) { img.loading = 'eager'; }
  await Promise.all(images.map(img => img.decode().catch(() => null)));
  return {
    images: images.map(img => [img.currentSrc || img.src, img.naturalWidth]),
    links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
    ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id)
          .concat(Array.from(document.querySelectorAll('a[name]')).map(a => a.name)),
    formulas: document.querySelectorAll('span.math, div.math').length,
  };
}"""


@pytest.mark.slow
@pytest.mark.timeout(3600)
@NEEDS_CHROMIUM
@NEEDS_PLAYWRIGHT
def test_every_page_loads_every_figure_renders_and_every_internal_link_resolves(served):
    base, site, summary = served
    # _static/*.html are the theme's template macros, not pages
    pages = sorted(str(p.relative_to(site)) for p in site.rglob("*.html") if not p.relative_to(site).parts[0] == "_static")
    problems, external, facts = [], set(), {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1200, "height": 900})

        def route(r):  # the site must render offline: nothing from another host
            if r.request.url.startswith(base) or r.request.url.startswith("data:"):
                r.continue_()
            else:
                external.add(r.request.url)
                r.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.set_default_timeout(120_000)
        errors: list[str] = []

        def on_console(m):
            # MathJax 2's HTML-CSS output probes for fonts it does not need: a request to about:blank
            # and, with only the STIX-Web fonts bundled, one for a TeX font; formulas still render.
            if m.type == "error" and not (m.text.startswith("Access to font at 'about:blank'")
                                          or (m.text.startswith("Failed to load resource") and summary["mathjax"])):
                errors.append(f"console {m.type}: {m.text}")

        def on_response(r):
            if r.status >= 400 and not (summary["mathjax"] and r.url.startswith(f"{base}_static/mathjax/fonts/")):
                errors.append(f"HTTP {r.status} {r.url}")

        page.on("console", on_console)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.on("response", on_response)
        for rel in pages:
            errors.clear()
            response = page.goto(base + rel, wait_until="networkidle")
            if response is None or response.status != 200:
                problems.append(f"{rel}: HTTP {response.status if response else 'no response'}")
            data = page.evaluate(PAGE_FACTS)
            if summary["mathjax"] and data["formulas"]:  # MathJax typesets them (it runs after load)
                page.wait_for_function("document.querySelectorAll('.MathJax, .MathJax_SVG, .MathJax_Display')"
                                       ".length > 0")
            facts[rel] = data
            problems += [f"{rel}: {e}" for e in errors]
            problems += [f"{rel}: figure {src} not rendered" for src, width in data["images"] if width <= 0]
        browser.close()

    targets = {}
    for rel, data in facts.items():
        for href in data["links"]:
            if not href.startswith(base):
                continue
            url, fragment = urldefrag(href)
            path = urlparse(url).path[len(urlparse(base).path):] or "index.html"
            targets.setdefault(path, set()).add((fragment, rel))
    for path, uses in sorted(targets.items()):
        if path.endswith("/"):
            path += "index.html"
        if path in facts:
            ids = set(facts[path]["ids"])
            problems += [f"{rel}: link to {path}#{frag}: no such anchor" for frag, rel in uses if frag and frag not in ids]
        elif (status := _status(base + path)) != 200:
            problems += [f"{rel}: link to {path}: HTTP {status}" for _, rel in uses]
    assert external == set(), f"pages fetched from other hosts: {sorted(external)}"
    assert problems == [], "\n".join(problems)
    figures = sum(len(d["images"]) for rel, d in facts.items() if rel.startswith("lectures/"))
    assert figures >= len([r for r in summary["lectures"]]), "a lecture page without a figure"
    assert len(targets) >= len(pages) - 2  # the navigation reaches (nearly) every page
