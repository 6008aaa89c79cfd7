"""The judge: a trusted process that runs hidden checks against a sandboxed kernel.

The kernel's hidden block calls :func:`effnn.grading.judge`, which connects here. A check is a
function ``check_*(k)`` in ``autograder/checks/<assignment>.py`` that receives a :class:`Kernel`:
``k.arg(name)`` is an object the test cell passed, ``k.lib("torch.nn.Linear")`` a library object
*in the kernel*, and calling or reading attributes of a :class:`Remote` asks the kernel to do so.
Plain results (numbers, tensors, arrays, state dicts) come back as values; anything else stays in
the kernel as another :class:`Remote`. A check trusts only plain data it verifies itself: a type
name or a ``True`` reported by the kernel is never evidence.

:class:`JudgeServer` listens on a Unix socket for one submission and keeps the record of verdicts
(the first verdict of each check counts; later attempts are refused). The grading preprocessor
(:mod:`autograder.execute`) turns that record, not the kernel's outputs, into the cells' scores.
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import socket
import tempfile
import threading
from pathlib import Path



def _protocol():
    """effnn.grading, imported on first use: it pulls in torch, which a blank submission never needs."""
    from effnn import grading

    return grading

log = logging.getLogger("effnn.judge")
CHECK_TIMEOUT = 900  # seconds the judge waits for one kernel answer before failing the check


class RemoteError(Exception):
    """The student's code raised ``names[0]`` in the kernel."""

    def __init__(self, names, message):
        super().__init__(f"{names[0] if names else 'Error'}: {message}")
        self.names = list(names)
        self.message = message

    def is_a(self, *names: str) -> bool:
        return any(n in self.names for n in names)


class Lib:
    """A library object named by its import path, resolved in the kernel."""

    def __init__(self, path: str):
        self.path = path


class Remote:
    """An object that lives in the kernel; attribute reads and calls are requests."""

    __slots__ = ("_k", "_marker")

    def __init__(self, kernel: "Kernel", marker: dict):
        object.__setattr__(self, "_k", kernel)
        object.__setattr__(self, "_marker", marker)

    @property
    def type_name(self) -> str:
        return self._marker.get("type", "?")

    @property
    def is_module(self) -> bool:
        return bool(self._marker.get("module"))

    @property
    def is_callable(self) -> bool:
        return bool(self._marker.get("callable"))

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._k.request("getattr", obj=self, name=name)

    def __setattr__(self, name, value):
        self._k.request("setattr", obj=self, name=name, value=value)

    def __getitem__(self, key):
        return self._k.request("getitem", obj=self, key=key)

    def __call__(self, *args, **kwargs):
        return self._k.request("call", fn=self, args=args, kwargs=kwargs)

    def __repr__(self):
        return f"<kernel object {self.type_name}>"


class Kernel:
    """One check's conversation with the kernel."""

    def __init__(self, conn: socket.socket, objects: dict):
        self.conn = conn
        self.requests = 0
        self.objects = _protocol().decode(objects, self._deref)

    def _ref(self, value):
        if isinstance(value, Remote):
            return {"__ref__": value._marker["__ref__"]}
        if isinstance(value, Lib):
            return {"__lib__": value.path}
        raise TypeError(f"the judge cannot send a {type(value).__name__}")

    def _deref(self, marker):
        return Remote(self, marker)

    def request(self, op: str, **fields):
        self.requests += 1
        _protocol().send(self.conn, {"op": op, **{k: _protocol().encode(v, self._ref) for k, v in fields.items()}})
        reply = _protocol().recv(self.conn)
        if not isinstance(reply, dict):
            raise _protocol().ProtocolError("the kernel sent something that is not an answer")
        if "error" in reply:
            raise RemoteError(reply.get("error") or ["Error"], reply.get("message", ""))
        return _protocol().decode(reply.get("value"), self._deref)

    # ------------------------------------------------------------------ conveniences for checks
    def arg(self, name: str):
        """An object the test cell handed to the judge (a Remote, or a plain value)."""
        if name not in self.objects:
            raise AssertionError(f"the test cell did not pass {name!r} to the judge")
        return self.objects[name]

    def lib(self, path: str) -> Remote:
        """A library object in the kernel, e.g. ``k.lib("torch.nn.Linear")``."""
        return self.request("call", fn=Lib("effnn.grading.library"), args=(path,))

    def call(self, fn, *args, **kwargs):
        return self.request("call", fn=fn, args=args, kwargs=kwargs)

    def put(self, value) -> Remote:
        """Send a value and keep it in the kernel (to see later whether student code changed it)."""
        return self.request("call", fn=Lib("copy.deepcopy"), args=(value,), keep=True)

    def build(self, path: str, *args, **kwargs) -> Remote:
        """Construct ``path(*args, **kwargs)`` in the kernel and keep it there."""
        return self.request("call", fn=Lib(path), args=args, kwargs=kwargs, keep=True)

    def value(self, remote):
        """The current value of a kernel object as plain data (tensors, arrays, dicts of them)."""
        return self.request("value", obj=remote) if isinstance(remote, Remote) else remote

    def same(self, a, b) -> bool:
        """Whether two references name one kernel object (the kernel's word: a hint only)."""
        return bool(self.call(Lib("operator.is_"), a, b))


