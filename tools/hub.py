"""``make hub``: a real JupyterHub for the course on this machine (a demo: no passwords, one Unix user).

    python -m tools.hub [--dir build/hub] [--port 8000] [--ip 127.0.0.1] [--users student1,student2,student3]
                        [--release a0_warmup]

Prepares a state folder, then runs ``jupyterhub -f course/jupyterhub/demo_hub_config.py`` in it:

- ``exchange/``: nbgrader's exchange (``Exchange.root``), world-writable with the sticky bit;
- ``course/``: the instructor's nbgrader course root (the course's settings, the exchange above), from
  which the assignments named by ``--release`` are released (``nbgrader release_assignment``);
- ``student-config/nbgrader_config.py``: what every student's server reads (course id, exchange);
- ``home/<user>/``: the students' homes, with a copy of ``lectures/`` on the first start.

The proxy is configurable-http-proxy from npm (``make hub-deps`` installs it under ``build/node``).
Why a launcher and not only a config file: the release has to exist before a student logs in, and
the hub's own files (database, cookie secret, pid files) belong in the state folder, not the repo.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from effnn import validate

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "course" / "jupyterhub" / "demo_hub_config.py"
LOCAL_PROXY = REPO / "build" / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
DEFAULT_USERS = ("student1", "student2", "student3")


def proxy_command() -> str | None:
    """configurable-http-proxy: the one ``make hub-deps`` installed, else one on PATH."""
    if os.access(LOCAL_PROXY, os.X_OK):
        return str(LOCAL_PROXY)
    return shutil.which("configurable-http-proxy")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def prepare(state: Path, release: list[str]) -> dict:
    """Create the state folder (exchange, instructor course root, students' config); release assignments."""
    state = state.resolve()
    exchange, course, student_config = state / "exchange", state / "course", state / "student-config"
    exchange.mkdir(parents=True, exist_ok=True)
    # nbgrader's own rule for Exchange.root (it checks the 777 bits); the sticky bit keeps one
    # user's files safe from another's rename or delete
    os.chmod(exchange, 0o1777)
    (state / "home").mkdir(exist_ok=True)
    shared = REPO / "course" / "jupyterhub" / "nbgrader_config.py"
    _write(course / "nbgrader_config.py",
           "# The demo hub's instructor course root: the course's settings plus the hub's exchange.\n"
           "c = get_config()  # noqa: F821\n"
           f"load_subconfig({str(REPO / 'course' / 'nbgrader_config.py')!r})  # noqa: F821\n"
           f"load_subconfig({str(shared)!r})  # noqa: F821\n"
           f"c.CourseDirectory.root = {str(course)!r}\n"
           f"c.Exchange.root = {str(exchange)!r}\n")
    _write(student_config / "nbgrader_config.py",
           "# What every student's server of the demo hub reads (on JUPYTER_CONFIG_PATH).\n"
           "import os\n"
           "c = get_config()  # noqa: F821\n"
           f"load_subconfig({str(shared)!r})  # noqa: F821\n"
           f"c.Exchange.root = {str(exchange)!r}\n"
           "# DEMO ONLY: all servers run as the hub's Unix user, and nbgrader names a submission after\n"
           "# the Unix user; the hub's user name keeps the students apart. Not needed (and not used)\n"
           "# with one Unix account per student (LocalProcessSpawner + PAM) or one container each.\n"
           "c.CourseDirectory.student_id = os.environ['JUPYTERHUB_USER']\n")
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    for name in release:
        proc = subprocess.run([sys.executable, "-m", "nbgrader", "release_assignment", name, "--force"],
                              cwd=course, env=env, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"nbgrader release_assignment {name} failed:\n{proc.stdout}\n{proc.stderr}")
    return {"exchange": exchange, "course": course, "student_config": student_config}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=REPO / "build" / "hub", help="state folder (default build/hub)")
    parser.add_argument("--ip", default="127.0.0.1", help="address the hub listens on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="the hub's public port (default 8000)")
    parser.add_argument("--users", default=",".join(DEFAULT_USERS), help="demo users, comma-separated")
    parser.add_argument("--release", default="a0_warmup",
                        help="assignments to release to the exchange before start, comma-separated ('' for none)")
    args = parser.parse_args(argv)
    port = validate.integer(args.port, "--port", low=1, high=65535)
    users = validate.nonempty([u.strip() for u in args.users.split(",") if u.strip()], "--users")
    release = [a.strip() for a in args.release.split(",") if a.strip()]
    for name in release:
        validate.existing_path(REPO / "assignments" / name, "--release", what="release folder",
                               hint="run `make release` first")
    proxy = proxy_command()
    if proxy is None:
        print("configurable-http-proxy is missing: `make hub-deps` installs it (npm) under build/node",
              file=sys.stderr)
        return 2
    state = args.dir.resolve()
    paths = prepare(state, release)
    env = {**os.environ,
           "EFFNN_HUB_DIR": str(state), "EFFNN_HUB_IP": args.ip, "EFFNN_HUB_PORT": str(port),
           "EFFNN_HUB_INTERNAL_PORT": str(free_port()), "EFFNN_HUB_API_PORT": str(free_port()),
           "EFFNN_HUB_USERS": ",".join(users), "EFFNN_HUB_PROXY": proxy,
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    env.pop("MPLBACKEND", None)  # the students' kernels draw with Jupyter's inline backend
    print(f"JupyterHub (demo, no passwords) on http://{args.ip}:{port}/ for {', '.join(users)}\n"
          f"  exchange: {paths['exchange']} (released: {', '.join(release) or 'nothing'})\n"
          f"  instructor: cd {paths['course']} && nbgrader collect a0_warmup  (then python -m autograder.grade "
          f"a0_warmup {paths['course'] / 'submitted'} --course-root {paths['course']})", flush=True)
    jupyterhub = Path(sys.executable).parent / "jupyterhub"
    os.chdir(state)
    os.execve(str(jupyterhub), [str(jupyterhub), "-f", str(CONFIG)], env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
