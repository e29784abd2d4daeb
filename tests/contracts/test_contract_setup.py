"""Set-up steps: a check that cannot create its user or get its token has
tested nothing of its own, and says which task to fix first.

The cases break one route of the toy app (``toy_app.py``) at a time and
compare every failing check, and the task each names in ``blocked_by``,
with the expected ones.
"""

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from contract_support import READS_FILES, in_parallel
from fastapi import FastAPI, Response
from toy_app import SECRET_KEY, make_app

from coursekit.contracts import (
    CHAPTERS,
    Check,
    CheckFailed,
    CheckResult,
    format_report,
    run_check,
    run_checks,
    tasks_for,
)
from coursekit.contracts.expect import (
    GIVEN,
    SetupFailed,
    expect_success,
    setup_step,
    track_setup,
)
from coursekit.contracts.runner import setup_tasks
from coursekit.contracts.users import create_user
from coursekit.serve import LiveServer

BLOCKED_BY_CREATE = {
    f"ch02-{name}": "create_user"
    for name in (
        "create_user-duplicate_email_409",
        "read_user-get_user",
        "read_user-list_users",
        "read_user-read_hides_password",
        "update_user-patch_changes_only_sent_fields",
        "update_user-patch_email_clash_409",
        "update_user-patch_own_email_ok",
        "update_user-patch_invalid_email_422",
        "delete_user-delete_user_204",
        "update_user-update_hides_password",
    )
}
BLOCKED_BY_GIVEN_CREATE = {
    f"ch05-{name}": GIVEN
    for name in (
        "login-login_returns_bearer_token",
        "login-token_claims",
        "login-wrong_password_401",
        "user_enumeration-unknown_user_as_slow_as_wrong_password",
        "current_user-users_me",
        "reject_bad_tokens-tampered_token_401",
        "reject_bad_tokens-alg_none_token_401",
        "reject_bad_tokens-expired_token_401",
        "reject_bad_tokens-deleted_user_token_401",
    )
}
BLOCKED_BY_LOGIN = {
    "ch05-login-login_returns_bearer_token": "",
    "ch05-login-token_claims": "",
    "ch05-current_user-users_me": "login",
    "ch05-reject_bad_tokens-tampered_token_401": "login",
    "ch05-reject_bad_tokens-deleted_user_token_401": "login",
}
EVERY_USER_TASK = [
    ("02", None),
    ("04", "users_pagination"),
    ("05", None),
    ("06", "stats_cache"),
]

# case: (toy options, (chapter, task or None) to run,
#        {failing check: the task it names as blocking it, or ""})
CASES: dict[
    str, tuple[dict[str, Any], list[tuple[str, str | None]], dict[str, str]]
] = {
    # POST /users/ answers 200, not 201: only the checks of that status fail.
    "created_200": (
        {"create_status": 200},
        EVERY_USER_TASK,
        {"ch02-create_user-create_user_201": ""},
    ),
    # POST /users/ fails: its own checks fail, and every check that needs a
    # user points at the task that owns the route (or says it is given).
    "create_500": (
        {"broken": "POST /users/"},
        EVERY_USER_TASK,
        {
            "ch02-create_user-create_user_201": "",
            **BLOCKED_BY_CREATE,
            "ch04-users_pagination-users_paginated": "users_pagination",
            **BLOCKED_BY_GIVEN_CREATE,
            "ch06-stats_cache-stats_expire_after_ttl": GIVEN,
        },
    ),
    # Log-in answers 500 for a right password: the checks that need a token
    # point at task login.
    "login_500": ({"broken": "POST /token"}, [("05", None)], BLOCKED_BY_LOGIN),
    # Log-in answers {"token": ...}: the same, for a body without access_token.
    "login_wrong_field": ({"token_field": "token"}, [("05", None)], BLOCKED_BY_LOGIN),
    # DELETE fails: chapter 02's delete check is its own; chapter 05 relies on
    # the given DELETE to make a token's user disappear.
    "delete_500": (
        {"broken": "DELETE /users/{user_id}"},
        [("02", "delete_user"), ("05", "reject_bad_tokens")],
        {
            "ch02-delete_user-delete_user_204": "",
            "ch05-reject_bad_tokens-deleted_user_token_401": GIVEN,
        },
    ),
    # GET of an unknown id answers 500: only read_user's 404 check fails, not
    # the delete check, which sees the user gone without relying on that 404.
    "missing_user_500": (
        {"broken": "GET /users/{user_id}"},
        [("02", None)],
        {"ch02-read_user-get_missing_user_404": ""},
    ),
}


