"""Gradescope: the results format, and the autograder zip run end to end.

The end-to-end test lays a folder out as Gradescope does
(``source/`` from the zip, ``submission/``, ``results/``), runs the zip's
own ``setup.sh`` there (a real virtual environment, the course installed
into it) and its ``run_autograder`` on several uploads.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from grading_support import GOOD, ROOT_ROUTE, write_notebook

from coursekit.contracts.registry import checks_for
from coursekit.contracts.runner import CheckResult
from coursekit.grading.autograder import main as gradescope_main
from coursekit.grading.gradescope import gradescope_results
from coursekit.grading.report import GRADED, Record, Report

ROOT = Path(__file__).resolve().parents[3]

#: Gradescope's results.json, as its autograder specification describes it
#: (gradescope-autograders.readthedocs.io, "Autograder Specifications"):
#: the keys we write, with their types and allowed values.
RESULTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["score", "execution_time", "output", "tests"],
    "additionalProperties": False,
    "properties": {
        "score": {"type": "number", "minimum": 0},
        "execution_time": {"type": "integer", "minimum": 0},
        "output": {"type": "string"},
        "output_format": {"enum": ["text", "html", "simple_format", "md", "ansi"]},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "name",
                    "number",
                    "score",
                    "max_score",
                    "status",
                    "output",
                    "visibility",
                ],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "number": {"type": "string", "pattern": r"^\d+\.\d+$"},
                    "score": {"type": "number", "minimum": 0},
                    "max_score": {"type": "number", "minimum": 0},
                    "status": {"enum": ["passed", "failed"]},
                    "output": {"type": "string"},
                    "visibility": {
                        "enum": [
                            "hidden",
                            "after_due_date",
                            "after_published",
                            "visible",
                        ]
                    },
                },
            },
        },
    },
}

HIDDEN = """\
import httpx

from coursekit.contracts.expect import expect_status
from coursekit.contracts.registry import check


@check(task="hidden", points=2, hint="Add GET /secret.")
def secret_route(client: httpx.Client) -> None:
    expect_status(client.get("/secret"), 200)
