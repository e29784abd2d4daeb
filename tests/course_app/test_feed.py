"""Chapter 9's sign-up feed, on an event loop of its own."""

import asyncio

from course_app.feed import Signup, SignupFeed


def test_every_subscriber_gets_every_event_in_order() -> None:
    async def scenario() -> tuple[list[int], list[int], int]:
        feed = SignupFeed()
        async with feed.subscribe() as first, feed.subscribe() as second:
            for n in (1, 2):
                await feed.publish(Signup(id=n, name=f"user {n}"))
            got_first = [(await anext(first)).user.id for _ in range(2)]
            got_second = [(await anext(second)).user.id for _ in range(2)]
            listening = feed.subscribers
        return got_first, got_second, listening * 10 + feed.subscribers

    first, second, counts = asyncio.run(scenario())
    assert first == second == [1, 2]
    assert counts == 20  # two while subscribed, none after


def test_the_last_events_are_kept_for_a_client_that_reconnects() -> None:
    async def scenario() -> list[int]:
        feed = SignupFeed(history=3)
        for n in range(1, 6):
            await feed.publish(Signup(id=n, name="u"))
        return [event.id for event in feed.since(2)]

    assert asyncio.run(scenario()) == [3, 4, 5]


def test_a_subscriber_that_falls_behind_is_dropped() -> None:
    async def scenario() -> tuple[list[int], int]:
        feed = SignupFeed(queue_size=2)
        async with feed.subscribe() as events:
            for n in range(1, 4):  # one more than its queue holds
                await feed.publish(Signup(id=n, name="u"))
            got = [event.id async for event in events]  # ends: dropped
            return got, feed.subscribers

    got, subscribers = asyncio.run(scenario())
    assert got == [2]  # what was left when it was dropped; then the end
    assert subscribers == 0
