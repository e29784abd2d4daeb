"""Chapter 5: `GET /users/me`, the user whose bearer token came with the request."""

from fastapi import APIRouter

from ..current_user import CurrentUserDep
from ..schemas import Message, UserPublic

router = APIRouter(tags=["auth"])


@router.get(
    "/users/me",
    responses={401: {"model": Message, "description": "Not authenticated"}},
)
def read_current_user(user: CurrentUserDep) -> UserPublic:
    """The user the bearer token belongs to."""
    return UserPublic.model_validate(user)
