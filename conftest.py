"""Root pytest configuration: every test and every notebook kernel runs in fast, quiet mode.

Kernels started by nbval inherit this process's environment, so the settings go into os.environ
(not just sys.path) before any kernel starts. The repository root is put on PYTHONPATH so that the
hidden-test blocks of solution notebooks can import ``autograder``.
"""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent

os.environ.setdefault("EFFNN_FAST", "1")
os.environ.setdefault("EFFNN_QUIET", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(ROOT / "build" / "inductor"))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
