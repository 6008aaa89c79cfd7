"""The course's JupyterHub (``make hub``) in a real browser: one student's whole visit.

Log in, JupyterLab opens, the Assignments panel lists ``a0_warmup`` and fetching it works (the
notebook lands in the student's home through nbgrader's exchange), lecture 01 runs (fast mode: the
hub passes ``EFFNN_FAST=1`` to the student's server), and its ipywidgets slider redraws the plot.

Needs Debian's ``chromium`` with Playwright's Python API (``make browser``) and node/npm for
configurable-http-proxy (``make hub-deps``; this test runs it when the proxy is missing and npm is
there). Skips, saying which, only when one of them is missing. The hub runs on free ports with its
state in the test's temporary folder; screenshots go there too (the path is printed).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from browser import CHROMIUM, browser_marks, sync_playwright

from tools.hub import free_port, proxy_command

REPO = Path(__file__).resolve().parent.parent
LECTURE = "01_pruning_axes.ipynb"
STUDENT = "student1"
RUN_ALL = "Restart Kernel and Run All Cells…"
START_S, SPAWN_S, RUN_S, ACTION_S = 300, 420, 900, 180  # generous: a busy 2-core machine


pytestmark = [
    *browser_marks(2700),
    pytest.mark.skipif(shutil.which("make") is None, reason="the test starts the hub with `make hub`"),
]


def _proxy_or_skip() -> str:
    """configurable-http-proxy, installed with ``make hub-deps`` when npm is there; else skip."""
    proxy = proxy_command()
    if proxy is None and shutil.which("node") and shutil.which("npm"):
        proc = subprocess.run(["make", "--no-print-directory", "hub-deps"], cwd=REPO, capture_output=True,
                              text=True, timeout=900)
        proxy = proxy_command()
        if proxy is None:
            pytest.skip(f"configurable-http-proxy is missing and `make hub-deps` (npm) could not install it:\n"
                        f"{(proc.stdout + proc.stderr)[-1500:]}")
    if proxy is None:
        pytest.skip("no node/npm on this machine, so no configurable-http-proxy for JupyterHub: install "
                    "nodejs and npm, then `make hub-deps`")
    return proxy


def _lab_settings(home: Path) -> None:
    """The student's JupyterLab settings: every cell rendered (no windowing), no news pop-ups."""
    folder = home / ".jupyter" / "lab" / "user-settings"
    settings = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False},
    }
    for rel, value in settings.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(json.dumps(value))


@contextmanager
def running_hub(tmp: Path):
    """``make hub`` on a free port with its state in ``tmp/hub``; yields (url, state folder, log)."""
    state, port = tmp / "hub", free_port()
    _lab_settings(state / "home" / STUDENT)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update(EFFNN_FAST="1", EFFNN_QUIET="1")
    log = tmp / "hub.log"
    # -o: never rebuild the shared environment from inside a test (CI's `make test` has just built it)
    cmd = ["make", "--no-print-directory", "-o", ".venv/.effnn-installed", "hub",
           f"HUB_ARGS=--dir {state} --port {port} --users {STUDENT},student2 --release a0_warmup"]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_S
        while True:
            try:
                with urllib.request.urlopen(f"{url}/hub/api", timeout=5) as r:
                    if r.status == 200 and "version" in json.load(r):
                        break
            except (OSError, ValueError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"`make hub` did not serve {url}:\n{log.read_text()[-4000:]}")
            time.sleep(1)
        yield url, state, log
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the hub stops the proxy and the students' servers
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        _kill_leftovers(state.resolve())


def _kill_leftovers(state: Path) -> None:
    """Processes of this hub that outlived it (proxy, a student's server, a kernel): the ones working
    in its state folder, which only this test's hub uses."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cwd = Path(os.readlink(proc / "cwd"))
        except OSError:
            continue
        if cwd == state or state in cwd.parents:
            try:
                os.kill(int(proc.name), signal.SIGKILL)
            except OSError:
                pass


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


def _menu(page, menu: str, item: str):
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def _server_env(user: str) -> dict:
    """The environment of this user's single-user server process (from /proc)."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if b"jupyterhub-singleuser" not in (proc / "cmdline").read_bytes():
                continue
            env = dict(item.split("=", 1) for item in (proc / "environ").read_bytes().decode(errors="replace")
                       .split("\0") if "=" in item)
        except OSError:
            continue
        if env.get("JUPYTERHUB_USER") == user:
            return env
    return {}


