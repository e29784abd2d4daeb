"""An honest answer to exercise 03: the plain code its task text leads to.

Written from the task descriptions alone, the way most learners would: it is
as close to the reference as honest work gets in this chapter, whose tasks
leave little choice (measured 0.35 against it; a copy scores 0.63 or more).

Each `# task: <id>` section replaces that task's placeholder in
exercises/03_async.ipynb (see test_similarity.py); the names it uses come from
the exercise's set-up cell.
"""

# ruff: noqa: F821


# task: async_io
@router.get("/io/async")
async def io_async(delay: Delay = 0.1) -> IoResult:
    await asyncio.sleep(delay)
    return IoResult(mode="async", delay=delay)


# task: sync_io
@router.get("/io/sync")
def io_sync(delay: Delay = 0.1) -> IoResult:
    time.sleep(delay)
    return IoResult(mode="sync", delay=delay)


# task: fanout
class Fanout(BaseModel):
    n: int
    delay: float
    results: list[int]


async def sleeper(i: int, seconds: float) -> int:
    await asyncio.sleep(seconds)
    return i


@router.get("/io/fanout")
async def io_fanout(
    n: Annotated[int, Query(ge=1, le=20)] = 5, delay: Delay = 0.1
) -> Fanout:
    tasks = [sleeper(i, delay) for i in range(n)]
    done = await asyncio.gather(*tasks)
    return Fanout(n=n, delay=delay, results=done)


# task: delay_validation
def check_delay(delay: float) -> float:
    if math.isnan(delay) or math.isinf(delay):
        raise ValueError("delay must be a finite number")
    if delay < 0 or delay > 2:
        raise ValueError("delay must be from 0 to 2 seconds")
    return delay
