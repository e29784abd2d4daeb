"""Chapter 11, pages and cookies: the catalogue in HTML, signing in with a form.

The checks act as a browser does: they read the pages' HTML, fetch the
stylesheet a page links to, send the sign-in form as
``application/x-www-form-urlencoded``, keep the session cookie the answer
sets and send it back, and send an ``Origin`` with every form. Redirects
are not followed, so that the 303 and its cookie are seen.

Task ``tests`` is a test the learner writes, ``async def test_sign_in(client)``
with an ``httpx.AsyncClient``: its checks are mutants of the reference.
"""

from __future__ import annotations

import re
import uuid
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from coursekit.contracts.expect import expect_status, fail, setup_step
from coursekit.contracts.learner_tests import built
from coursekit.contracts.registry import check, mutant
from coursekit.contracts.users import CREATE_ROUTE, PASSWORD, create_user, new_user

#: The routes the checks set themselves up with: users are given, the
#: sign-in form is task ``sessions``'s.
SETUP_TASKS = {CREATE_ROUTE: "sessions", "POST /pages/login": "sessions"}

CATALOGUE = "/pages/catalogue"
LOGIN = "/pages/login"
LOGOUT = "/pages/logout"
COOKIE = "session"
SIGNED_IN = "Signed in as"
PAGE_SIZE = 20
FOREIGN_ORIGIN = "https://forms.example.net"


def _origin(client: httpx.Client) -> str:
    """The ``Origin`` a page of the server under test sends its forms with."""
    return f"{client.base_url.scheme}://{client.base_url.netloc.decode()}"


def _html(response: httpx.Response, status: int = 200) -> str:
    expect_status(response, status)
    content_type = response.headers.get("content-type", "")
    if not content_type.startswith("text/html"):
        fail(
            "the page is not HTML",
            expected=f"{status} with Content-Type: text/html",
            got=f"Content-Type: {content_type or '(none)'}",
            response=response,
        )
    return response.text


def _items_on(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"\bItem (\d+)\b", text)}


def _set_cookies(response: httpx.Response) -> dict[str, Any]:
    """The cookies a response sets, by name (``http.cookies.Morsel`` each)."""
    found: dict[str, Any] = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except CookieError:
            fail(
                "a Set-Cookie header cannot be read",
                expected="Set-Cookie: session=...; HttpOnly; Path=/; SameSite=lax",
                got=f"Set-Cookie: {header[:200]}",
                response=response,
            )
        found.update(jar)
    return found


def _sign_in(
    client: httpx.Client, email: str, password: str, **headers: str
) -> httpx.Response:
    return client.post(
        LOGIN,
        data={"username": email, "password": password},
        headers={"Origin": _origin(client), **headers},
        follow_redirects=False,
    )


def _signed_in(client: httpx.Client, prefix: str, name: str = "Ada Lovelace") -> Any:
    """A new user, signed in with the form: the session cookie's ``Morsel``."""
    user = create_user(client, new_user(prefix, name))
    with setup_step("POST /pages/login", "sign in with the form"):
        response = _sign_in(client, user["email"], PASSWORD)
        if response.status_code != 303 or COOKIE not in _set_cookies(response):
            fail(
                "signing in with the right password did not set the session cookie",
                expected=f"303 to {CATALOGUE} with Set-Cookie: {COOKIE}=...",
                response=response,
            )
        return _set_cookies(response)[COOKIE]


def _catalogue(client: httpx.Client, cookie: str | None = None, **params: Any) -> str:
    client.cookies.clear()
    if cookie is not None:
        client.cookies.set(COOKIE, cookie)
    return _html(client.get(CATALOGUE, params=params))


# -- task pages: templates and static files ------------------------------------


@check(
    task="pages",
    points=2,
    hint=f"`GET {CATALOGUE}?page=N` renders a Jinja2 template with "
    f"`templates.TemplateResponse(request, ...)`: {PAGE_SIZE} items a page "
    "(page 1 is Items 1-20), `page` an int from 1 (`Query(ge=1)`).",
)
def catalogue_page(client: httpx.Client) -> None:
    first = _catalogue(client)
    if _items_on(first) != set(range(1, PAGE_SIZE + 1)):
        fail(
            "page 1 does not show the first twenty items",
            expected="Item 1 to Item 20 of the catalogue, and no other",
            got=f"items {sorted(_items_on(first))[:30]}",
        )
    second = _catalogue(client, page=2)
    if _items_on(second) != set(range(PAGE_SIZE + 1, 2 * PAGE_SIZE + 1)):
        fail(
            "page 2 does not show the next twenty items",
            expected="Item 21 to Item 40, and no other",
            got=f"items {sorted(_items_on(second))[:30]}",
        )
    expect_status(client.get(CATALOGUE, params={"page": 0}), 422)


