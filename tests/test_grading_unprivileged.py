"""The sandbox holds for an instructor who is not root: the grading command, run as an ordinary
user (``nobody`` when the tests run as root), grades an honest submission in full and gives an
attacker what blank work earns, with nothing left running and nothing written outside."""
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograder import jail
from autograder.release import REPO, SOLUTIONS, write_root_config

A = "a0_warmup"
STEAL = """
import json, pathlib, effnn
root = pathlib.Path(effnn.__file__).resolve().parents[2]
for rel in ("solutions/a0_warmup/a0_warmup.ipynb",):
    try:
        for c in json.loads((root / rel).read_text())["cells"]:
            if c["metadata"].get("nbgrader", {}).get("solution"):
                exec("".join(c["source"]))
    except OSError as exc:
        print("blocked:", exc)
import subprocess
subprocess.Popen(["sh", "-c", "sleep 31338"], start_new_session=True)
for target in OUTSIDE:
    try:
        open(target, "w").write("pwned")
    except OSError:
        pass
"""


def _as_user(cmd: list[str]) -> list[str]:
    """``cmd`` as ``nobody`` when we are root (with /root made traversable if Python lives there)."""
    if os.geteuid() != 0:
        return cmd
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--"]
    hidden = [p for p in jail.python_paths() if Path("/root") in p.parents]
    if not hidden or os.stat("/root").st_mode & stat.S_IXOTH:
        return drop + cmd
    # a private mount namespace in which /root is an empty, traversable tmpfs holding only Python
    stage = tempfile.mkdtemp(prefix="effnn-stage-")
    binds = "".join(f'mkdir -p "{stage}{p}" && mount --bind "{p}" "{stage}{p}"\n' for p in hidden)
    back = "".join(f'mkdir -p "{p}" && mount --bind "{stage}{p}" "{p}"\n' for p in hidden)
    script = f'set -e\n{binds}mount -t tmpfs -o mode=755 tmpfs /root\n{back}exec "$@"'
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *drop, *cmd]


@pytest.mark.slow
def test_grading_as_an_ordinary_user(tmp_path):
    if jail.available():
        pytest.skip(f"no sandbox on this machine: {jail.available()}")
    base = Path(tempfile.mkdtemp(prefix="effnn-user-"))
    try:
        os.chmod(base, 0o777)
        subs, out, course = base / "submitted", base / "out", base / "course"
        outside = [REPO / "assignments" / A / "pwned-user.txt", subs / "honest" / A / "pwned.txt"]
        write_root_config(course)
        nb = json.loads((SOLUTIONS / A / f"{A}.ipynb").read_text())
        for student in ("honest", "attacker"):
            (subs / student / A).mkdir(parents=True)
        (subs / "honest" / A / f"{A}.ipynb").write_text(json.dumps(nb))
        for c in nb["cells"]:
            if c["metadata"].get("nbgrader", {}).get("solution"):
                c["source"] = f"OUTSIDE = {[str(p) for p in outside]!r}\n" + STEAL
        (subs / "attacker" / A / f"{A}.ipynb").write_text(json.dumps(nb))
        for path in [base, *base.rglob("*")]:
            os.chmod(path, 0o777 if path.is_dir() else 0o666)
        env = {**os.environ, "PYTHONPATH": str(REPO), "EFFNN_FAST": "1", "EFFNN_QUIET": "1", "HOME": str(base),
               "TMPDIR": str(base)}
        cmd = [sys.executable, "-m", "autograder.grade", A, str(subs), "--out", str(out), "--course-root", str(course)]
        proc = subprocess.run(_as_user(cmd), env=env, capture_output=True, text=True, timeout=900, cwd=base)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        if os.geteuid() == 0:  # the grader really ran as the ordinary user
            assert (out / "results.json").stat().st_uid == 65534
        results = json.loads((out / "results.json").read_text())
        assert results["honest"]["total"] == results["honest"]["max"] == 13, results["honest"]
        assert results["attacker"]["total"] == 0, results["attacker"]
        assert not any(p.exists() for p in outside)
        alive = [p for p in Path("/proc").glob("[0-9]*") if b"31338" in _cmdline(p)]
        assert not alive
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""
