"""The student side of grading: a test cell asks the judge to check an exercise.

A graded test cell ends with a one-line hidden block such as::

    from effnn.grading import judge
    judge("a0_warmup.check_magnitude_mask", magnitude_mask=magnitude_mask)

At grading time the judge is a separate, trusted process outside the submission's sandbox. It holds
the hidden checks, their seeded inputs and their expected values; this module holds none of them.
The judge drives the exercise over a Unix socket: it asks this kernel to call the student's function
on inputs it sends, to read attributes, or to return a model's ``state_dict``, and it checks the
plain data it gets back itself. Values cross the socket as ``torch.save`` archives of plain data
(numbers, strings, tensors, arrays, lists, dicts) and are loaded with ``weights_only=True``: no code
is ever unpickled. Any other object stays in this kernel and is referred to by number.

The judge keeps its own record of every verdict; what this kernel prints or raises afterwards does
not change a score. Outside grading (an instructor running a solution) the same protocol runs in
this process when the instructor's ``autograder`` package is importable; a student's copy just says
that the checks run at grading.
"""
from __future__ import annotations

import importlib
import io
import os
import socket
import struct

import numpy as np
import torch

ENV = "EFFNN_JUDGE"  #: the judge's socket path, set by the grader in the kernel's environment
MAX_MESSAGE = 1 << 30  # bytes; a larger message is refused (a runaway answer, not a model)
_LEN = struct.Struct(">Q")


class ProtocolError(RuntimeError):
    """The other side broke the protocol or went away.

    >>> a, b = socket.socketpair(); b.close(); recv(a)
    Traceback (most recent call last):
    ...
    effnn.grading.ProtocolError: the connection closed
    >>> a.close()
    """


# --------------------------------------------------------------------------------------- framing
def send(conn: socket.socket, message) -> None:
    """Write one message: its length, then a ``torch.save`` archive of plain data.

    Args:
        conn: a connected stream socket.
        message: plain data (numbers, strings, tensors, lists, dicts); see :func:`encode`.
    Returns:
        None, once every byte is sent.

    >>> a, b = socket.socketpair(); send(a, {"check": "a0.check_x", "args": [1, 2.5]}); recv(b)
    {'check': 'a0.check_x', 'args': [1, 2.5]}
    >>> a.close(); b.close()
    """
    buf = io.BytesIO()
    torch.save(message, buf)
    data = buf.getvalue()
    conn.sendall(_LEN.pack(len(data)) + data)


