"""Which public names of effnn lack an ``Args:`` or ``Returns:`` block (Google style), per module.

The public names are ``tools/api_fuzz.py``'s ``public_names`` (the rule ``tests/test_doctests.py``
uses too; deprecated aliases made by ``effnn._deprecate`` are left out there). The rules:

- a function with parameters needs ``Args:`` naming each of them (``*args`` / ``**kwargs`` too);
- a function needs ``Returns:`` (``Yields:`` for a generator), even when it returns ``None``: the
  block then says what the call does instead (draws, writes a file, raises);
- a class with constructor parameters needs ``Args:`` naming each of them, in the class docstring
  or in ``__init__``'s (a dataclass's fields are its constructor parameters); a constructor
  inherited from another library (``nn.Module``'s ``*args, **kwargs``) has none of its own.

Usage::

    python tools/docstring_audit.py [-v]

prints a table (module, names, missing ``Args:``, missing ``Returns:``, parameters not named in
``Args:``) and, with ``-v``, every offender. Exit status 1 when anything is missing.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

_ENTRY = re.compile(r"^\s*(\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*)\s*(?:\([^)]*\))?\s*:(?:\s|$)")
_SECTIONS = ("Args:", "Returns:", "Yields:", "Raises:", "Example:", "Examples:", "Note:", "Notes:")


def _block(doc: str, header: str) -> list[str] | None:
    """The lines of ``header``'s block (indented deeper than the header), or None without one."""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == header:
            indent = len(line) - len(line.lstrip())
            out = []
            for nxt in lines[i + 1:]:
                if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                    break
                out.append(nxt)
            return out
    return None


def documented_params(doc: str) -> set[str] | None:
    """Parameter names listed in the ``Args:`` block (``*`` / ``**`` stripped), or None without one."""
    block = _block(doc, "Args:")
    if block is None:
        return None
    nonblank = [b for b in block if b.strip()]
    if not nonblank:
        return set()
    entry_indent = min(len(b) - len(b.lstrip()) for b in nonblank)
    names: set[str] = set()
    for line in nonblank:
        if len(line) - len(line.lstrip()) != entry_indent:
            continue
        m = _ENTRY.match(line)
        if m:
            names.update(n.strip().lstrip("*") for n in m.group(1).split(","))
    return names


def _params(obj) -> list[str]:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    return [p.name for p in sig.parameters.values() if p.name not in ("self", "cls")]


def _own_constructor(cls) -> bool:
    """False when the constructor comes from another library (``nn.Module``'s, an autograd
    ``Function``'s ``*args, **kwargs``): the class then takes no arguments of its own to document."""
    owner = next((k for k in cls.__mro__ if "__init__" in k.__dict__), object)
    return owner.__module__.split(".")[0] == cls.__module__.split(".")[0]


@dataclass
class Finding:
    """What one public name lacks."""

    name: str
    no_args: bool = False
    no_returns: bool = False
    undocumented: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.no_args or self.no_returns or self.undocumented)


def check(full: str, obj) -> Finding:
    """Audit one public function or class (``full`` is ``module.attr`` as ``public_names`` spells it)."""
    f = Finding(full)
    if inspect.isclass(obj):
        params = _params(obj) if _own_constructor(obj) else []
        docs = [inspect.getdoc(obj) or ""]
        init = obj.__dict__.get("__init__")
        if init is not None and init.__doc__:
            docs.append(inspect.cleandoc(init.__doc__))
        listed = [documented_params(d) for d in docs]
        if params:
            if all(n is None for n in listed):
                f.no_args = True
            else:
                have = set().union(*(n for n in listed if n is not None))
                f.undocumented = [p for p in params if p not in have]
        return f
    doc = inspect.getdoc(obj) or ""
    params = _params(obj)
    if params:
        have = documented_params(doc)
        if have is None:
            f.no_args = True
        else:
            f.undocumented = [p for p in params if p not in have]
    header = "Yields:" if inspect.isgeneratorfunction(obj) else "Returns:"
    if _block(doc, header) is None and not (header == "Yields:" and _block(doc, "Returns:") is not None):
        f.no_returns = True
    return f


def audit() -> list[Finding]:
    """One finding per public name of effnn, in ``public_names`` order."""
    root = str(Path(__file__).resolve().parents[1])  # the repository, so ``tools`` imports from anywhere
    if root not in sys.path:
        sys.path.insert(0, root)
    from tools.api_fuzz import public_names

    out = []
    for full in public_names():
        module_name, attr = full.rsplit(".", 1)
        out.append(check(full, getattr(importlib.import_module(f"effnn.{module_name}"), attr)))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="list every offender")
    args = parser.parse_args(argv)
    findings = audit()
    rows: dict[str, list[int]] = {}
    for f in findings:
        r = rows.setdefault(f.name.rsplit(".", 1)[0], [0, 0, 0, 0])
        r[0] += 1
        r[1] += f.no_args
        r[2] += f.no_returns
        r[3] += bool(f.undocumented)
    print(f"| {'module':<22} | names | no Args | no Returns | params not in Args |")
    print(f"|{'-' * 24}|-------|---------|------------|--------------------|")
    for mod, (n, a, r, u) in sorted(rows.items()):
        print(f"| {mod:<22} | {n:5d} | {a:7d} | {r:10d} | {u:18d} |")
    tot = [sum(col) for col in zip(*rows.values())]
    print(f"| {'total':<22} | {tot[0]:5d} | {tot[1]:7d} | {tot[2]:10d} | {tot[3]:18d} |")
    bad = [f for f in findings if not f.ok]
    print(f"{len(bad)} of {len(findings)} public names lack something")
    if args.verbose:
        for f in bad:
            what = (["Args:"] if f.no_args else []) + (["Returns:"] if f.no_returns else [])
            what += [f"param {p}" for p in f.undocumented]
            print(f"  {f.name}: {', '.join(what)}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
