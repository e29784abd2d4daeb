"""Chapter 11's pages: templates, the sign-in form, the cookie, the Origin check."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from course_app.routers.pages import PAGE_HEADERS
from course_app.sessions import SESSION_COOKIE

PASSWORD = "correct horse"


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(11)


def sign_in(
    client: TestClient, email: str, password: str = PASSWORD, **headers: str
) -> Any:
    return client.post(
        "/pages/login",
        data={"username": email, "password": password},
        headers=headers,
        follow_redirects=False,
    )


def test_catalogue_pages_of_twenty_with_the_page_headers(client: TestClient) -> None:
    page = client.get("/pages/catalogue", params={"page": 50})
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    for name, value in PAGE_HEADERS.items():
        assert page.headers[name] == value
    assert "Item 1000<" in page.text and "Item 980<" not in page.text
    assert 'rel="next"' not in page.text and 'rel="prev"' in page.text
    # The stylesheet is linked by path: no host or port in the page.
    assert 'href="/static/site.css"' in page.text
    for bad in (0, 51, "x"):
        assert client.get("/pages/catalogue", params={"page": bad}).status_code == 422


def test_the_stylesheet_is_a_static_file(client: TestClient) -> None:
    css = client.get("/static/site.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    again = client.get(
        "/static/site.css", headers={"If-None-Match": css.headers["etag"]}
    )
    assert again.status_code == 304
    assert client.get("/static/../sessions.py").status_code == 404


def test_sign_in_sets_the_cookie_and_the_page_greets_escaped(
    client: TestClient, signup: Callable[..., dict[str, Any]]
) -> None:
    signup(client, email="eve@example.com", name="<i>Eve</i>")
    answer = sign_in(client, "eve@example.com")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/pages/catalogue"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    for flag in ("HttpOnly", "Max-Age=1800", "Path=/", "SameSite=lax"):
        assert flag in cookie
    # TestClient speaks http: no Secure flag, or the browser would never send it.
    assert "Secure" not in cookie
    page = client.get("/pages/catalogue")
    assert "Signed in as <strong>&lt;i&gt;Eve&lt;/i&gt;</strong>" in page.text
    assert "<i>Eve</i>" not in page.text


def test_the_cookie_is_secure_over_https(
    client: TestClient, signup: Callable[..., dict[str, Any]]
) -> None:
    signup(client, email="sec@example.com")
    client.base_url = client.base_url.copy_with(scheme="https")
    assert "Secure" in sign_in(client, "sec@example.com").headers["set-cookie"]


def test_a_wrong_password_shows_the_form_again_without_a_cookie(
    client: TestClient, signup: Callable[..., dict[str, Any]]
) -> None:
    signup(client, email="ada@example.com")
    for email, password in (
        ("ada@example.com", "wrong"),
        ("nobody@example.com", PASSWORD),
    ):
        answer = sign_in(client, email, password)
        assert answer.status_code == 401
        assert "Wrong email or password." in answer.text
        assert "set-cookie" not in answer.headers
        assert f'value="{email}"' in answer.text  # the e-mail is kept in the form


def test_a_forged_or_stale_cookie_is_a_visitor(
    client: TestClient, signup: Callable[..., dict[str, Any]]
) -> None:
    user = signup(client, email="gone@example.com")
    token = sign_in(client, "gone@example.com").cookies[SESSION_COOKIE]
    client.cookies.clear()
    for value in ("garbage", token[:-2] + "xx"):
        client.cookies.set(SESSION_COOKIE, value)
        page = client.get("/pages/catalogue")
        assert page.status_code == 200 and "Signed in as" not in page.text
    client.cookies.set(SESSION_COOKIE, token)
    assert "Signed in as" in client.get("/pages/catalogue").text
    login = {"username": "gone@example.com", "password": PASSWORD}
    bearer = client.post("/token", data=login).json()["access_token"]
    client.delete(f"/users/{user['id']}", headers={"Authorization": f"Bearer {bearer}"})
    assert "Signed in as" not in client.get("/pages/catalogue").text


def test_sign_out_deletes_the_cookie(
    client: TestClient, signup: Callable[..., dict[str, Any]]
) -> None:
    signup(client, email="out@example.com")
    sign_in(client, "out@example.com")
    answer = client.post("/pages/logout", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/pages/login")
    assert "Max-Age=0" in answer.headers["set-cookie"]
    assert "Signed in as" not in client.get("/pages/catalogue").text


@pytest.mark.parametrize(
    ("origin", "refused"),
    [
        ("https://elsewhere.example", True),
        ("null", True),  # a sandboxed frame or a file: page
        ("http://testserver", False),
        (None, False),  # not a browser
    ],
)
def test_forms_from_other_origins_are_refused(
    client: TestClient,
    signup: Callable[..., dict[str, Any]],
    origin: str | None,
    refused: bool,
) -> None:
    signup(client, email="csrf@example.com")
    headers = {"Origin": origin} if origin else {}
    answer = sign_in(client, "csrf@example.com", **headers)
    assert answer.status_code == (403 if refused else 303)
    assert ("set-cookie" in answer.headers) is not refused
    if refused:
        assert origin in answer.json()["detail"]
    logout = client.post("/pages/logout", headers=headers, follow_redirects=False)
    assert logout.status_code == (403 if refused else 303)


def test_safe_methods_pass_the_origin_check(client: TestClient) -> None:
    page = client.get("/pages/login", headers={"Origin": "https://elsewhere.example"})
    assert page.status_code == 200
