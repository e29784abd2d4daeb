"""`make lab` starts JupyterLab on the course; a headless run asks its REST API."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.jupyter_servers import ROOT, make_lab

COURSE_FOLDERS = ("notebooks", "solutions", "exercises")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with make_lab(tmp_path_factory.mktemp("lab")) as server:
        server.client.base_url = httpx.URL(server.origin)
        yield server.client


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
