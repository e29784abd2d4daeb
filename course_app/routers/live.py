"""Chapter 9: sign-ups live, over a WebSocket and as server-sent events,
and every user as a CSV file, streamed.

A WebSocket is a two-way connection that stays open; server-sent events
(SSE) are one long HTTP response the server keeps writing to, which a
browser's `EventSource` reads and, when the connection drops, reopens with
the last event's id. Both are fed by the app's `SignupFeed`.
"""

import csv
import io
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import anyio
from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    Header,
    WebSocket,
    WebSocketDisconnect,
    status,
)
from fastapi.requests import HTTPConnection
from fastapi.responses import StreamingResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

from ..deps import UserRepoDep
from ..feed import Signup, SignupEvent, SignupFeed
from ..repositories import UserRecord, UserRepository
from ..welcome import NotifyingUserRepository, get_welcoming_user_repo

__all__ = ["FeedDep", "get_announcing_user_repo", "router"]

#: Users read from the database at a time while the CSV file streams.
EXPORT_PAGE = 100

router = APIRouter(tags=["live"])


def get_feed(connection: HTTPConnection) -> SignupFeed:
    """The app's feed; `HTTPConnection` serves WebSocket and HTTP routes alike."""
    return connection.app.state.signup_feed


FeedDep = Annotated[SignupFeed, Depends(get_feed)]


def get_announcing_user_repo(
    repo: Annotated[UserRepository, Depends(get_welcoming_user_repo)],
    background_tasks: BackgroundTasks,
    feed: FeedDep,
) -> UserRepository:
    """Chapter 8's repository, which also puts each new user on the feed.

    `feed.publish` is an `async def`: as a background task it runs on the
    event loop, where the feed's queues live, after the response.
    """

    def announce(user: UserRecord) -> None:
        background_tasks.add_task(feed.publish, Signup(id=user.id, name=user.name))

    return NotifyingUserRepository(repo, announce)


@router.websocket("/ws/signups")
async def signups_socket(websocket: WebSocket, feed: FeedDep) -> None:
    """Each sign-up, as a JSON message, for as long as the client stays."""
    # Subscribed before the handshake ends: a client that signs someone up
    # as soon as it is connected hears about it.
    async with feed.subscribe() as events, anyio.create_task_group() as tasks:
        await websocket.accept()

        async def forward() -> None:
            async for event in events:
                await websocket.send_text(event.model_dump_json())
            # The feed dropped this client, too slow to keep up.
            await websocket.close(code=status.WS_1013_TRY_AGAIN_LATER)
            tasks.cancel_scope.cancel()

        tasks.start_soon(forward)
        # Waiting for the client is how a closed connection is noticed at
        # once, not at the next sign-up; what it sends is ignored.
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            tasks.cancel_scope.cancel()


def _sse(event: SignupEvent) -> ServerSentEvent:
    return ServerSentEvent(
        data=event.user, event=event.type, id=str(event.id), retry=3000
    )


@router.get("/events/signups", response_class=EventSourceResponse)
async def signup_events(
    feed: FeedDep,
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Each sign-up as an event; from `Last-Event-ID` on, the ones missed first."""
    # Subscribed before the missed events are read, with no await between:
    # nothing published in between can fall through the gap.
    async with feed.subscribe() as events:
        if last_event_id is not None:
            for missed in feed.since(last_event_id):
                yield _sse(missed)
        async for event in events:
            yield _sse(event)


@router.get(
    "/exports/users.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "Every user"}},
)
def export_users(repo: UserRepoDep) -> StreamingResponse:
    """Every user as CSV (id, name, email), read and sent a page at a time."""

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)  # quotes what needs quoting: commas, quotes
        writer.writerow(["id", "name", "email"])
        skip = 0
        while True:
            page = repo.list_users(skip=skip, limit=EXPORT_PAGE)
            for user in page:
                writer.writerow([user.id, user.name, user.email])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if len(page) < EXPORT_PAGE:
                return
            skip += EXPORT_PAGE

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="users.csv"'},
    )
