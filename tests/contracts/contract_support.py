"""Shared bits of the contract tests (a module of its own: conftest modules
are not meant to be imported, and every tests folder has one)."""

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from coursekit.contracts import CHAPTERS
from coursekit.serve import LiveServer

K = TypeVar("K")
T = TypeVar("T")

#: The signing key the reference servers get, so the expiry check can run.
SECRET_KEY = "contract-tests-signing-key-0123456789abcdef"
LAST = len(CHAPTERS)
#: Chapter 07 limits login attempts; chapter 05's checks log in as one user
#: up to six times in their minute (the timing check), and later chapters
#: keep earlier contracts only with a limit above that. Chapter 07's own
#: check finds any limit below its MOST_ATTEMPTS.
LOGIN_LIMIT = 10
#: How long the reference's outbox takes to deliver (chapter 08's checks
#: tell a background e-mail from one the route waits for by it).
MAIL_SECONDS = 2.0
#: The live servers of this test session, by base URL.
SERVERS: dict[str, LiveServer] = {}


#: Streams of checks run at once. Each is mostly waiting, but chapter 03's
#: concurrency checks and chapter 05's timing check measure their server:
#: with all eleven apps' streams at once (chapters 08-10 added three), a
#: busy machine failed them.
AT_ONCE = 6


def in_parallel(jobs: Mapping[K, Callable[[], T]]) -> dict[K, T]:
    """Run the jobs in threads, ``AT_ONCE`` at a time; their results by key."""
    with ThreadPoolExecutor(max_workers=min(AT_ONCE, len(jobs))) as pool:
        futures = {key: pool.submit(job) for key, job in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


def server_errors(url: str) -> str:
    """What the server at ``url`` logged at ERROR level: the traceback of a 500."""
    server = SERVERS.get(url)
    if server is None:
        return ""
    lines = server.logs().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("ERROR")), None)
    return "" if start is None else "\nserver log:\n" + "\n".join(lines[start:])


def _reads_files() -> set[str]:
    from coursekit.contracts import CHAPTERS, checks_for

    return {c.id for chapter in CHAPTERS for c in checks_for(chapter) if c.needs_files}


#: The checks that read what an app stored (they need its folders).
READS_FILES = _reads_files()