@pytest.fixture(scope="module")
def case_results(live: Callable[[Any], LiveServer]) -> dict[str, list[CheckResult]]:
    """Each case's results, the cases run side by side on their own servers."""
    # Cheap hashing: no case is about its cost, and they create many users.
    urls = {
        name: live(make_app(**options, fast_hash=True)).url
        for name, (options, _, _) in CASES.items()
    }

    def run(name: str) -> list[CheckResult]:
        _, selection, _ = CASES[name]
        return [
            result
            for chapter, task in selection
            for result in run_checks(urls[name], chapter, task, secret_key=SECRET_KEY)
            # The toy keeps users in memory: nothing stored to read.
            if result.id not in READS_FILES
        ]

    return in_parallel({name: (lambda n=name: run(n)) for name in CASES})


@pytest.mark.parametrize("case", list(CASES))
def test_failing_checks_and_what_blocked_them(
    case: str, case_results: dict[str, list[CheckResult]]
) -> None:
    results = case_results[case]
    failed = {r.id: r.blocked_by for r in results if r.status != "passed"}
    report = format_report([r for r in results if r.status != "passed"], title=False)
    assert failed == CASES[case][2], report
    assert {r.status for r in results} <= {"passed", "failed"}, report


def by_id(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.id: r for r in results}


def test_a_blocked_check_says_which_task_to_fix_and_why(
    case_results: dict[str, list[CheckResult]],
) -> None:
    result = by_id(case_results["create_500"])["ch02-read_user-get_user"]
    assert (result.status, result.points, result.blocked_by) == (
        "failed",
        0,
        "create_user",
    )
    assert result.message == (
        "set-up failed: see task create_user "
        "(POST /users/ answered 500 Internal Server Error)"
    )
    assert result.request.startswith('POST /users/ {"name": "Ada Lovelace"')
    assert result.expected == "any 2xx with a JSON body {id: int}"
    assert result.got == "500 Internal Server Error"
    assert result.hint.startswith(
        "Fix task create_user first: this check needs POST /users/ to create a user"
    )
    token = by_id(case_results["login_wrong_field"])["ch05-current_user-users_me"]
    assert token.message.startswith(
        'set-up failed: see task login (POST /token answered 200 {"token":"<token>"'
    ), token.message
    assert token.message.endswith(': no "access_token" (str))')
    assert token.hint.startswith("Fix task login first: this check needs POST /token")


def test_a_check_blocked_by_given_code_says_so(
    case_results: dict[str, list[CheckResult]],
) -> None:
    result = by_id(case_results["create_500"])["ch05-current_user-users_me"]
    assert result.blocked_by == GIVEN
    assert result.message.startswith(
        "set-up failed: POST /users/ is given, not a task of this chapter"
    )
    assert result.message.endswith("POST /users/ answered 500 Internal Server Error")
    assert result.hint.startswith("Fix POST /users/ first: this check needs it")
    assert "given code" in result.hint


def test_the_report_sums_up_what_blocked_how_many_checks(
    case_results: dict[str, list[CheckResult]],
) -> None:
    results = [r for r in case_results["create_500"] if r.chapter in ("02", "05")]
    lines = format_report(results).splitlines()
    assert lines[-2] == (
        "set-up failed in 19 checks: fix task create_user (10), the given code (9) "
        "first"
    )
    clean = format_report([r for r in results if not r.blocked_by]).splitlines()
    assert not any(line.startswith("set-up failed in") for line in clean)


@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_setup_routes_name_a_task_of_their_chapter_or_given(chapter: str) -> None:
    tasks = tasks_for(chapter)
    assert GIVEN not in tasks
    for route, task in setup_tasks(chapter).items():
        assert re.fullmatch(r"(GET|POST|PUT|PATCH|DELETE) /\S*", route), route
        assert task in [*tasks, GIVEN], f"chapter {chapter}: {route} -> {task}"


# It may be the first to wait for the session's fixture in its worker: every
# chapter's checks against every chapter's app (test_contract_reference).
@pytest.mark.timeout(900)
def test_no_check_uses_a_setup_route_its_chapter_does_not_name(
    reference_results: dict[tuple[str, int], CheckResult],
) -> None:
    # run_check turns such a check into an error: the reference shows none.
    unnamed = [
        f"{r.id} on upto={upto}: {r.message}"
        for (_, upto), r in reference_results.items()
        if "SETUP_TASKS" in r.message
    ]
    assert unnamed == []


# --- the mechanism itself, against a small real server ----------------------


@pytest.fixture(scope="module")
def url(live: Callable[[Any], LiveServer]) -> str:
    app = FastAPI()

    @app.post("/users/")
    def created(kind: str = "ok") -> Any:
        return {
            "ok": {"id": 7, "name": "x"},
            "bool": {"id": True},
            "list": [{"id": 7}],
        }[kind]

    @app.get("/text")
    def text() -> Response:
        return Response("hello", media_type="text/plain")

    @app.get("/slow")
    def slow() -> dict[str, str]:
        time.sleep(0.5)
        return {"ok": "late"}

    @app.delete("/thing", status_code=204)
    def delete() -> None:
        return None

    return live(app).url


