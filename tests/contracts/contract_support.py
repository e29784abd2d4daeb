"""Shared bits of the contract tests (a module of its own: conftest modules
are not meant to be imported, and every tests folder has one)."""

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from coursekit.contracts import CHAPTERS

K = TypeVar("K")
T = TypeVar("T")

#: The signing key the reference servers get, so the expiry check can run.
SECRET_KEY = "contract-tests-signing-key-0123456789abcdef"
LAST = len(CHAPTERS)


def in_parallel(jobs: Mapping[K, Callable[[], T]]) -> dict[K, T]:
    """Run the jobs in threads, one each, and collect their results by key."""
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {key: pool.submit(job) for key, job in jobs.items()}
        return {key: future.result() for key, future in futures.items()}
