"""Chapter 10: users' pictures, kept in the database beside the users.

An avatar is small (at most `MAX_AVATAR_BYTES`), so a row holds it whole:
every worker and every copy of the service reads the same one, which files
on one machine's disk would not give. Its type is read from the bytes
themselves, never from what the client says it sent: a file named
`cat.png` and sent as `image/png` can hold anything.
"""

from sqlalchemy import ForeignKey, LargeBinary, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import Base
from .sql_repository import MAX_ID

__all__ = [
    "MAX_AVATAR_BYTES",
    "Avatar",
    "delete_avatar",
    "image_type",
    "read_avatar",
    "save_avatar",
]

#: The largest picture accepted: 1 MiB, plenty for a profile picture.
MAX_AVATAR_BYTES = 1024 * 1024
#: The formats accepted, by the bytes each starts with.
SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}


class Avatar(Base):
    """A user's picture: its bytes, its type, and a tag that changes with it."""

    __tablename__ = "avatars"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    content_type: Mapped[str] = mapped_column(String(32))
    etag: Mapped[str] = mapped_column(String(66))
    data: Mapped[bytes] = mapped_column(LargeBinary)


def image_type(data: bytes) -> str | None:
    """`image/png` or `image/jpeg` if `data` starts like one, else None."""
    for signature, content_type in SIGNATURES.items():
        if data.startswith(signature):
            return content_type
    return None


def save_avatar(
    session: Session, user_id: int, data: bytes, content_type: str, etag: str
) -> None:
    """Store (or replace) the user's picture, and commit."""
    avatar = session.get(Avatar, user_id)
    if avatar is None:
        session.add(
            Avatar(user_id=user_id, content_type=content_type, etag=etag, data=data)
        )
    else:
        avatar.content_type, avatar.etag, avatar.data = content_type, etag, data
    session.commit()


def read_avatar(session: Session, user_id: int) -> Avatar | None:
    """The user's picture, if they have one."""
    # No user has an id past a 64-bit integer, and the database refuses to
    # be asked about one (SQLite raises OverflowError): no picture either.
    if not -MAX_ID - 1 <= user_id <= MAX_ID:
        return None
    return session.scalars(select(Avatar).where(Avatar.user_id == user_id)).first()


def delete_avatar(session: Session, user_id: int) -> bool:
    """Remove the user's picture; False if there was none."""
    avatar = session.get(Avatar, user_id)
    if avatar is None:
        return False
    session.delete(avatar)
    session.commit()
    return True
