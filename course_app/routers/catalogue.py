"""Chapter 6: a large response built once, served with an ETag."""

import hashlib
import re
from functools import cache
from typing import Annotated

from fastapi import APIRouter, Header, Response, status
from pydantic import BaseModel, TypeAdapter

router = APIRouter(tags=["catalogue"])

CATALOGUE_SIZE = 1000
CACHE_CONTROL = "public, max-age=60"

_COLOURS = ("red", "blue", "green", "black", "white", "grey", "gold")
_THINGS = ("lamp", "mug", "chair", "bag", "pen", "clock", "desk", "kite")


class CatalogueItem(BaseModel):
    id: int
    name: str
    description: str
    price: float


def build_catalogue(size: int = CATALOGUE_SIZE) -> list[CatalogueItem]:
    """A deterministic catalogue: the same content on every run and worker."""
    return [
        CatalogueItem(
            id=n,
            name=f"Item {n}",
            description=f"{_COLOURS[n % 7]} {_THINGS[n % 8]}",
            # 1.00 to 100.99, spread over the range by a fixed stride.
            price=1 + (n * 7919 % 10000) / 100,
        )
        for n in range(1, size + 1)
    ]


@cache
def catalogue_body() -> tuple[bytes, str]:
    """The catalogue as JSON bytes, and its strong ETag; built once."""
    body = TypeAdapter(list[CatalogueItem]).dump_json(build_catalogue())
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    return body, etag


# An entity tag, optionally weak: W/"opaque", where opaque has no quote.
_ENTITY_TAG = re.compile(r'(?:W/)?"([^"]*)"')


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Whether an `If-None-Match` value matches `etag`.

    `If-None-Match` compares weakly (RFC 9110, 13.1.2): `W/"x"` matches
    `"x"`. The value is `*` or a comma-separated list of entity tags.
    """
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(
        f'"{match.group(1)}"' == opaque for match in _ENTITY_TAG.finditer(if_none_match)
    )


@router.get(
    "/catalogue",
    # The body is prebuilt JSON bytes, returned as a Response: the model
    # here documents it, FastAPI does not validate or serialize it again.
    response_model=list[CatalogueItem],
    responses={
        200: {
            "headers": {
                "ETag": {"schema": {"type": "string"}},
                "Cache-Control": {"schema": {"type": "string"}},
            }
        },
        304: {"description": "Not modified: the client's copy is current"},
    },
)
async def read_catalogue(
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The whole catalogue, or 304 if the client already has this version."""
    body, etag = catalogue_body()
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if if_none_match is not None and etag_matches(if_none_match, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)
