"""What every browser test shares: Debian's chromium driven by Playwright, and the skip when absent.

No browser is downloaded: `make browser` installs chromium with apt and the `test` extra has
Playwright's Python API. Without either, the browser tests skip and say how to get them.
"""
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover
    sync_playwright = None

NEEDS_CHROMIUM = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine: `make browser` "
                                                             "installs it (apt-get install chromium) with Playwright")
NEEDS_PLAYWRIGHT = pytest.mark.skipif(sync_playwright is None, reason="Playwright is not installed: "
                                                                      "`make browser` (pip install -e '.[browser]')")


def browser_marks(timeout: int) -> list:
    """pytest marks of a browser test: slow, its time limit, and the skips when chromium is absent."""
    return [pytest.mark.slow, pytest.mark.timeout(timeout), NEEDS_CHROMIUM, NEEDS_PLAYWRIGHT]
