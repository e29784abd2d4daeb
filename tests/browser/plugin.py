"""Headless Chromium for tests, driven by Playwright, with artifacts on failure.

Fixtures:
- ``browser``: Chromium (see ``chromium.py`` for which one), one per test
  module. Playwright's sync API keeps an event loop running in this thread
  while it is open, so it must not outlive the module that uses it.
- ``browser_context_args``: options for each test's fresh browser context
  (override it in a module, e.g. for extra headers).
- ``page``: a page in a fresh context; ``page_log`` is what it did.

When a test that uses ``page`` fails, every page of its context is saved
to ``test-artifacts/browser/`` (or ``$COURSEKIT_TEST_ARTIFACTS/browser/``):
a full-page screenshot (``.png``), its HTML (``.html``) and its console
messages, page errors and requests (``.log``). The failure report lists
the files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from tests.browser import chromium

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_ENV = "COURSEKIT_TEST_ARTIFACTS"
#: Playwright already passes --headless, --no-sandbox and turns off Chrome's
#: background services; a machine without a GPU needs this too.
LAUNCH_ARGS = ["--disable-gpu"]
#: Every wait for the page is bounded: far beyond a healthy page, also on a
#: machine whose cores another test run keeps busy.
TIMEOUT_MS = 60_000

_page_log = pytest.StashKey["PageLog"]()


def artifacts_dir() -> Path:
    """Where the browser tests save what a failing page looked like."""
    base = os.environ.get(ARTIFACTS_ENV)
    return (Path(base) if base else ROOT / "test-artifacts") / "browser"


@dataclass
class PageLog:
    """What the pages of one browser context logged and asked for."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def watch(self, context: BrowserContext) -> None:
        context.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        context.on("weberror", lambda e: self.errors.append(str(e.error)))
        context.on("request", lambda r: self.requests.append(f"{r.method} {r.url}"))
        context.on(
            "requestfailed",
            lambda r: self.failed.append(f"{r.method} {r.url}: {r.failure}"),
        )

    def elsewhere(self, origin: str) -> list[str]:
        """Requests to any other origin than ``origin``.

        ``data:`` URLs ask nothing of anyone; a ``blob:`` URL belongs to the
        origin that made it.
        """
        wanted = urlsplit(origin)[:2]
        found = []
        for line in self.requests:
            url = line.split(" ", 1)[1]
            if url.startswith("data:"):
                continue
            if urlsplit(url.removeprefix("blob:"))[:2] != wanted:
                found.append(line)
        return found

    def text(self) -> str:
        parts = [
            ("console", self.console),
            ("page errors", self.errors),
            ("failed requests", self.failed),
            ("requests", self.requests),
        ]
        return "\n\n".join(
            f"{title}:\n" + "\n".join(f"  {line}" for line in lines or ["(none)"])
            for title, lines in parts
        )


@pytest.fixture(scope="session")
def chromium_executable() -> Path:
    """The Chromium to drive; skips (fails where required) without one."""
    try:
        found = chromium.find()
    except chromium.ChromiumError as error:
        pytest.fail(str(error))
    if found is None:
        message = f"no Chromium for the browser tests. {chromium.HOW_TO_INSTALL}"
        if chromium.required():
            pytest.fail(f"{message} (They must run here: CI is set.)")
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def browser(chromium_executable: Path) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium_executable), args=LAUNCH_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def browser_context_args() -> dict[str, Any]:
    return {"viewport": {"width": 1280, "height": 900}}


@pytest.fixture
def page_log(request: pytest.FixtureRequest) -> PageLog:
    log = PageLog()
    request.node.stash[_page_log] = log
    return log


@pytest.fixture
def page(
    browser: Browser, browser_context_args: dict[str, Any], page_log: PageLog
) -> Iterator[Page]:
    context = browser.new_context(**browser_context_args)
    context.set_default_timeout(TIMEOUT_MS)
    page_log.watch(context)
    try:
        yield context.new_page()
    finally:
        context.close()


def save_artifacts(pages: list[Page], log: PageLog | None, name: str) -> list[Path]:
    """Save a screenshot and the HTML of each page, and the log; return the files."""
    folder = artifacts_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:150]
    saved: list[Path] = []
    for number, shown in enumerate(pages, start=1):
        # Not Path.with_suffix: node ids have dots of their own (".py").
        base = stem if len(pages) == 1 else f"{stem}.{number}"
        try:
            shown.screenshot(path=folder / f"{base}.png", full_page=True)
            saved.append(folder / f"{base}.png")
            (folder / f"{base}.html").write_text(shown.content(), encoding="utf-8")
            saved.append(folder / f"{base}.html")
        except Exception as error:  # a crashed page must not hide the failure
            (folder / f"{base}.error.txt").write_text(
                f"{type(error).__name__}: {error}"
            )
            saved.append(folder / f"{base}.error.txt")
    if log is not None:
        (folder / f"{stem}.log").write_text(log.text(), encoding="utf-8")
        saved.append(folder / f"{stem}.log")
    return saved


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[None]:
    report = yield
    # While the test's fixtures are still alive, so that its pages can be
    # shot; the report then names the files (under xdist too).
    funcargs = getattr(item, "funcargs", {})
    if report.when == "call" and report.failed and "page" in funcargs:
        shown = funcargs["page"]
        saved = save_artifacts(
            list(shown.context.pages) or [shown],
            item.stash.get(_page_log, None),
            item.nodeid,
        )
        report.sections.append(
            ("browser artifacts", "\n".join(str(path) for path in saved))
        )
    return report
