"""The integrity guard's comparison, outside any kernel: split prints, tampering, crashes."""
import json

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from autograder.integrity import MARK, VerifyIntegrity

FP = {f"torch.name{i}": 1000 + i for i in range(500)}


def _guard_cell(kind: str, fingerprint: dict | None, chunks: int = 1) -> nbformat.NotebookNode:
    cell = new_code_cell(f"# {MARK}: {kind}", metadata={MARK: kind}, execution_count=9)
    if fingerprint is not None:
        text = f"{MARK} {json.dumps(fingerprint)}\n"
        step = -(-len(text) // chunks)
        cell.outputs = [new_output("stream", name="stdout", text=text[i:i + step])
                        for i in range(0, len(text), step)]
    return cell


def _notebook(start, end) -> nbformat.NotebookNode:
    graded = new_code_cell("assert True", execution_count=2,
                           metadata={"nbgrader": {"grade": True, "grade_id": "t", "points": 1}})
    graded.outputs = [new_output("stream", name="stdout", text="ok\n")]
    cells = [start, new_code_cell("x = 1", execution_count=1), graded]
    return new_notebook(cells=cells + ([end] if end is not None else []))


def _verify(nb):
    return VerifyIntegrity().preprocess(nb, {})


def _graded_outputs(nb):
    return next(c for c in nb.cells if c.metadata.get("nbgrader")).outputs


def test_unchanged_fingerprint_keeps_outputs_and_removes_guard_cells():
    nb, res = _verify(_notebook(_guard_cell("start", FP), _guard_cell("end", FP)))
    assert len(nb.cells) == 2 and not any(MARK in c.metadata for c in nb.cells)
    assert _graded_outputs(nb)[0].text == "ok\n" and "effnn" not in res


def test_one_print_flushed_as_several_stream_outputs_is_not_tampering():
    # a long fingerprint can arrive in pieces under load (this once zeroed an honest submission)
    nb, res = _verify(_notebook(_guard_cell("start", FP, chunks=3), _guard_cell("end", FP, chunks=7)))
    assert _graded_outputs(nb)[0].text == "ok\n" and "effnn" not in res


def test_replaced_object_zeroes_graded_cells_and_names_it():
    after = dict(FP, **{"torch.name7": 1})
    nb, res = _verify(_notebook(_guard_cell("start", FP, chunks=2), _guard_cell("end", after)))
    (out,) = _graded_outputs(nb)
    assert out.output_type == "error" and out.ename == "IntegrityError"
    assert "torch.name7" in out.evalue and res["effnn"]["integrity"] == ["torch.name7"]


def test_missing_final_fingerprint_of_a_live_kernel_is_flagged():
    nb, res = _verify(_notebook(_guard_cell("start", FP), _guard_cell("end", None)))
    assert _graded_outputs(nb)[0].ename == "IntegrityError"


def test_kernel_that_died_before_the_end_is_left_to_its_own_status():
    end = _guard_cell("end", None)
    end.execution_count = None
    nb = _notebook(_guard_cell("start", FP), end)
    nb.cells.insert(-1, new_code_cell("never ran"))  # the kernel died before reaching it
    nb, res = _verify(nb)
    assert _graded_outputs(nb)[0].text == "ok\n" and res["effnn"] == {"integrity_unchecked": True}


def test_end_cell_whose_output_timed_out_is_not_counted_as_tampering():
    end = _guard_cell("end", None)
    end.outputs = [new_output("error", ename="CellTimeoutError", evalue="", traceback=[])]
    nb, res = _verify(_notebook(_guard_cell("start", FP), end))
    assert _graded_outputs(nb)[0].text == "ok\n" and res["effnn"]["integrity_unchecked"]
