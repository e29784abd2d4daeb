"""ORM models: the tables, as the database stores them."""

from typing import Any, ClassVar

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base


class User(Base):
    """A registered user. Only the hash of the password is stored."""

    __tablename__ = "users"
    # Without AUTOINCREMENT, SQLite hands the id of a deleted last row to the
    # next one, and a token issued to the deleted user would then log in as
    # the new one.
    __table_args__: ClassVar[dict[str, Any]] = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(320), unique=True, index=True)
    hashed_password: Mapped[str] = mapped_column(String(255))
