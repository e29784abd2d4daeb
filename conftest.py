"""Settings for every pytest run from this repository, notebooks included."""

from __future__ import annotations

from coursekit.notebooks import SANITIZER


def pytest_configure(config) -> None:
    # An absolute path, so that nbval finds the sanitizer from any folder.
    if getattr(config.option, "nbval_sanitize_with", None) is None:
        config.option.nbval_sanitize_with = str(SANITIZER)
