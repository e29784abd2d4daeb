"""deploy/k8s/: grading on Kubernetes, checked offline.

Every manifest is validated, strictly (no unknown field), against the
Kubernetes API schema of the release kubernetes-validate ships; the
commands in them are the ones ``coursekit`` accepts, with the settings
that must agree (broker, visibility timeout) agreeing; the image is the
one built from deploy/k8s/Dockerfile, which passes hadolint. Nothing here
needs a cluster.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from coursekit.grading.cli import _parser as grade_parser
from coursekit.grading.worker_cli import _parser as worker_parser
from tests.deploy.test_dockerfile import lint

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "deploy" / "k8s"
#: The newest release whose schema kubernetes-validate ships.
VERSION = kubernetes_validate.latest_version()


def _documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(FOLDER.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return docs


DOCS = _documents()


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in DOCS if d["kind"] == kind]


def _errors(doc: dict[str, Any]) -> str | None:
    try:
        kubernetes_validate.validate(doc, VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return f"{'.'.join(map(str, error.path))}: {error.message}"
    return None


def test_there_are_a_broker_workers_and_a_coordinator() -> None:
    kinds = sorted(d["kind"] for d in DOCS)
    assert kinds == [
        "Deployment",
        "Job",
        "PersistentVolumeClaim",
        "Service",
        "StatefulSet",
    ]


@pytest.mark.parametrize(
    "doc", DOCS, ids=lambda d: f"{d['kind']}/{d['metadata']['name']}"
)
def test_each_manifest_is_valid_kubernetes(doc: dict[str, Any]) -> None:
    assert _errors(doc) is None


def test_the_validation_can_fail() -> None:
    # The check above can fail: a misspelt field, and a wrong type.
    (workers,) = _by_kind("Deployment")
    misspelt = copy.deepcopy(workers)
    misspelt["spec"]["replica"] = misspelt["spec"].pop("replicas")
    assert "replica" in (_errors(misspelt) or "")
    wrong = copy.deepcopy(workers)
    wrong["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] = "6Gi"
    assert _errors(wrong) is not None


def _container(kind: str) -> dict[str, Any]:
    (doc,) = _by_kind(kind)
    (container,) = doc["spec"]["template"]["spec"]["containers"]
    return container


def test_the_commands_are_the_ones_coursekit_takes() -> None:
    worker = _container("Deployment")["args"]
    coordinator = _container("Job")["args"]
    assert worker[:2] == ["coursekit", "grade-worker"]
    assert coordinator[:2] == ["coursekit", "grade"]
    # argparse exits on an unknown option or a bad value.
    workers = worker_parser().parse_args(worker[2:])
    batch = grade_parser().parse_args(coordinator[2:])
    assert batch.engine == "celery"
    # What must agree: the Redis, the visibility timeout, the queue.
    assert batch.broker == workers.broker
    assert batch.visibility_timeout == workers.visibility_timeout
    assert batch.queue == workers.queue
    (service,) = _by_kind("Service")
    (port,) = service["spec"]["ports"]
    assert workers.broker == f"redis://{service['metadata']['name']}:{port['port']}/0"
    # The job writes where its volume is.
    mounts = {m["mountPath"] for m in _container("Job")["volumeMounts"]}
    assert any(str(batch.out).startswith(m) for m in mounts)


def test_the_workers_have_room_for_their_kernels() -> None:
    worker = _container("Deployment")
    workers = worker_parser().parse_args(worker["args"][2:])
    memory = grade_parser().parse_args(["x"]).memory  # MiB per kernel
    limit = worker["resources"]["limits"]["memory"]
    assert limit.endswith("Gi")
    assert int(limit[:-2]) * 1024 > workers.concurrency * memory
    # Long enough after SIGTERM to finish the submission in hand.
    (deployment,) = _by_kind("Deployment")
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > grade_parser().parse_args(["x"]).timeout


def test_the_queue_is_durable() -> None:
    (redis,) = _by_kind("StatefulSet")
    args = redis["spec"]["template"]["spec"]["containers"][0]["args"]
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    assert pairs["--appendonly"] == "yes"
    assert pairs["--appendfsync"] == "always"
    assert redis["spec"]["volumeClaimTemplates"]


def test_one_image_for_coordinator_and_workers() -> None:
    images = {_container("Deployment")["image"], _container("Job")["image"]}
    assert len(images) == 1
    (image,) = images
    assert not image.endswith(":latest") and ":" in image


def test_the_grader_image_passes_hadolint() -> None:
    text = (FOLDER / "Dockerfile").read_text()
    assert "hadolint ignore" not in text
    assert "bubblewrap" in text
    done = lint(FOLDER / "Dockerfile")
    assert done.returncode == 0, done.stdout + done.stderr
