"""`make lab` starts JupyterLab on the course; a headless run asks its REST API."""

from __future__ import annotations

import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from coursekit.process import stop_group

ROOT = Path(__file__).resolve().parents[1]
COURSE_FOLDERS = ("notebooks", "solutions", "exercises")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def lab() -> Iterator[httpx.Client]:
    port, token = free_port(), secrets.token_hex(16)
    args = (
        f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.port_retries=0 "
        f"--IdentityProvider.token={token}"
    )
    process = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_ARGS={args}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # so the whole make -> jupyter tree can be stopped
    )
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"token {token}"},
        timeout=10,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"make lab exited with {process.returncode}:\n{output}")
            try:
                if client.get("/api/status").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("JupyterLab did not answer within 90 s")
            time.sleep(0.2)
        yield client
    finally:
        client.close()
        stop_group(process, timeout=15)
        if process.stdout:
            process.stdout.close()


def test_lab_serves_the_course_root(lab: httpx.Client) -> None:
    listing = lab.get("/api/contents/").json()
    names = {entry["name"] for entry in listing["content"]}
    assert {"README.md", "course_app", "coursekit"} <= names
    assert lab.get("/lab").status_code == 200


def test_lab_opens_on_the_start_page(lab: httpx.Client) -> None:
    start = "notebooks/00_start_here.ipynb"
    opened = lab.get("/", follow_redirects=False)
    assert opened.status_code in (301, 302)
    assert opened.headers["location"].split("?")[0].endswith(f"/lab/tree/{start}")
    assert lab.get(f"/api/contents/{start}").status_code == 200


def test_lab_lists_every_course_notebook(lab: httpx.Client) -> None:
    for folder in COURSE_FOLDERS:
        on_disk = sorted(p.name for p in (ROOT / folder).glob("*.ipynb"))
        if not on_disk:
            continue
        listing = lab.get(f"/api/contents/{folder}").json()
        listed = sorted(
            e["name"] for e in listing["content"] if e["type"] == "notebook"
        )
        assert listed == on_disk


def test_lab_runs_notebooks_on_the_course_kernel(lab: httpx.Client) -> None:
    specs = lab.get("/api/kernelspecs").json()
    assert "python3" in specs["kernelspecs"]
