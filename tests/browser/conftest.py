"""Browser tests drive Debian's Chromium through Playwright (it cannot download its own here)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page

# Elements that could run or fetch something on their own: inline scripts, images and SVG
# (webbin's only image is its logo), event-handler attributes, htmx triggers on load.
LIVE_MARKUP = """() => Array.from(document.querySelectorAll("*")).filter((el) =>
    (el.tagName === "SCRIPT" && !el.src)
    || (el.tagName === "IMG" && !el.classList.contains("logo"))
    || el.tagName.toLowerCase() === "svg"
    || Array.from(el.attributes).some((a) => a.name.startsWith("on"))
    || (el.getAttribute("hx-trigger") || "").includes("load")
  ).map((el) => el.outerHTML.slice(0, 200))"""


@pytest.fixture
def live_markup() -> Callable[[Page], list[str]]:
    """Markup on the page that could still fire later. When there is none, nothing captured
    can run, however long one waits, so tests check this instead of waiting."""
    return lambda page: page.evaluate(LIVE_MARKUP)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
        ],
    }
