"""Settings for every pytest run from this repository, notebooks included."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # pyproject.toml names the sanitizer relative to the repository; resolve
    # it there, so that nbval finds it whatever folder pytest runs from.
    option = config.option
    given = getattr(option, "nbval_sanitize_with", None)
    if given and not Path(given).is_absolute():
        option.nbval_sanitize_with = str(config.rootpath / given)