_STYLESHEET = re.compile(
    r"<link\b[^>]*\brel=[\"']?stylesheet[\"']?[^>]*>", re.IGNORECASE
)
_HREF = re.compile(r"\bhref=[\"']([^\"']+)[\"']", re.IGNORECASE)


@check(
    task="pages",
    points=1,
    hint="Mount the folder of static files, `app.mount('/static', "
    "StaticFiles(directory=...), name='static')`, and link the stylesheet "
    "from the template with `url_for('static', path='site.css')`.",
)
def stylesheet_served(client: httpx.Client) -> None:
    page = _catalogue(client)
    links = [_HREF.search(tag) for tag in _STYLESHEET.findall(page)]
    hrefs = [link.group(1) for link in links if link]
    if not hrefs:
        fail(
            "the page links no stylesheet",
            expected='<link rel="stylesheet" href="/static/site.css"> in the page',
            got=page[:300],
        )
    path = urlsplit(urljoin(CATALOGUE, hrefs[0])).path
    if not path.startswith("/static/"):
        fail(
            "the stylesheet is not a static file",
            expected="a stylesheet under /static/",
            got=f"href={hrefs[0]!r}",
        )
    response = client.get(path)
    expect_status(response, 200)
    content_type = response.headers.get("content-type", "")
    if not content_type.startswith("text/css") or "etag" not in response.headers:
        fail(
            "the stylesheet is not served as a static file",
            expected="200 with Content-Type: text/css and an ETag (StaticFiles)",
            response=response,
        )


@check(
    task="sessions",
    points=1,
    hint="Let Jinja2 escape what users wrote: `{{ user.name }}` in a `.html` "
    "template (autoescaped), never an f-string of HTML.",
)
def names_escaped(client: httpx.Client) -> None:
    marker = uuid.uuid4().hex[:8]
    name = f"<em>Eve {marker}</em>"
    cookie = _signed_in(client, "escaped", name)
    page = _catalogue(client, cookie.value)
    if f"&lt;em&gt;Eve {marker}&lt;/em&gt;" not in page:
        fail(
            "a user's name is not escaped in the page",
            expected=f"{SIGNED_IN} &lt;em&gt;Eve {marker}&lt;/em&gt; (text, not HTML)",
            got="the name as HTML" if name in page else "the name is not shown",
        )


# -- task sessions: the sign-in form and its cookie ---------------------------


@check(
    task="sessions",
    points=2,
    hint=f"`POST {LOGIN}` reads `username` and `password` with `Form()`; on "
    f"success a `RedirectResponse('{CATALOGUE}', 303)` with "
    f"`response.set_cookie('{COOKIE}', token, httponly=True, samesite='lax', "
    "max_age=...)`; the page reads it with `Cookie()` and greets the user.",
)
def sign_in_sets_cookie(client: httpx.Client) -> None:
    user = create_user(client, new_user("signin", f"Grace {uuid.uuid4().hex[:6]}"))
    response = _sign_in(client, user["email"], PASSWORD)
    expect_status(response, 303, expected=f"303 to {CATALOGUE}")
    location = response.headers.get("location", "")
    if urlsplit(location).path != CATALOGUE:
        fail(
            "the sign-in does not send the browser to the catalogue",
            expected=f"Location: {CATALOGUE}",
            response=response,
        )
    cookie = _set_cookies(response).get(COOKIE)
    wanted = f"Set-Cookie: {COOKIE}=...; HttpOnly; Max-Age=...; Path=/; SameSite=lax"
    if cookie is None:
        fail("no session cookie was set", expected=wanted, response=response)
    flags = {
        "HttpOnly": bool(cookie["httponly"]),
        "SameSite=Lax or Strict": cookie["samesite"].lower() in {"lax", "strict"},
        "Path=/": cookie["path"] == "/",
        "Max-Age > 0": cookie["max-age"].isdigit() and int(cookie["max-age"]) > 0,
    }
    missing = [flag for flag, ok in flags.items() if not ok]
    if missing:
        fail(
            f"the session cookie lacks {', '.join(missing)}",
            expected=wanted,
            got=f"Set-Cookie: {cookie.OutputString()}"[:300],
        )
    page = _catalogue(client, cookie.value)
    if f"{SIGNED_IN} " not in page or user["name"] not in page:
        fail(
            "with the cookie, the page does not say who is signed in",
            expected=f"{SIGNED_IN} {user['name']} on {CATALOGUE}",
            got=page[:300],
        )


