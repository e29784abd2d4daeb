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


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # nbval starts a notebook's kernel when its first cell is set up, and the
    # kernel inherits the environment: each notebook gets an empty workspace
    # for the learner's package (`coursekit.catch_up` writes `my_app/` there),
    # so its outputs do not depend on which notebooks ran before it, and
    # nothing is written next to the notebooks.
    notebook = item.parent
    if notebook is None or type(notebook).__name__ != "IPyNbFile":
        return
    if getattr(notebook, "kernel", None) is None:
        from coursekit.catch_up import WORKSPACE_ENV

        folder = tempfile.mkdtemp(prefix="workspace-", dir=os.environ[_RUN_TMP])
        os.environ[WORKSPACE_ENV] = folder
