"""nbgrader's execution step, run through the judge and a sealed kernel.

``JudgedExecute`` replaces ``nbgrader.preprocessors.Execute`` in the course's autograde pipeline, so
``nbgrader autograde``, Formgrader's Autograde button and ``python -m autograder.grade`` all grade the
same way:

1. a :class:`~autograder.judge.JudgeServer` starts in this (trusted) process;
2. the student's kernel starts sealed in :mod:`autograder.jail` (:class:`SandboxedKernelManager`):
   it sees the release, ``effnn`` and the Python environment, writes only its own folder, has no
   network, and cannot reach ``solutions/``, ``autograder/``, the gradebook or other submissions;
3. after execution each graded test cell's outputs are rewritten from the judge's record: a cell
   whose hidden checks all passed keeps its outputs (errors removed), any other gets the judge's
   message as its error. nbgrader then scores the cells from those outputs, so a score can only
   come from the judge, never from what the kernel printed.

Where no sandbox can be built the step refuses (a clear error, no score) unless the environment
variable ``EFFNN_SANDBOX=off`` says the instructor accepts the risk.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Bool, Unicode

from . import jail
from .judge import JudgeServer, short_tmp

SANDBOX_ENV = "EFFNN_SANDBOX"
#: "SOCKET:RECORD" of a judge the grading command runs for this submission (else one starts here)
EXTERNAL_JUDGE = "EFFNN_JUDGE_SERVER"  # "off": run unconfined (the grading command's --unsafe-no-sandbox)
GRADING_COMMAND = "python -m autograder.grade <assignment> <submissions>"
_JUDGE_CALL = re.compile(r"""\bjudge\(\s*["']([\w.]+)["']""")
#: environment variables a kernel may inherit (everything else, PYTHONPATH included, is dropped)
_KEEP_PREFIXES = ("EFFNN_", "NBGRADER_", "JPY_")
_KEEP = ("LANG", "LC_ALL", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
         "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "CI")


class SandboxUnavailable(RuntimeError):
    pass


def sandbox_off() -> bool:
    return os.environ.get(SANDBOX_ENV, "").strip().lower() == "off"


def refusal() -> str:
    """'' when grading may go ahead, else the message that refuses it.

    The grading command probes the sandbox once per run and says so with ``EFFNN_SANDBOX=verified``.
    """
    if sandbox_off() or os.environ.get(SANDBOX_ENV, "").strip().lower() == "verified":
        return ""
    why = jail.available()
    if not why:
        return ""
    return (f"refusing to autograde: the submission's sandbox cannot be built on this machine ({why}). "
            f"Without it a notebook can read the solutions and hidden checks. Grade with "
            f"`{GRADING_COMMAND} --unsafe-no-sandbox` only if you accept that risk.")


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels start in the jail, talk over Unix sockets and get a clean env."""

    judge_socket = Unicode("").tag(config=False)
    jailed = Bool(True).tag(config=False)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._port_dir = Path(tempfile.mkdtemp(prefix="effnn-kernel-", dir=short_tmp()))  # ZMQ ipc sockets
        self._jail_root = Path(tempfile.mkdtemp(prefix="effnn-jail-", dir=short_tmp()))
        self.transport = "ipc"  # Unix sockets reach through the jail's network namespace
        self.connection_file = str(self._port_dir / "kernel.json")
        self.ip = str(self._port_dir / "kernel-ipc")

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        cwd = Path(self._launch_args.get("cwd") or os.getcwd())
        if self.jailed:
            from effnn import config

            ro = [Path(self.judge_socket).parent] if self.judge_socket else []
            for extra in (config.cache_dir(), config.data_dir()):
                if extra.is_dir():
                    ro.append(extra)
            cmd = jail.jail_command(cmd, root=self._jail_root, cwd=cwd, rw=[cwd, self._port_dir], ro=ro)
        # the interrupt (SIGINT to the process group) is for the kernel, not for its unshare parent;
        # the kernel dies with this process (pdeathsig) if the grader itself is killed
        return ["setpriv", "--pdeathsig", "KILL", "--", "sh", "-c", 'trap "" INT; exec "$@"', "sh", *cmd]

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        cwd = Path(kw.get("cwd") or os.getcwd())
        inherited = kw.get("env") or dict(os.environ)
        env = {k: v for k, v in inherited.items() if k.startswith(_KEEP_PREFIXES) or k in _KEEP}
        env.update({
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": str(cwd),
            "TMPDIR": "/tmp" if self.jailed else str(cwd),
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": str(cwd / ".matplotlib"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1",
            "EFFNN_QUIET": "1",
        })
        env.pop("EFFNN_JUDGE", None)
        if self.judge_socket:
            env["EFFNN_JUDGE"] = self.judge_socket
        kw["env"] = env
        return await super()._async_launch_kernel(kernel_cmd, **kw)

    async def _async_cleanup_resources(self, restart=False):
        await super()._async_cleanup_resources(restart)
        if not restart:
            shutil.rmtree(self._port_dir, ignore_errors=True)
            try:
                self._jail_root.rmdir()
            except OSError:
                pass


def checks_of(source: str) -> list[str]:
    """The hidden checks a test cell asks the judge for (from its trusted source)."""
    return _JUDGE_CALL.findall(source)


def _passed(names) -> dict:
    return new_output("stream", name="stdout", text=f"Hidden checks passed ({', '.join(n.rpartition('.')[2] for n in names)}).\n")


def _error(message: str) -> dict:
    return new_output("error", ename="AssertionError", evalue=message, traceback=[f"AssertionError: {message}"])


def apply_verdicts(nb, verdicts: dict) -> list[str]:
    """Rewrite graded test cells from the judge's record; return the ids of cells that lost points.

    A test cell keeps only its verdict: what the kernel printed while the judge drove it could
    show the judge's inputs, and the kernel's own error text is student-controlled, so it is kept
    only when it is the test cell's own (visible) message.
    """
    failed = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        names = checks_of(cell.source)
        if not names:
            continue
        missing = [n for n in names if n not in verdicts]
        wrong = [verdicts[n]["message"] for n in names if n in verdicts and not verdicts[n]["passed"]]
        if not missing and not wrong:
            cell.outputs = [_passed(names)]
            continue
        failed.append(meta.get("grade_id", "?"))
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if wrong:
            message = wrong[0]
        elif errors:  # a visible check (or a crash) stopped the cell before the judge was asked
            ename, evalue = errors[0].get("ename", "Error"), str(errors[0].get("evalue", ""))
            shown = f": {evalue}" if evalue and evalue in cell.source else ""
            message = f"a visible check failed before the hidden checks ran ({ename}{shown})"
        else:
            message = "the hidden checks of this cell did not run"
        cell.outputs = [_error(message)]
    return failed


MAX_CELL_OUTPUT = 2 * 2**20  # bytes of text a cell may keep; the rest is cut with a note
TRUNCATED = "effnn: output truncated"


def cap_outputs(cell, limit: int = MAX_CELL_OUTPUT) -> int:
    """Cut a cell's outputs to ``limit`` bytes of text; return the size it had (0 when within)."""
    import json

    size = len(json.dumps(cell.get("outputs", [])))
    if size <= limit:
        return 0
    kept, used = [], 0
    for out in cell.get("outputs", []):
        piece = len(json.dumps(out))
        if used + piece > limit:
            break
        kept.append(out)
        used += piece
    note = f"[{TRUNCATED}: the cell printed {size / 2**20:.1f} MB, over the {limit / 2**20:.0f} MB limit]\n"
    cell.outputs = kept + [new_output("stream", name="stderr", text=note)]
    return size


class JudgedExecute(Execute):
    """nbgrader's Execute with a sealed kernel, and scores taken from the judge's record."""

    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)
        cap_outputs(kwargs["cell"])

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)
        self._judge_socket = None

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if isinstance(km, SandboxedKernelManager):
            km.jailed = not sandbox_off()
            km.judge_socket = self._judge_socket or ""
        return km

    def preprocess(self, nb, resources=None, km=None):
        resources = resources or {}
        message = refusal()
        if message:
            self.log.error(message)
            raise SandboxUnavailable(message)
        assignment = resources.get("nbgrader", {}).get("assignment", "")
        external = os.environ.get(EXTERNAL_JUDGE)
        if external:  # the grading command's judge (already warm): its record comes back as a file
            socket_path, record = external.split(os.pathsep, 1)
            nb, resources = self._execute(nb, resources, km, socket_path)
            verdicts = json.loads(Path(record).read_text()) if Path(record).exists() else {}
        else:
            with JudgeServer(assignment) as judge:
                nb, resources = self._execute(nb, resources, km, str(judge.socket_path))
            verdicts = dict(judge.verdicts)
        failed = apply_verdicts(nb, verdicts)
        resources.setdefault("effnn", {}).update({"verdicts": verdicts, "failed_cells": failed})
        return nb, resources

    def _execute(self, nb, resources, km, socket_path: str):
        self._judge_socket = socket_path
        try:
            return super().preprocess(nb, resources, km=km)
        finally:
            self._judge_socket = None
