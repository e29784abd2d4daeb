"""Chapter 06's cache expiry check against caches that cheat on the TTL.

Each toy cache (``toy_app.py``) keeps its answer for 1 s, except where it
cheats: it never expires, it expires after a number of hits instead of a
time, or it says HIT while counting afresh. Only the expiry check may fail,
and with the message aimed at the cheat. The cases run in a module of their
own, side by side: the check compares the lifetimes of cache entries with
each other, and other modules' streams (ch03's waits, ch05's hashing) would
only add noise.
"""

from collections.abc import Callable
from typing import Any

import pytest
from contract_support import in_parallel
from toy_app import make_app

from coursekit.contracts import CheckResult, checks_for, format_report, run_check
from coursekit.serve import LiveServer

EXPIRY = "ch06-stats_cache-stats_expire_after_ttl"

# case: (toy options, the expiry check's message, or None when everything passes)
CASES: dict[str, tuple[dict[str, Any], str | None]] = {
    "ttl": ({}, None),
    "never_expire": ({"stats_ttl": None}, "the cache never expires"),
    # Fewer hits than the quick requests, about as many as the polling sees
    # within the TTL, and more than it sees in the check's whole wait.
    "after_2_hits": (
        {"stats_expire_after": 2},
        "the cached answer expired long before its time",
    ),
    "after_8_hits": ({"stats_expire_after": 8}, None),  # either message: see below
    "after_20_hits": (
        {"stats_expire_after": 20},
        "the cache expires after a number of requests, not after a time",
    ),
    "after_20_hits_again": (
        {"stats_expire_after": 20},
        "the cache expires after a number of requests, not after a time",
    ),
    "after_60_hits": ({"stats_expire_after": 60}, "the cache never expires"),
    "lie": ({"stats_lie": True}, "a HIT counts a user created after the cached answer"),
}


COUNTS = "the cache expires after a number of requests, not after a time"
CHEATS = (
    COUNTS,
    "the cached answer expired long before its time",
    "the cache never expires",
)


@pytest.fixture(scope="module")
def expiry_results(live: Callable[[Any], LiveServer]) -> dict[str, list[CheckResult]]:
    urls = {
        name: live(make_app(**options, fast_hash=True)).url
        for name, (options, _) in CASES.items()
    }
    checks = checks_for("06", "stats_cache")

    def run(name: str) -> list[CheckResult]:
        return [run_check(check, urls[name]) for check in checks]

    return in_parallel({name: (lambda n=name: run(n)) for name in CASES})


@pytest.mark.parametrize("case", list(CASES))
def test_only_the_expiry_check_fails_a_cheating_cache(
    case: str, expiry_results: dict[str, list[CheckResult]]
) -> None:
    results = expiry_results[case]
    report = format_report(results, title=False)
    others = [r for r in results if r.id != EXPIRY]
    assert all(r.passed for r in others), report
    (expiry,) = (r for r in results if r.id == EXPIRY)
    options, message = CASES[case]
    if not options:
        assert expiry.passed, report
    elif message is None:  # 8 hits: within the quick requests or just after
        assert expiry.status == "failed", report
        assert expiry.message in (
            "the cached answer expired long before its time",
            "the cache expires after a number of requests, not after a time",
        ), report
    elif message == COUNTS:
        # On a busy machine the polling may see the cheat as an entry that
        # dies young, or (its hits spread over more time) one that never dies.
        assert expiry.status == "failed", report
        assert expiry.message in CHEATS, report
    else:
        assert (expiry.status, expiry.message) == ("failed", message), report


def test_what_was_measured_stays_out_of_the_report(
    expiry_results: dict[str, list[CheckResult]],
) -> None:
    first, again = (
        next(r for r in expiry_results[case] if r.id == EXPIRY)
        for case in ("after_20_hits", "after_20_hits_again")
    )
    for result in (first, again):
        if result.message != COUNTS:
            continue  # a busy machine saw another face of the cheat (above)
        measured = result.measured
        assert measured["hits_before"] == 20, measured
        if "requests_until_miss" in measured:  # the burst ended the entry
            assert measured["requests_until_miss"] == 20, measured
            assert measured["expired_after"] < measured["entry_lifetime"] / 2
        else:  # left alone, it outlived the entry before
            assert measured["left_alone_for"] > measured["entry_lifetime"], measured
    assert first.duration != again.duration
    if first.message == again.message:
        assert format_report([first]) == format_report([again])