"""


def _result(
    name: str, task: str, status: str, points: int, **extra: str
) -> CheckResult:
    return CheckResult(
        id=f"ch01-{task}-{name}",
        chapter="01",
        task=task,
        name=name,
        status=status,
        points=points if status == "passed" else 0,
        max_points=points,
        hint=f"hint for {name}",
        **extra,
    )


def _record(status: str = GRADED, **extra: Any) -> Record:
    results = [
        _result("root_message", "root", "passed", 1),
        _result("root_json", "root", "passed", 2),
        _result(
            "item_id",
            "read_item",
            "failed",
            2,
            message="expected 200\n\x1b[31mgot 404",
            request="GET /items/42",
        ),
        _result("secret_route", "hidden", "failed", 2, message="expected 200"),
    ]
    return Record.build(
        submission="alice/01_hello.ipynb",
        path="/x/alice/01_hello.ipynb",
        sha256="0" * 64,
        chapter="01",
        status=status,
        results=results,
        cell_errors=["cell 3: NameError: name 'x' is not defined"],
        notes=[],
        duration=12.6,
        isolation_level="full",
        hidden=["ch01-hidden-secret_route"],
        **extra,
    )


def test_results_follow_gradescopes_format() -> None:
    data = gradescope_results(_record())
    jsonschema.validate(data, RESULTS_SCHEMA)
    assert data["score"] == 3 == sum(t["score"] for t in data["tests"])
    assert data["execution_time"] == 13
    assert [t["number"] for t in data["tests"]] == ["1.1", "1.2", "2.1", "3.1"]
    assert [t["status"] for t in data["tests"]] == ["passed"] * 2 + ["failed"] * 2
    by_name = {t["name"]: t for t in data["tests"]}
    assert by_name["hidden / secret_route"]["visibility"] == "after_published"
    assert by_name["root / root_message"]["visibility"] == "visible"
    failed = by_name["read_item / item_id"]["output"]
    # The server's text stays on its line, under the grader's labels.
    assert failed.splitlines()[0] == r"problem:  expected 200\n\u001b[31mgot 404"
    assert "request:  GET /items/42" in failed
    assert "hint:     hint for item_id" in failed
    assert data["output"].startswith("Graded: 3/7 points.")
    assert "cell 3: NameError" in data["output"]


def test_a_submission_not_graded_scores_zero_and_says_why() -> None:
    record = _record(status="not graded: the notebook is not valid JSON")
    data = gradescope_results(record)
    jsonschema.validate(data, RESULTS_SCHEMA)
    assert data["output"].startswith(
        "Not graded: not graded: the notebook is not valid JSON\n"
        "Every check scores 0. Fix what is said above"
    )
    failed = gradescope_results(_record(status="grading failed: RuntimeError: x"))
    assert "tell your instructor" in failed["output"]


def test_every_record_gets_a_gradescope_file(tmp_path: Path) -> None:
    report = Report(tmp_path, ["root", "read_item", "hidden"])
    record = _record()
    report.add(record)
    written = json.loads((tmp_path / "gradescope/alice/01_hello.json").read_text())
    assert written == gradescope_results(record)


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = gradescope_main(list(args))
    return status, out.getvalue(), err.getvalue()


def test_the_zip_holds_the_scripts_the_course_and_the_hidden_checks(
    tmp_path: Path,
) -> None:
    (tmp_path / "hidden").mkdir()
    (tmp_path / "hidden" / "extra.py").write_text(HIDDEN, encoding="utf-8")
    out = tmp_path / "autograder.zip"
    status, printed, _ = _run(
        "1", "--out", str(out), "--hidden", str(tmp_path / "hidden"), "--timeout", "90"
    )
    assert status == 0 and f"wrote {out}" in printed
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
        run = archive.read("run_autograder").decode()
    assert {"setup.sh", "run_autograder", "hidden/extra.py"} <= names
    assert {"course/pyproject.toml", "course/coursekit/grading/batch.py"} <= names
    assert "course/course_app/main.py" in names
    assert not [n for n in names if "__pycache__" in n]
    for script in ("setup.sh", "run_autograder"):
        assert modes[script] & stat.S_IXUSR, script
    assert '--chapter 01 --timeout 90 --hidden "$ROOT/source/hidden"' in run


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["99"], "unknown chapter '99'"),
        (["1", "--hidden", "/no/such/folder"], "no such folder"),
        (["1", "--timeout", "-3"], "--timeout: must be positive"),
        (["1", "--out", "x.zip", "--force"], "--force is set by the autograder"),
        (["1", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_a_bad_request_is_a_clear_error_and_no_zip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], says: str
) -> None:
    monkeypatch.chdir(tmp_path)
    status, _, err = _run(*args)
    assert status == 2
    assert says in err and "Traceback" not in err
    assert not list(tmp_path.glob("*.zip"))


def _upload(root: Path, *notebooks: tuple[str, Path]) -> None:
    submission = root / "submission"
    shutil.rmtree(submission, ignore_errors=True)
    submission.mkdir()
    for name, source in notebooks:
        shutil.copy(source, submission / name)


def _autograde(root: Path) -> dict[str, Any]:
    (root / "results").mkdir(exist_ok=True)
    done = subprocess.run(
        ["bash", str(root / "run_autograder")],
        env=os.environ | {"AUTOGRADER_ROOT": str(root)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, RESULTS_SCHEMA)
    return data


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_the_autograder_runs_in_a_gradescope_shaped_folder(tmp_path: Path) -> None:
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "extra.py").write_text(HIDDEN, encoding="utf-8")
    zipped = tmp_path / "autograder.zip"
    assert _run("01", "--out", str(zipped), "--hidden", str(hidden))[0] == 0
    root = tmp_path / "autograder"
    with zipfile.ZipFile(zipped) as archive:
        archive.extractall(root / "source")
    for script in ("setup.sh", "run_autograder"):
        (root / "source" / script).chmod(0o755)  # zipfile drops the modes
    # Gradescope copies run_autograder to /autograder/ itself.
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")

    setup = subprocess.run(
        ["bash", str(root / "source" / "setup.sh")],
        cwd=root / "source",
        env=os.environ | {"AUTOGRADER_ROOT": str(root)},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert setup.returncode == 0, setup.stdout[-2000:] + setup.stderr[-3000:]
    assert "the autograder is ready" in setup.stdout
    assert (root / "venv" / "bin" / "coursekit").exists()

    contract = sum(c.points for c in checks_for("01"))
    secret = '@app.get("/secret")\ndef secret():\n    return {"ok": True}\n'
    good = write_notebook(tmp_path / "good.ipynb", *GOOD, secret)
    _upload(root, ("01_hello_world.ipynb", good))
    data = _autograde(root)
    assert data["score"] == contract + 2, data["output"]
    (hidden_test,) = [t for t in data["tests"] if t["name"].startswith("hidden /")]
    assert hidden_test["visibility"] == "after_published"
    assert hidden_test["status"] == "passed"

    partial = write_notebook(tmp_path / "partial.ipynb", ROOT_ROUTE)
    _upload(root, ("my work (final).ipynb", partial))
    data = _autograde(root)
    assert 0 < data["score"] < contract
    assert {t["status"] for t in data["tests"]} == {"passed", "failed"}

    _upload(root)
    data = _autograde(root)
    assert data["score"] == 0 and data["tests"] == []
    assert data["output"].startswith("No notebook was submitted")

    _upload(root, ("a.ipynb", good), ("b.ipynb", partial))
    data = _autograde(root)
    assert data["score"] == 0
    assert "2 notebooks were submitted (a.ipynb, b.ipynb)" in data["output"]

    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json", encoding="utf-8")
    _upload(root, ("01_hello_world.ipynb", broken))
    data = _autograde(root)
    assert data["score"] == 0
    assert data["output"].startswith("Not graded:")
    assert all(t["score"] == 0 for t in data["tests"])
