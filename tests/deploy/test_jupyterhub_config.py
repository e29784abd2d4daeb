"""deploy/jupyterhub/: the Zero to JupyterHub values, single-user image and link.

What can be checked here, offline: the values are YAML; the JupyterHub
settings the chart passes through (``hub.config``) are real, configurable
traits of the installed JupyterHub's classes, and load; the image is pinned;
the resources per learner are Kubernetes quantities, guarantee within limit;
the Dockerfile passes hadolint. The chart's own schema (its
values.schema.json, ``helm lint``) comes with the chart from its Helm
repository, which no package registry carries: that check is for the
instructor who deploys (README, "Teaching on JupyterHub").
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jupyterhub
import pytest
import yaml
from jupyterhub.app import JupyterHub
from traitlets.config import Config

from tests.deploy.test_dockerfile import lint

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "deploy" / "jupyterhub"
VALUES = yaml.safe_load((FOLDER / "config.yaml").read_text(encoding="utf-8"))
DOCKERFILE = FOLDER / "Dockerfile"
LINK_SCRIPT = FOLDER / "nbgitpuller_link.py"
sys.path.insert(0, str(FOLDER))
from nbgitpuller_link import nbgitpuller_link  # noqa: E402

#: Kubernetes quantities: CPUs as numbers, memory as bytes with a suffix.
MEMORY = re.compile(r"(\d+(?:\.\d+)?)([KMGT]i?)?")
UNITS = {None: 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
UNITS |= {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def hub_config_errors(hub_config: dict[str, Any]) -> list[str]:
    """What is wrong with ``hub.config`` for the installed JupyterHub.

    Every class must be one JupyterHub configures (with the authenticator it
    names), and every key a configurable trait of it: traitlets only warns
    about a misspelt key, and the hub would start without the setting.
    The values are then loaded into the hub and its authenticator, which
    validates them.
    """
    config = Config(copy.deepcopy(hub_config))
    try:
        app = JupyterHub(config=config)
        classes = {cls.__name__: cls for cls in app.classes}
    except Exception as error:  # a bad authenticator_class, a wrong type
        return [f"JupyterHub does not load it: {error}"]
    errors = []
    for name, settings in hub_config.items():
        cls = classes.get(name)
        if cls is None:
            errors.append(f"{name}: not a class this JupyterHub configures")
            continue
        traits = cls.class_traits(config=True)
        errors += [
            f"{name}.{key}: no such setting" for key in settings if key not in traits
        ]
    if not errors:
        try:
            app.authenticator_class(parent=app)
        except Exception as error:
            errors.append(f"the authenticator rejects it: {error}")
    return errors


def test_the_hub_settings_are_jupyterhubs_own() -> None:
    assert hub_config_errors(VALUES["hub"]["config"]) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("Authenticator", "allowed_user"), "Authenticator.allowed_user: no such"),
        (("Spawnr", None), "Spawnr: not a class"),
        (("SharedPasswordAuthenticator", "user_password", "short"), "at least 8"),
    ],
)
def test_a_misspelt_or_bad_hub_setting_is_caught(
    change: tuple[str, ...], expected: str
) -> None:
    broken = copy.deepcopy(VALUES["hub"]["config"])
    if change[0] == "Spawnr":
        broken["Spawnr"] = broken.pop("Spawner")
    elif len(change) == 2:
        section = broken[change[0]]
        section[change[1]] = section.pop("allowed_users")
    else:
        broken[change[0]][change[1]] = change[2]
    errors = hub_config_errors(broken)
    assert any(expected in error for error in errors), errors


def test_the_image_is_pinned_and_matches_the_dockerfile() -> None:
    image = VALUES["singleuser"]["image"]
    # Quoted in the YAML: an unquoted 2026.12 would be the float 2026.12.
    assert isinstance(image["tag"], str), image
    assert image["tag"] and image["tag"] != "latest", image
    assert re.fullmatch(r"[a-z0-9.-]+(/[a-z0-9._-]+)+", image["name"]), image
    assert VALUES["singleuser"]["cmd"] == "jupyterhub-singleuser"
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert 'CMD ["jupyterhub-singleuser"]' in text
    # The single-user server's JupyterHub is the hub's (the one tested here).
    major_minor = ".".join(jupyterhub.__version__.split(".")[:2])
    assert f'"jupyterhub=={major_minor}.*"' in text
    assert '"nbgitpuller==' in text


def _bytes(quantity: str) -> float:
    found = MEMORY.fullmatch(str(quantity))
    assert found, f"not a Kubernetes memory quantity: {quantity!r}"
    return float(found.group(1)) * UNITS[found.group(2)]


def test_each_learner_has_a_cpu_and_memory_guarantee_within_a_limit() -> None:
    cpu, memory = VALUES["singleuser"]["cpu"], VALUES["singleuser"]["memory"]
    assert 0 < float(cpu["guarantee"]) <= float(cpu["limit"]), cpu
    assert 0 < _bytes(memory["guarantee"]) <= _bytes(memory["limit"]), memory
    with pytest.raises(AssertionError, match="not a Kubernetes memory quantity"):
        _bytes("2 GB")


def test_idle_servers_are_culled() -> None:
    cull = VALUES["cull"]
    assert cull["enabled"] is True
    assert isinstance(cull["timeout"], int) and cull["timeout"] > 0
    assert isinstance(cull["every"], int) and 0 < cull["every"] <= cull["timeout"]


def test_the_start_hook_and_the_link_pull_into_the_same_folder() -> None:
    command = VALUES["singleuser"]["lifecycleHooks"]["postStart"]["exec"]["command"]
    program, repo, branch, folder = command
    assert program == "gitpuller"  # nbgitpuller's command
    link = urlsplit(nbgitpuller_link("https://hub.example.org", repo, branch=branch))
    assert link.path == "/hub/user-redirect/git-pull"
    query = {key: value for key, (value,) in parse_qs(link.query).items()}
    assert query["repo"] == repo and query["branch"] == branch
    tree, _, notebook = query["urlpath"].partition(f"{folder}/")
    assert tree == "lab/tree/"
    assert (ROOT / notebook).is_file(), notebook  # the start page, in the course


def test_the_link_script_prints_a_link_or_says_what_is_wrong() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(LINK_SCRIPT), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    good = run(
        "--hub", "https://hub.example.org/", "--repo", "https://git.example.org/c.git"
    )
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("https://hub.example.org/hub/user-redirect/git-pull?")
    assert "urlpath=lab%2Ftree%2Fc%2Fnotebooks%2F00_start_here.ipynb" in good.stdout
    bad = run("--hub", "hub.example.org", "--repo", "https://git.example.org/c")
    assert bad.returncode == 2
    assert bad.stderr == (
        "nbgitpuller_link: the hub must be an http(s) URL, got 'hub.example.org'\n"
    )


def test_hadolint_passes_on_the_single_user_image() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "hadolint ignore" not in text
    done = lint(DOCKERFILE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_fails_on_an_unpinned_package(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text(
        DOCKERFILE.read_text(encoding="utf-8").replace("git=1:2.39.*", "git")
    )
    done = lint(bad)
    assert done.returncode != 0
    assert "DL3008" in done.stdout
