"""Chapter 7: a database that does not answer is a 503, not a bare 500.

In production the database goes away now and then: a restart, a failover, a
full connection limit. Without a handler every route that needs it answers
`500 Internal Server Error` in plain text, which a client cannot tell from a
bug. With it the answer says what happened and when to try again, and a
load balancer or a client's retry logic can act on the 503.
"""

import logging

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

logger = logging.getLogger(__name__)

#: Seconds a client is told to wait before it tries again.
RETRY_AFTER_SECONDS = 5

DETAIL = "The database is not answering; try again in a few seconds."


def _is_unavailable(error: Exception) -> bool:
    # OperationalError: refused, reset or timed out (psycopg, asyncpg and
    # sqlite3 all map those to it); a DBAPIError the pool flagged as a lost
    # connection; the pool's own timeout when every connection is taken.
    if isinstance(error, OperationalError | PoolTimeoutError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


async def database_unavailable_handler(
    request: Request, exc: Exception
) -> JSONResponse:
    """503 with `Retry-After` for a database that does not answer."""
    if not _is_unavailable(exc):
        raise exc  # a real bug: Starlette's 500, with its traceback in the log
    # One line, not a traceback: the cause is outside the app.
    logger.warning(
        "database unavailable on %s %s: %s",
        request.method,
        request.url.path,
        str(exc).splitlines()[0],
    )
    return JSONResponse(
        {"detail": DETAIL},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def install(app: FastAPI) -> None:
    """Answer 503 where a route meets a database that does not answer."""
    app.add_exception_handler(DBAPIError, database_unavailable_handler)
    app.add_exception_handler(PoolTimeoutError, database_unavailable_handler)
