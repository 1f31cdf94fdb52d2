"""Headless Chromium for browser tests: Debian's ``chromium`` (/usr/bin/chromium) driven by
Playwright over the DevTools protocol (Playwright's own browser downloads are not used).

Without the browser a test skips with the reason; with LIENTHONG_REQUIRE_BROWSER=1 (CI) it fails.
The machine's network is closed: the flags keep Chromium from calling home, and every run gets
a new, empty profile.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

CHROMIUM_ENV = "LIENTHONG_CHROMIUM"  # another binary than /usr/bin/chromium
REQUIRE_ENV = "LIENTHONG_REQUIRE_BROWSER"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def browser_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def _unavailable(reason: str) -> None:
    if browser_required():
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    pytest.skip(reason)


def chromium_path() -> str:
    """The Chromium binary, or a skip (a failure when the browser is required)."""
    path = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        _unavailable(f"no Chromium at {path}: install Debian's package (apt-get install -y chromium)")
    return path


@contextmanager
def chromium() -> Iterator[BrowserContext]:
    """A headless Chromium with a fresh profile, closed on exit."""
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing: pip install -e '.[dev]'")
    with sync_playwright() as driver, tempfile.TemporaryDirectory(prefix="lienthong-chromium-") as profile:
        context = driver.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=list(FLAGS),
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()
