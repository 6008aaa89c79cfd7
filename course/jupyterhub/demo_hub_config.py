"""The demo JupyterHub of ``make hub`` (tested by tests/test_hub_browser.py). DEMO ONLY.

Started by ``python -m tools.hub`` (``make hub``), which prepares the state folder (``EFFNN_HUB_DIR``:
the nbgrader exchange, the instructor's course root, the students' nbgrader settings) and passes the
ports. What runs:

- JupyterHub (PyPI) behind configurable-http-proxy (npm, ``make hub-deps``);
- the local-process spawner in its demo form, ``SimpleLocalProcessSpawner``: every student's server is
  a process of the hub's own Unix user, with its own home under ``EFFNN_HUB_DIR/home/<user>``;
- ``DummyAuthenticator``: NO PASSWORDS; any of the listed demo users logs in with any password.

!!! Never expose this hub. Anyone who reaches its port logs in as any demo user, and all users share
!!! one Unix account (they can read each other's files and the instructor's). For a class, use
!!! course/jupyterhub/jupyterhub_config.py (PAM or OAuth, one Unix user each) or Zero to JupyterHub
!!! (course/jupyterhub/z2jh-values.yaml): see the README, "A class on JupyterHub".

Students' servers open JupyterLab with nbgrader's Assignment List and no instructor tools
(course/jupyterhub/student/, as in production) and read the exchange's settings from
``EFFNN_HUB_DIR/student-config/nbgrader_config.py``.
"""
import os
import shutil
import sys
from pathlib import Path

from jupyterhub.auth import DummyAuthenticator
from jupyterhub.spawner import SimpleLocalProcessSpawner

c = get_config()  # noqa: F821

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
STATE = Path(os.environ.get("EFFNN_HUB_DIR", REPO / "build" / "hub"))
if not (STATE / "student-config" / "nbgrader_config.py").exists():
    raise SystemExit(f"{STATE} is not prepared: start the demo hub with `make hub` (python -m tools.hub)")
BIN = Path(sys.executable).parent

c.JupyterHub.ip = os.environ.get("EFFNN_HUB_IP", "127.0.0.1")
c.JupyterHub.port = int(os.environ.get("EFFNN_HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("EFFNN_HUB_INTERNAL_PORT", "8081"))
# The hub's own files live in the state folder, not in the repository.
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.ConfigurableHTTPProxy.command = [os.environ.get("EFFNN_HUB_PROXY", "configurable-http-proxy")]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('EFFNN_HUB_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
c.ConfigurableHTTPProxy.debug = False

# ---- DEMO ONLY: no passwords. A real class: PAMAuthenticator (the default) or OAuthenticator.
c.JupyterHub.authenticator_class = DummyAuthenticator
c.Authenticator.allowed_users = set(os.environ.get("EFFNN_HUB_USERS", "student1,student2,student3").split(","))

# ---- DEMO ONLY: one Unix user for all. A real class: LocalProcessSpawner (one Unix user each) or KubeSpawner.
c.JupyterHub.spawner_class = SimpleLocalProcessSpawner
c.SimpleLocalProcessSpawner.home_dir_template = str(STATE / "home" / "{username}")
c.Spawner.cmd = [str(BIN / "jupyterhub-singleuser")]
c.Spawner.args = ["--allow-root"] if os.geteuid() == 0 else []
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
# A loaded 2-core machine starts a JupyterLab slowly.
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 300
# The students' lab (Assignment List, no instructor tools), then the exchange's settings. No
# MPLBACKEND: the kernels' default, Jupyter's inline backend, draws the lectures' figures.
c.Spawner.environment = {
    "JUPYTER_CONFIG_PATH": os.pathsep.join([str(HERE / "student"), str(STATE / "student-config")]),
}
# The course's settings reach the students' kernels (EFFNN_FAST=1 makes a lecture run in fast mode).
c.Spawner.env_keep = ["JUPYTERHUB_SINGLEUSER_APP", "PATH", "LANG", "LC_ALL", "EFFNN_FAST", "EFFNN_QUIET",
                      "EFFNN_DATA", "EFFNN_DATA_DIR", "EFFNN_CACHE", "TORCHINDUCTOR_CACHE_DIR"]


def give_lectures(spawner):
    """A student's first start: a copy of the lectures in their home (in production: nbgitpuller)."""
    home = Path(spawner.home_dir)
    if not (home / "lectures").exists():
        home.mkdir(parents=True, exist_ok=True)
        shutil.copytree(REPO / "lectures", home / "lectures",
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))


c.Spawner.pre_spawn_hook = give_lectures
