"""What a student has does not answer a graded exercise: A0's call-throughs earn nothing, and no
reference answer of A0, A1 or A2 is in the student bundle or in ``effnn``.

A0's mask exercises have what ``effnn.prune`` and ``torch.nn.utils.prune`` do as their subject, so
the exercises pin down what those libraries leave open: among equal magnitudes the earlier weight goes
first (torch's ``topk``, and so ``effnn.prune``, break ties in their own order), and masks applied
twice accumulate (``effnn``'s ``install_mask`` / ``lth.apply_masks`` replace). ``linear_cost`` must be
exact for a layer too large to build, which no call into ``effnn.measure`` (a module, even on the meta
device) survives. The fast tests drive the hidden checks in this process; the slow one grades a
submission that answers every A0 exercise from the library, in the grading jail.
"""
from __future__ import annotations

import ast
import copy
import json
import zipfile
from pathlib import Path

import nbformat
import pytest
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from autograder import jail
from effnn import criteria, lth, measure
from effnn import prune as P
from effnn.grading import judge

ROOT = Path(__file__).resolve().parent.parent
A0 = "a0_warmup"


# ------------------------------------------------------------------ A0: the hidden checks, in-process
def _passes(check: str, **objects) -> bool:
    try:
        judge(f"{A0}.{check}", **objects)
    except AssertionError:
        return False
    return True


def _solution_namespace() -> dict:
    nb = nbformat.read(str(ROOT / "solutions" / A0 / f"{A0}.ipynb"), as_version=4)
    ns: dict = {}
    exec("import torch\nfrom torch import nn\nfrom torch.nn.utils import prune\n", ns)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            exec(cell.source, ns)
    return ns


def _checked(weight, amount):
    if not torch.is_tensor(weight):
        raise TypeError("weight must be a tensor")
    P.check_amount(amount, "amount")


def mask_via_effnn_prune(weight, amount):
    _checked(weight, amount)
    holder = nn.Module()
    holder.weight = nn.Parameter(weight.detach().clone().float())
    P.magnitude_prune(holder, amount, layers=[holder])
    return P.mask_of(holder).detach().clone()


def mask_via_block_prune(weight, amount):
    _checked(weight, amount)
    holder = nn.Module()
    holder.weight = nn.Parameter(weight.detach().clone().float())
    P.block_prune(holder, amount, "weight", layers=[holder])
    return P.mask_of(holder).detach().clone()


def mask_via_nm_mask(weight, amount):
    _checked(weight, amount)
    n = weight.numel()  # one group of all weights: keep the n - k largest
    return P.nm_mask(weight.reshape(1, n), n - round(amount * n), n).view_as(weight)


def mask_via_torch(weight, amount):
    _checked(weight, amount)
    w = weight.detach().float()
    return torch_prune.L1Unstructured(amount=round(amount * w.numel())).compute_mask(w, torch.ones_like(w))


def mask_via_effnn_private(weight, amount):
    _checked(weight, amount)
    return P._lowest_mask(weight.abs(), round(amount * weight.numel()))


def mask_via_criteria(weight, amount):
    _checked(weight, amount)
    k = round(amount * weight.numel())
    return criteria._zero_lowest(torch.ones(weight.numel()), weight.detach().abs().flatten(), k).view_as(weight)


def global_via_magnitude_prune(model, amount):
    pruned = P.magnitude_prune(copy.deepcopy(model), amount, scope="global")
    return lth.masks(pruned)


def global_via_scores(model, amount):
    pruned = copy.deepcopy(model)
    layers = P.prunable_layers(pruned)
    P.prune_by_scores(pruned, {m: m.weight.detach().abs() for m in layers}, amount, scope="global")
    return lth.masks(pruned)


def apply_via_install_mask(model, masks):
    modules = dict(model.named_modules())
    for name, mask in masks.items():
        P.install_mask(modules[name], mask)
    return model


