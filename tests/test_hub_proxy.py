"""tests/hub_proxy.py: JupyterHub's proxy installed once, and required in CI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests import hub_proxy
from tests.jupyterhub_servers import proxy_or_skip

ROOT = Path(__file__).resolve().parents[1]


def test_a_second_run_finds_the_proxy_and_installs_nothing() -> None:
    proxy_or_skip()  # make test's set-up installed it (tests/hub_proxy.py)
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "hub_proxy.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "installing" not in done.stdout
    assert done.stdout.startswith("==> JupyterHub tests use configurable-http-proxy 5.")


@pytest.mark.parametrize("ci", ["true", ""])
def test_without_the_proxy_the_hub_tests_fail_in_ci_and_skip_elsewhere(
    ci: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_proxy, "PROXY", tmp_path / "configurable-http-proxy")
    monkeypatch.setenv("CI", ci)
    outcome = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(outcome, match="no configurable-http-proxy") as raised:
        proxy_or_skip()
    assert ("CI is set" in str(raised.value)) == bool(ci)
