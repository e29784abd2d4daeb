"""How make test finds Chromium, and what it says when there is none."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser import chromium


@pytest.fixture
def no_browser(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A machine with no Chromium anywhere and no way to install one."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(chromium.ENV, raising=False)
    monkeypatch.delenv(chromium.REQUIRED_ENV, raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(chromium, "PLACES", ())
    monkeypatch.setattr(chromium, "can_install", lambda: False)
    return tmp_path


def fake_browser(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_a_chromium_on_the_path_is_used(no_browser: Path) -> None:
    browser = fake_browser(no_browser, "chromium-browser")
    assert chromium.find() == browser


def test_the_chromium_variable_wins(
    no_browser: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_browser(no_browser, "chromium")
    named = fake_browser(no_browser, "my-chrome")
    monkeypatch.setenv(chromium.ENV, str(named))
    assert chromium.find() == named


def test_a_wrong_chromium_variable_says_so(
    no_browser: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(chromium.ENV, str(no_browser / "nothing-here"))
    with pytest.raises(chromium.ChromiumError, match="is not an executable file"):
        chromium.find()


def test_without_chromium_the_tests_are_skipped_and_make_says_how_to_install(
    no_browser: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert chromium.main() == 0
    out = capsys.readouterr().out
    assert "the browser tests will be skipped" in out
    assert "apt-get install chromium" in out and "CHROMIUM=" in out


@pytest.mark.parametrize(
    ("name", "value"), [("CI", "true"), (chromium.REQUIRED_ENV, "required")]
)
def test_where_they_must_run_a_missing_chromium_fails(
    no_browser: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
) -> None:
    monkeypatch.setenv(name, value)
    assert chromium.main() == 1
    assert "must run here" in capsys.readouterr().err


def test_ci_false_does_not_require_them(
    no_browser: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "false")
    assert not chromium.required()


def test_a_person_is_never_asked_for_sudo(monkeypatch: pytest.MonkeyPatch) -> None:
    # Not root and not CI: we say what to install instead.
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv(chromium.REQUIRED_ENV, raising=False)
    assert chromium._as_root() is None
    assert not chromium.can_install()


def test_root_installs_without_sudo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert chromium._as_root() == []
