"""Live servers for the contract tests: real sockets, as learners' servers are.

Running every chapter's checks against every chapter's app one after
another takes minutes, mostly spent waiting (the async checks sleep, the
auth checks hash passwords). ``in_parallel`` runs independent streams of
checks, each against its own server, at the same time; inside a stream the
checks still run one by one, as a learner's run does.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from contract_support import (
    LAST,
    LOGIN_LIMIT,
    MAIL_SECONDS,
    SECRET_KEY,
    SERVERS,
    in_parallel,
)
from fastapi import FastAPI

from course_app.config import Settings
from course_app.main import create_app
from coursekit.contracts import CHAPTERS, CheckResult, checks_for, run_check
from coursekit.contracts.ch08_requests import ALLOWED_ORIGIN
from coursekit.contracts.stored import StoredFiles
from coursekit.serve import LiveServer, serve
from coursekit.services import ServiceMissing
from coursekit.services import redis as redis_service
from coursekit.services.redis import RedisServer
from tests import system_packages

_names = itertools.count()
#: Each reference app's own folder (its database file is there), by upto.
FOLDERS: dict[int, Path] = {}
#: The Redis each reference app uses, by upto (chapter 07 on).
REDIS_URLS: dict[int, str] = {}


@pytest.fixture(scope="session")
def redis_for() -> Iterator[Callable[[], str | None]]:
    """Start a real Redis and give its URL; None where there is none (not CI).

    A server for each app: the checks pause the whole server, which would
    stall the other apps' checks running at the same time.
    """
    servers: list[RedisServer] = []

    def start() -> str | None:
        try:
            server = redis_service.redis()
        except ServiceMissing as missing:
            if system_packages.ci():
                pytest.fail(f"{missing} (CI is set: chapter 07's checks must run)")
            return None
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def live() -> Iterator[Callable[[Any], LiveServer]]:
    """Serve an ASGI app on a free port; every server stops when the session ends."""

    def start(app: Any) -> LiveServer:
        server = serve(app, name=f"contracts-{next(_names)}", show=False)
        SERVERS[server.url] = server
        return server

    yield start
    for server in SERVERS.values():
        server.stop()


@pytest.fixture(scope="session")
def secret_key() -> str:
    """The reference servers' SECRET_KEY."""
    return SECRET_KEY


@pytest.fixture(scope="session")
def reference(
    live: Callable[[Any], LiveServer],
    tmp_path_factory: pytest.TempPathFactory,
    redis_for: Callable[[], str | None],
) -> Callable[[int], str]:
    """The URL of ``create_app(upto=N)``, served once per N for the session.

    N = 0 is an app with nothing at all (not even docs): the state before
    chapter 01.
    """
    urls: dict[int, str] = {}

    def url(upto: int) -> str:
        if upto not in urls:
            folder = tmp_path_factory.mktemp(f"upto{upto}")
            FOLDERS[upto] = folder
            if upto == 0:
                app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
            else:
                db = folder / "course.db"
                # Chapter 06's app ignores it; chapter 07's checks must fail there.
                redis_url = redis_for() if upto >= 6 else None
                if redis_url is not None:
                    REDIS_URLS[upto] = redis_url
                settings = Settings(
                    database_url=f"sqlite:///{db}",
                    secret_key=SECRET_KEY,
                    redis_url=redis_url,
                    login_attempts_per_minute=LOGIN_LIMIT,
                    # Chapter 08's checks: the origin a page may call from,
                    # and a mail server as slow as the exercise's.
                    cors_origins=[ALLOWED_ORIGIN],
                    outbox_dir=folder / "outbox",
                    mail_delay_seconds=MAIL_SECONDS,
                )
                app = create_app(upto=upto, settings=settings)
            urls[upto] = live(app).url
        return urls[upto]

    return url


@pytest.fixture(scope="session")
def reference_results(
    reference: Callable[[int], str],
) -> dict[tuple[str, int], CheckResult]:
    """Every check against every reference app from its chapter's one on, and
    against the app of the chapter before (where it must fail), by
    ``(check id, upto)``.
    """
    # Started here, in one thread: serve() is meant for a notebook's thread.
    urls = {upto: reference(upto) for upto in range(LAST + 1)}
    # Build each app's OpenAPI document now, one app at a time. Generating it
    # for several apps at once from several threads (only this harness does
    # that: a notebook or a grading run serves one app a process) gave a 500
    # once on a cold start.
    for url in urls.values():
        httpx.get(url + "/openapi.json")

    def stream(upto: int) -> dict[tuple[str, int], CheckResult]:
        chapters = [c for c in CHAPTERS if int(c) <= upto + 1]
        # Where the app keeps its database, for the checks that read it.
        files = StoredFiles([FOLDERS[upto]])
        return {
            (check.id, upto): run_check(
                check,
                urls[upto],
                secret_key=SECRET_KEY,
                files=files,
                redis_url=REDIS_URLS.get(upto),
            )
            for chapter in chapters
            for check in checks_for(chapter)
        }

    streams = in_parallel({upto: (lambda u=upto: stream(u)) for upto in urls})
    return {key: result for part in streams.values() for key, result in part.items()}
