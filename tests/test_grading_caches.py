"""What the grader computes once instead of once per submission, and why that is safe.

The master gradebook, A1's portraits (read by every kernel from the grader's cache, read-only in
the jail) and the judge's held-out inputs (on the grader's disk, outside any sandbox).
"""
import os
import shutil
import subprocess
import sys

import pytest
import torch

from autograder import grade, release
from autograder.checks import _common
from autograder.grade import master_digest, prepare_master, warm_cache

A0 = "a0_warmup"
A1 = "a1_segformer_pruning"


def _cells(db):
    return grade.grade_ids(db, A0), grade._max_scores(db, A0)


def test_the_master_gradebook_is_registered_once_then_copied(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = prepare_master(A0, tmp_path / "one", cache=cache)
    assert [p.name for p in cache.iterdir()] == [f"{A0}-{master_digest(A0)}.db"]

    def no_nbgrader(*args, **kwargs):
        raise AssertionError("a cached gradebook must not run nbgrader again")

    monkeypatch.setattr(release, "nbgrader", no_nbgrader)
    second = prepare_master(A0, tmp_path / "two", cache=cache)
    assert second != first and second.read_bytes() == first.read_bytes()
    assert _cells(second) and _cells(second) == _cells(first)


def test_the_master_digest_follows_the_instructor_notebook_and_config(tmp_path, monkeypatch):
    copy = tmp_path / "solutions"
    shutil.copytree(release.SOLUTIONS / A0, copy / A0)
    monkeypatch.setattr(release, "SOLUTIONS", copy)
    before = master_digest(A0)
    assert master_digest(A0) == before  # deterministic
    nb = copy / A0 / f"{A0}.ipynb"
    nb.write_text(nb.read_text().replace("assert", "assert ", 1))
    assert master_digest(A0) != before
    config = tmp_path / "nbgrader_config.py"
    config.write_text(release.COURSE_CONFIG.read_text() + "\n# a change\n")
    changed = master_digest(A0)
    monkeypatch.setattr(release, "COURSE_CONFIG", config)
    assert master_digest(A0) != changed


def test_kernels_get_the_graders_cache_not_one_under_their_fresh_home(tmp_path, monkeypatch):
    from autograder import sandbox
    from autograder.settings import limits_for

    monkeypatch.delenv("EFFNN_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "grader"))
    seen = {}

    class FakePopen:
        def __init__(self, cmd, **kwargs):
            seen.update(kwargs["env"])

    monkeypatch.setattr(sandbox, "pid_namespace", lambda: False)
    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    sandbox._spawn([sys.executable, "-c", "pass"], tmp_path / "root", limits_for(A0), unsafe=True)
    assert seen["EFFNN_CACHE"] == str(tmp_path / "grader" / ".cache" / "effnn")
    assert seen["HOME"] == str(tmp_path / "root")
    monkeypatch.setenv("EFFNN_CACHE", str(tmp_path / "mine"))
    sandbox._spawn([sys.executable, "-c", "pass"], tmp_path / "root", limits_for(A0), unsafe=True)
    assert seen["EFFNN_CACHE"] == str(tmp_path / "mine")  # an instructor's own setting wins


def test_warm_cache_renders_what_the_a1_notebook_loads(tmp_path, monkeypatch):
    from autograder.checks import a1_segformer_pruning as checks
    from effnn import config

    monkeypatch.setenv("EFFNN_CACHE", str(tmp_path))
    monkeypatch.setattr(checks, "GRADING_PORTRAITS", {"train": 3, "val": 2})
    held_out = []
    monkeypatch.setattr(checks, "_held_out", held_out.append)  # the judge's set, warmed too
    warm_cache.cache_clear()
    try:
        assert warm_cache(A1) == ""
        assert sorted(p.name for p in (tmp_path / "portraits").iterdir()) == [
            "train_n3_s96_seed0.pt", "val_n2_s96_seed0.pt"]
        assert held_out == [config.pick(200, 96)]  # the size check_final_answer uses
        assert warm_cache(A0) == ""  # no hook: nothing to do

        def broken():
            raise RuntimeError("disk full")

        monkeypatch.setattr(checks, "warm_cache", broken)
        warm_cache.cache_clear()
        assert warm_cache(A1) == "RuntimeError: disk full"  # slower, never a lost grade
    finally:
        warm_cache.cache_clear()


def test_the_grading_release_loads_exactly_the_warmed_portraits():
    """The hook must name what the release really loads under nbgrader (fast mode), or it warms nothing."""
    from autograder.checks.a1_segformer_pruning import GRADING_PORTRAITS

    source = (release.REPO / "assignments" / A1 / f"{A1}.ipynb").read_text()
    assert f'S.portrait_tensors(\\"train\\", n=config.pick(2000, {GRADING_PORTRAITS["train"]}))' in source
    assert f'S.portraits(\\"val\\", n=config.pick(400, {GRADING_PORTRAITS["val"]}))' in source


def test_judge_cache_builds_once_and_rebuilds_when_its_inputs_change(tmp_path, monkeypatch):
    monkeypatch.setattr(grade, "GRADER_CACHE", tmp_path / "out")
    dep = tmp_path / "renderer.py"
    dep.write_text("v1")
    calls = []

    def make():
        calls.append(1)
        return torch.arange(len(calls) * 3), torch.ones(2)

    a = _common.judge_cache("held-out", make, dep)
    b = _common.judge_cache("held-out", make, dep)
    assert len(calls) == 1 and torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    dep.write_text("v2")
    c = _common.judge_cache("held-out", make, dep)
    assert len(calls) == 2 and tuple(c[0].shape) == (6,)
    for path in (tmp_path / "out" / "judge").iterdir():
        path.write_bytes(b"torn")  # half-written or tampered: built again, never trusted
    _common.judge_cache("held-out", make, dep)
    assert len(calls) == 3


def test_nothing_the_grader_keeps_is_inside_what_a_jail_mounts():
    """The gradebook and judge caches live in the checkout, which no sandbox mounts."""
    from autograder import jail
    from effnn import config

    mounted = [*map(str, jail.python_paths()), *map(str, jail.package_paths("effnn")), str(config.cache_dir())]
    for kept in (grade.MASTER_CACHE, grade.GRADER_CACHE / "judge"):
        assert not any(os.path.commonpath([str(kept), m]) == m for m in mounted), kept
