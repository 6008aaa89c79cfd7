"""nbgrader preprocessors for student-facing feedback."""
from __future__ import annotations

import re

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Integer

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class ShortenTracebacks(Preprocessor):
    """Replace each error traceback in a graded cell by its last line (``AssertionError: msg``).

    A full traceback quotes the lines of the hidden checks it passed through; the last line carries
    only the message, which the checks write to say what is wrong without revealing expected values.
    """

    enabled = Bool(True).tag(config=True)
    max_message = Integer(600).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") != "code" or not meta.get("grade"):
            return cell, resources
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                message = f"{out.get('ename', 'Error')}: {_ANSI.sub('', str(out.get('evalue', '')))}"
                message = message[: self.max_message]
                out["traceback"] = [message]
        return cell, resources


class OnlyVerdicts(Preprocessor):
    """Feedback keeps the outputs of graded test cells (the judge's verdicts) and clears the rest.

    Any other cell's output is whatever the student's code printed at grading time, which can
    include inputs the judge sent; the student has their own outputs from their own run.
    """

    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and not (meta.get("grade") and not meta.get("solution")):
            cell["outputs"] = []
        return cell, resources