def _measured(in_features, out_features, batch, bias, device):
    if min(in_features, out_features, batch) < 1:
        raise ValueError("sizes must be positive")
    lin = nn.Linear(in_features, out_features, bias=bias, device=device)
    x = torch.zeros(batch, in_features, device=device)
    return {"params": measure.count_params(lin), "macs": measure.count_macs(lin, x), "bytes": measure.dense_bytes(lin)}


def cost_via_measure(in_features, out_features, batch=1, bias=True):
    return _measured(in_features, out_features, batch, bias, "cpu")


def cost_via_measure_meta(in_features, out_features, batch=1, bias=True):
    return _measured(in_features, out_features, batch, bias, "meta")


def test_the_solution_passes_every_hidden_check():
    ns = _solution_namespace()
    assert _passes("check_linear_cost", linear_cost=ns["linear_cost"])
    assert _passes("check_magnitude_mask", magnitude_mask=ns["magnitude_mask"])
    assert _passes("check_global_masks", global_magnitude_masks=ns["global_magnitude_masks"])
    assert _passes("check_apply_masks", apply_masks=ns["apply_masks"])


@pytest.mark.parametrize("fn", [mask_via_effnn_prune, mask_via_block_prune, mask_via_nm_mask, mask_via_torch,
                                mask_via_effnn_private])
def test_magnitude_mask_from_a_library_fails(fn):
    w = torch.randn(7, 9)
    assert int((fn(w, 0.5) == 0).sum()) == round(0.5 * w.numel())  # a working call-through, not a broken one
    assert not _passes("check_magnitude_mask", magnitude_mask=fn)


def test_magnitude_mask_from_criteria_fails():
    assert not _passes("check_magnitude_mask", magnitude_mask=mask_via_criteria)


@pytest.mark.parametrize("fn", [global_via_magnitude_prune, global_via_scores])
def test_global_masks_from_effnn_fail(fn):
    net = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))
    masks = fn(net, 0.5)
    assert set(masks) == {"0", "2"} and sum(int((m == 0).sum()) for m in masks.values()) == round(0.5 * 66)
    assert not _passes("check_global_masks", global_magnitude_masks=fn)


@pytest.mark.parametrize("fn", [lth.apply_masks, apply_via_install_mask])
def test_apply_masks_from_effnn_fails(fn):
    assert not _passes("check_apply_masks", apply_masks=fn)


@pytest.mark.parametrize("fn", [cost_via_measure, cost_via_measure_meta])
def test_linear_cost_from_effnn_measure_fails(fn):
    assert fn(64, 300, 4, True) == {"params": 64 * 300 + 300, "macs": 4 * 64 * 300, "bytes": 4 * (64 * 300 + 300)}
    assert not _passes("check_linear_cost", linear_cost=fn)


# ------------------------------------------------------------------ A0: graded for real, in the jail
LIBRARY_ANSWERS = {
    "linear_cost": '''
from effnn import measure as _measure

def linear_cost(in_features, out_features, batch=1, bias=True):
    lin = nn.Linear(in_features, out_features, bias=bias, device="meta")
    x = torch.zeros(batch, in_features, device="meta")
    return {"params": _measure.count_params(lin), "macs": _measure.count_macs(lin, x),
            "bytes": _measure.dense_bytes(lin)}
''',
    "magnitude_mask": '''
from effnn import prune as _P

def magnitude_mask(weight, amount):
    if not torch.is_tensor(weight):
        raise TypeError("weight must be a tensor")
    holder = nn.Module()
    holder.weight = nn.Parameter(weight.detach().clone().float())
    _P.magnitude_prune(holder, amount, layers=[holder])
    return _P.mask_of(holder).detach().clone()
''',
    "global_magnitude_masks": '''
import copy
from effnn import lth as _lth, prune as _P

def global_magnitude_masks(model, amount):
    return _lth.masks(_P.magnitude_prune(copy.deepcopy(model), amount, scope="global"))
''',
    "apply_masks": "from effnn.lth import apply_masks",
}
TEST_CELLS = {"test_linear_cost", "test_magnitude_mask", "test_global_masks", "test_apply_masks"}


