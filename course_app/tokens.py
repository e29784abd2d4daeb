"""Access tokens (JWT via PyJWT): chapter 5 signs them at login and checks them."""

from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"


def create_access_token(
    subject: str,
    *,
    secret_key: str,
    expires_delta: timedelta,
    now: datetime | None = None,
) -> str:
    """A signed JWT for `subject` that expires after `expires_delta`."""
    issued_at = now or datetime.now(UTC)
    claims = {"sub": subject, "iat": issued_at, "exp": issued_at + expires_delta}
    return jwt.encode(claims, secret_key, algorithm=ALGORITHM)


def decode_access_token(token: str, *, secret_key: str) -> str:
    """The subject of a valid token.

    Raises `jwt.InvalidTokenError` if the token is malformed, not signed with
    `secret_key` using HS256 (which rules out `alg: none`), expired, or
    lacks one of the claims this service issues.
    """
    claims = jwt.decode(
        token,
        secret_key,
        algorithms=[ALGORITHM],
        options={"require": ["exp", "iat", "sub"]},
    )
    subject: str = claims["sub"]  # PyJWT has checked that it is a string
    return subject
