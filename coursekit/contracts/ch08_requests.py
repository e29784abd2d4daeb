"""Chapter 08, around every request: a request id, CORS, a welcome e-mail.

None of it is a new route. The request id and the timing are a middleware's
headers, on every response; CORS is what a browser asks before a page of
another site may read an answer, and what the answer's headers allow; the
welcome e-mail is a file in the app's outbox, written by a background task
after the sign-up's response has gone. The e-mail checks read the files the
app wrote (``files``), as chapter 04's password check does.
"""

from __future__ import annotations

import re
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import cast

import httpx

from coursekit.contracts.expect import (
    expect_header,
    expect_status,
    fail,
    unique,
)
from coursekit.contracts.registry import check
from coursekit.contracts.stored import StoredFiles
from coursekit.contracts.users import CREATE_ROUTE, create_user, new_user

#: The routes the checks set themselves up with.
SETUP_TASKS = {CREATE_ROUTE: "welcome_email"}

#: The one browser origin the app must allow (its settings' CORS_ORIGINS),
#: and one it must not.
ALLOWED_ORIGIN = "https://app.example.com"
OTHER_ORIGIN = "https://elsewhere.example"
#: How an id the app makes, or keeps, may look: what goes into its logs.
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: A route of chapter 03 that waits this long: its Server-Timing must show it.
SLOW_PATH = "/io/async?delay=0.3"
SLOW_MS = 300
#: How long a welcome e-mail may take to appear in the outbox: the app's mail
#: server takes about 2 s (the exercise's ``deliver``), a busy machine more.
MAIL_WAIT = 15.0
#: How long, once one e-mail is there, a second one is watched for.
SECOND_MAIL_WAIT = 2.0


def _request_id(response: httpx.Response) -> str:
    value = expect_header(response, "X-Request-ID")
    if REQUEST_ID.fullmatch(value) is None:
        fail(
            "the request id is not one a log can safely hold",
            expected="X-Request-ID: 1 to 64 of A-Z a-z 0-9 . _ -",
            got=f"X-Request-ID: {value!r}",
            response=response,
        )
    return value


@check(
    task="request_id",
    points=1,
    hint='A middleware (`@app.middleware("http")`, or a class added with '
    '`app.add_middleware`) sets `response.headers["X-Request-ID"]` on every '
    "response, errors included: `uuid.uuid4().hex` when the client sent none.",
)
def request_id_on_every_response(client: httpx.Client) -> None:
    ids = []
    for path in ("/", "/users/999999999", "/items/not-a-number"):
        ids.append(_request_id(client.get(path)))
    if len(set(ids)) != len(ids):
        fail(
            "two requests got the same id",
            expected="a new X-Request-ID for each request",
            got=f"X-Request-ID values {ids}",
        )


@check(
    task="request_id",
    points=1,
    hint="When the request has a valid `X-Request-ID` (a proxy in front made "
    "it), answer with that one, so that both logs name the same request.",
)
def request_id_kept_from_client(client: httpx.Client) -> None:
    given = unique("check-id")[:64]
    response = client.get("/", headers={"X-Request-ID": given})
    got = _request_id(response)
    if got != given:
        fail(
            "the client's request id was not kept",
            expected=f"X-Request-ID: {given} (the one sent)",
            got=f"X-Request-ID: {got}",
            response=response,
        )


@check(
    task="request_id",
    points=1,
    hint="Keep a client's id only when it is 1-64 of `A-Za-z0-9._-` (a regular "
    "expression, `fullmatch`); otherwise make a new one: whatever a stranger "
    "sends ends up in your logs.",
)
def request_id_replaced_when_unsafe(client: httpx.Client) -> None:
    for unsafe in ("x" * 200, "id with spaces", 'id"><script>'):
        response = client.get("/", headers={"X-Request-ID": unsafe})
        got = _request_id(response)  # fails on anything but a safe id
        if got == unsafe:  # pragma: no cover - _request_id refuses it first
            fail("an unsafe request id was kept", response=response)


