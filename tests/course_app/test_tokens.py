import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from course_app import tokens

KEY = "s" * 32
HOUR = timedelta(hours=1)


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_token_round_trip() -> None:
    now = datetime.now(UTC)
    token = tokens.create_access_token("42", secret_key=KEY, expires_delta=HOUR)
    assert tokens.decode_access_token(token, secret_key=KEY) == "42"
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, KEY, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["iat"] - now.timestamp()) < 5


def test_expired_token() -> None:
    token = tokens.create_access_token(
        "42",
        secret_key=KEY,
        expires_delta=timedelta(minutes=30),
        now=datetime.now(UTC) - timedelta(minutes=31),
    )
    with pytest.raises(jwt.ExpiredSignatureError):
        tokens.decode_access_token(token, secret_key=KEY)


def test_other_key() -> None:
    token = tokens.create_access_token("42", secret_key=KEY, expires_delta=HOUR)
    with pytest.raises(jwt.InvalidSignatureError):
        tokens.decode_access_token(token, secret_key="t" * 32)


def test_tampered_payload() -> None:
    token = tokens.create_access_token("42", secret_key=KEY, expires_delta=HOUR)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = _b64({**claims, "sub": "1"})
    with pytest.raises(jwt.InvalidSignatureError):
        tokens.decode_access_token(f"{header}.{forged}.{signature}", secret_key=KEY)


def test_alg_none_is_refused() -> None:
    now = int(datetime.now(UTC).timestamp())
    claims = {"sub": "42", "iat": now, "exp": now + 3600}
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    with pytest.raises(jwt.InvalidTokenError):
        tokens.decode_access_token(unsigned, secret_key=KEY)


def test_other_hmac_algorithm_is_refused() -> None:
    # Same key, but only HS256 is accepted.
    now = int(datetime.now(UTC).timestamp())
    token = jwt.encode(
        {"sub": "42", "iat": now, "exp": now + 3600}, "s" * 64, algorithm="HS512"
    )
    with pytest.raises(jwt.InvalidAlgorithmError):
        tokens.decode_access_token(token, secret_key="s" * 64)


@pytest.mark.parametrize("missing", ["exp", "iat", "sub"])
def test_required_claims(missing: str) -> None:
    now = int(datetime.now(UTC).timestamp())
    claims = {"sub": "42", "iat": now, "exp": now + 3600}
    del claims[missing]
    token = jwt.encode(claims, KEY, algorithm="HS256")
    with pytest.raises(jwt.MissingRequiredClaimError):
        tokens.decode_access_token(token, secret_key=KEY)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "a.b"])
def test_malformed_token(token: str) -> None:
    with pytest.raises(jwt.InvalidTokenError):
        tokens.decode_access_token(token, secret_key=KEY)
