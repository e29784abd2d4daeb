"""The coordinating side of ``coursekit grade --engine celery``.

It sends one task per submission (at most ``IN_FLIGHT`` queued at once, so
a MOOC's batch does not sit in Redis), watches for outcomes with a few
``MGET`` calls per poll, and hands each outcome back to ``grade_batch``,
which alone writes ``--out``: the rows are the ones a local run writes.

A broker that goes away is waited for (``BROKER_PATIENCE`` seconds), as
Celery's workers do; past that the run stops with what it graded written,
and the same command resumes it. However the run ends, its batch is marked
cancelled, so that workers drop the tasks nobody will collect.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import redis as redis_py
from celery import Celery
from kombu.exceptions import OperationalError

from coursekit.contracts.registry import Check
from coursekit.grading.celery_app import (
    KEY_TTL,
    PROTOCOL,
    TASK_NAME,
    BrokerError,
    Keys,
    graded_from_json,
    make_app,
    redact,
    redis_client,
    time_limit,
)
from coursekit.grading.fingerprint import code_fingerprint
from coursekit.grading.submission import Graded, Submission, not_graded

__all__ = ["RemoteError", "grade_remote"]

#: Tasks queued and not yet collected, at most.
IN_FLIGHT = 200
#: Seconds between polls for outcomes.
POLL = 0.25
#: Outcomes read per MGET.
CHUNK = 500
#: Seconds the broker may be unreachable before the run stops.
BROKER_PATIENCE = 300.0


class RemoteError(RuntimeError):
    """The distributed run cannot start or go on; the message says why."""


_Result = tuple[Submission, str, Graded]


def _payload(
    submission: Submission,
    *,
    batch: str,
    chapter: str,
    settings: Any,
    hidden: dict[str, str] | None,
    code: str,
) -> dict[str, Any]:
    return {
        "protocol": PROTOCOL,
        "batch": batch,
        "name": submission.name,
        "notebook": base64.b64encode(submission.path.read_bytes()).decode("ascii"),
        "chapter": chapter,
        "limits": asdict(settings.limits),
        "resources": asdict(settings.resources),
        "hidden": hidden,
        "code": code,
    }


def _hidden_files(folder: Path | None) -> dict[str, str] | None:
    if folder is None:
        return None
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.py"))}


class _Broker:
    """The coordinator's Redis client, patient while the broker restarts."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = redis_client(url)

    def call(self, action: Callable[[redis_py.Redis], Any]) -> Any:
        deadline = time.monotonic() + BROKER_PATIENCE
        pause = 0.2
        while True:
            try:
                return action(self.client)
            except (
                redis_py.ConnectionError,
                redis_py.TimeoutError,
                OperationalError,
            ) as exc:
                if time.monotonic() > deadline:
                    raise RemoteError(
                        f"lost the broker at {redact(self.url)} for more than "
                        f"{BROKER_PATIENCE:g} s ({exc}): stopped; what was graded "
                        "is in --out, and the same command grades the rest"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 5.0)


def check_broker(url: str) -> None:
    """Raise ``RemoteError`` unless ``url`` is a Redis that answers now."""
    try:
        client = redis_client(url, timeout=3.0)
    except BrokerError as exc:
        raise RemoteError(str(exc)) from None
    try:
        client.ping()
    except redis_py.RedisError as exc:
        raise RemoteError(
            f"cannot reach the broker at {redact(url)}: {str(exc).rstrip('.')}. "
            "Start Redis there "
            "(or check --broker's host, port and password), then grade again"
        ) from None
    finally:
        client.close()


def wait_for_workers(app: Celery, url: str, patience: float) -> list[str]:
    """The names of the workers that answer a ping within ``patience`` seconds."""
    deadline = time.monotonic() + patience
    while True:
        try:
            replies = app.control.ping(timeout=1.0) or []
        except (OperationalError, redis_py.RedisError):
            replies = []
        names = sorted(name for reply in replies for name in reply)
        if names:
            return names
        if time.monotonic() > deadline:
            raise RemoteError(
                f"no grading worker answered on {redact(url)} within {patience:g} s. "
                "Start one on each grading machine with `coursekit grade-worker "
                f"--broker {redact(url)}` (README: Grading on many machines), "
                "or wait longer with --wait-workers"
            )


