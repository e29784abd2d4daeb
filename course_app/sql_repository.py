"""Users in SQL (chapter 4 on), behind the chapter 2 `UserRepository`."""

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .db import released
from .models import User
from .repositories import EmailTakenError, UserChanges, UserRecord

# Ids are signed 64-bit integers in SQL databases. SQLite raises
# OverflowError for a larger parameter, PostgreSQL a DataError: an id out of
# that range cannot exist, so it is looked up as missing instead.
MAX_ID = 2**63 - 1


class SqlUserRepository:
    """Users in the `users` table, through one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, *, name: str, email: str, hashed_password: str) -> UserRecord:
        with released(self.session):
            user = User(name=name, email=email, hashed_password=hashed_password)
            self.session.add(user)
            self._commit(email)
            return _record(user)

    def get(self, user_id: int) -> UserRecord | None:
        with released(self.session):
            user = self._get(user_id)
            return None if user is None else _record(user)

    def get_by_email(self, email: str) -> UserRecord | None:
        with released(self.session):
            user = self.session.scalar(select(User).where(User.email == email))
            return None if user is None else _record(user)

    def list_users(self, skip: int = 0, limit: int | None = None) -> list[UserRecord]:
        with released(self.session):
            query = select(User).order_by(User.id).offset(skip).limit(limit)
            return [_record(user) for user in self.session.scalars(query)]

    def update(self, user_id: int, changes: UserChanges) -> UserRecord | None:
        with released(self.session):
            user = self._get(user_id)
            if user is None:
                return None
            for field, value in changes.items():
                setattr(user, field, value)
            self._commit(changes.get("email", user.email))
            return _record(user)

    def delete(self, user_id: int) -> bool:
        with released(self.session):
            user = self._get(user_id)
            if user is None:
                return False
            self.session.delete(user)
            self.session.commit()
            return True

    def _get(self, user_id: int) -> User | None:
        if not -MAX_ID - 1 <= user_id <= MAX_ID:
            return None
        return self.session.get(User, user_id)

    def _commit(self, email: str) -> None:
        try:
            self.session.commit()
        except IntegrityError as exc:
            # The unique index on email is the only constraint a valid write
            # can break. Routes check the email first, but two requests can
            # both pass that check; the index settles the race.
            self.session.rollback()
            raise EmailTakenError(email) from exc


def _record(user: User) -> UserRecord:
    return UserRecord(user.id, user.name, user.email, user.hashed_password)
