"""effnn.xnor lets numba compile for 512-bit registers on an AVX-512 CPU, and never over a user's choice.

Each case runs in a fresh interpreter: the setting only exists before numba's first compiled function.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

numba = pytest.importorskip("numba")

_PROBE = """
import json, sys
{before}
import numba
from numba.core import codegen
from numba.core.registry import cpu_target
from effnn import xnor
host = codegen.get_host_cpu_features().split(",")
print(json.dumps({{"avx512": "+avx512f" in host, "full": xnor._full_width_vectors(),
                  "features": cpu_target.target_context.codegen()._tm_features}}))
"""


def _probe(before: str = "", **env) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CPU")}
    environ.update(env)
    proc = subprocess.run([sys.executable, "-c", _PROBE.format(before=before)], capture_output=True, text=True,
                          env=environ, timeout=120, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_an_avx512_cpu_gets_full_width_vectors_and_others_keep_theirs():
    seen = _probe()
    assert seen["full"] == seen["avx512"]
    assert seen["features"].endswith(",-prefer-256-bit") == seen["avx512"]


def test_a_users_features_are_kept():
    seen = _probe(NUMBA_CPU_FEATURES="+64bit,+sse2")
    assert seen == {"avx512": seen["avx512"], "full": False, "features": "+64bit,+sse2"}


def test_too_late_once_numba_has_compiled():
    """A function compiled before effnn's import has fixed the target machine: nothing is changed."""
    seen = _probe(before="import numba\nnumba.njit(lambda: 1)()")
    assert seen["full"] is False
    assert not seen["features"].endswith(",-prefer-256-bit")