@pytest.mark.slow
@pytest.mark.skipif(bool(jail.available()), reason="no grading jail on this machine: aliases would work")
def test_answering_a0_from_the_library_scores_zero(tmp_path, monkeypatch):
    from roundtrip import grade_with_answers

    monkeypatch.setenv("EFFNN_FAST", "1")
    result = grade_with_answers(A0, LIBRARY_ANSWERS, tmp_path)
    assert result["status"] == "graded", result
    assert set(result["cells"]) == TEST_CELLS
    assert all(c["score"] == 0 for c in result["cells"].values()), result["cells"]


# ------------------------------------------------------------------ every assignment: a scan of what students get
MIN_NODES = 25  # smaller bodies (``return model``, a one-line forward) say nothing about an answer
#: public names of exercise functions that effnn may define too: (module, name) -> why it is no answer
SHARED_NAMES = {
    ("lth", "apply_masks"): "replaces masks where A0's apply_masks accumulates (test_apply_masks_from_effnn_fails)",
}
#: effnn names that autograder/reference also defines: constants of the exercise's statement, checks of
#: input, and lecture 04b's binarized_mlp (other estimators and layout: tests/test_a2_library_answers.py)
SHARED_REFERENCE_NAMES = {"MODES", "IMPORTANCES", "WORD_BITS", "_as_numpy", "_check_operands", "binarized_mlp"}
#: reference helpers whose body effnn may share: argument checks, no exercise's answer
SHARED_HELPER_BODIES = {"_as_numpy"}  # tensor or array -> numpy array, else TypeError


def _code(source: str) -> str:
    """Python from a notebook cell: magics and shell lines dropped."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _functions(source: str):
    """(name, normalized body, size) of every function and class in ``source``, methods included."""
    try:
        tree = ast.parse(_code(source))
    except SyntaxError:
        return
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = list(node.body)
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                body = body[1:] or [ast.Pass()]
            module = ast.Module(body=body, type_ignores=[])
            for inner in ast.walk(module):  # nested docstrings do not matter either
                if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and inner.body \
                        and isinstance(inner.body[0], ast.Expr) and isinstance(inner.body[0].value, ast.Constant):
                    inner.body = inner.body[1:] or [ast.Pass()]
            yield node.name, ast.dump(module, annotate_fields=False), sum(1 for _ in ast.walk(module))


def _notebook_sources(text: str) -> list[str]:
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in json.loads(text)["cells"] if c["cell_type"] == "code"]


def _solution_sources(path: Path) -> list[str]:
    """The answer cells of an instructor notebook (the ``### BEGIN SOLUTION`` markers are comments)."""
    return [s for s in _notebook_sources(path.read_text()) if "### BEGIN SOLUTION" in s]


def _answer_functions(source: str):
    """The functions and classes of an answer cell that hold an answer (given code around them does not)."""
    lines = _code(source).splitlines()
    marks = [i + 1 for i, line in enumerate(lines) if line.strip() == "### BEGIN SOLUTION"]
    spans = {}
    for node in ast.walk(ast.parse(_code(source))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            spans.setdefault(node.name, []).append((node.lineno, node.end_lineno))
    bodies = list(_functions(source))
    seen: dict[str, int] = {}
    for name, body, size in bodies:  # _functions walks in the same order as the spans above
        start, end = spans[name][seen.get(name, 0)]
        seen[name] = seen.get(name, 0) + 1
        if any(start <= m <= end for m in marks):
            yield name, body, size


def _answers() -> dict[str, tuple[str, str, int]]:
    """Normalized body -> (where, name, size) for every answer and every function of the reference modules."""
    found = {}
    for nb in sorted(ROOT.glob("solutions/*/*.ipynb")):
        for src in _solution_sources(nb):
            for name, body, size in _answer_functions(src):
                found.setdefault(body, (nb.parent.name, name, size))
    for py in sorted((ROOT / "autograder" / "reference").glob("*.py")):
        for name, body, size in _functions(py.read_text()):
            if name not in SHARED_HELPER_BODIES:
                found.setdefault(body, (f"reference/{py.stem}", name, size))
    return {body: v for body, v in found.items() if v[2] >= MIN_NODES}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    from autograder import bundle as B

    path = B.build(tmp_path_factory.mktemp("bundle") / "student.zip")
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name).decode("utf-8", "replace") for name in zf.namelist()
                if name.endswith((".py", ".ipynb"))}, zf.namelist()


