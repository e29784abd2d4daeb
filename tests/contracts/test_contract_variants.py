"""Known mistakes, one at a time: exactly the checks aimed at each one fail.

Each case runs whole chapters or tasks against the toy app (``toy_app.py``)
with one mistake switched on and compares the set of failing checks with
the expected one, so a check that misfires on correct code shows up too.
"""

from collections.abc import Callable
from typing import Any

import pytest
from contract_support import READS_FILES, in_parallel
from toy_app import SECRET_KEY, make_app

from coursekit.contracts import CheckResult, format_report, run_checks
from coursekit.serve import LiveServer

# mistake: (toy options, (chapter, task or None) to run, checks that must fail)
VARIANTS: dict[str, tuple[dict[str, Any], list[tuple[str, str | None]], set[str]]] = {
    # time.sleep inside `async def /io/async`: only that concurrency fails.
    "block_async": (
        {"block_async": True},
        [("03", None)],
        {"ch03-async_io-async_requests_overlap"},
    ),
    # `/io/sync` declared `async def`: it blocks the loop for everyone.
    "block_sync": (
        {"block_sync": True},
        [("03", "sync_io")],
        {
            "ch03-sync_io-sync_requests_overlap",
            "ch03-sync_io-loop_free_while_sync_waits",
        },
    ),
    # The fan-out awaits its waits one by one instead of gathering them.
    "serial_fanout": (
        {"serial_fanout": True},
        [("03", "fanout")],
        {"ch03-fanout-fanout_waits_overlap"},
    ),
    # The stored user, hash included, returned as is.
    "leak_password": (
        {"leak_password": True},
        [("02", None), ("05", "current_user")],
        {
            "ch02-create_user-create_user_201",
            "ch02-read_user-read_hides_password",
            "ch02-update_user-update_hides_password",
            "ch05-current_user-users_me",
        },
    ),
    # Tokens without "exp" never expire.
    "no_token_exp": ({"token_exp": False}, [("05", None)], {"ch05-login-token_claims"}),
    # An unknown e-mail answered at once, without hashing anything.
    "no_dummy_hash": (
        {"dummy_hash": False},
        [("05", "user_enumeration")],
        {"ch05-user_enumeration-unknown_user_as_slow_as_wrong_password"},
    ),
    # Claims read without checking the signature: forged tokens get in.
    "unverified_tokens": (
        {"verify_signature": False},
        [("05", "reject_bad_tokens")],
        {
            "ch05-reject_bad_tokens-tampered_token_401",
            "ch05-reject_bad_tokens-alg_none_token_401",
            "ch05-reject_bad_tokens-expired_token_401",
        },
    ),
    "no_gzip": (
        {"gzip": False, "fast_hash": True},
        [("06", None)],
        {"ch06-gzip-large_responses_gzipped"},
    ),
    # Stats computed on every call (always X-Cache: MISS): nothing is cached,
    # so nothing expires either. (Cheap hashes: the expiry check creates users.)
    "no_stats_cache": (
        {"stats_cache": False, "fast_hash": True},
        [("06", "stats_cache")],
        {"ch06-stats_cache-stats_cached", "ch06-stats_cache-stats_expire_after_ttl"},
    ),
}


@pytest.fixture(scope="module")
def variant_results(
    live: Callable[[Any], LiveServer],
) -> dict[str, list[CheckResult]]:
    """Each mistake's results, the mistakes run side by side on their own servers."""
    urls = {
        name: live(make_app(**options)).url
        for name, (options, _, _) in VARIANTS.items()
    }

    def run(name: str) -> list[CheckResult]:
        _, selection, _ = VARIANTS[name]
        return [
            result
            for chapter, task in selection
            for result in run_checks(urls[name], chapter, task, secret_key=SECRET_KEY)
            # The toy keeps users in memory: nothing stored to read.
            if result.id not in READS_FILES
        ]

    # Chapter 03's checks time concurrency: run beside every other variant
    # in this one process, on a machine already busy, ten 0.5 s waits took
    # longer than the check allows. They run alone, after the others.
    timed = [name for name, (_, sel, _) in VARIANTS.items() if ("03" in dict(sel))]
    results = in_parallel(
        {name: (lambda n=name: run(n)) for name in VARIANTS if name not in timed}
    )
    return results | {name: run(name) for name in timed}


@pytest.mark.parametrize("mistake", list(VARIANTS))
def test_only_the_aimed_checks_fail(
    mistake: str, variant_results: dict[str, list[CheckResult]]
) -> None:
    results = variant_results[mistake]
    failed = {r.id for r in results if r.status != "passed"}
    report = format_report([r for r in results if r.status != "passed"], title=False)
    assert failed == VARIANTS[mistake][2], report
