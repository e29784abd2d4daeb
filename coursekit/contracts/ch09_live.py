"""Chapter 09, live updates and streaming: sign-ups as they happen, users as CSV.

The WebSocket checks connect as a browser's ``new WebSocket(...)`` would
(``websocket``, over TCP or the grader's Unix socket), the SSE checks read
the event stream as ``EventSource`` does, line by line, while they sign a
user up on another connection; the CSV checks parse the file with Python's
``csv`` module, as a spreadsheet would read it.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx

from coursekit.contracts.expect import expect_header, expect_status, fail
from coursekit.contracts.registry import check
from coursekit.contracts.users import CREATE_ROUTE, create_user, new_user
from coursekit.contracts.ws_client import WebSocketOpener, receive_json

#: The routes the checks set themselves up with.
SETUP_TASKS = {CREATE_ROUTE: "websocket"}

WS_PATH = "/ws/signups"
SSE_PATH = "/events/signups"
CSV_PATH = "/exports/users.csv"
#: Seconds a sign-up may take to reach a listener (it is published after the
#: response, in a background task; a busy machine is slower).
EVENT_WAIT = 10.0
#: A moment for the app to subscribe a client that has just connected.
SETTLE = 0.2


def _signup_message(
    connection: Any, user: dict[str, Any], timeout: float = EVENT_WAIT
) -> tuple[dict[str, Any], str]:
    """The WebSocket message announcing ``user``, and its raw JSON."""
    deadline = time.monotonic() + timeout
    announced = json.dumps(
        {"type": "signup", "user": {"id": user["id"], "name": user["name"]}}
    )
    what = f"{announced} on the WebSocket"
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            fail("the sign-up was not announced", expected=what, got="no such message")
        message = receive_json(connection, left, what)
        announced = message.get("user") if isinstance(message, dict) else None
        if isinstance(announced, dict) and announced.get("id") == user["id"]:
            if message.get("type") != "signup" or announced.get("name") != user["name"]:
                fail(
                    "the announcement is not the sign-up",
                    expected=what,
                    got=json.dumps(message)[:300],
                )
            return message, json.dumps(message)


@check(
    task="websocket",
    points=2,
    hint='`@router.websocket("/ws/signups")`: `await websocket.accept()`, '
    "subscribe to the feed, and `await websocket.send_json(...)` each sign-up "
    "the feed gets (published from `POST /users/` in a background task).",
)
def ws_signup_announced(client: httpx.Client, websocket: WebSocketOpener) -> None:
    with websocket(WS_PATH) as connection:
        time.sleep(SETTLE)
        user = create_user(client, new_user("live"))
        _signup_message(connection, user)


@check(
    task="websocket",
    points=1,
    hint="Give every connected client a queue of its own, and put each sign-up "
    "on all of them: one shared queue hands each event to one client only.",
)
def ws_every_client_told(client: httpx.Client, websocket: WebSocketOpener) -> None:
    with websocket(WS_PATH) as first, websocket(WS_PATH) as second:
        time.sleep(SETTLE)
        user = create_user(client, new_user("both"))
        _signup_message(first, user)
        _signup_message(second, user)


@check(
    task="websocket",
    points=1,
    hint="Announce the new user's id and name only: whoever listens is anyone "
    "at all, and an e-mail address is not theirs to collect.",
)
def ws_no_email_announced(client: httpx.Client, websocket: WebSocketOpener) -> None:
    with websocket(WS_PATH) as connection:
        time.sleep(SETTLE)
        user = create_user(client, new_user("private"))
        _, raw = _signup_message(connection, user)
    if user["email"] in raw:
        fail(
            "the announcement gives away the new user's e-mail address",
            expected='{"type": "signup", "user": {"id": ..., "name": ...}}',
            got=raw[:300],
        )


def _events(response: httpx.Response) -> Iterator[dict[str, str]]:
    """The events of an SSE stream as they come: {"event", "id", "data"}."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if "data" in fields:
                yield fields
            fields = {}
        elif not line.startswith(":"):  # a comment: a keep-alive ping
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            fields[name] = fields[name] + "\n" + value if name in fields else value


def _signup_event(response: httpx.Response, user: dict[str, Any]) -> dict[str, str]:
    what = (
        f"event: signup, an id:, and data: a JSON object with the user's id "
        f"{user['id']} and name"
    )
    deadline = time.monotonic() + EVENT_WAIT
    try:
        for event in _events(response):
            try:
                data = json.loads(event["data"])
            except ValueError:
                fail("an event whose data is not JSON", expected=what, got=str(event))
            found = data.get("user", data) if isinstance(data, dict) else None
            if isinstance(found, dict) and found.get("id") == user["id"]:
                if event.get("event") != "signup" or not event.get("id"):
                    fail(
                        "the event is not named signup, or has no id",
                        expected=what,
                        got=str(event),
                    )
                return event
            if time.monotonic() > deadline:
                break
    except httpx.ReadTimeout:
        pass
    except httpx.HTTPError as error:
        fail(
            "the event stream broke off",
            expected=what,
            got=f"{type(error).__name__}: {error}",
        )
    fail("the sign-up was not sent as an event", expected=what, got="no such event")