def load_check(name: str, assignment: str | None = None):
    """``"a0_warmup.check_x"`` -> the check function (only ``check_*`` of that assignment)."""
    module, _, func = name.rpartition(".")
    if not module or not func.startswith("check_") or (assignment and module != assignment):
        raise LookupError(f"no hidden check named {name!r} for this assignment")
    if not module.replace("_", "").isalnum():
        raise LookupError(f"no hidden check named {name!r}")
    try:
        fn = getattr(importlib.import_module(f"autograder.checks.{module}"), func)
    except (ImportError, AttributeError):
        raise LookupError(f"no hidden check named {name!r}") from None
    return fn


def run_check(conn: socket.socket, assignment: str | None = None, timeout: float | None = CHECK_TIMEOUT,
              record=None):
    """Hold one conversation: read the start, run the check, record, send and return the verdict.

    ``record(name, passed, message)`` is called before the kernel hears the verdict, so the record
    is complete whenever the notebook moves on.
    """
    conn.settimeout(timeout)
    start = _protocol().recv(conn)
    if not isinstance(start, dict) or start.get("op") != "start" or not isinstance(start.get("check"), str):
        raise _protocol().ProtocolError("a connection did not start with a check name")
    name = start["check"]
    passed, message = False, ""
    try:
        fn = load_check(name, assignment)
        kernel = Kernel(conn, start.get("objects") or {})
        fn(kernel)
        passed, message = True, "passed"
    except AssertionError as exc:
        message = str(exc) or "a hidden check failed"
    except RemoteError as exc:
        message = f"your code raised {exc.names[0] if exc.names else 'an error'} during a hidden check"
    except LookupError as exc:
        message = str(exc)
    except (socket.timeout, TimeoutError):
        message = "the kernel did not answer the hidden check in time"
    except _protocol().ProtocolError as exc:
        message = f"the hidden check could not talk to the notebook ({exc})"
    except Exception as exc:  # a bug in a check must fail loudly in the log, not silently pass
        log.exception("hidden check %s crashed", name)
        message = f"the hidden check could not be completed ({type(exc).__name__})"
    if record is not None:
        record(name, passed, message)
    try:
        _protocol().send(conn, {"op": "done", "passed": passed, "message": message})
    except OSError:
        pass
    return name, passed, message


def run_local(check: str, objects: dict, serve) -> tuple[bool, str]:
    """Run one check in this process (instructor's machine, no grading sandbox)."""
    judge_end, kernel_end = socket.socketpair()
    verdict = {}

    def _judge():
        try:
            verdict["result"] = run_check(judge_end, timeout=None)
        except Exception as exc:
            verdict["result"] = (check, False, f"the judge failed: {exc}")
        finally:
            judge_end.close()

    thread = threading.Thread(target=_judge, daemon=True)
    thread.start()
    try:
        passed, message = serve(kernel_end, check, objects)
    finally:
        kernel_end.close()
        thread.join()
    return passed, message


def short_tmp() -> str | None:
    """A folder for Unix sockets: their paths must stay under ~107 bytes, and TMPDIR can be deep."""
    default = tempfile.gettempdir()
    if len(default) < 40:
        return default
    return "/tmp" if os.path.isdir("/tmp") and os.access("/tmp", os.W_OK | os.X_OK) else default


class JudgeServer:
    """Serves the checks of one assignment on a Unix socket and records the first verdict of each."""

    def __init__(self, assignment: str, record: Path | None = None, timeout: float = CHECK_TIMEOUT):
        self.assignment = assignment
        self.timeout = timeout
        self.dir = Path(tempfile.mkdtemp(prefix="effnn-judge-", dir=short_tmp()))  # only our uid may connect
        self.socket_path = self.dir / "judge.sock"
        self.record_path = record
        self.verdicts: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(self.socket_path))
        self._sock.listen(4)
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True, name="effnn-judge")

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def _serve(self):
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                try:
                    run_check(conn, self.assignment, self.timeout, record=self._record)
                except Exception as exc:
                    log.warning("judge: a connection failed: %s", exc)

    def _record(self, name: str, passed: bool, message: str) -> None:
        with self._lock:
            if name in self.verdicts:  # the first answer counts; a retry cannot improve it
                log.warning("judge: %s was asked again; the first verdict stands", name)
                return
            self.verdicts[name] = {"passed": passed, "message": message}
            self._save()

    def _save(self):
        if self.record_path is not None:
            Path(self.record_path).write_text(json.dumps(self.verdicts, indent=2))

    def close(self):
        self._stop = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() in the serving thread
        except OSError:
            pass
        self._sock.close()
        try:
            self.socket_path.unlink()
            self.dir.rmdir()
        except OSError:
            pass
        self._thread.join(timeout=5)
