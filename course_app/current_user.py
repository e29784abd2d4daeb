"""Chapter 5's dependency: the user a request's bearer token was issued to."""

from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, status
from fastapi.security import OAuth2PasswordBearer

from . import tokens
from .deps import SettingsDep, UserRepoDep
from .repositories import UserRecord

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")

TokenDep = Annotated[str, Depends(oauth2_scheme)]


def get_current_user(
    token: TokenDep, repo: UserRepoDep, settings: SettingsDep
) -> UserRecord:
    """The user the bearer token was issued to; 401 if it is not valid."""
    credentials_error = HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="Could not validate credentials",
        headers={"WWW-Authenticate": "Bearer"},
    )
    try:
        subject = tokens.decode_access_token(token, secret_key=settings.signing_key)
    except jwt.InvalidTokenError:
        raise credentials_error from None
    # Our tokens carry str(user.id): ASCII digits, at most 19 for a 64-bit
    # id. int() alone would also take " 7", "+7", "7_0" and non-ASCII digits,
    # and would fail with a ValueError (a 500) past 4,300 digits.
    if not (subject.isascii() and subject.isdecimal() and len(subject) <= 19):
        raise credentials_error
    user = repo.get(int(subject))
    if user is None:  # deleted since the token was issued
        raise credentials_error
    return user


CurrentUserDep = Annotated[UserRecord, Depends(get_current_user)]
