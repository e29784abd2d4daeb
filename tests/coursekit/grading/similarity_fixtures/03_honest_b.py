"""Another honest answer to exercise 03, written independently of the first.

Style: `response_model=` and dicts for the bodies, a timing print, a nested
coroutine and `asyncio.TaskGroup` instead of `gather`, the range test
written the other way round.

Each `# task: <id>` section replaces that task's placeholder in
exercises/03_async.ipynb (see test_similarity.py); the names it uses come from
the exercise's set-up cell.
"""

# ruff: noqa: F821


# task: async_io
@router.get("/io/async", response_model=IoResult)
async def sleep_without_blocking(delay: Delay = 0.1):
    started = time.perf_counter()
    await asyncio.sleep(delay)
    print(f"waited {time.perf_counter() - started:.2f} s")
    return {"mode": "async", "delay": delay}


# task: sync_io
@router.get("/io/sync", response_model=IoResult)
def sleep_blocking(delay: Delay = 0.1):
    time.sleep(delay)
    result = IoResult(delay=delay, mode="sync")
    return result


# task: fanout
class FanResult(BaseModel):
    n: int
    delay: float
    results: list[int]


@router.get("/io/fanout", response_model=FanResult)
async def many(delay: Delay = 0.1, n: int = Query(5, ge=1, le=20)):
    async def wait(number):
        await asyncio.sleep(delay)
        return number

    async with asyncio.TaskGroup() as group:
        pending = [group.create_task(wait(k)) for k in range(n)]
    return FanResult(n=n, delay=delay, results=[t.result() for t in pending])


# task: delay_validation
def check_delay(delay: float) -> float:
    if not math.isfinite(delay):
        raise ValueError("delay must be a finite number")
    if 0 <= delay <= 2:
        return delay
    raise ValueError("delay must be from 0 to 2 seconds")
