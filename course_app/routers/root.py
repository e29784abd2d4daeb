"""Chapter 1: the first routes, with path and query parameters."""

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(tags=["basics"])


class Greeting(BaseModel):
    message: str


class ItemEcho(BaseModel):
    item_id: int
    q: str | None


@router.get("/")
async def read_root() -> Greeting:
    """Say hello."""
    return Greeting(message="Hello, FastAPI")


@router.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> ItemEcho:
    """Echo the item id, converted to an integer, and the optional `q`."""
    return ItemEcho(item_id=item_id, q=q)