def _student_sources(bundle) -> dict[str, list[str]]:
    files, _ = bundle
    out = {name: _notebook_sources(text) if name.endswith(".ipynb") else [text] for name, text in files.items()}
    for py in sorted((ROOT / "course" / "effnn").rglob("*.py")):  # the installed library, shipped or not
        out[str(py.relative_to(ROOT))] = [py.read_text()]
    return out


def test_the_bundle_holds_no_solutions_and_no_autograder(bundle):
    _, names = bundle
    parts = [Path(n).parts[1:] for n in names]
    assert parts and not [p for p in parts if p and p[0] in ("solutions", "autograder", "tests", "benchmarks")]
    assert not [n for n in names if "BEGIN SOLUTION" in n or "reference" in Path(n).parts]
    files, _ = bundle
    assert not [n for n, text in files.items() if "### BEGIN SOLUTION" in text or "BEGIN HIDDEN TESTS" in text]


def test_no_answer_body_is_in_the_bundle_or_effnn(bundle):
    answers = _answers()
    assert len(answers) >= 30, len(answers)  # the scan looks at real answers (A0, A1, A2 and the references)
    named = {(where, name) for where, name, _ in answers.values()}
    assert {("a0_warmup", "magnitude_mask"), ("a1_segformer_pruning", "mean_iou"), ("a2_binarized_nn", "pack_signs"),
            ("reference/segformer", "finetune")} <= named, named
    # a renamed, re-indented, re-documented copy is still found
    a0 = _solution_sources(ROOT / "solutions" / A0 / f"{A0}.ipynb")
    solution = next(src for src in a0 if "def magnitude_mask" in src)
    body = ast.get_source_segment(solution, ast.parse(solution).body[0])
    renamed = body.replace("def magnitude_mask(weight, amount):", "def my_mask(weight, amount):").replace(
        '"""1 for the weights to keep, 0 for the round(amount * numel) smallest in magnitude."""', "'other doc'")
    assert renamed != body and any(b in answers for _, b, _ in _functions("if True:\n" + "\n".join(
        "    " + line for line in renamed.splitlines())))
    copies = []
    for where, sources in _student_sources(bundle).items():
        for src in sources:
            for name, body, _ in _functions(src):
                if body in answers:
                    copies.append(f"{where}: {name} is {answers[body][0]}'s {answers[body][1]}")
    assert not copies, copies


def _effnn_public() -> dict[str, str]:
    names = {}
    for py in sorted((ROOT / "course" / "effnn").glob("*.py")):
        for node in ast.parse(py.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names[node.name] = py.stem
            elif isinstance(node, ast.Assign):
                names.update({t.id: py.stem for t in node.targets if isinstance(t, ast.Name)})
    return names


def test_effnn_defines_no_exercise_function_by_name():
    exercise = set()
    for nb in sorted(ROOT.glob("solutions/*/*.ipynb")):
        for src in _solution_sources(nb):
            tree = ast.parse(_code(src))
            exercise |= {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert {"linear_cost", "magnitude_mask", "mean_iou", "SignSTE", "xnor_matmul"} <= exercise
    public = _effnn_public()
    clash = {(public[n], n) for n in exercise if n in public}
    assert clash <= set(SHARED_NAMES), clash - set(SHARED_NAMES)


def test_effnn_defines_nothing_of_the_reference_modules():
    public = _effnn_public()
    defined = set()
    for py in sorted((ROOT / "autograder" / "reference").glob("*.py")):
        for node in ast.parse(py.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, ast.Assign):
                defined |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    assert {"mean_iou", "SignSTE", "pack_signs"} <= defined
    clash = {n for n in defined if n in public}
    assert clash <= SHARED_REFERENCE_NAMES, clash - SHARED_REFERENCE_NAMES
