"""Chapter 05, OAuth2 password flow with signed, expiring JWTs."""

from __future__ import annotations

import base64
import json
import random
import statistics
import time
from typing import Any

import httpx
import jwt

from coursekit.contracts.expect import (
    GIVEN,
    CheckSkipped,
    expect_detail,
    expect_equal,
    expect_fields,
    expect_json,
    expect_status,
    expect_success,
    fail,
    find_keys,
    setup_step,
    unique_email,
)
from coursekit.contracts.registry import check
from coursekit.contracts.users import (
    PASSWORD,
    SECRET_FIELDS,
    create_user,
    expect_user,
    new_user,
)

BAD_LOGIN = "Incorrect email or password"
NO_TOKEN = "Not authenticated"
BAD_TOKEN = "Could not validate credentials"
#: The longest access-token lifetime the contract accepts.
MAX_LIFETIME = 24 * 3600
#: Seconds a password check must cost before the timing check judges it.
HASH_FLOOR = 0.005

#: The routes the checks use to set themselves up, and the task owning each
#: (see the runner). The users part is given: the exercise serves it from the
#: reference system of chapter 04 (or its own sign-up route).
SETUP_TASKS = {
    "POST /users/": GIVEN,
    "DELETE /users/{user_id}": GIVEN,
    "POST /token": "login",
    "GET /users/me": "current_user",
}


def _login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post("/token", data={"username": email, "password": password})


def _token(client: httpx.Client, user: dict[str, Any]) -> str:
    """Log in as ``user``: a set-up step, any 2xx with an ``access_token`` will do."""
    with setup_step("POST /token", "log in for a token"):
        response = _login(client, user["email"], PASSWORD)
        body = expect_success(response, {"access_token": str})
    return body["access_token"]


def _user_and_token(client: httpx.Client, prefix: str) -> tuple[dict[str, Any], str]:
    user = create_user(client, new_user(prefix))
    return user, _token(client, user)


def _me(client: httpx.Client, token: str) -> httpx.Response:
    return client.get("/users/me", headers={"Authorization": f"Bearer {token}"})


