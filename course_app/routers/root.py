"""Chapter 1: the first routes, with path and query parameters."""

from fastapi import APIRouter

from course_app.schemas import Greeting, ItemEcho

router = APIRouter(tags=["basics"])


@router.get("/")
async def read_root() -> Greeting:
    """Say hello."""
    return Greeting(message="Hello, FastAPI")


@router.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> ItemEcho:
    """Echo the item id, converted to an integer, and the optional `q`."""
    return ItemEcho(item_id=item_id, q=q)
