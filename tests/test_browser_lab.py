"""JupyterLab in a real browser, started the README's way (``make lab``, ``make formgrader``).

A student's lab shows every figure (lecture 00 after Kernel -> Restart Kernel and Run All Cells...),
lecture 01's ipywidgets slider redraws its plot, a lecture opens (and saves) unmodified, and no
instructor tool is there. The instructor's ``make formgrader`` lists the assignments and its links open.

Needs Debian's ``chromium`` and Playwright's Python API (``make browser``); skips without them. The
student lab serves a temporary copy of the lectures, so the repository stays clean.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from browser import CHROMIUM, browser_marks, sync_playwright

REPO = Path(__file__).resolve().parent.parent
LECTURES = ["00_motivation.ipynb", "01_pruning_axes.ipynb"]
RUN_ALL = "Restart Kernel and Run All Cells…"  # JupyterLab 4's Kernel menu, as the README says
START_S, RUN_S, ACTION_S = 240, 900, 180  # generous: a busy 2-core machine


pytestmark = [
    *browser_marks(2400),
    pytest.mark.skipif(shutil.which("make") is None, reason="the test starts the lab with `make`"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lab_settings(folder: Path) -> Path:
    """A JUPYTERLAB_SETTINGS_DIR: no virtualized (off-screen, unrendered) cells, no news pop-ups."""
    settings = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False},
    }
    for rel, value in settings.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(json.dumps(value))
    return folder


@contextmanager
def running_lab(target: str, tmp: Path, lab_args: str = ""):
    """``make <target>`` with a port and token from the environment; yields (url, token, log path)."""
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # conftest sets Agg for the tests
    env.update(JUPYTER_PORT=str(port), JUPYTER_TOKEN=token, EFFNN_FAST="1", EFFNN_QUIET="1",
               JUPYTERLAB_SETTINGS_DIR=str(_lab_settings(tmp / f"{target}-settings")),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / f"{target}-workspaces"))
    log = tmp / f"{target}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(["make", "--no-print-directory", target, f"LAB_ARGS=--no-browser {lab_args}"],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_S
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"`make {target}` did not serve {url}:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield url, token, log
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@contextmanager
def browser_page(tmp: Path):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(ACTION_S * 1000)
        try:
            yield page
        except BaseException:
            page.screenshot(path=str(tmp / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def _open_notebook(page, url: str, token: str, path: str):
    # A fresh workspace per notebook: only this notebook open, and it is the current one.
    workspace = Path(path).stem.replace("_", "-")
    page.goto(f"{url}/lab/workspaces/{workspace}/tree/{path}?token={token}")
    panel = page.locator(".jp-NotebookPanel:visible").first
    panel.locator(".jp-Cell").first.wait_for()
    # The kernel is up and has answered (JupyterLab writes its language_info into the notebook then).
    page.locator("#jp-main-statusbar", has_text="Idle").first.wait_for()
    return panel


def _current_tab_dirty(page) -> bool:
    return page.locator(".jp-mod-current.jp-mod-dirty").count() > 0


def _menu(page, menu: str, item: str):
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def _run_all(page):
    _menu(page, "Kernel", RUN_ALL)
    page.locator(".jp-Dialog .jp-mod-accept").click()  # "Restart"


def _wait_until_done(page, panel, n_code_cells: int):
    """Every code cell has an execution count and none is running ([*])."""
    page.wait_for_function(
        """n => {
            const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')];
            return prompts.length >= n && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""", arg=n_code_cells, timeout=RUN_S * 1000)


def _code_cells(path: Path) -> int:
    return sum(c["cell_type"] == "code" for c in json.loads(path.read_text())["cells"])


def _sidebar_text(page) -> str:
    return " ".join(page.locator(".jp-SideBar .lm-TabBar-tab").evaluate_all(
        "tabs => tabs.map(t => (t.title || '') + ' ' + (t.dataset.id || '') + ' ' + t.textContent)"))


def _no_instructor_tools(page):
    page.locator(".lm-MenuBar-itemLabel", has_text="File").first.wait_for()
    labels = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
    assert not any("grader" in t.lower() for t in labels), f"an nbgrader menu in the student's lab: {labels}"
    sidebar = _sidebar_text(page)
    for tool in ("Create Assignment", "create_assignment", "Formgrader", "Assignment List", "Course List"):
        assert tool.lower() not in sidebar.lower(), f"{tool!r} in the student's sidebar: {sidebar}"
    assert page.locator("text=Error fetching courses").count() == 0


def test_student_lab_figures_widgets_and_unmodified_notebooks(tmp_path):
    root = tmp_path / "course"
    (root / "lectures").mkdir(parents=True)
    for name in LECTURES:
        shutil.copy2(REPO / "lectures" / name, root / "lectures" / name)
    with running_lab("lab", tmp_path, f"--ServerApp.root_dir={root}") as (url, token, log), \
            browser_page(tmp_path) as page:
        # Lecture 00 opens unmodified, and saving it unedited changes no byte.
        nb00 = root / "lectures" / LECTURES[0]
        panel = _open_notebook(page, url, token, f"lectures/{LECTURES[0]}")
        _no_instructor_tools(page)
        assert not _current_tab_dirty(page), "lecture 00 opens marked modified before any edit"
        panel.locator(".jp-Cell").first.click()
        page.keyboard.press("Control+s")
        page.wait_for_function("() => !document.querySelector('.jp-mod-current.jp-mod-dirty')")
        assert nb00.read_bytes() == (REPO / "lectures" / LECTURES[0]).read_bytes(), \
            "saving lecture 00 without an edit changed the file (normalize the committed notebook)"

        # Run All: every figure of lecture 00 is rendered.
        _run_all(page)
        _wait_until_done(page, panel, _code_cells(nb00))
        images = panel.locator(".jp-RenderedImage img")
        n_images = images.count()
        page.screenshot(path=str(tmp_path / "lecture00.png"), full_page=True)
        assert n_images >= 3, f"lecture 00 shows {n_images} figures, expected 3 (MPLBACKEND?)"
        assert all(src.startswith("data:image/png") for src in images.evaluate_all("els => els.map(e => e.src)"))
        assert panel.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']").count() == 0

        # Lecture 01: run it, move the sparsity slider, and the plot changes.
        panel = _open_notebook(page, url, token, f"lectures/{LECTURES[1]}")
        assert not _current_tab_dirty(page), "lecture 01 opens marked modified before any edit"
        _run_all(page)
        _wait_until_done(page, panel, _code_cells(root / "lectures" / LECTURES[1]))
        widget = panel.locator(".jupyter-widgets.widget-interact, .widget-interact").last
        slider = widget.locator(".noUi-handle, .ui-slider-handle").first
        slider.scroll_into_view_if_needed()
        plot = widget.locator("img").first
        plot.wait_for()
        before = plot.get_attribute("src")
        readout = widget.locator(".widget-readout").first.inner_text()
        box = slider.bounding_box()
        track = widget.locator(".noUi-target, .slider-container").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(track["x"] + 0.3 * track["width"], box["y"] + box["height"] / 2, steps=10)
        page.mouse.up()
        page.wait_for_function(
            """([old]) => { const w = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .widget-interact')].pop();
                            const img = w && w.querySelector('img'); return img && img.src !== old; }""",
            arg=[before], timeout=ACTION_S * 1000)
        after_readout = widget.locator(".widget-readout").first.inner_text()
        page.screenshot(path=str(tmp_path / "lecture01_slider.png"), full_page=True)
        assert after_readout != readout, f"the slider did not move ({readout})"
    assert "Traceback" not in log.read_text()


def test_formgrader_lists_assignments_and_links_open(tmp_path):
    with running_lab("formgrader", tmp_path) as (url, token, log), browser_page(tmp_path) as page:
        with urllib.request.urlopen(f"{url}/formgrader/api/assignments?token={token}", timeout=60) as r:
            names = {a["name"] for a in json.load(r)}
        assert "a0_warmup" in names, f"Formgrader lists {names} (run from course/?)"
        page.goto(f"{url}/formgrader/manage_assignments?token={token}")
        link = page.locator("a[href*='solutions/a0_warmup']").first
        link.wait_for()
        href = link.get_attribute("href")
        target = link.evaluate("a => a.href")  # as the browser resolves it (course/../solutions -> solutions)
        response = page.goto(f"{target}{'&' if '?' in target else '?'}token={token}")
        assert response is not None and response.ok, f"{href} -> {response and response.status}"
        page.get_by_text("a0_warmup.ipynb").first.wait_for()  # the folder's listing, not a 404 or a login
        page.screenshot(path=str(tmp_path / "formgrader_link.png"), full_page=True)
        path = target.split("/tree/", 1)[-1].split("?")[0]
        with urllib.request.urlopen(f"{url}/api/contents/{path}?token={token}&content=0") as r:
            assert json.load(r)["type"] == "directory"
        # The lab has the Formgrader in nbgrader's menu, as the README says.
        page.goto(f"{url}/lab/workspaces/formgrader?token={token}")
        _menu(page, "Nbgrader", "Formgrader")
        page.frame_locator("iframe").first.get_by_text("a0_warmup").first.wait_for()
        assert "create assignment" in _sidebar_text(page).lower()  # the instructor's lab has every tool
        page.screenshot(path=str(tmp_path / "formgrader.png"), full_page=True)
    assert "No nbgrader_config.py file found" not in log.read_text()