@check(
    task="request_id",
    points=1,
    hint="Time the request in the middleware (`time.perf_counter()` before and "
    "after `await call_next(request)`) and add `Server-Timing: app;dur=<ms>`.",
)
def server_timing(client: httpx.Client) -> None:
    response = client.get(SLOW_PATH)
    expect_status(response, 200)
    value = expect_header(response, "Server-Timing")
    match = re.fullmatch(r"\s*app\s*;\s*dur\s*=\s*([0-9]+(?:\.[0-9]+)?)\s*", value)
    if match is None:
        fail(
            "Server-Timing is not app;dur=<milliseconds>",
            expected="Server-Timing: app;dur=312.4",
            got=f"Server-Timing: {value}",
            response=response,
        )
    if float(match.group(1)) < SLOW_MS * 0.9:
        fail(
            "the time does not include the route's work",
            expected=f"dur of at least {SLOW_MS} ms for {SLOW_PATH}, which waits "
            f"{SLOW_MS} ms (milliseconds, measured around the whole request)",
            got=f"Server-Timing: {value}",
            response=response,
        )


def _listed(value: str) -> set[str]:
    """The names of a comma-separated header (already lower-cased)."""
    return {part.strip() for part in value.split(",")}


def _allowed(response: httpx.Response) -> str:
    """The response's Access-Control-Allow-Origin: ours, or `*`, else a failure."""
    value = response.headers.get("access-control-allow-origin")
    if value not in (ALLOWED_ORIGIN, "*"):
        fail(
            f"a page from {ALLOWED_ORIGIN} may not read the answer",
            expected=f"Access-Control-Allow-Origin: {ALLOWED_ORIGIN} (CORS_ORIGINS "
            "lists it)",
            got=f"Access-Control-Allow-Origin: {value}" if value else "no CORS headers",
            response=response,
        )
    return value


def _preflight(client: httpx.Client, origin: str) -> httpx.Response:
    return client.options(
        "/users/me",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )


@check(
    task="cors",
    points=1,
    hint="Add `CORSMiddleware` with `allow_origins=settings.cors_origins` (the "
    "exercise's settings read CORS_ORIGINS), the methods the API uses and "
    '`allow_headers=["Authorization", "Content-Type"]`.',
)
def cors_preflight_allowed(client: httpx.Client) -> None:
    response = _preflight(client, ALLOWED_ORIGIN)
    if not response.is_success:
        fail(
            "the browser's preflight was refused",
            expected=f"2xx to OPTIONS with Origin: {ALLOWED_ORIGIN}",
            response=response,
        )
    _allowed(response)
    allowed = response.headers.get("access-control-allow-headers", "").lower()
    if "authorization" not in _listed(allowed):
        fail(
            "a page may not send its token",
            expected="Access-Control-Allow-Headers listing Authorization",
            got=f"Access-Control-Allow-Headers: {allowed or '(none)'}",
            response=response,
        )


@check(
    task="cors",
    points=1,
    hint='List the origins you trust, not `*`: with `allow_origins=["*"]` '
    "any site's page reads what your API answers its visitors.",
)
def cors_other_origin_refused(client: httpx.Client) -> None:
    # Only where CORS is on at all: an app without it refuses everyone.
    _allowed(client.get("/", headers={"Origin": ALLOWED_ORIGIN}))
    for response in (
        _preflight(client, OTHER_ORIGIN),
        client.get("/", headers={"Origin": OTHER_ORIGIN}),
    ):
        allowed = response.headers.get("access-control-allow-origin")
        if allowed is not None:
            fail(
                "a page from an origin not in the list may read the answer",
                expected=f"no Access-Control-Allow-Origin for Origin: {OTHER_ORIGIN}",
                got=f"Access-Control-Allow-Origin: {allowed}",
                response=response,
            )


@check(
    task="cors",
    points=1,
    hint='`expose_headers=["X-Request-ID"]`: a page\'s script sees only a few '
    "headers of a cross-origin answer unless the server names more.",
)
def cors_exposes_request_id(client: httpx.Client) -> None:
    response = client.get("/", headers={"Origin": ALLOWED_ORIGIN})
    allowed = _allowed(response)
    exposed = response.headers.get("access-control-expose-headers", "").lower()
    if "x-request-id" not in _listed(exposed):
        fail(
            "a page cannot read the request id",
            expected="Access-Control-Expose-Headers listing X-Request-ID",
            got=f"Access-Control-Expose-Headers: {exposed or '(none)'}",
            response=response,
        )
    vary = response.headers.get("vary", "").lower()
    # An answer for "*" is the same for every origin; one naming the origin
    # differs by it, and a shared cache must know.
    if allowed != "*" and "origin" not in _listed(vary):
        fail(
            "a cache could hand this answer to a page of another origin",
            expected="Vary: Origin (the answer depends on the Origin sent)",
            got=f"Vary: {vary or '(none)'}",
            response=response,
        )