def failure(func: Callable[[], Any]) -> CheckFailed:
    with pytest.raises(CheckFailed) as info:
        func()
    return info.value


def test_expect_success_takes_any_2xx_holding_the_fields(url: str) -> None:
    with httpx.Client(base_url=url) as client:
        body = expect_success(client.post("/users/"), {"id": int})
        assert body == {"id": 7, "name": "x"}
        assert expect_success(client.delete("/thing")) == {}
        boolean = failure(
            lambda: expect_success(
                client.post("/users/", params={"kind": "bool"}), {"id": int}
            )
        )
        assert boolean.message == 'POST /users/ answered 200 {"id":true}: no "id" (int)'
        listed = failure(
            lambda: expect_success(
                client.post("/users/", params={"kind": "list"}), {"id": int}
            )
        )
        assert listed.message.endswith(': no "id" (int)')
        text = failure(lambda: expect_success(client.get("/text"), {"id": int}))
        assert text.message == "GET /text answered 200 hello: not JSON"
        missing = failure(lambda: expect_success(client.get("/nowhere")))
        assert missing.message == 'GET /nowhere answered 404 {"detail":"Not Found"}'
        assert (missing.expected, missing.got) == (
            "any 2xx",
            '404 {"detail":"Not Found"}',
        )


def test_setup_step_turns_failures_into_setup_failed_and_records_its_route(
    url: str,
) -> None:
    routes: set[str] = set()
    with httpx.Client(base_url=url, timeout=0.1) as client, track_setup(routes):
        with pytest.raises(SetupFailed) as info, setup_step("GET /text", "read"):
            expect_success(client.get("/text"), {"id": int})
        assert (info.value.route, info.value.purpose) == ("GET /text", "read")
        assert info.value.message == "GET /text answered 200 hello: not JSON"
        assert info.value.request == "GET /text"
        with pytest.raises(SetupFailed) as info, setup_step("GET /slow", "wait"):
            client.get("/slow")
        assert info.value.message == "GET /slow: the server did not answer in time"
        assert info.value.got == "no answer (timed out)"
        user = create_user(client)
    assert user == {"id": 7, "name": "Ada Lovelace", "email": user["email"]}
    assert routes == {"GET /text", "GET /slow", "POST /users/"}
    time.sleep(0.5)  # let the server finish the abandoned slow request


def sample(func: Callable[..., Any], chapter: str = "02") -> Check:
    return Check(chapter, "read_user", "sample", 2, "Own hint.", func)


def test_a_setup_route_the_chapter_does_not_name_is_an_error(url: str) -> None:
    def unnamed(client: httpx.Client) -> None:
        with setup_step("GET /text", "read"):
            client.get("/text")

    def unnamed_failing(client: httpx.Client) -> None:
        raise SetupFailed("GET /nowhere", "look", "GET /nowhere answered 404")

    for func, route in ((unnamed, "GET /text"), (unnamed_failing, "GET /nowhere")):
        result = run_check(sample(func), url)
        assert (result.status, result.points, result.blocked_by) == ("error", 0, "")
        assert result.message == (
            f"the check crashed: its set-up step on {route} has no entry in "
            "chapter 02's SETUP_TASKS (name the task that owns the route, or GIVEN)"
        )


def test_a_setup_failure_on_a_named_route_blocks_the_check(url: str) -> None:
    def bad_create(client: httpx.Client) -> None:
        with setup_step("POST /users/", "create a user"):
            expect_success(client.post("/users/", params={"kind": "bool"}), {"id": int})

    for chapter, task in (("02", "create_user"), ("06", GIVEN)):
        result = run_check(sample(bad_create, chapter), url)
        assert (result.status, result.points, result.max_points) == ("failed", 0, 2)
        assert result.blocked_by == task
        assert result.hint != "Own hint."
    passed = run_check(sample(lambda client: create_user(client)), url)
    assert (passed.status, passed.blocked_by) == ("passed", "")


def test_results_round_trip_with_and_without_blocked_by(url: str) -> None:
    def bad_create(client: httpx.Client) -> None:
        with setup_step("POST /users/", "create a user"):
            expect_success(client.post("/users/", params={"kind": "bool"}), {"id": int})

    result = run_check(sample(bad_create), url)
    assert result.blocked_by == "create_user"
    assert CheckResult(**result.to_dict()) == result
    older = {k: v for k, v in result.to_dict().items() if k != "blocked_by"}
    assert CheckResult(**older).blocked_by == ""
