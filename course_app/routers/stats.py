"""Chapter 6: statistics from one SQL query, cached for a few seconds."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String

from ..cache import TTLCache
from ..db import released
from ..deps import SessionDep
from ..models import User

router = APIRouter(prefix="/stats", tags=["stats"])


class UserStats(BaseModel):
    """How many users there are, in total and per email domain.

    Frozen: the cache hands this one object to every request it serves, so
    none of them may change it for the others.
    """

    model_config = ConfigDict(frozen=True)

    users: int
    domains: dict[str, int]


def create_stats_cache(ttl: float) -> TTLCache[UserStats]:
    """A cache for the statistics, whose entries last `ttl` seconds.

    `create_app` keeps one per app, in `app.state.stats_cache`.
    """
    return TTLCache[UserStats](ttl)


def get_stats_cache(request: Request) -> TTLCache[UserStats]:
    """The app's cache of user statistics."""
    cache: TTLCache[UserStats] = request.app.state.stats_cache
    return cache


StatsCacheDep = Annotated[TTLCache[UserStats], Depends(get_stats_cache)]


class EmailDomain(FunctionElement[str]):
    """SQL expression: the part of an email address after the `@`.

    SQL has no function for it that every database knows, so each dialect
    gets its own SQL, from the `@compiles` functions below: the query is
    written once, and SQLAlchemy writes what the connected database speaks.
    """

    type = String()  # the SQL type of its result
    # It adds no state to its base class, so SQLAlchemy may cache its SQL.
    inherit_cache = True


@compiles(EmailDomain)
def _email_domain(element: EmailDomain, compiler: SQLCompiler, **kw: Any) -> str:
    # Any dialect without its own function below: SQLite's and MySQL's
    # substr and instr. Validated emails have exactly one `@`.
    email = compiler.process(element.clauses, **kw)
    return f"substr({email}, instr({email}, '@') + 1)"


@compiles(EmailDomain, "postgresql")
def _email_domain_pg(element: EmailDomain, compiler: SQLCompiler, **kw: Any) -> str:
    # PostgreSQL has no instr; split_part takes the second field at `@`.
    return f"split_part({compiler.process(element.clauses, **kw)}, '@', 2)"


def count_users_by_domain(session: Session) -> UserStats:
    """Count users per email domain, in one GROUP BY query."""
    # The API stores domains lower-cased already; rows written by other
    # means may not be. `released` hands the connection back to the pool
    # as soon as the query is done, not when the request ends.
    domain = func.lower(EmailDomain(User.email)).label("domain")
    count = func.count().label("users")
    with released(session):
        rows = session.execute(
            select(domain, count).group_by(domain).order_by(count.desc(), domain)
        ).all()
    domains = {row.domain: row.users for row in rows}
    return UserStats(users=sum(domains.values()), domains=domains)


@router.get(
    "/users",
    responses={
        200: {
            "headers": {
                "X-Cache": {
                    "description": "HIT if served from the cache, else MISS",
                    "schema": {"type": "string", "enum": ["HIT", "MISS"]},
                }
            }
        }
    },
)
def user_stats(
    session: SessionDep, cache: StatsCacheDep, response: Response
) -> UserStats:
    """Users in total and per email domain, at most `CACHE_TTL_SECONDS` old."""
    stats, hit = cache.get_or_compute("users", lambda: count_users_by_domain(session))
    response.headers["X-Cache"] = "HIT" if hit else "MISS"
    return stats
