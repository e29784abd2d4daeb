"""Chapter 4: a paginated, searchable list, using the shared pagination."""

from fastapi import APIRouter
from pydantic import BaseModel

from ..pagination import PaginationDep

router = APIRouter(prefix="/items", tags=["items"])


class Item(BaseModel):
    id: int
    name: str


class ItemPage(BaseModel):
    """One page of the items matching `q`; `total` counts all matches."""

    q: str | None
    skip: int
    limit: int
    total: int
    items: list[Item]


ITEMS: tuple[Item, ...] = tuple(Item(id=n, name=f"Item {n}") for n in range(1, 101))


@router.get("/")
async def list_items(page: PaginationDep, q: str | None = None) -> ItemPage:
    """Items whose name contains `q` (ignoring case), one page at a time."""
    if q is None:
        matches = list(ITEMS)
    else:
        needle = q.casefold()
        matches = [item for item in ITEMS if needle in item.name.casefold()]
    return ItemPage(
        q=q,
        skip=page.skip,
        limit=page.limit,
        total=len(matches),
        items=matches[page.skip : page.skip + page.limit],
    )
