"""The browser tests' fixtures: see plugin.py (a module, so that a test can
load it into a pytest run of its own with ``-p tests.browser.plugin``)."""

from tests.browser.plugin import (  # noqa: F401
    browser,
    browser_context_args,
    chromium_executable,
    page,
    page_log,
    pytest_runtest_makereport,
)
