"""The GitHub Pages workflow (.github/workflows/site.yml), checked offline.

check-jsonschema validates it against SchemaStore's schema for GitHub
workflows, which it ships (``--builtin-schema vendor.github-workflows``): no
network. A copy with a job missing ``runs-on`` must fail the same check, so
that a pass means something. The rest is what Pages needs: the permissions,
the ``github-pages`` environment, and the steps that build and publish
``build/site``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import system_packages

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "site.yml"
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")


def check(path: Path) -> subprocess.CompletedProcess[str]:
    if not CHECK_JSONSCHEMA.is_file():
        message = (
            f"check-jsonschema is not installed in {CHECK_JSONSCHEMA.parent}; "
            "install the test tools: make test (or pip install -e '.[test]')"
        )
        if system_packages.ci():
            pytest.fail(message)
        pytest.skip(message)
    return subprocess.run(
        [
            str(CHECK_JSONSCHEMA),
            "--builtin-schema",
            "vendor.github-workflows",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def load() -> dict[Any, Any]:
    # YAML 1.1 reads the key `on` as True; GitHub reads it as "on".
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [
        step for step in job["steps"] if step.get("uses", "").startswith(action + "@")
    ]


def test_the_workflow_matches_the_schema_for_github_workflows() -> None:
    result = check(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_a_job_without_runs_on_fails_the_same_check(tmp_path: Path) -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    line = "    runs-on: ubuntu-latest\n"
    assert line in text
    broken = tmp_path / "site.yml"
    broken.write_text(text.replace(line, "", 1), encoding="utf-8")
    result = check(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "'runs-on' is a required property" in result.stdout


def test_pages_permissions_and_environment() -> None:
    workflow = load()
    assert workflow["permissions"]["pages"] == "write"
    assert workflow["permissions"]["id-token"] == "write"
    triggers = workflow[True]
    assert "main" in triggers["push"]["branches"]
    deploy = workflow["jobs"]["deploy"]
    assert deploy["environment"]["name"] == "github-pages"
    assert deploy["needs"] == "build"
    assert steps_using(deploy, "actions/deploy-pages")


def test_the_build_job_makes_and_uploads_the_site() -> None:
    build = load()["jobs"]["build"]
    names = [step.get("uses", "").split("@")[0] for step in build["steps"]]
    assert names.index("actions/checkout") < names.index("actions/setup-python")
    assert names.index("actions/configure-pages") < names.index(
        "actions/upload-pages-artifact"
    )
    runs = [step["run"] for step in build["steps"] if "run" in step]
    assert runs == ["make site"]
    (upload,) = steps_using(build, "actions/upload-pages-artifact")
    assert upload["with"]["path"] == "build/site"
    # The Python the course needs (pyproject.toml: >= 3.11).
    (python,) = steps_using(build, "actions/setup-python")
    version = tuple(int(part) for part in python["with"]["python-version"].split("."))
    assert version >= (3, 11)
