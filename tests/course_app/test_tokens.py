import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from course_app import security

KEY = "s" * 32
HOUR = timedelta(hours=1)


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _argon2_parameters(hashed: str) -> str:
    # $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
    return hashed.split("$")[3]


def test_hash_is_salted_argon2id() -> None:
    first = security.hash_password("correct horse")
    second = security.hash_password("correct horse")
    assert first.startswith("$argon2id$")
    assert "correct horse" not in first
    assert first != second  # a fresh salt each time


def test_hashing_is_at_least_owasps_argon2id_baseline() -> None:
    # OWASP's weakest acceptable argon2id setting: 19 MiB, 2 passes, 1 lane.
    params = dict(
        item.split("=")
        for item in _argon2_parameters(security.hash_password("x")).split(",")
    )
    assert int(params["m"]) >= 19_456
    assert int(params["t"]) >= 2
    assert int(params["p"]) >= 1


def test_verify_password() -> None:
    hashed = security.hash_password("correct horse")
    assert security.verify_password("correct horse", hashed)
    assert not security.verify_password("correct horse!", hashed)
    assert not security.verify_password("", hashed)


def test_dummy_hash_costs_as_much_as_a_real_one() -> None:
    # Same algorithm and parameters: checking a password against the dummy
    # takes as long as against a user's hash.
    real = security.hash_password("correct horse")
    assert security.DUMMY_HASH.startswith("$argon2id$")
    assert _argon2_parameters(security.DUMMY_HASH) == _argon2_parameters(real)
    assert not security.verify_password("", security.DUMMY_HASH)


def test_token_round_trip() -> None:
    now = datetime.now(UTC)
    token = security.create_access_token("42", secret_key=KEY, expires_delta=HOUR)
    assert security.decode_access_token(token, secret_key=KEY) == "42"
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, KEY, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["iat"] - now.timestamp()) < 5


def test_expired_token() -> None:
    token = security.create_access_token(
        "42",
        secret_key=KEY,
        expires_delta=timedelta(minutes=30),
        now=datetime.now(UTC) - timedelta(minutes=31),
    )
    with pytest.raises(jwt.ExpiredSignatureError):
        security.decode_access_token(token, secret_key=KEY)


def test_other_key() -> None:
    token = security.create_access_token("42", secret_key=KEY, expires_delta=HOUR)
    with pytest.raises(jwt.InvalidSignatureError):
        security.decode_access_token(token, secret_key="t" * 32)


def test_tampered_payload() -> None:
    token = security.create_access_token("42", secret_key=KEY, expires_delta=HOUR)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = _b64({**claims, "sub": "1"})
    with pytest.raises(jwt.InvalidSignatureError):
        security.decode_access_token(f"{header}.{forged}.{signature}", secret_key=KEY)


def test_alg_none_is_refused() -> None:
    now = int(datetime.now(UTC).timestamp())
    claims = {"sub": "42", "iat": now, "exp": now + 3600}
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    with pytest.raises(jwt.InvalidTokenError):
        security.decode_access_token(unsigned, secret_key=KEY)


def test_other_hmac_algorithm_is_refused() -> None:
    # Same key, but only HS256 is accepted.
    now = int(datetime.now(UTC).timestamp())
    token = jwt.encode(
        {"sub": "42", "iat": now, "exp": now + 3600}, "s" * 64, algorithm="HS512"
    )
    with pytest.raises(jwt.InvalidAlgorithmError):
        security.decode_access_token(token, secret_key="s" * 64)


@pytest.mark.parametrize("missing", ["exp", "iat", "sub"])
def test_required_claims(missing: str) -> None:
    now = int(datetime.now(UTC).timestamp())
    claims = {"sub": "42", "iat": now, "exp": now + 3600}
    del claims[missing]
    token = jwt.encode(claims, KEY, algorithm="HS256")
    with pytest.raises(jwt.MissingRequiredClaimError):
        security.decode_access_token(token, secret_key=KEY)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "a.b"])
def test_malformed_token(token: str) -> None:
    with pytest.raises(jwt.InvalidTokenError):
        security.decode_access_token(token, secret_key=KEY)
