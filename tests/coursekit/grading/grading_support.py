"""Small submissions for the grader's tests, written as notebooks on the fly."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import nbformat

ROOT_ROUTE = """\
from fastapi import FastAPI

app = FastAPI()

@app.get("/")
def root():
    return {"message": "Hello, FastAPI"}
"""

ITEMS_ROUTE = """\
@app.get("/items/{item_id}")
def read_item(item_id: int, q: str | None = None):
    return {"item_id": item_id, "q": q}


def test_item_validation(client):
    for text in ("abc", "5.5"):
        error = client.get(f"/items/{text}").json()["detail"][0]
        assert (error["loc"], error["type"]) == (["path", "item_id"], "int_parsing")
        assert error["input"] == text
    assert client.get("/items/-3").json()["item_id"] == -3


def test_docs(client):
    for page in ("/docs", "/redoc"):
        assert client.get(page).headers["content-type"].startswith("text/html")
    schema = client.get("/openapi.json").json()
    assert {"/", "/items/{item_id}"} <= set(schema["paths"])
    parameters = schema["paths"]["/items/{item_id}"]["get"]["parameters"]
    by_name = {p["name"]: p for p in parameters}
    assert by_name["item_id"]["schema"]["type"] == "integer"
    assert not by_name["q"].get("required", False)
"""

#: A correct chapter 01 app, and its two tests (in the routes' cell, so that
#: a cell added after them is cell 4).
GOOD = [ROOT_ROUTE, ITEMS_ROUTE]
CH01_TASKS = ["root", "read_item", "validation", "docs"]


def write_notebook(path: Path, *sources: str) -> Path:
    """A notebook of one markdown cell and a code cell per source."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Submission")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def read_csv(out: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    """The header and the rows by submission of ``grades.csv``."""
    with (out / "grades.csv").open(newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    header, body = rows[0], rows[1:]
    return header, {row[0]: dict(zip(header, row, strict=True)) for row in body}


def read_results(out: Path) -> dict[str, dict[str, Any]]:
    """``results.json``'s records by submission."""
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return {r["submission"]: r for r in data["submissions"]}


def require_sandbox(what: str) -> None:
    """Skip the test without bubblewrap here; fail it where CI is set.

    ``what`` says what needs the sandbox, for the message.
    """
    import pytest

    from coursekit.grading import sandbox
    from tests import system_packages

    try:
        sandbox.bubblewrap()
    except sandbox.SandboxUnavailable as exc:
        if system_packages.ci():
            pytest.fail(f"{what} must be tested in CI: {exc}")
        pytest.skip(f"no sandbox here: {exc}")
