"""Chapter 5: log in with the OAuth2 password flow and get a JWT for it."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, validate_email
from pydantic_core import PydanticCustomError

from .. import passwords, tokens
from ..deps import SettingsDep, UserRepoDep
from ..repositories import UserRecord, UserRepository
from ..schemas import Message

router = APIRouter(tags=["auth"])


class Token(BaseModel):
    """An OAuth2 bearer token response."""

    access_token: str
    token_type: str = "bearer"


def authenticate_user(
    repo: UserRepository, email: str, password: str
) -> UserRecord | None:
    """The user with this email and password, or None.

    An unknown email costs one password check too, against a dummy hash, so
    that timing does not tell which emails are registered.
    """
    try:
        # Stored emails are normalized (domain lower-cased); so is the login.
        _, email = validate_email(email)
    except PydanticCustomError:
        user = None
    else:
        user = repo.get_by_email(email)
    if user is None:
        passwords.verify_password(password, passwords.DUMMY_HASH)
        return None
    if not passwords.verify_password(password, user.hashed_password):
        return None
    return user


@router.post(
    "/token",
    responses={401: {"model": Message, "description": "Incorrect email or password"}},
)
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    repo: UserRepoDep,
    settings: SettingsDep,
) -> Token:
    """Exchange an email (as `username`) and password for an access token."""
    user = authenticate_user(repo, form.username, form.password)
    if user is None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Incorrect email or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    token = tokens.create_access_token(
        str(user.id),
        secret_key=settings.signing_key,
        expires_delta=timedelta(minutes=settings.access_token_expire_minutes),
    )
    return Token(access_token=token)