def _expect_401(response: httpx.Response, detail: str) -> None:
    expect_detail(response, 401, detail)
    challenge = response.headers.get("www-authenticate", "")
    if challenge.split(" ", 1)[0].lower() != "bearer":
        fail(
            "a 401 without the Bearer challenge",
            expected="header WWW-Authenticate: Bearer",
            got=f"header WWW-Authenticate: {challenge}"
            if challenge
            else "no WWW-Authenticate header",
            response=response,
        )


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(part: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@check(
    task="login",
    points=2,
    hint="Take `OAuth2PasswordRequestForm` as a dependency and return "
    '{"access_token": token, "token_type": "bearer"}.',
)
def login_returns_bearer_token(client: httpx.Client) -> None:
    user = create_user(client, new_user("login"))
    response = _login(client, user["email"], PASSWORD)
    body = expect_json(response)
    expect_fields(
        body, {"access_token": str, "token_type": str}, what="body", response=response
    )
    expect_equal(body["token_type"], "bearer", what="token_type", response=response)


@check(
    task="login",
    points=2,
    hint='Encode `{"sub": str(user.id), "iat": now, "exp": now + timedelta(...)}` '
    'with `jwt.encode(..., SECRET_KEY, algorithm="HS256")`.',
)
def token_claims(client: httpx.Client) -> None:
    user = create_user(client, new_user("claims"))
    response = _login(client, user["email"], PASSWORD)
    body = expect_fields(
        expect_json(response), {"access_token": str}, what="body", response=response
    )
    token = body["access_token"]
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except (jwt.InvalidTokenError, TypeError):
        fail(
            "the access token is not a JWT",
            expected="access_token: a JWT (header.payload.signature)",
            response=response,
        )
    now = time.time()
    expected = f'claims "sub": "{user["id"]}" and "exp" within 24 h from now'
    if claims.get("sub") != str(user["id"]):
        fail(
            'wrong "sub" claim',
            expected=expected,
            got=f'"sub": {json.dumps(claims.get("sub"))}',
            response=response,
        )
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        fail(
            'the token has no "exp" claim: it would never expire',
            expected=expected,
            got="claims " + ", ".join(sorted(claims)),
            response=response,
        )
    if exp <= now:
        fail(
            "the token is already expired",
            expected=expected,
            got='"exp" in the past',
            response=response,
        )
    if exp - now > MAX_LIFETIME + 60:
        fail(
            "the token lives too long",
            expected=expected,
            got='"exp" more than 24 h away',
            response=response,
        )


@check(
    task="login",
    points=2,
    hint="When the password does not verify, raise a 401 with detail "
    '"Incorrect email or password" and `headers={"WWW-Authenticate": "Bearer"}`.',
)
def wrong_password_401(client: httpx.Client) -> None:
    user = create_user(client, new_user("wrongpw"))
    _expect_401(_login(client, user["email"], "not-the-password"), BAD_LOGIN)


@check(
    task="user_enumeration",
    points=2,
    hint="Answer an unknown e-mail exactly like a wrong password, so nobody can "
    "probe which e-mails have accounts.",
)
def unknown_user_401(client: httpx.Client) -> None:
    _expect_401(_login(client, unique_email("nobody"), PASSWORD), BAD_LOGIN)


@check(
    task="user_enumeration",
    points=2,
    hint="When the e-mail is unknown, still verify the password against a "
    "dummy hash, so both failures cost the same time.",
)
def unknown_user_as_slow_as_wrong_password(client: httpx.Client) -> None:
    user = create_user(client, new_user("timing"))
    unknown = unique_email("ghost")
    # A leak shows in every measurement; a busy machine's moment (seen: the
    # round trips of one series all slow) seldom in three running.
    for _ in range(TIMING_SERIES):
        found = _login_times(client, user["email"], unknown)
        if found is None:
            return
    response, measured = found
    fail(
        "unknown e-mails are rejected much faster than wrong passwords",
        expected="both logins take about as long (a hash is checked either way)",
        got="an unknown e-mail is answered in under a quarter of the time",
        response=response,
        measured=measured,
    )


#: Series of timed logins before an unknown e-mail is judged too fast.
TIMING_SERIES = 3


def _login_times(
    client: httpx.Client, email: str, unknown: str
) -> tuple[httpx.Response, dict[str, float]] | None:
    """One series of timed logins: None when an unknown e-mail costs a hash too."""
    samples: dict[str, list[float]] = {"base": [], "wrong": [], "unknown": []}
    # A login without a password is refused (422, or another 4xx) before any
    # hashing: its time is the round trip alone, which the others include too.
    attempts = (
        ("base", {"username": unknown}, (400, 401, 422)),
        ("wrong", {"username": email, "password": "not-the-password"}, (401,)),
        ("unknown", {"username": unknown, "password": "not-the-password"}, (401,)),
    )
    order = random.Random()
    for _ in range(6):
        # Interleaved, so a slow moment of the machine hits every kind; in a
        # new order each round, because on a busy machine the request that
        # follows one without hashing pays to wake the server's thread up.
        for kind, form, statuses in order.sample(attempts, len(attempts)):
            start = time.perf_counter()
            response = client.post("/token", data=form)
            samples[kind].append(time.perf_counter() - start)
            expect_status(response, *statuses)
    # The fastest of each: a busy machine only ever adds time, so the minimum
    # is the cost itself (a median of few samples still moved with the load).
    base, wrong, missing = (min(samples[k]) for k in samples)
    # How much the machine moves a request that does no hashing at all: a
    # difference smaller than that is the machine, not the app.
    noise = statistics.median(samples["base"]) - base
    measured = {"round_trip": base, "wrong_password": wrong, "unknown_email": missing}
    # Hashing cheaper than a few ms leaves nothing to measure reliably.
    if wrong - base > HASH_FLOOR + 2 * noise and missing - base <= (wrong - base) / 4:
        return response, measured
    return None


@check(
    task="current_user",
    points=3,
    hint='Declare `OAuth2PasswordBearer(tokenUrl="token")`, decode the token in a '
    "`get_current_user` dependency and return that user as `UserPublic`.",
)
def users_me(client: httpx.Client) -> None:
    user, token = _user_and_token(client, "me")
    response = _me(client, token)
    body = expect_json(response)
    leaked = find_keys(body, SECRET_FIELDS)
    if leaked:
        fail(
            "the response exposes " + ", ".join(leaked),
            expected="UserPublic without password fields",
            response=response,
        )
    expect_user(body, user, response)


@check(
    task="current_user",
    points=2,
    hint="`OAuth2PasswordBearer` answers a request without a token with 401 "
    '"Not authenticated" for you; declare `/users/me` before `/users/{user_id}`.',
)
def missing_token_401(client: httpx.Client) -> None:
    _expect_401(client.get("/users/me"), NO_TOKEN)


@check(
    task="current_user",
    points=1,
    hint="Catch `jwt.InvalidTokenError` around `jwt.decode` and raise the 401 "
    '"Could not validate credentials" with `WWW-Authenticate: Bearer`: an '
    "error that escapes the dependency is a 500.",
)
def malformed_token_401(client: httpx.Client) -> None:
    _expect_401(_me(client, "not-a-jwt"), BAD_TOKEN)


@check(
    task="reject_bad_tokens",
    points=2,
    hint="Always verify the signature: `jwt.decode(token, SECRET_KEY, "
    'algorithms=["HS256"])`, never `verify_signature=False`.',
)
def tampered_token_401(client: httpx.Client) -> None:
    victim = create_user(client, new_user("victim"))
    _, token = _user_and_token(client, "attacker")
    header, payload, signature = token.split(".")
    claims = _unb64(payload) | {"sub": str(victim["id"])}
    _expect_401(_me(client, f"{header}.{_b64(claims)}.{signature}"), BAD_TOKEN)


@check(
    task="reject_bad_tokens",
    points=2,
    hint='Pass `algorithms=["HS256"]` to `jwt.decode`, so an unsigned '
    '`"alg": "none"` token is refused.',
)
def alg_none_token_401(client: httpx.Client) -> None:
    user = create_user(client, new_user("algnone"))
    now = int(time.time())
    header = _b64({"alg": "none", "typ": "JWT"})
    payload = _b64({"sub": str(user["id"]), "iat": now, "exp": now + 600})
    _expect_401(_me(client, f"{header}.{payload}."), BAD_TOKEN)


@check(
    task="reject_bad_tokens",
    points=2,
    hint='Give every token an "exp" claim; `jwt.decode` then raises '
    "`ExpiredSignatureError` (an `InvalidTokenError`) once it has passed.",
)
def expired_token_401(client: httpx.Client, secret_key: str | None = None) -> None:
    if not secret_key:
        raise CheckSkipped("needs the server's SECRET_KEY (--secret-key) to sign")
    user = create_user(client, new_user("expired"))
    now = int(time.time())
    fresh = {"sub": str(user["id"]), "iat": now, "exp": now + 600}
    purpose = (
        "accept a fresh HS256 token signed with the secret key the checker was "
        "given (is that key the server's SECRET_KEY?)"
    )
    with setup_step("GET /users/me", purpose):
        expect_success(_me(client, jwt.encode(fresh, secret_key, algorithm="HS256")))
    expired = fresh | {"iat": now - 7200, "exp": now - 3600}
    _expect_401(
        _me(client, jwt.encode(expired, secret_key, algorithm="HS256")), BAD_TOKEN
    )


@check(
    task="reject_bad_tokens",
    points=2,
    hint="After decoding, load the user from the database and raise the 401 "
    "when it no longer exists.",
)
def deleted_user_token_401(client: httpx.Client) -> None:
    user, token = _user_and_token(client, "gone")
    with setup_step("DELETE /users/{user_id}", "delete the token's user"):
        response = client.delete(
            f"/users/{user['id']}", headers={"Authorization": f"Bearer {token}"}
        )
        expect_success(response)
    _expect_401(_me(client, token), BAD_TOKEN)