def _code_cells(path: Path) -> int:
    return sum(c["cell_type"] == "code" for c in json.loads(path.read_text())["cells"])


def test_student_logs_in_fetches_a0_and_runs_lecture_01(tmp_path):
    _proxy_or_skip()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"\nscreenshots: {shots}")
    with running_hub(tmp_path) as (url, state, log), browser_page(shots) as page:
        home = state / "home" / STUDENT
        # 1. Log in (the demo authenticator: any password).
        page.goto(f"{url}/hub/login")
        page.fill("input[name=username]", STUDENT)
        page.fill("input[name=password]", "any")
        page.screenshot(path=str(shots / "1_login.png"))
        page.click("input[type=submit], button[type=submit]")

        # 2. JupyterLab opens on the student's own server.
        page.locator(".lm-MenuBar-itemLabel", has_text="File").first.wait_for(timeout=SPAWN_S * 1000)
        assert f"/user/{STUDENT}/lab" in page.url, page.url
        page.screenshot(path=str(shots / "2_lab.png"))

        # 3. The Assignments panel lists a0_warmup; Fetch puts it in the student's home.
        _menu(page, "Nbgrader", "Assignment List")
        released = page.locator("#released_assignments_list .list_item", has_text="a0_warmup").first
        released.wait_for()
        page.screenshot(path=str(shots / "3_assignments.png"))
        released.locator("button", has_text="Fetch").click()
        page.locator("#fetched_assignments_list .list_item", has_text="a0_warmup").first.wait_for()
        fetched = home / "effnn" / "a0_warmup" / "a0_warmup.ipynb"
        assert fetched.read_bytes() == (REPO / "assignments" / "a0_warmup" / "a0_warmup.ipynb").read_bytes()
        page.screenshot(path=str(shots / "3_fetched.png"))

        # 4. Lecture 01 runs, in fast mode (the hub passed EFFNN_FAST=1 to the server).
        page.goto(f"{url}/user/{STUDENT}/lab/workspaces/lecture01/tree/lectures/{LECTURE}")
        panel = page.locator(".jp-NotebookPanel:visible").first
        panel.locator(".jp-Cell").first.wait_for()
        page.locator("#jp-main-statusbar", has_text="Idle").first.wait_for()
        _menu(page, "Kernel", RUN_ALL)
        page.locator(".jp-Dialog .jp-mod-accept").click()  # "Restart"
        n_code = _code_cells(home / "lectures" / LECTURE)
        page.wait_for_function(
            """n => {
                const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')];
                return prompts.length >= n && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
            }""", arg=n_code, timeout=RUN_S * 1000)
        page.screenshot(path=str(shots / "4_lecture01.png"), full_page=True)
        errors = panel.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
        assert errors.count() == 0, errors.first.inner_text()
        assert _server_env(STUDENT).get("EFFNN_FAST") == "1", "the student's server did not get EFFNN_FAST=1"

        # 5. Its ipywidgets slider redraws the plot.
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
                            const img = w && w.querySelector('img'); return img && img.src && img.src !== old; }""",
            arg=[before], timeout=ACTION_S * 1000)
        after = plot.get_attribute("src")
        page.screenshot(path=str(shots / "5_slider.png"), full_page=True)
        assert widget.locator(".widget-readout").first.inner_text() != readout, f"the slider did not move ({readout})"
        assert after.startswith("data:image/png") and after != before
        # The visit's log, read while everything still runs: stopping the hub afterwards (SIGTERM to
        # make, the hub and the proxy) can make a single-user server print its shutdown traceback from
        # jupyter_server's start_ioloop, which is about the test's teardown, not about the visit.
        text = log.read_text()
    assert "Traceback" not in text, text[-4000:]
    print(f"screenshots: {shots}")
