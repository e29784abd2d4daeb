"""Settings for every pytest run from this repository, notebooks included."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

#: Set by the first process of a run (pytest-xdist's workers inherit it).
_RUN_TMP = "COURSEKIT_TEST_TMPDIR"


def _private_tmp(config: pytest.Config) -> None:
    # The notebooks keep their databases at fixed names under
    # tempfile.gettempdir(): two test runs on one machine (two clones) would
    # empty each other's. Each run gets a temporary folder of its own.
    if os.environ.get(_RUN_TMP):
        return
    folder = tempfile.mkdtemp(prefix="coursekit-test-run-")
    os.environ[_RUN_TMP] = os.environ["TMPDIR"] = folder
    tempfile.tempdir = None
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


def pytest_configure(config: pytest.Config) -> None:
    _private_tmp(config)
    # pyproject.toml names the sanitizer relative to the repository; resolve
    # it there, so that nbval finds it whatever folder pytest runs from.
    option = config.option
    given = getattr(option, "nbval_sanitize_with", None)
    if given and not Path(given).is_absolute():
        option.nbval_sanitize_with = str(config.rootpath / given)
