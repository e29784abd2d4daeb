"""Chapter 9: the live feed of sign-ups, for WebSocket and SSE clients.

One `SignupFeed` per app (per worker process: with several workers, each
sees only its own sign-ups, which is where chapter 07's Redis, with its
publish and subscribe, would come in). Each subscriber gets a queue of its
own; a sign-up is put on every queue. The feed also keeps its last events,
so that an SSE client that lost its connection can say which event it saw
last (`Last-Event-ID`) and get the ones it missed.

Everything here runs on the event loop: `publish` is an `async def`, called
as a background task, so no lock is needed.
"""

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic import BaseModel

__all__ = ["HISTORY", "QUEUE_SIZE", "Signup", "SignupEvent", "SignupFeed"]

#: Events kept for clients that reconnect.
HISTORY = 100
#: Events a subscriber may fall behind by; a slower one is dropped (it
#: reconnects, and SSE's Last-Event-ID brings it up to date).
QUEUE_SIZE = 100


class Signup(BaseModel):
    """Who signed up, as the feed tells everyone: no e-mail address."""

    id: int
    name: str


class SignupEvent(BaseModel):
    """One event of the feed: its number (1, 2, ...) and the new user."""

    id: int
    type: str = "signup"
    user: Signup


class SignupFeed:
    """Broadcasts sign-ups to every subscriber, and remembers the last ones."""

    def __init__(self, history: int = HISTORY, queue_size: int = QUEUE_SIZE) -> None:
        self._numbers = itertools.count(1)
        self._history: deque[SignupEvent] = deque(maxlen=history)
        self._queue_size = queue_size
        self._queues: set[asyncio.Queue[SignupEvent | None]] = set()

    @property
    def subscribers(self) -> int:
        """How many clients are listening now."""
        return len(self._queues)

    async def publish(self, user: Signup) -> SignupEvent:
        """Number the sign-up, keep it, and put it on every subscriber's queue."""
        event = SignupEvent(id=next(self._numbers), user=user)
        self._history.append(event)
        for queue in list(self._queues):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                # Too slow to keep up: end its stream rather than buffer
                # without bound for a client that may be gone.
                self._queues.discard(queue)
                queue.get_nowait()
                queue.put_nowait(None)
        return event

    def since(self, last_id: int) -> list[SignupEvent]:
        """The kept events after event `last_id`, oldest first."""
        return [event for event in self._history if event.id > last_id]

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[AsyncIterator[SignupEvent]]:
        """Listen for the duration of the `async with`: yields the events' iterator."""
        queue: asyncio.Queue[SignupEvent | None] = asyncio.Queue(self._queue_size)
        self._queues.add(queue)

        async def events() -> AsyncIterator[SignupEvent]:
            while (event := await queue.get()) is not None:
                yield event

        try:
            yield events()
        finally:
            self._queues.discard(queue)
