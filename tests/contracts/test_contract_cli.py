"""``python -m coursekit.contracts``: run from another process, as check() does."""

import json
import os
import subprocess
import sys
from collections.abc import Callable

from contract_support import SECRET_KEY

from tests.jupyter_servers import free_port

CH01_REPORT = """\
Chapter 01: hello world
✓ root / root_message  1/1
✓ read_item / item_id_is_int  2/2
✓ read_item / query_param_echoed  2/2
✓ read_item / text_item_id_422  2/2
✓ read_item / float_item_id_422  1/1
✓ read_item / swagger_ui  1/1
✓ read_item / redoc  1/1
✓ read_item / openapi_lists_paths  1/1
11/11 points (8/8 checks passed)
"""


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "coursekit.contracts", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=120,
    )


def test_passing_chapter_exits_0_with_a_stable_report(
    reference: Callable[[int], str],
) -> None:
    done = cli("01", "--url", reference(1))
    assert (done.returncode, done.stdout, done.stderr) == (0, CH01_REPORT, "")


def test_failing_chapter_exits_1_and_explains(reference: Callable[[int], str]) -> None:
    done = cli("02", "--url", reference(1), "--task", "create_user")
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:7] == [
        "Chapter 02: CRUD: users",
        "✗ create_user / create_user_201  0/3",
        "    problem:  status 404, expected 201",
        '    request:  POST /users/ {"name": "Ada Lovelace", "email": '
        '"create-xxxx@example.com", "password": "correct-horse-battery"}',
        "    expected: 201",
        '    got:      404 {"detail":"Not Found"}',
        "    hint:     Return a `UserPublic` model (id, name, email) from the POST "
        "function and give the decorator `status_code=201`.",
    ]
    assert lines[-1] == "0/9 points (0/5 checks passed)"


def test_json_has_every_result(reference: Callable[[int], str]) -> None:
    done = cli("1", "--url", reference(1), "--task", "read_item", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["chapter"], report["task"], report["passed"]) == (
        "01",
        "read_item",
        True,
    )
    assert (report["points"], report["max_points"]) == (10, 10)
    assert [r["name"] for r in report["results"]][-3:] == [
        "swagger_ui",
        "redoc",
        "openapi_lists_paths",
    ]
    first = report["results"][0]
    assert first["status"] == "passed"
    assert first["duration"] > 0
    assert {"id", "task", "points", "max_points", "hint", "message", "expected"} <= set(
        first
    )


def test_a_task_that_is_a_learner_s_test_is_not_run_against_a_server(
    reference: Callable[[int], str],
) -> None:
    done = cli("01", "--url", reference(1), "--task", "docs")
    assert done.returncode == 2
    assert "task docs is a test the learner writes" in done.stderr
    listed = cli("01", "--list", "--task", "docs")
    assert "your `test_docs` must catch: there is no ReDoc at /redoc" in listed.stdout


def test_secret_key_enables_the_expiry_check(reference: Callable[[int], str]) -> None:
    url = reference(5)
    without = cli("05", "--url", url, "--task", "reject_bad_tokens")
    assert without.returncode == 0, without.stdout
    assert (
        "- reject_bad_tokens / expired_token_401  0/2  (skipped: needs the "
        "server's SECRET_KEY (--secret-key) to sign)"
    ) in without.stdout.splitlines()
    assert without.stdout.endswith("6/8 points (3/4 checks passed)\n")
    with_key = cli(
        "05", "--url", url, "--task", "reject_bad_tokens", "--secret-key", SECRET_KEY
    )
    assert with_key.returncode == 0, with_key.stdout
    assert "✓ reject_bad_tokens / expired_token_401  2/2" in with_key.stdout


def test_bad_usage_exits_2_with_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    cases = {
        (
            "12",
            "--url",
            url,
        ): "error: unknown chapter '12' (known: 01, 02, 03, 04, 05, 06, 07, 08, 09, "
        "10, 11)",
        ("02", "--url", url, "--task", "nope"): "error: chapter 02 has no task 'nope' "
        "(known: create_user, read_user, update_user, delete_user, hide_password)",
        ("01", "--url", url): f"error: cannot connect to {url}: is the server running?",
        ("01",): "error: --url is required to run checks",
        (): "error: the following arguments are required: chapter (see --help)",
    }
    for args, message in cases.items():
        done = cli(*args)
        assert (done.returncode, done.stdout, done.stderr) == (2, "", message + "\n")