def _open_stream(response: httpx.Response) -> None:
    expect_status(response, 200)
    kind = response.headers.get("content-type", "")
    if not kind.startswith("text/event-stream"):
        fail(
            "not an event stream",
            expected="Content-Type: text/event-stream (`response_class="
            "EventSourceResponse`)",
            got=f"Content-Type: {kind or '(none)'}",
            response=response,
        )
    time.sleep(SETTLE)


@check(
    task="sse",
    points=2,
    hint='`@router.get("/events/signups", response_class=EventSourceResponse)` '
    "on an `async def` that subscribes to the feed and yields a "
    '`ServerSentEvent(data=..., event="signup", id=str(n))` per sign-up.',
)
def sse_signup_event(client: httpx.Client) -> None:
    with client.stream("GET", SSE_PATH) as response:
        _open_stream(response)
        user = create_user(client, new_user("stream"))
        _signup_event(response, user)


@check(
    task="sse",
    points=2,
    hint="Keep the last events (a `collections.deque(maxlen=100)`); when the "
    "request has a `Last-Event-ID` header, send the kept events after that id "
    "first: that is how a browser's EventSource catches up after a reconnect.",
)
def sse_resumes_after_last_event_id(client: httpx.Client) -> None:
    with client.stream("GET", SSE_PATH) as response:
        _open_stream(response)
        first = create_user(client, new_user("before"))
        seen = _signup_event(response, first)
    missed = create_user(client, new_user("missed"))  # while disconnected
    time.sleep(1.0)  # published after its response: let it be
    headers = {"Last-Event-ID": seen["id"]}
    with client.stream("GET", SSE_PATH, headers=headers) as response:
        _open_stream(response)
        event = _signup_event(response, missed)
    if event.get("id") == seen["id"]:
        fail(
            "two events with one id",
            expected="a new id for each event",
            got=f"id: {event['id']} twice",
        )


def _export(client: httpx.Client) -> tuple[httpx.Response, list[list[str]]]:
    response = client.get(CSV_PATH)
    expect_status(response, 200)
    kind = response.headers.get("content-type", "")
    if not kind.startswith("text/csv"):
        fail(
            "not a CSV file",
            expected="Content-Type: text/csv",
            got=f"Content-Type: {kind or '(none)'}",
            response=response,
        )
    rows = list(csv.reader(io.StringIO(response.text)))
    if not rows or rows[0] != ["id", "name", "email"]:
        fail(
            "the CSV file does not start with its header",
            expected="id,name,email",
            got=response.text[:200],
            response=response,
        )
    return response, rows


@check(
    task="export",
    points=2,
    hint="`GET /exports/users.csv`: every user, a row each, written with "
    '`csv.writer`, with `Content-Disposition: attachment; filename="users.csv"` '
    "so that a browser saves it.",
)
def csv_export(client: httpx.Client) -> None:
    users = [create_user(client, new_user(f"csv{n}")) for n in range(2)]
    response, rows = _export(client)
    for user in users:
        row = [str(user["id"]), user["name"], user["email"]]
        if row not in rows:
            fail(
                "a user is missing from the CSV file",
                expected=",".join(row),
                got=response.text[-300:],
                response=response,
            )
    disposition = expect_header(response, "Content-Disposition")
    if not disposition.startswith("attachment") or ".csv" not in disposition:
        fail(
            "a browser would show the file, not save it",
            expected='Content-Disposition: attachment; filename="users.csv"',
            got=f"Content-Disposition: {disposition}",
            response=response,
        )


@check(
    task="export",
    points=1,
    hint="Let `csv.writer` write the rows: a name with a comma or a quote "
    "must be quoted, or it spills into the next column.",
)
def csv_quotes_fields(client: httpx.Client) -> None:
    user = create_user(client, new_user("quoted", name='Smith, "Jo"'))
    response, rows = _export(client)
    row = [str(user["id"]), user["name"], user["email"]]
    if row not in rows:
        fail(
            "a name with a comma and quotes does not read back",
            expected='a row 7,"Smith, ""Jo""",... that reads back as '
            + json.dumps(row),
            got=response.text[-300:],
            response=response,
        )


@check(
    task="export",
    points=1,
    hint="Return a `StreamingResponse` over a generator that reads the users a "
    "page at a time: the file goes out as it is read, whatever its size, and "
    "never whole in memory.",
)
def csv_streamed(client: httpx.Client) -> None:
    create_user(client, new_user("streamed"))
    response, _ = _export(client)
    if "content-length" in response.headers:
        fail(
            "the file was built whole before it was sent",
            expected="a streamed body: Transfer-Encoding: chunked, no Content-Length",
            got=f"Content-Length: {response.headers['content-length']}",
            response=response,
        )
