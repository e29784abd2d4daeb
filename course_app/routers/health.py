"""Chapter 4: a health check that reaches the database."""

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..db import released
from ..deps import SessionDep
from ..schemas import Message

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: str


@router.get(
    "/health",
    responses={503: {"model": Message, "description": "Database unavailable"}},
)
def health(session: SessionDep) -> Health:
    """Report whether the service and its database answer."""
    try:
        with released(session):
            session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="Database unavailable",
        ) from None
    return Health(status="ok", database="ok")
