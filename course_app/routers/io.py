"""Chapter 3: waiting with `async def` versus plain `def`."""

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

router = APIRouter(prefix="/io", tags=["io"])


class IoResult(BaseModel):
    mode: str
    delay: float


class FanoutResult(BaseModel):
    n: int
    delay: float
    results: list[int]


Delay = Annotated[
    float,
    Query(
        ge=0,
        le=2,
        allow_inf_nan=False,
        description="Seconds to wait, from 0 to 2.",
    ),
]


@router.get("/async")
async def wait_async(delay: Delay = 0.1) -> IoResult:
    """Wait without blocking: the event loop serves other requests meanwhile."""
    await asyncio.sleep(delay)
    return IoResult(mode="async", delay=delay)


@router.get("/sync")
def wait_sync(delay: Delay = 0.1) -> IoResult:
    """Wait by blocking a thread of the thread pool FastAPI runs `def` routes in."""
    time.sleep(delay)
    return IoResult(mode="sync", delay=delay)


async def _wait(index: int, delay: float) -> int:
    await asyncio.sleep(delay)
    return index


@router.get("/fanout")
async def fanout(
    n: Annotated[int, Query(ge=1, le=20, description="Waits to run.")] = 5,
    delay: Delay = 0.1,
) -> FanoutResult:
    """Run `n` waits concurrently: the whole takes about one `delay`."""
    results = await asyncio.gather(*(_wait(index, delay) for index in range(n)))
    return FanoutResult(n=n, delay=delay, results=list(results))