def grade_remote(
    todo: Sequence[tuple[Submission, str]],
    checks: Sequence[Check],
    settings: Any,
    *,
    chapter: str,
    on_take: Callable[[str], None] = lambda name: None,
    progress: Callable[[str], None] = lambda line: None,
) -> Iterator[_Result]:
    """Grade ``todo`` on the Celery workers of ``settings.broker``.

    Yields each outcome as it arrives, like ``batch._grade_all``.

    Raises:
        RemoteError: the broker cannot be reached, no worker answers, a
            worker runs another version of the course, or the broker was
            gone for longer than ``BROKER_PATIENCE``.
    """
    url = settings.broker
    check_broker(url)
    app = make_app(
        url, queue=settings.queue, visibility_timeout=settings.visibility_timeout
    )
    limit = time_limit(settings.limits)
    if not todo:
        return
    workers = wait_for_workers(app, url, settings.wait_workers)
    progress(
        f"grading on {len(workers)} Celery worker(s) at {redact(url)} "
        f"(queue {settings.queue}): {', '.join(workers)}"
    )
    broker = _Broker(url)
    batch = uuid.uuid4().hex[:12]
    code = code_fingerprint()
    hidden = _hidden_files(settings.hidden)
    waiting = deque(enumerate(todo))
    pending: dict[str, tuple[Submission, str, Keys]] = {}
    last_news = time.monotonic()
    quiet_limit = settings.visibility_timeout + limit + 60
    started: set[str] = set()
    try:
        while waiting or pending:
            while waiting and len(pending) < IN_FLIGHT:
                index, (submission, digest) = waiting.popleft()
                task_id = f"coursekit-{batch}-{index}"
                payload = _payload(
                    submission,
                    batch=batch,
                    chapter=chapter,
                    settings=settings,
                    hidden=hidden,
                    code=code,
                )
                broker.call(
                    lambda _client, task_id=task_id, payload=payload: app.send_task(
                        TASK_NAME,
                        args=[payload],
                        task_id=task_id,
                        queue=settings.queue,
                        time_limit=limit,
                        retry=False,
                    )
                )
                pending[task_id] = (submission, digest, Keys(task_id, batch))
            finished = False
            ids = list(pending)
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                keys = [pending[i][2] for i in chunk]
                unstarted = [
                    (i, k) for i, k in zip(chunk, keys, strict=True) if i not in started
                ]
                done, begun, meta = broker.call(
                    lambda client, keys=keys, chunk=chunk, unstarted=unstarted: (
                        client.mget([k.done for k in keys]),
                        client.mget([k.started for _, k in unstarted])
                        if unstarted
                        else [],
                        client.mget([app.backend.get_key_for_task(i) for i in chunk]),
                    )
                )
                for (task_id, _), worker in zip(unstarted, begun, strict=True):
                    if worker is not None:
                        started.add(task_id)
                        last_news = time.monotonic()
                        on_take(pending[task_id][0].name)
                for task_id, value, state in zip(chunk, done, meta, strict=True):
                    outcome = _outcome(value, state, checks, limit)
                    if outcome is None:
                        continue
                    submission, digest, key = pending.pop(task_id)
                    started.discard(task_id)
                    finished = True
                    last_news = time.monotonic()
                    broker.call(
                        lambda client, key=key, task_id=task_id: client.delete(
                            key.done,
                            key.started,
                            key.attempts,
                            app.backend.get_key_for_task(task_id),
                        )
                    )
                    yield submission, digest, outcome
            if not finished:
                if time.monotonic() - last_news > quiet_limit:
                    # Nothing began or ended for longer than a dead worker's
                    # task takes to come back: say so, and stop if no
                    # worker is left to grade.
                    alive = wait_for_workers(app, url, settings.wait_workers)
                    progress(
                        f"waiting: no submission began or finished for "
                        f"{quiet_limit:g} s; {len(pending)} sent, workers: "
                        f"{', '.join(alive)}"
                    )
                    last_news = time.monotonic()
                time.sleep(POLL)
    finally:
        if pending:
            # Workers skip what is left of this batch: nobody would collect it.
            with contextlib.suppress(redis_py.RedisError):
                broker.client.set(Keys("", batch).cancelled, "1", ex=KEY_TTL)
        broker.client.close()


def _outcome(
    done: bytes | None, meta: bytes | None, checks: Sequence[Check], limit: float
) -> Graded | None:
    """The outcome a worker stored, or Celery's record of the task's failure."""
    if done is not None:
        data = json.loads(done)
        if "graded" in data:
            return graded_from_json(data["graded"])
        if "refused" in data:
            raise RemoteError(
                f"{data['refused']}; stopped, what was graded is in --out"
            )
        reason = (
            data.get("crashed") or f"grading failed on the worker: {data['failed']}"
        )
        return Graded(reason, not_graded(checks, reason))
    if meta is None:
        return None
    state = json.loads(meta)
    if state.get("status") != "FAILURE":
        return None
    error = state.get("result") or {}
    kind = error.get("exc_type", "error") if isinstance(error, dict) else "error"
    if kind == "TimeLimitExceeded":
        reason = f"timed out: the worker stopped grading it after {limit:g} s"
    else:
        message = error.get("exc_message") if isinstance(error, dict) else error
        reason = f"grading failed on the worker: {kind}: {message}"
    return Graded(reason, not_graded(checks, reason))
