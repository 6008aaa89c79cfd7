"""Detect a notebook that tampers with the grading environment (monkeypatching) during autograde.

nbgrader runs the student's cells and the hidden checks in one kernel, so a student cell could
replace a check, ``torch.equal`` or ``builtins.isinstance`` before the checks run. Two nbgrader
preprocessors guard against that:

- :class:`InsertIntegrityCells` (before ``Execute``) adds a first cell that imports the hidden checks
  and prints a fingerprint of the objects that grading relies on, and a last cell that prints the
  same fingerprint again;
- :class:`VerifyIntegrity` (after ``Execute``) removes both cells, compares the two fingerprints
  outside the kernel, and on any difference replaces every graded cell's outputs with an
  ``IntegrityError``, so those cells score zero. The differing names go to the instructor's log
  and to the message, never the check code.

This stops patching from a notebook; it is not a security boundary against a student who studies
this file (the sandbox limits in :mod:`autograder.sandbox` are the outer layer).
"""
from __future__ import annotations

import json

from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_code_cell, new_output
from traitlets import Bool

MARK = "effnn-integrity"
#: module -> attributes to fingerprint ("*" = every public one). Only objects that libraries never
#: rebind themselves: torch, for one, rewraps ``torch.manual_seed`` when dynamo loads.
GUARDED = {
    "builtins": "*",
    "math": "*",
    "effnn.measure": "*",
    "effnn.train": "*",
    "torch": ("equal", "allclose", "isclose", "is_tensor", "all", "any", "argsort", "sort", "topk",
              "count_nonzero", "cat", "stack", "zeros", "ones", "tensor", "randn", "rand", "randint",
              "Generator", "no_grad", "abs", "sum", "mean", "sign", "matmul", "where"),
    "torch.nn.utils.prune": ("is_pruned", "custom_from_mask", "remove"),
    "numpy": ("array_equal", "allclose", "isclose", "asarray", "array", "all", "any"),
}
GUARDED_CLASSES = ("torch.Tensor",)

_FINGERPRINT = r'''
import sys as _s, importlib as _il, json as _j
def _effnn_fingerprint(mods, classes):
    out = {}
    for m, names in mods.items():
        mod = _s.modules.get(m)
        if mod is None:
            continue
        d = vars(mod)
        keys = [k for k in d if not k.startswith("_") or k in ("__import__", "__build_class__")] if names == "*" else names
        for k in keys:
            if k in d:
                out[m + "." + k] = id(getattr(d[k], "__code__", d[k]))
    for c in classes:
        mod, _, name = c.rpartition(".")
        cls = getattr(_s.modules[mod], name)
        for k, v in list(vars(cls).items()):
            out[c + "." + k] = id(getattr(v, "__code__", v))
    return out
'''


def _guarded(assignment: str) -> dict:
    return {**GUARDED, "autograder": "*", "autograder.checks": "*", f"autograder.checks.{assignment}": "*"}


def _start_source(assignment: str) -> str:
    mods = _guarded(assignment)
    return (f"# {MARK}: start\n" + _FINGERPRINT +
            f"for _m in {mods!r}:\n    try:\n        _il.import_module(_m)\n    except Exception:\n        pass\n"
            f"print('{MARK}', _j.dumps(_effnn_fingerprint({mods!r}, {GUARDED_CLASSES!r})))\n"
            "del _m")


def _end_source(assignment: str) -> str:
    mods = _guarded(assignment)
    # self-contained: does not rely on anything the student's cells could have rebound
    return (f"# {MARK}: end\n" + _FINGERPRINT +
            f"print('{MARK}', _j.dumps(_effnn_fingerprint({mods!r}, {GUARDED_CLASSES!r})))")


def _stdout_of(cell) -> str:
    """All stdout of a cell: the kernel may flush one long print as several stream outputs."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name", "stdout") == "stdout":
            text = out.get("text", "")
            parts.append("".join(text) if isinstance(text, list) else str(text))
    return "".join(parts)


def _fingerprint_of(cell) -> dict | None:
    for line in _stdout_of(cell).splitlines():
        if line.startswith(MARK + " "):
            try:
                return json.loads(line[len(MARK) + 1:])
            except json.JSONDecodeError:
                return None
    return None


class InsertIntegrityCells(Preprocessor):
    """Add the fingerprint cells around the notebook (autograde only)."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        assignment = resources.get("nbgrader", {}).get("assignment", "")
        if not assignment:
            return nb, resources
        nb.cells.insert(0, new_code_cell(_start_source(assignment), metadata={MARK: "start"}))
        nb.cells.append(new_code_cell(_end_source(assignment), metadata={MARK: "end"}))
        return nb, resources


class VerifyIntegrity(Preprocessor):
    """Compare the fingerprints, remove the cells, and zero graded cells on tampering."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        start = next((c for c in nb.cells if c.get("metadata", {}).get(MARK) == "start"), None)
        end = next((c for c in nb.cells if c.get("metadata", {}).get(MARK) == "end"), None)
        if start is None and end is None:
            return nb, resources
        nb.cells = [c for c in nb.cells if MARK not in c.get("metadata", {})]
        before, after = (_fingerprint_of(start) if start else None), (_fingerprint_of(end) if end else None)
        if before is None:
            return nb, resources  # the guard itself could not run; nothing to compare
        if after is None:
            if end is None or end.get("execution_count") is None or self._infrastructure_timeout(end):
                # the end cell never ran (the kernel died: reported by its own status) or its output
                # arrived too late (a loaded machine): nothing to compare, but say so in the log
                self.log.warning("integrity: the end cell did not run or its output timed out; not compared")
                resources.setdefault("effnn", {})["integrity_unchecked"] = True
                return nb, resources
            # it ran and printed no fingerprint: print, stdout or json were tampered with
            changed = ["the final integrity check did not run"]
            self.log.warning("integrity: the end cell printed no fingerprint; its outputs: %s",
                             [(o.get("output_type"), o.get("ename"), str(o.get("text", ""))[:200])
                              for o in end.get("outputs", [])])
        else:
            changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
        if changed:
            shown = ", ".join(changed[:8]) + (" ..." if len(changed) > 8 else "")
            self.log.warning("integrity: notebook replaced %s", shown)
            message = (f"the notebook replaced objects that grading relies on ({shown}); "
                       "graded cells score zero and the submission is flagged for review")
            for cell in nb.cells:
                if cell.get("metadata", {}).get("nbgrader", {}).get("grade") and cell.cell_type == "code":
                    cell.outputs = [new_output("error", ename="IntegrityError", evalue=message,
                                               traceback=[f"IntegrityError: {message}"])]
            resources.setdefault("effnn", {})["integrity"] = changed
        return nb, resources

    @staticmethod
    def _infrastructure_timeout(end) -> bool:
        """The end cell ran but its output did not arrive in time (a loaded machine, not the student)."""
        return end is not None and any(o.get("output_type") == "error" and o.get("ename") == "CellTimeoutError"
                                       for o in end.get("outputs", []))
