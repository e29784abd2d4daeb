"""Every chapter's contract against the reference on a real PostgreSQL.

SQLite is the course's embedded default; production runs PostgreSQL
(chapter 07). The same `create_app(upto=N)` with `DATABASE_URL` naming a
PostgreSQL database (psycopg, the sync driver the routes use) must pass every
check it passes on SQLite: from chapter 04 on, where the app has a database,
each upto gets a database of its own on one server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from contract_support import LAST, LOGIN_LIMIT, MAIL_SECONDS, SECRET_KEY, in_parallel

from course_app.config import Settings
from course_app.main import create_app
from coursekit.contracts import (
    CHAPTERS,
    CheckResult,
    checks_for,
    format_report,
    run_check,
)
from coursekit.contracts.ch08_requests import ALLOWED_ORIGIN
from coursekit.contracts.stored import StoredFiles
from coursekit.serve import serve
from coursekit.services import postgres as pg
from coursekit.services import redis as redis_service
from tests.servers import start_or_skip

# The first test waits for the session's fixture: every chapter's checks
# against every chapter's app, ten chapters deep, in parallel streams. On a
# busy machine that takes minutes; the limit still catches a hang.
pytestmark = pytest.mark.timeout(900)

#: The first chapter whose app keeps anything in a database.
FIRST_WITH_DATABASE = 4
UPTOS = range(FIRST_WITH_DATABASE, LAST + 1)
CASES = [
    pytest.param(check.id, upto, id=f"{check.id}-upto{upto}")
    for chapter in CHAPTERS
    for check in checks_for(chapter)
    if not check.is_mutant
    for upto in UPTOS
    if int(chapter) <= upto
]


@pytest.fixture(scope="module")
def server() -> Iterator[pg.PostgresServer]:
    # password_stored_hashed reads what the app stored from the cluster's
    # files: a commit must reach them before the answer (the default of
    # postgres() defers it, and on a busy machine the check looked too soon).
    with start_or_skip(
        lambda: pg.postgres(settings={"synchronous_commit": "on"})
    ) as running:
        yield running


@pytest.fixture(scope="module")
def redis_urls() -> Iterator[dict[int, str]]:
    """A Redis for each app from chapter 07 on (the cache, the login counts).

    One each, as in conftest: chapter 07's checks empty and pause the whole
    server, which would upset the other apps' checks running meanwhile.
    """
    with ExitStack() as stack:
        yield {
            upto: stack.enter_context(start_or_skip(redis_service.redis)).url
            for upto in UPTOS
            if upto >= 7
        }


@pytest.fixture(scope="module")
def results(
    server: pg.PostgresServer,
    redis_urls: dict[int, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[tuple[str, int], Any]]:
    servers = []
    urls = {}
    # Chapter 08's e-mails are files, not rows: an outbox the checks search.
    outboxes = tmp_path_factory.mktemp("outboxes")
    for upto in UPTOS:
        database = f"upto{upto}"
        server.query(f"CREATE DATABASE {database}")
        settings = Settings(
            database_url=server.url("psycopg", database=database),
            secret_key=SECRET_KEY,
            redis_url=redis_urls.get(upto),
            login_attempts_per_minute=LOGIN_LIMIT,
            cors_origins=[ALLOWED_ORIGIN],
            outbox_dir=outboxes / database,
            mail_delay_seconds=MAIL_SECONDS,
        )
        app = create_app(upto=upto, settings=settings)
        live = serve(app, name=f"postgres-upto{upto}", show=False)
        servers.append(live)
        urls[upto] = live.url
        httpx.get(live.url + "/openapi.json")  # one app at a time, as in conftest
    # The cluster's files hold what the apps stored, for the checks that read it.
    files = StoredFiles([server.folder, outboxes])

    def stream(upto: int) -> dict[tuple[str, int], CheckResult]:
        return {
            (check.id, upto): run_check(
                check,
                urls[upto],
                secret_key=SECRET_KEY,
                files=files,
                redis_url=redis_urls.get(upto),
            )
            for chapter in CHAPTERS
            if int(chapter) <= upto
            for check in checks_for(chapter)
            if not check.is_mutant
        }

    try:
        streams = in_parallel({upto: (lambda u=upto: stream(u)) for upto in UPTOS})
        yield {key: r for part in streams.values() for key, r in part.items()}
    finally:
        for live in servers:
            live.stop()


@pytest.mark.parametrize(("check_id", "upto"), CASES)
def test_reference_passes_on_postgresql(
    check_id: str, upto: int, results: dict[tuple[str, int], CheckResult]
) -> None:
    result = results[check_id, upto]
    assert result.status == "passed", format_report([result], title=False)


def test_the_users_are_in_postgresql(
    server: pg.PostgresServer, results: dict[tuple[str, int], CheckResult]
) -> None:
    # Not a SQLite file by mistake: the checks' sign-ups are rows on the server.
    for upto in UPTOS:
        count = server._query(f"upto{upto}", "SELECT count(*) FROM users")
        assert count is not None and int(count) > 0, upto