@check(
    task="sessions",
    points=1,
    hint="A wrong password (or an unknown email) shows the form again with an "
    "error, as `TemplateResponse(..., status_code=401)`, and sets no cookie.",
)
def wrong_password_401(client: httpx.Client) -> None:
    user = create_user(client, new_user("wrongpw"))
    attempts = ((user["email"], "not-the-password"), ("no@example.com", PASSWORD))
    for email, password in attempts:
        response = _sign_in(client, email, password)
        _html(response, 401)
        if COOKIE in _set_cookies(response):
            fail(
                "a failed sign-in set the session cookie",
                expected="401, and no Set-Cookie",
                response=response,
            )


@check(
    task="sessions",
    points=1,
    hint="Treat a cookie that does not decode (forged, expired, its user gone) "
    "as signed out: the page, with a link to sign in, not an error.",
)
def forged_cookie_signed_out(client: httpx.Client) -> None:
    cookie = _signed_in(client, "forged")
    head, _, signature = cookie.value.rpartition(".")
    forged = f"{head}.{signature[::-1]}"
    for value in (forged, "not-a-token"):
        page = _catalogue(client, value)
        if SIGNED_IN in page or LOGIN not in page:
            fail(
                "a forged session cookie is not treated as signed out",
                expected=f"the page with a link to {LOGIN}, no '{SIGNED_IN}'",
                got=page[:300],
            )


@check(
    task="sessions",
    points=1,
    hint=f"`POST {LOGOUT}`: a 303 to {LOGIN} that deletes the cookie with "
    "`response.delete_cookie(...)` (the same path as when it was set).",
)
def sign_out_deletes_cookie(client: httpx.Client) -> None:
    cookie = _signed_in(client, "signout")
    client.cookies.clear()
    client.cookies.set(COOKIE, cookie.value)
    response = client.post(
        LOGOUT, headers={"Origin": _origin(client)}, follow_redirects=False
    )
    expect_status(response, 303, expected=f"303 to {LOGIN}")
    gone = _set_cookies(response).get(COOKIE)
    if gone is None or gone["max-age"] != "0" or gone["path"] != "/":
        fail(
            "signing out does not delete the session cookie",
            expected=f'Set-Cookie: {COOKIE}=""; Max-Age=0; Path=/',
            response=response,
        )


# -- task dependencies: a router's and a route's ------------------------------


@check(
    task="dependencies",
    points=2,
    hint="A dependency of the whole pages router (`APIRouter(dependencies="
    "[Depends(same_origin)])`) that raises `HTTPException(403, ...)` for a "
    "POST whose `Origin` is not this host.",
)
def cross_site_forms_403(client: httpx.Client) -> None:
    user = create_user(client, new_user("csrf"))
    response = _sign_in(client, user["email"], PASSWORD, Origin=FOREIGN_ORIGIN)
    expect_status(response, 403, expected="403: the form came from another site")
    if COOKIE in _set_cookies(response):
        fail(
            "a cross-site form signed the browser in",
            expected="403, and no Set-Cookie",
            response=response,
        )
    response = client.post(
        LOGOUT, headers={"Origin": FOREIGN_ORIGIN}, follow_redirects=False
    )
    expect_status(response, 403, expected="403 for sign-out from another site too")
    # The site's own form still works.
    expect_status(_sign_in(client, user["email"], PASSWORD), 303)


# -- task tests: the learner's own async test, against mutants ----------------


@mutant(
    task="tests",
    test="test_sign_in",
    bug="the session cookie is set without `HttpOnly`: a script can read it",
    hint="Look at the attributes of the cookie the sign-in sets "
    "(`response.headers['set-cookie']`).",
)
def cookie_without_httponly() -> Any:
    return built("cookie_without_httponly")


@mutant(
    task="tests",
    test="test_sign_in",
    bug="any password signs a registered email in",
    hint="Sign in with a wrong password too: that must be a 401 with no cookie.",
)
def any_password_signs_in() -> Any:
    return built("any_password_signs_in")


@mutant(
    task="tests",
    test="test_sign_in",
    bug="the catalogue page shows the signed-in user's name as raw HTML",
    hint="Sign up a user whose name holds HTML (`<b>...</b>`) and look for it, "
    "escaped, on the page they see signed in.",
)
def name_not_escaped() -> Any:
    return built("name_not_escaped")
