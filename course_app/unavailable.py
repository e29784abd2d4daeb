"""Chapter 7: a database that does not answer is a 503, not a bare 500."""

import logging

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

logger = logging.getLogger(__name__)

#: Seconds a client is told to wait before it tries again.
RETRY_AFTER_SECONDS = 5

DETAIL = "The database is not answering; try again in a few seconds."


async def database_unavailable_handler(
    request: Request, exc: Exception
) -> JSONResponse:
    """503 with `Retry-After` for a database that does not answer."""
    # Refused, reset or timed out (every driver raises OperationalError), a
    # connection the pool found dead, or the pool's own timeout.
    lost = isinstance(exc, DBAPIError) and exc.connection_invalidated
    if not (lost or isinstance(exc, OperationalError | PoolTimeoutError)):
        raise exc  # a real bug: Starlette's 500, with its traceback in the log
    # One line, not a traceback: the cause is outside the app.
    where = f"{request.method} {request.url.path}"
    logger.warning("database unavailable on %s: %s", where, str(exc).splitlines()[0])
    return JSONResponse(
        {"detail": DETAIL},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def install(app: FastAPI) -> None:
    """Answer 503 where a route meets a database that does not answer."""
    app.add_exception_handler(DBAPIError, database_unavailable_handler)
    app.add_exception_handler(PoolTimeoutError, database_unavailable_handler)
