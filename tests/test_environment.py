"""environment.yml (conda, Binder) and pyproject.toml (pip) describe one environment."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]

# conda-forge names for the pip requirements whose names or extras differ.
CONDA_NAME = {"uvicorn[standard]": "uvicorn-standard", "matplotlib": "matplotlib-base"}
# What a pip extra pulls in, which conda-forge ships as its own package.
CONDA_EXTRA_PACKAGES = {
    "pwdlib[argon2]": {"argon2-cffi": ""},
    "sqlalchemy[asyncio]": {"greenlet": ""},
}
CONDA_ONLY = {"python", "pip"}
#: Servers that pip cannot install and conda-forge can: on Binder, chapter
#: 07's PostgreSQL (beside the wheel), Redis and nginx come from these.
CONDA_SERVERS = {"postgresql", "redis-server", "nginx"}


def pyproject_requirements() -> dict[str, str]:
    """Package name (conda spelling) -> version specifier, for all extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines += extra
    wanted: dict[str, str] = {}
    for line in lines:
        req = Requirement(line)
        if req.marker is not None:
            continue  # back-ports for old Pythons; conda's python is new enough
        key = canonicalize_name(req.name)
        if req.extras:
            key += "[" + ",".join(sorted(req.extras)) + "]"
        wanted[CONDA_NAME.get(key, key.split("[")[0])] = str(req.specifier)
        wanted.update(CONDA_EXTRA_PACKAGES.get(key, {}))
    return wanted


def environment_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    found: dict[str, str] = {}
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            for line in entry["pip"]:
                req = Requirement(line)
                found[canonicalize_name(req.name)] = str(req.specifier)
            continue
        name, _, spec = entry.partition(" ")
        found[canonicalize_name(name)] = str(Requirement(f"x{spec.strip()}").specifier)
    return {k: v for k, v in found.items() if k not in CONDA_ONLY | CONDA_SERVERS}


def test_environment_yml_matches_pyproject() -> None:
    assert environment_requirements() == pyproject_requirements()


def test_binder_has_the_servers_of_chapter_07() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {e.split()[0] for e in env["dependencies"] if isinstance(e, str)}
    assert conda >= CONDA_SERVERS


def test_conda_channel_is_conda_forge_only() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]


def test_binder_installs_the_course_after_the_environment() -> None:
    # repo2docker reads environment.yml, then runs postBuild; a binder/ folder
    # would make it ignore both, so there must be none.
    post_build = ROOT / "postBuild"
    assert os.access(post_build, os.X_OK)
    commands = [
        line
        for line in post_build.read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert commands == [
        "set -euo pipefail",
        "pip install --no-deps --editable .",
    ]
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()
