"""A sealed sandbox for student code, built from unprivileged Linux namespaces.

``jail_command(cmd, ...)`` wraps a command so that it runs:

- in new user, mount, PID and network namespaces (util-linux ``unshare -r -m -p -n --fork``), which
  an ordinary user may create: no root needed, and root gains nothing extra;
- under a new root that is an empty tmpfs holding only what a student has: the system folders
  (``/usr``, ``/etc``, ...), the Python environment, the installed ``effnn`` package and the folders
  named ``ro`` (read-only) and ``rw`` (writable). The repository, ``solutions/``, ``autograder/``,
  the gradebook, other submissions and the grader's home are simply not there;
- with a private ``/tmp``, a minimal ``/dev`` (null, zero, random, urandom) and its own ``/proc``;
- with no network (only a loopback that is down; Unix sockets in bound folders still work);
- with every capability dropped and ``no_new_privs`` set (``setpriv``), so it cannot undo the
  read-only mounts;
- as PID 1 of its own PID namespace: when it ends, or its ``unshare`` parent is killed
  (``--kill-child``), every process it started dies with it.

Paths keep their host names inside the jail, so connection files and working folders need no
translation. :func:`available` probes once whether this machine allows all of it.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

#: host paths every jail needs read-only (those that do not exist are skipped)
SYSTEM = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt")
DEVICES = ("null", "zero", "full", "random", "urandom")

_SCRIPT = r"""set -eu
P0=$PATH; export PATH=/usr/sbin:/usr/bin:/sbin:/bin
R=$1; CWD=$2; shift 2
mount -t tmpfs -o mode=755,nosuid,nodev effnn-jail "$R"
mkdir -p "$R/dev" "$R/tmp" "$R/proc" "$R/run"
for d in DEVICES; do : > "$R/dev/$d"; mount --bind "/dev/$d" "$R/dev/$d"; done
ln -s /proc/self/fd "$R/dev/fd"
mkdir -p "$R/dev/shm"
mount -t tmpfs -o mode=1777,nosuid,nodev effnn-tmp "$R/tmp"
mount -t tmpfs -o mode=1777,nosuid,nodev effnn-shm "$R/dev/shm"
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
place() {  # make "$R$1" a mount point of the same kind as $1 (or copy a symlink)
  if [ -L "$1" ]; then mkdir -p "$R$(dirname "$1")"; ln -sfn "$(readlink "$1")" "$R$1"; return 1; fi
  if [ -d "$1" ]; then mkdir -p "$R$1"; else mkdir -p "$R$(dirname "$1")"; : > "$R$1"; fi
}
mode=ro
while [ "$1" != "--" ]; do
  case "$1" in
    --ro) mode=ro ;;
    --rw) mode=rw ;;
    *) if [ -e "$1" ] || [ -L "$1" ]; then
         if place "$1"; then
           mount --rbind "$1" "$R$1"
           [ "$mode" = ro ] && mount -o remount,bind,ro,nosuid,nodev "$R$1"
         fi
       fi ;;
  esac
  shift
done
shift
cd "$R"
exec chroot "$R" /usr/bin/env PATH="$P0" /bin/sh -c 'cd "$0" && exec /usr/bin/setpriv --no-new-privs --inh-caps=-all --ambient-caps=-all --bounding-set=-all -- "$@"' "$CWD" "$@"
""".replace("DEVICES", " ".join(DEVICES))


def python_paths() -> list[Path]:
    """Folders the running Python and its packages live in (the environment a kernel needs)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable))}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            paths.add(sysconfig.get_paths()[key])
        except KeyError:
            pass
    return _outermost(Path(p).resolve() for p in paths if p)


def package_paths(*names: str) -> list[Path]:
    """Folders of importable packages (an editable ``effnn`` lives outside site-packages)."""
    import importlib.util

    out = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            out.extend(Path(p).resolve() for p in spec.submodule_search_locations)
    return out


def _outermost(paths) -> list[Path]:
    """Drop paths that lie inside another path of the list."""
    paths = sorted(set(paths), key=lambda p: len(p.parts))
    kept: list[Path] = []
    for p in paths:
        if not any(p == k or k in p.parents for k in kept):
            kept.append(p)
    return kept


def jail_command(cmd: list[str], *, root: Path, cwd: Path, ro=(), rw=()) -> list[str]:
    """``cmd`` wrapped to run sealed; ``root`` is an empty host folder the new root is mounted on."""
    ro_paths = _outermost([*(Path(p) for p in SYSTEM), *python_paths(), *package_paths("effnn"),
                           *(Path(p).resolve() for p in ro)])
    args = ["--ro", *map(str, ro_paths), "--rw", *(str(Path(p).resolve()) for p in rw), "--"]
    return ["unshare", "-r", "-m", "-p", "-n", "--fork", "--kill-child", "--propagation", "private",
            "sh", "-c", _SCRIPT, "sh", str(root), str(Path(cwd).resolve()), *args, *cmd]


@functools.lru_cache(maxsize=1)
def available() -> str:
    """'' when a jail can be built on this machine, else why not (for the grader's refusal)."""
    for tool in ("unshare", "setpriv", "chroot", "mount"):
        if shutil.which(tool) is None:
            return f"the '{tool}' command (util-linux/coreutils) is missing"
    with tempfile.TemporaryDirectory(prefix="effnn-jail-probe-") as tmp:
        tmp = Path(tmp)
        (tmp / "root").mkdir()
        (tmp / "rw").mkdir()
        (tmp / "secret").write_text("x")
        probe = (f"import os, pathlib; open({str(tmp / 'rw' / 'ok')!r}, 'w').write('1'); "
                 f"print(os.getpid(), os.path.exists({str(tmp / 'secret')!r}))")
        try:
            res = subprocess.run(jail_command([sys.executable, "-c", probe], root=tmp / "root", cwd=tmp / "rw",
                                              rw=[tmp / "rw"]), capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"the sandbox could not start ({type(exc).__name__}: {exc})"
        if res.returncode != 0 or res.stdout.split() != ["1", "False"] or not (tmp / "rw" / "ok").exists():
            err = (res.stderr.strip().splitlines() or ["no output"])[-1]
            return f"unprivileged namespaces are not usable here ({err})"
    return ""