def _read_exact(conn: socket.socket, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = conn.recv(min(left, 1 << 20))
        if not chunk:
            raise ProtocolError("the connection closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv(conn: socket.socket):
    """Read one message; only plain data can come out of it (``weights_only=True``).

    A message over ``MAX_MESSAGE`` bytes, or one that is not plain data, is a :class:`ProtocolError`.

    Args:
        conn: a connected stream socket.
    Returns:
        The message, plain data.
    Raises:
        ProtocolError: the connection closed, the message is too big, or it is not plain data.

    >>> a, b = socket.socketpair(); send(a, torch.arange(3)); recv(b)
    tensor([0, 1, 2])
    >>> a.close(); b.close()
    """
    (size,) = _LEN.unpack(_read_exact(conn, _LEN.size))
    if size > MAX_MESSAGE:
        raise ProtocolError(f"a message of {size} bytes is over the limit")
    try:
        return torch.load(io.BytesIO(_read_exact(conn, size)), weights_only=True)
    except ProtocolError:
        raise
    except Exception as exc:
        raise ProtocolError(f"a message could not be read as plain data ({type(exc).__name__})") from None


# ---------------------------------------------------------------------------------------- values
def _plain_key(key) -> bool:
    return isinstance(key, str) and not key.startswith("__")


def encode(value, ref):
    """Plain data as is; arrays, odd dicts and other objects as small marked dicts (``ref(obj)``).

    So only plain data crosses to the judge; an object stays in the kernel behind its marker.

    Args:
        value: anything; containers are walked.
        ref: ``ref(obj) -> marker dict`` for what cannot travel as plain data.
    Returns:
        A plain-data copy of ``value`` (tensors detached and cloned, numpy scalars as Python numbers).

    >>> encode({"n": np.int64(3), "model": nn.Linear(1, 1)}, ref=lambda obj: {"__ref__": 0})
    {'n': 3, 'model': {'__ref__': 0}}
    """
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor):
        t = value.detach()
        if t.layout == torch.strided and not t.is_quantized and t.device.type == "cpu":
            return t.clone()
        return ref(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        arr = np.ascontiguousarray(value)
        return {"__ndarray__": torch.from_numpy(arr.reshape(-1).view(np.uint8).copy()),
                "dtype": arr.dtype.str, "shape": list(arr.shape)}
    if isinstance(value, (list, tuple)):
        items = [encode(v, ref) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        if all(_plain_key(k) for k in value):
            return {k: encode(v, ref) for k, v in value.items()}
        return {"__items__": [[encode(k, ref), encode(v, ref)] for k, v in value.items()]}
    return ref(value)


def decode(value, deref):
    """Inverse of :func:`encode`; ``deref(marker)`` turns a reference marker into an object.

    Args:
        value: what :func:`encode` produced.
        deref: ``deref(marker) -> object`` for reference and library markers.
    Returns:
        The decoded value (arrays rebuilt as new numpy arrays).

    >>> decode(encode({1: np.arange(3)}, ref=None), deref=None)  # a non-str key and an array survive
    {1: array([0, 1, 2])}
    """
    if isinstance(value, dict):
        if "__ndarray__" in value:
            raw = value["__ndarray__"].numpy()
            return raw.view(np.dtype(value["dtype"])).reshape(value["shape"]).copy()
        if "__items__" in value:
            return {_hashable(decode(k, deref)): decode(v, deref) for k, v in value["__items__"]}
        if "__ref__" in value or "__lib__" in value:
            return deref(value)
        return {k: decode(v, deref) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v, deref) for v in value]
    if isinstance(value, tuple):
        return tuple(decode(v, deref) for v in value)
    return value


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key


def describe(obj) -> dict:
    """What the judge may know of an object that stays in the kernel (a hint, never evidence).

    Args:
        obj: anything.
    Returns:
        ``{"type", "module", "callable", "is_class"}``.

    >>> describe(nn.Linear(1, 1))
    {'type': 'torch.nn.modules.linear.Linear', 'module': True, 'callable': True, 'is_class': False}
    """
    return {"type": f"{type(obj).__module__}.{type(obj).__qualname__}",
            "module": isinstance(obj, torch.nn.Module), "callable": callable(obj),
            "is_class": isinstance(obj, type)}


def library(path: str):
    """The object at ``package.module.name`` (the judge names library functions this way).

    Args:
        path: a dotted ``package.module.name`` (a class attribute as ``...Class.attr``).
    Returns:
        The object found there (it is imported if needed).

    >>> library("effnn.prune.magnitude_prune").__name__, library("torch.nn.Module.state_dict").__name__
    ('magnitude_prune', 'state_dict')
    """
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        obj = library(module)  # a class attribute, e.g. torch.nn.Module.state_dict
        return getattr(obj, name)


# ---------------------------------------------------------------------------------------- kernel
class _Table:
    """Objects of this kernel that the judge refers to by number."""

    def __init__(self):
        self.objects: list = []

    def ref(self, obj) -> dict:
        self.objects.append(obj)
        return {"__ref__": len(self.objects) - 1, **describe(obj)}

    def deref(self, marker: dict):
        if "__lib__" in marker:
            return library(marker["__lib__"])
        index = marker["__ref__"]
        if not isinstance(index, int) or not 0 <= index < len(self.objects):
            raise ProtocolError("unknown reference")
        return self.objects[index]


def _error(exc: BaseException) -> dict:
    names = [c.__name__ for c in type(exc).__mro__ if c is not object]
    return {"error": names, "message": str(exc)[:500]}


def _answer(table: _Table, request: dict):
    op = request.get("op")
    enc, dec = table.ref, table.deref
    if op == "call":  # "keep": leave the result here and answer with a reference
        fn = decode(request["fn"], dec)
        args = decode(request.get("args", ()), dec)
        kwargs = decode(request.get("kwargs", {}), dec)
        result = fn(*args, **kwargs)
        return enc(result) if request.get("keep") else encode(result, enc)
    if op == "value":
        return encode(decode(request["obj"], dec), enc)
    if op == "getattr":
        return encode(getattr(decode(request["obj"], dec), request["name"]), enc)
    if op == "setattr":
        setattr(decode(request["obj"], dec), request["name"], decode(request["value"], dec))
        return None
    if op == "getitem":
        return encode(decode(request["obj"], dec)[decode(request["key"], dec)], enc)
    raise ProtocolError(f"unknown request {op!r}")


def serve(conn: socket.socket, check: str, objects: dict) -> tuple[bool, str]:
    """Answer the judge's requests for one check; return its verdict ``(passed, message)``.

    Args:
        conn: the socket connected to the judge.
        check: the check's name, ``assignment.check_name``.
        objects: ``{name: object}`` the check is run on; they stay in this kernel.
    Returns:
        ``(passed, message)``: a bool and the judge's message.
    Raises:
        ProtocolError: the judge broke the protocol or went away.
    """
    table = _Table()
    send(conn, {"op": "start", "check": check, "objects": {k: encode(v, table.ref) for k, v in objects.items()}})
    while True:
        request = recv(conn)
        if not isinstance(request, dict):
            raise ProtocolError("the judge sent something that is not a request")
        if request.get("op") == "done":
            return bool(request.get("passed")), str(request.get("message", ""))
        try:
            reply = {"value": _answer(table, request)}
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # the student's code failed: the judge decides what that means
            reply = _error(exc)
        try:
            send(conn, reply)
        except Exception as exc:  # an answer that cannot travel as plain data
            send(conn, _error(exc))


def judge(check: str, **objects) -> None:
    """Have the judge run hidden check ``check`` (``assignment.check_name``) on these objects.

    Outside grading, runs the check in this process when the instructor's ``autograder`` package
    is importable.

    Args:
        check: the hidden check's name, ``assignment.check_name``.
        **objects: the student's objects the check is run on (functions, models, values).
    Returns:
        None; prints that the hidden checks passed (or, on a student's copy outside grading, that they
        run at grading).
    Raises:
        AssertionError: the check failed; the message is the judge's.
    """
    path = os.environ.get(ENV)
    if path:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(path)
            passed, message = serve(conn, check, objects)
        finally:
            conn.close()
    else:
        try:
            local = importlib.import_module("autograder.judge")
        except ImportError:
            print("Visible checks passed; the hidden checks run when the notebook is graded.")
            return
        passed, message = local.run_local(check, objects, serve)
    if not passed:
        raise AssertionError(message)
    print(f"{check.rpartition('.')[2]}: hidden checks passed")
