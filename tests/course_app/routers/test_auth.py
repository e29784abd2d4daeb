import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from course_app import passwords
from course_app.config import Settings

PASSWORD = "correct horse"
NOT_AUTHENTICATED = {"detail": "Not authenticated"}
BAD_TOKEN = {"detail": "Could not validate credentials"}
BAD_LOGIN = {"detail": "Incorrect email or password"}


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(5)


@pytest.fixture
def ada(client: TestClient, signup: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return signup(client, email="ada@example.com", name="Ada", password=PASSWORD)


def login(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    return client.post("/token", data={"username": username, "password": password})


def me(client: TestClient, token: str) -> Any:
    return client.get("/users/me", headers={"Authorization": f"Bearer {token}"})


def _token(settings: Settings, **claims: Any) -> str:
    now = datetime.now(UTC)
    base = {"sub": "1", "iat": now, "exp": now + timedelta(minutes=5)}
    return jwt.encode(base | claims, settings.signing_key, algorithm="HS256")


def test_login_and_me(
    client: TestClient, ada: dict[str, Any], settings: Settings
) -> None:
    response = login(client, "ada@example.com")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    claims = jwt.decode(
        body["access_token"], settings.signing_key, algorithms=["HS256"]
    )
    assert claims["sub"] == str(ada["id"])
    assert claims["exp"] - claims["iat"] == 30 * 60
    response = me(client, body["access_token"])
    assert response.status_code == 200
    assert response.json() == ada


def test_expiry_comes_from_settings(
    make_client: Callable[..., TestClient],
    settings: Settings,
    signup: Callable[..., dict[str, Any]],
) -> None:
    short = settings.model_copy(update={"access_token_expire_minutes": 2})
    client = make_client(5, short)
    signup(client, email="ada@example.com", password=PASSWORD)
    token = login(client, "ada@example.com").json()["access_token"]
    claims = jwt.decode(token, settings.signing_key, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 120


def test_login_email_domain_ignores_case(
    client: TestClient, ada: dict[str, Any]
) -> None:
    assert login(client, "ada@EXAMPLE.COM").status_code == 200


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("ada@example.com", "wrong password"),
        ("nobody@example.com", PASSWORD),
        ("not an email", PASSWORD),
    ],
)
def test_bad_login(
    client: TestClient, ada: dict[str, Any], username: str, password: str
) -> None:
    response = login(client, username, password)
    assert response.status_code == 401
    assert response.json() == BAD_LOGIN
    assert response.headers["www-authenticate"] == "Bearer"


def test_unknown_email_checks_a_password_too(
    client: TestClient, ada: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spy on the real check: an unknown email must cost one password check,
    # against the dummy hash, like a wrong password does.
    checked: list[str] = []
    verify = passwords.verify_password

    def spy(password: str, hashed: str) -> bool:
        checked.append(hashed)
        return verify(password, hashed)

    monkeypatch.setattr(passwords, "verify_password", spy)
    login(client, "nobody@example.com")
    login(client, "not an email")
    assert checked == [passwords.DUMMY_HASH, passwords.DUMMY_HASH]
    login(client, "ada@example.com", "wrong password")
    assert len(checked) == 3
    assert checked[-1] != passwords.DUMMY_HASH


@pytest.mark.parametrize(
    ("form", "missing"),
    [
        ({"username": "ada@example.com"}, "password"),
        ({"username": "ada@example.com", "password": ""}, "password"),
        ({"username": "", "password": PASSWORD}, "username"),
    ],
)
def test_login_form_is_required(
    client: TestClient, form: dict[str, str], missing: str
) -> None:
    response = client.post("/token", data=form)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", missing], "missing")


def test_no_token(client: TestClient) -> None:
    response = client.get("/users/me")
    assert response.status_code == 401
    assert response.json() == NOT_AUTHENTICATED
    assert response.headers["www-authenticate"] == "Bearer"
    response = client.get("/users/me", headers={"Authorization": "Basic YTpi"})
    assert response.status_code == 401
    assert response.json() == NOT_AUTHENTICATED


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _bad_tokens(settings: Settings, user_id: int) -> dict[str, str]:
    now = datetime.now(UTC)
    good = _token(settings, sub=str(user_id))
    header, _, signature = good.split(".")
    claims = {"sub": str(user_id), "iat": int(now.timestamp()), "exp": 2**40}
    return {
        "garbage": "not-a-jwt",
        "tampered": f"{header}.{_b64({**claims, 'sub': '2'})}.{signature}",
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "other key": jwt.encode(claims, "z" * 32, algorithm="HS256"),
        "expired": _token(
            settings,
            sub=str(user_id),
            iat=now - timedelta(hours=2),
            exp=now - timedelta(hours=1),
        ),
        "no exp": jwt.encode(
            {"sub": str(user_id), "iat": now}, settings.signing_key, algorithm="HS256"
        ),
        "no sub": jwt.encode(
            {"iat": now, "exp": now + timedelta(minutes=5)},
            settings.signing_key,
            algorithm="HS256",
        ),
        "unknown user": _token(settings, sub="999"),
        "sub not a number": _token(settings, sub="ada"),
        "sub with spaces": _token(settings, sub=f" {user_id}"),
        "sub non-ASCII digits": _token(settings, sub="\u0661"),
        "sub beyond 64 bits": _token(settings, sub="9" * 30),
        "sub negative": _token(settings, sub="-1"),
    }


def test_bad_tokens(
    client: TestClient, ada: dict[str, Any], settings: Settings
) -> None:
    for name, token in _bad_tokens(settings, ada["id"]).items():
        response = me(client, token)
        assert (response.status_code, response.json()) == (401, BAD_TOKEN), name
        assert response.headers["www-authenticate"] == "Bearer", name


def test_token_of_a_deleted_user(client: TestClient, ada: dict[str, Any]) -> None:
    token = login(client, "ada@example.com").json()["access_token"]
    assert client.delete(f"/users/{ada['id']}").status_code == 204
    response = me(client, token)
    assert (response.status_code, response.json()) == (401, BAD_TOKEN)
    assert response.headers["www-authenticate"] == "Bearer"


def test_changed_password(client: TestClient, ada: dict[str, Any]) -> None:
    client.patch(f"/users/{ada['id']}", json={"password": "a new password"})
    assert login(client, "ada@example.com").status_code == 401
    assert login(client, "ada@example.com", "a new password").status_code == 200


def test_me_is_not_taken_for_a_user_id(client: TestClient, ada: dict[str, Any]) -> None:
    # /users/{user_id} would answer 422 for "me" if it came first.
    assert client.get("/users/me").json() == NOT_AUTHENTICATED
    assert client.get(f"/users/{ada['id']}").json() == ada


def test_tokens_survive_a_restart_with_the_same_key(
    make_client: Callable[..., TestClient], ada: dict[str, Any], client: TestClient
) -> None:
    token = login(client, "ada@example.com").json()["access_token"]
    restarted = make_client(6)
    assert me(restarted, token).json() == ada
    app = cast(FastAPI, restarted.app)
    assert (
        app.state.settings.signing_key
        == cast(FastAPI, client.app).state.settings.signing_key
    )