def _messages_to(files: StoredFiles, email: str) -> list[EmailMessage]:
    found = []
    for path in files.changed():
        if path.suffix != ".eml":
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if email.encode() not in data:
            continue
        message = cast(EmailMessage, message_from_bytes(data, policy=policy.default))
        if email in str(message.get("To", "")):
            found.append(message)
    return found


def _wait_for_mail(files: StoredFiles, email: str) -> list[EmailMessage]:
    deadline = time.monotonic() + MAIL_WAIT
    while True:
        found = _messages_to(files, email)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@check(
    task="welcome_email",
    points=2,
    hint="After creating the user, `background_tasks.add_task(deliver, "
    "welcome_message(user.name, user.email))`, with `background_tasks: "
    "BackgroundTasks` a parameter of the route.",
)
def welcome_email_sent(client: httpx.Client, files: StoredFiles) -> None:
    user = create_user(client, new_user("welcome", name="Grace Hopper"))
    found = _wait_for_mail(files, user["email"])
    if not found:
        fail(
            "no welcome e-mail",
            expected=f"a .eml file in the outbox, To: {user['email']}, within "
            f"{MAIL_WAIT:g} s of the sign-up",
            got="no message to the new user among the files the app wrote",
        )
    if len(found) > 1:
        fail(
            "more than one welcome e-mail for one sign-up",
            expected="one message",
            got=f"{len(found)} messages to {user['email']}",
        )
    body = found[0].get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    if user["name"] not in text or not found[0].get("Subject"):
        fail(
            "the welcome e-mail does not greet the user",
            expected=f"a Subject, and the user's name ({user['name']}) in the text",
            got=f"Subject: {found[0].get('Subject')!r}, text: {text[:200]!r}",
        )


@check(
    task="welcome_email",
    points=1,
    hint="Send it in a background task, not in the route: the user gets the "
    "201 at once, and the mail server's seconds are spent afterwards.",
)
def welcome_email_after_response(client: httpx.Client, files: StoredFiles) -> None:
    user = create_user(client, new_user("after"))
    if _messages_to(files, user["email"]):
        fail(
            "the sign-up waited for the e-mail",
            expected="the 201 first, the e-mail afterwards (the mail server "
            "takes seconds to accept a message)",
            got="the e-mail was already in the outbox when the 201 arrived",
        )
    if not _wait_for_mail(files, user["email"]):
        fail(
            "no welcome e-mail",
            expected=f"a message to {user['email']} within {MAIL_WAIT:g} s",
            got="none in the outbox",
        )


@check(
    task="welcome_email",
    points=1,
    hint="Add the task only once the user is created: a refused sign-up (409, "
    "422) sends nothing.",
)
def no_email_for_a_refused_sign_up(client: httpx.Client, files: StoredFiles) -> None:
    user = create_user(client, new_user("refused"))
    taken = client.post("/users/", json=new_user() | {"email": user["email"]})
    expect_status(taken, 409)
    if not _wait_for_mail(files, user["email"]):
        fail(
            "no welcome e-mail",
            expected=f"a message to {user['email']} within {MAIL_WAIT:g} s",
            got="none in the outbox",
        )
    # The 409's e-mail, if it sent one, left the route moments after the
    # first: give it as long again as the first one took at most.
    deadline = time.monotonic() + SECOND_MAIL_WAIT
    while time.monotonic() < deadline:
        found = _messages_to(files, user["email"])
        if len(found) > 1:
            fail(
                "a refused sign-up sent an e-mail",
                expected=f"one welcome e-mail to {user['email']}, for the "
                "sign-up that worked, none for the 409",
                got=f"{len(found)} messages to that address",
                response=taken,
            )
        time.sleep(0.2)
