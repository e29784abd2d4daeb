"""Chapter 4: the paging parameters every list route shares, as one dependency."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

MAX_OFFSET = 2**63 - 1  # SQL's OFFSET is a 64-bit integer


@dataclass(frozen=True, slots=True)
class Pagination:
    skip: int
    limit: int


def get_pagination(
    skip: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip.")] = 0,
    limit: Annotated[int, Query(ge=1, le=100, description="Rows to return.")] = 10,
) -> Pagination:
    """The `skip` and `limit` query parameters that every list route shares."""
    return Pagination(skip=skip, limit=limit)


PaginationDep = Annotated[Pagination, Depends(get_pagination)]
