"""Assertions for checks, failing with messages a learner can act on.

Every helper raises ``CheckFailed`` with three short parts: the request that
was sent, what the contract expected, and what came back. The runner prints
them under the check's name together with its hint.

A check often needs something before it can test its own route: a user, a
token. Such set-up steps run inside ``setup_step(route, purpose)``, accept
any answer that gives them what they need (``expect_success``), and fail
with ``SetupFailed``, which names the route; the runner reports it as the
failure of the chapter's task that owns that route (the chapter module's
``SETUP_TASKS``), not of the check's own.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, NoReturn
from urllib.parse import unquote_plus

import httpx

__all__ = [
    "GIVEN",
    "CheckFailed",
    "CheckSkipped",
    "SetupFailed",
    "describe_http_error",
    "describe_request",
    "describe_response",
    "expect_detail",
    "expect_equal",
    "expect_fields",
    "expect_header",
    "expect_json",
    "expect_status",
    "expect_success",
    "expect_validation_error",
    "fail",
    "find_keys",
    "redact",
    "setup_step",
    "short_json",
    "track_setup",
    "unique",
    "unique_email",
]

BODY_LIMIT = 160
_UNIQUE_RE = re.compile(r"(?<=-)[0-9a-f]{12}\b")
_JWT_RE = re.compile(r"eyJ[\w-]*\.[\w-]*\.[\w-]*")
# Salted password hashes (argon2, bcrypt) differ on every run.
_HASH_RE = re.compile(r"\$(?:argon2\w*|2[aby])\$[^\s\"']+")


class CheckFailed(Exception):
    """The server did not behave as the contract says.

    Attributes:
        message: one line saying what went wrong.
        expected: what the contract wanted (status, body, header...).
        got: what the server sent instead.
        request: the request that showed it, e.g. ``POST /users/ {...}``.
        measured: numbers behind a timing verdict (kept out of text reports).
    """

    def __init__(
        self,
        message: str,
        *,
        expected: str = "",
        got: str = "",
        request: str = "",
        measured: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.got = got
        self.request = request
        self.measured = dict(measured or {})


class CheckSkipped(Exception):
    """The check cannot run here (e.g. it needs the server's secret key)."""


#: In a chapter's ``SETUP_TASKS``: the route is given (by the exercise's
#: set-up, or by the reference system it builds on), not one of its tasks.
GIVEN = "given"


class SetupFailed(CheckFailed):
    """A set-up step did not get what the check needs; the check never ran.

    Attributes:
        route: the route the step relies on, ``"POST /users/"``, spelt as
            the chapter's ``SETUP_TASKS`` spells it.
        purpose: what the step is for, e.g. ``"create a user"``.
    """

    def __init__(
        self,
        route: str,
        purpose: str,
        message: str,
        *,
        expected: str = "",
        got: str = "",
        request: str = "",
    ) -> None:
        super().__init__(message, expected=expected, got=got, request=request)
        self.route = route
        self.purpose = purpose


# The routes of the set-up steps the running check has entered (the runner
# compares them with the chapter's SETUP_TASKS).
_setup_routes: ContextVar[set[str] | None] = ContextVar("setup_routes", default=None)


@contextlib.contextmanager
def track_setup(routes: set[str]) -> Iterator[set[str]]:
    """Collect into ``routes`` the route of every ``setup_step`` entered inside."""
    token = _setup_routes.set(routes)
    try:
        yield routes
    finally:
        _setup_routes.reset(token)


@contextlib.contextmanager
def setup_step(route: str, purpose: str) -> Iterator[None]:
    """Run the enclosed code as a set-up step on ``route`` (``"POST /token"``).

    A ``CheckFailed`` or an HTTP error inside becomes ``SetupFailed``: the
    check did not get to test its own route. ``purpose`` ("log in for a
    token") tells the learner what the check needed the route for.
    """
    routes = _setup_routes.get()
    if routes is not None:
        routes.add(route)
    try:
        yield
    except SetupFailed:
        raise
    except CheckFailed as exc:
        raise SetupFailed(
            route,
            purpose,
            exc.message,
            expected=exc.expected,
            got=exc.got,
            request=exc.request,
        ) from None
    except httpx.HTTPError as exc:
        message, got = describe_http_error(exc)
        raise SetupFailed(route, purpose, f"{route}: {message}", got=got) from None


def unique(prefix: str) -> str:
    """``prefix`` plus a random part, so re-runs never collide on a live server."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def unique_email(prefix: str = "learner") -> str:
    """A fresh, valid e-mail address."""
    return f"{unique(prefix)}@example.com"


def redact(text: str) -> str:
    """Hide random check data, tokens and password hashes, for stable reports."""
    text = _HASH_RE.sub("<hash>", _JWT_RE.sub("<token>", text))
    return _UNIQUE_RE.sub("xxxx", text)


def _clip(text: str, limit: int = BODY_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_json(value: Any, limit: int = BODY_LIMIT) -> str:
    """Compact JSON for messages, clipped to ``limit`` characters."""
    return _clip(json.dumps(value, ensure_ascii=False), limit)


def describe_request(request: httpx.Request) -> str:
    """``METHOD /path?query`` plus a short body and the headers that matter."""
    target = unquote_plus(request.url.raw_path.decode("ascii", "replace"))
    parts = [f"{request.method} {target}"]
    try:
        content = request.content
    except httpx.RequestNotRead:
        content = b""
    if content:
        text = content.decode("utf-8", "replace")
        if "json" in request.headers.get("content-type", ""):
            with contextlib.suppress(ValueError):
                text = json.dumps(json.loads(text), ensure_ascii=False)
        else:
            text = unquote_plus(text)
        parts.append(_clip(text, 120))
    auth = request.headers.get("authorization")
    if auth is not None:
        scheme = auth.split(" ", 1)[0]
        parts.append(f"[Authorization: {scheme} <token>]")
    if "if-none-match" in request.headers:
        parts.append("[If-None-Match: <ETag>]")
    return " ".join(parts)


def describe_response(response: httpx.Response) -> str:
    """``status body`` with the body clipped; ``(empty body)`` when there is none."""
    try:
        text = response.text
    except (httpx.ResponseNotRead, httpx.DecodingError):
        text = "<body not readable>"
    # Tokens first: clipped, a token would no longer look like one to redact().
    body = _clip(_JWT_RE.sub("<token>", text)) if text.strip() else "(empty body)"
    return f"{response.status_code} {body}"


def describe_http_error(exc: httpx.HTTPError) -> tuple[str, str]:
    """A failed request as ``(message, got)``: a timeout, a refused connection..."""
    if isinstance(exc, httpx.TimeoutException):
        return "the server did not answer in time", "no answer (timed out)"
    if isinstance(exc, httpx.ConnectError):
        return "could not connect to the server", "connection refused"
    if isinstance(exc, httpx.DecodingError):
        return "the response body could not be decoded", f"undecodable body: {exc}"
    if isinstance(exc, httpx.TooManyRedirects):
        return "the server redirects in a loop", "too many redirects"
    return f"the request failed: {type(exc).__name__}", str(exc) or type(exc).__name__


def fail(
    message: str,
    *,
    expected: str = "",
    got: str = "",
    response: httpx.Response | None = None,
    measured: Mapping[str, float] | None = None,
) -> NoReturn:
    """Raise ``CheckFailed``; with a response, request and ``got`` come from it."""
    request = ""
    if response is not None:
        request = describe_request(response.request)
        got = got or describe_response(response)
    raise CheckFailed(
        message, expected=expected, got=got, request=request, measured=measured
    )


def expect_status(
    response: httpx.Response, *codes: int, expected: str | None = None
) -> None:
    """The response's status code is one of ``codes``.

    ``expected`` replaces the plain list of codes in the message, e.g.
    ``'409 {"detail": "..."}'``.
    """
    if response.status_code not in codes:
        wanted = " or ".join(str(code) for code in codes)
        fail(
            f"status {response.status_code}, expected {wanted}",
            expected=expected or wanted,
            response=response,
        )


def expect_json(response: httpx.Response, status: int = 200) -> Any:
    """Check the status, then return the parsed JSON body."""
    expect_status(response, status)
    try:
        return response.json()
    except ValueError:
        content_type = response.headers.get("content-type", "no content-type")
        fail(
            f"the body is not JSON ({content_type})",
            expected=f"{status} with a JSON body",
            response=response,
        )


def expect_equal(
    actual: Any, expected: Any, *, what: str, response: httpx.Response
) -> None:
    """``actual == expected`` as JSON; a failure names the first difference.

    ``what`` names the compared value (``body``, ``page``...) and starts the
    path of the difference, e.g. ``body.items[3].name``.
    """
    difference = _first_difference(expected, actual, what)
    if difference is not None:
        path, wanted, got = difference
        fail(
            f"unexpected {path}",
            expected=f"{path}: {wanted}",
            got=f"{path}: {got}",
            response=response,
        )


def _first_difference(
    expected: Any, actual: Any, path: str
) -> tuple[str, str, str] | None:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key, value in expected.items():
            if key not in actual:
                return f"{path}.{key}", short_json(value), "missing"
            found = _first_difference(value, actual[key], f"{path}.{key}")
            if found:
                return found
        for key in actual:
            if key not in expected:
                got = f"{short_json(key)}: {short_json(actual[key], 60)}"
                return path, "no other fields", got
        return None
    if isinstance(expected, list) and isinstance(actual, list):
        for index, (want, have) in enumerate(zip(expected, actual, strict=False)):
            found = _first_difference(want, have, f"{path}[{index}]")
            if found:
                return found
        if len(expected) != len(actual):
            return path, f"{len(expected)} items", f"{len(actual)} items"
        return None
    # JSON keeps true and 1 apart; Python's == does not.
    if expected != actual or isinstance(expected, bool) != isinstance(actual, bool):
        return path, short_json(expected), short_json(actual)
    return None


#: How much of a body a set-up failure's one-line message repeats.
SETUP_BODY_LIMIT = 60


def expect_success(
    response: httpx.Response,
    fields: Mapping[str, type | tuple[type, ...]] | None = None,
) -> dict[str, Any]:
    """What a set-up step accepts: any 2xx, with a JSON object holding ``fields``.

    Lenient about what the step does not need (the exact status, other
    fields): the checks aimed at those judge them. Returns the body (an
    empty dict when no fields are asked for).
    """
    fields = fields or {}
    request = response.request
    answered = f"{request.method} {request.url.path} answered"
    shape = ", ".join(f"{k}: {_type_name(t)}" for k, t in fields.items())
    wanted = "any 2xx" + (f" with a JSON body {{{shape}}}" if fields else "")
    short = describe_response(response)
    if len(short) > SETUP_BODY_LIMIT:
        short = short[: SETUP_BODY_LIMIT - 1] + "…"
    if not response.is_success:
        fail(f"{answered} {short}", expected=wanted, response=response)
    if not fields:
        return {}
    try:
        body = response.json()
    except ValueError:
        fail(f"{answered} {short}: not JSON", expected=wanted, response=response)
    for key, types in fields.items():
        value = body.get(key) if isinstance(body, dict) else None
        bad_bool = isinstance(value, bool) and bool not in _as_tuple(types)
        if not isinstance(value, types) or bad_bool:
            fail(
                f'{answered} {short}: no "{key}" ({_type_name(types)})',
                expected=wanted,
                response=response,
            )
    return body


def expect_detail(response: httpx.Response, status: int, detail: str) -> None:
    """An error response: ``status`` and the body ``{"detail": detail}``."""
    body = {"detail": detail}
    expect_status(response, status, expected=f"{status} {short_json(body)}")
    try:
        got = response.json()
    except ValueError:
        got = None
    if not isinstance(got, dict) or got.get("detail") != detail:
        fail(
            "wrong error detail",
            expected=f"{status} {short_json(body)}",
            response=response,
        )


def expect_validation_error(
    response: httpx.Response, loc: list[str | int], *, error_type: str | None = None
) -> None:
    """A 422 whose ``detail`` has an error at ``loc`` (of ``error_type``, if given)."""
    wanted = f"loc {short_json(loc)}" + (
        f' and type "{error_type}"' if error_type else ""
    )
    expect_status(response, 422, expected=f"422 with an error at {wanted}")
    try:
        errors = response.json().get("detail")
    except (ValueError, AttributeError):
        errors = None
    if not isinstance(errors, list):
        fail(
            "the 422 body is not FastAPI's validation error list",
            expected='422 {"detail": [{"loc": [...], "type": ...}, ...]}',
            response=response,
        )
    for error in errors:
        if not isinstance(error, dict) or error.get("loc") != loc:
            continue
        if error_type is None or error.get("type") == error_type:
            return
        fail(
            f"the error at {short_json(loc)} has the wrong type",
            expected=f"422 with an error at {wanted}",
            response=response,
        )
    fail(
        f"no validation error at {short_json(loc)}",
        expected=f"422 with an error at {wanted}",
        response=response,
    )


def expect_header(response: httpx.Response, name: str, value: str | None = None) -> str:
    """The header is present (and equal to ``value``, if given); return its value."""
    got = response.headers.get(name)
    wanted = f"header {name}: {value}" if value is not None else f"header {name}"
    if got is None:
        fail(
            f"missing header {name}",
            expected=wanted,
            got=f"no {name} header",
            response=response,
        )
    if value is not None and got != value:
        fail(
            f"wrong {name} header",
            expected=wanted,
            got=f"header {name}: {got}",
            response=response,
        )
    return got


def find_keys(value: Any, names: Iterable[str]) -> list[str]:
    """Paths (``[0].password``) of every dict key in ``names``, at any depth."""
    wanted = set(names)
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                if key in wanted:
                    found.append(f"{path}.{key}" if path else str(key))
                walk(child, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, f"{path}[{index}]")

    walk(value, "")
    return found


def expect_fields(
    obj: Any,
    fields: Mapping[str, type | tuple[type, ...]],
    *,
    what: str,
    response: httpx.Response,
) -> dict[str, Any]:
    """``obj`` is a JSON object with these fields of these types; return it."""
    shape = ", ".join(f"{k}: {_type_name(t)}" for k, t in fields.items())
    if not isinstance(obj, dict):
        fail(
            f"{what} is not a JSON object",
            expected=f"{what} {{{shape}}}",
            response=response,
        )
    for key, types in fields.items():
        # bool is an int subclass in Python but not an integer in JSON.
        value = obj.get(key)
        bad_bool = isinstance(value, bool) and bool not in _as_tuple(types)
        if key not in obj or not isinstance(value, types) or bad_bool:
            problem = "missing" if key not in obj else f"has {short_json(value, 40)}"
            fail(
                f'{what}: field "{key}" {problem}',
                expected=f"{what} {{{shape}}}",
                response=response,
            )
    return obj


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _type_name(types: type | tuple[type, ...]) -> str:
    names = {int: "int", str: "str", float: "number", dict: "object", list: "list"}
    return " | ".join(names.get(t, t.__name__) for t in _as_tuple(types))
