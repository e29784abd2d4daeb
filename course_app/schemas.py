"""API models of chapter 2's users: what requests carry and responses show.

These are separate from the ORM models in `models.py` on purpose: a response
model lists the fields it shows, so a stored password hash can never leak
into a response by accident. The models of other routes live in their
routers (`course_app.routers.*`), in the chapter that adds them.
"""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field

# PostgreSQL cannot store NUL in text columns; refuse it at the edge (422)
# rather than fail deep in the database driver (500).
NO_NUL = r"^[^\x00]*$"

Name = Annotated[str, Field(min_length=1, max_length=100, pattern=NO_NUL)]
Password = Annotated[str, Field(min_length=8, max_length=128)]


class Message(BaseModel):
    """An error, as FastAPI reports it."""

    detail: str


class UserCreate(BaseModel):
    """A new user. The password is hashed before it is stored."""

    name: Name
    email: EmailStr
    password: Password


class UserUpdate(BaseModel):
    """A partial update: only the fields sent change.

    A field sent as `null` is left unchanged, like a field not sent.
    """

    name: Name | None = None
    email: EmailStr | None = None
    password: Password | None = None


class UserPublic(BaseModel):
    """A user as the API shows it: never with a password or its hash."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    email: str
