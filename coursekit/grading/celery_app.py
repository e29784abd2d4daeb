"""Grading on many machines: the Celery app, and the task each worker runs.

Celery with Redis as broker and result store. A task carries everything a
worker needs (the notebook's bytes, the limits, the hidden checks' text) as
JSON, never pickle: a worker trusts the broker's messages to be data only.
A worker grades with the sandbox required (``--sandbox require``), on its
own machine, and writes the outcome to a Redis key of its own, which the
coordinating ``coursekit grade`` reads, writes to ``--out`` and deletes.

Nothing is lost when a worker dies: a task is acknowledged only once it is
done (``acks_late``), so the message of a worker killed mid-task goes back
to the queue, at once when only its pool process died
(``reject_on_worker_lost``), after ``visibility_timeout`` seconds when the
whole machine did (Redis's stand-in for an AMQP channel closing). Nothing is
graded twice: a task whose outcome is already stored returns it, and a task
may run no longer than ``time_limit``, which is shorter than the visibility
timeout, so a slow task is never handed to a second worker while it runs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis as redis_py
from celery import Celery
from celery.signals import worker_process_shutdown

from coursekit.contracts.registry import EXERCISE_BASES, checks_for
from coursekit.contracts.runner import CheckResult
from coursekit.grading.fingerprint import code_fingerprint
from coursekit.grading.hidden import load_hidden
from coursekit.grading.isolation import Isolation, IsolationError
from coursekit.grading.kernels import KernelPool, start_kernel
from coursekit.grading.limits import ResourceLimits
from coursekit.grading.report import CRASHED, MAX_ATTEMPTS
from coursekit.grading.submission import Graded, Limits, grade_loaded, load

__all__ = [
    "DEFAULT_QUEUE",
    "DEFAULT_VISIBILITY_TIMEOUT",
    "PROTOCOL",
    "TASK_NAME",
    "BrokerError",
    "Keys",
    "graded_from_json",
    "graded_to_json",
    "make_app",
    "redact",
    "redis_client",
    "time_limit",
]

TASK_NAME = "coursekit.grade"
#: The version of a task's payload: a worker refuses any other.
PROTOCOL = 1
DEFAULT_QUEUE = "coursekit-grading"
#: Seconds a task may stay unacknowledged before Redis hands it to another
#: worker: Celery's own default. Every task's time limit stays below it.
DEFAULT_VISIBILITY_TIMEOUT = 3600.0
#: What a task may take beyond the notebook's own time: a kernel's start,
#: serving the app and the checks.
OVERHEAD = 60.0
#: Seconds a worker keeps retrying to store an outcome while Redis is down.
STORE_PATIENCE = 600.0
#: How long outcomes and markers stay in Redis when nobody collects them.
KEY_TTL = 7 * 24 * 3600


class BrokerError(RuntimeError):
    """The broker is not a Redis URL, or cannot be reached; the message says why."""


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***``, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _check_url(broker: str) -> None:
    if urlsplit(broker).scheme not in ("redis", "rediss"):
        raise BrokerError(
            f"--broker must be a Redis URL (redis://HOST:6379/0 or rediss://...), "
            f"not {redact(broker)!r}: the grader keeps its queue and results in Redis"
        )


def time_limit(limits: Limits) -> float:
    """Seconds one task may run: the notebook's time and ``OVERHEAD``."""
    return limits.timeout + OVERHEAD


def make_app(
    broker: str,
    *,
    queue: str = DEFAULT_QUEUE,
    visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT,
    restore_interval: float = 10.0,
) -> Celery:
    """The Celery app of the grader, on ``broker`` (also its result store).

    ``restore_interval`` is how often a worker looks for the tasks of dead
    workers whose visibility timeout has passed.

    Raises:
        BrokerError: ``broker`` is not a ``redis://`` or ``rediss://`` URL.
    """
    _check_url(broker)
    app = Celery("coursekit", broker=broker, backend=broker, set_as_current=False)
    transport = {
        "visibility_timeout": visibility_timeout,
        "unacked_restore_interval": restore_interval,
        # Scan on every sweep, not every tenth: the interval alone decides.
        "unacked_restore_throttle": 1,
        # A worker killed during its sweep keeps the sweep's lock this long
        # (kombu's default, 300 s, delayed every other worker's rescue by as
        # much in a test); a sweep of this grader's tasks takes milliseconds.
        "unacked_mutex_expire": 30,
    }
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        broker_connection_retry_on_startup=True,
        # Keep grading through a broker restart; the outcome is stored once
        # Redis is back, and a task handed out again finds it (see module).
        worker_cancel_long_running_tasks_on_connection_loss=False,
        result_backend_always_retry=True,
        task_store_errors_even_if_ignored=True,
        result_expires=KEY_TTL,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    # The outcome goes to a key of its own (``Keys.done``); Celery's record
    # would only race the coordinator's clean-up. Failures (a time limit)
    # are still recorded, and read.
    app.task(name=TASK_NAME, bind=True, ignore_result=True)(_grade_task)
    return app


def redis_client(url: str, *, timeout: float = 5.0) -> redis_py.Redis:
    """A client of the broker's Redis, for the grader's own keys."""
    _check_url(url)
    return redis_py.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout
    )


class Keys:
    """The Redis keys of one task: its outcome, who started it, its attempts."""

    def __init__(self, task_id: str, batch: str) -> None:
        self.done = f"coursekit:done:{task_id}"
        self.started = f"coursekit:started:{task_id}"
        self.attempts = f"coursekit:attempts:{task_id}"
        self.cancelled = f"coursekit:cancelled:{batch}"


# -- the payload's outcome as JSON ----------------------------------------


def graded_to_json(graded: Graded) -> dict[str, Any]:
    """``graded`` as plain JSON data."""
    return asdict(graded)


def graded_from_json(data: dict[str, Any]) -> Graded:
    """The ``Graded`` that ``graded_to_json`` turned into ``data``."""
    names = {f.name for f in fields(CheckResult)}
    results = [
        CheckResult(**{k: v for k, v in r.items() if k in names})
        for r in data["results"]
    ]
    known = {f.name for f in fields(Graded)} - {"results"}
    return Graded(results=results, **{k: v for k, v in data.items() if k in known})


# -- the worker's side -----------------------------------------------------

T = TypeVar("T")


def _patiently(action: Callable[[], T], patience: float = STORE_PATIENCE) -> T:
    """``action()``, retried while Redis is unreachable (a restart)."""
    deadline = time.monotonic() + patience
    pause = 0.2
    while True:
        try:
            return action()
        except (redis_py.ConnectionError, redis_py.TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


@functools.cache
def _worker_fingerprint() -> str:
    return code_fingerprint()


@functools.cache
def _isolation(chapter: str, resources: ResourceLimits, redis: bool) -> Isolation:
    from coursekit.grading.batch import KERNEL_ENV

    return Isolation(
        mode="require",
        base=EXERCISE_BASES[chapter],
        resources=resources,
        env=KERNEL_ENV,
        redis=redis,
    )


class _Grader:
    """The kernels of one worker process: the next starts while one is graded.

    An event loop in a thread of its own, kept for the process's life, and a
    ``KernelPool`` per isolation (one chapter's), holding one kernel started
    ahead, as a local run's threads do. Kernels are launched from that
    thread, so the sandbox's ``--die-with-parent`` ends them with the process.
    """

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="coursekit-kernels", daemon=True
        )
        self._thread.start()
        self._pool: KernelPool | None = None
        self._isolation: Isolation | None = None

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def grade(
        self,
        isolation: Isolation,
        loaded: Any,
        checks: list[Any],
        limits: Limits,
        resources: ResourceLimits,
    ) -> Graded:
        async def once() -> Graded:
            if self._isolation is not isolation:
                # Another chapter: its kernels see another part of the course.
                if self._pool is not None:
                    await self._pool.close()
                self._pool = KernelPool(
                    lambda: True,
                    starter=functools.partial(start_kernel, isolation=isolation),
                )
                self._isolation = isolation
            assert self._pool is not None
            return await grade_loaded(
                loaded, checks, limits, self._pool, resources=resources
            )

        return self._run(once())

    def close(self) -> None:
        """Shut the kernel started ahead down, and the loop."""
        if self._pool is not None:
            with contextlib.suppress(Exception):
                self._run(self._pool.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)


_GRADER: _Grader | None = None


def _grader() -> _Grader:
    # Made in the pool process, on its first task: a thread does not survive
    # the fork that makes the process.
    global _GRADER
    if _GRADER is None:
        _GRADER = _Grader()
    return _GRADER


@worker_process_shutdown.connect
def _close_grader(**_: Any) -> None:
    if _GRADER is not None:
        _GRADER.close()


@contextlib.contextmanager
def _unpacked(payload: dict[str, Any]) -> Iterator[tuple[Path, Path | None]]:
    """The submission's file, and the hidden checks' folder, in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="coursekit-task-") as folder:
        root = Path(folder)
        notebook = root / "submission" / Path(payload["name"]).name
        notebook.parent.mkdir()
        notebook.write_bytes(base64.b64decode(payload["notebook"]))
        hidden: Path | None = None
        if payload["hidden"] is not None:
            hidden = root / "hidden"
            hidden.mkdir()
            for name, text in payload["hidden"].items():
                (hidden / Path(name).name).write_text(text, encoding="utf-8")
        yield notebook, hidden


def grade_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Grade the submission a task carries, here, in the sandbox.

    Returns ``{"graded": ..., "worker": ...}``, or ``{"refused": reason}``
    when this worker must not grade it (another course, no sandbox).
    """
    worker = socket.gethostname()
    if payload.get("protocol") != PROTOCOL:
        return {
            "refused": f"worker {worker} speaks protocol {PROTOCOL}, the task "
            f"{payload.get('protocol')!r}: run the same version of the course "
            "on the coordinator and every worker"
        }
    if payload["code"] != _worker_fingerprint():
        return {
            "refused": f"worker {worker} runs another version of the course or of "
            "its packages than the coordinating `coursekit grade` (their "
            "fingerprints differ): install the same course, from the same "
            "image or lock file, on every machine"
        }
    chapter = payload["chapter"]
    limits = Limits(**payload["limits"])
    resources = ResourceLimits(**payload["resources"])
    checks = list(checks_for(chapter))
    with _unpacked(payload) as (notebook, hidden):
        if hidden is not None:
            checks += load_hidden(hidden, chapter)
        try:
            isolation = _isolation(
                chapter, resources, any(c.needs_redis for c in checks)
            )
        except IsolationError as exc:
            return {"refused": f"worker {worker}: {exc}"}

        graded = _grader().grade(isolation, load(notebook), checks, limits, resources)
    level = (
        "full"
        if isolation.summary.full
        else "weaker: " + "; ".join(isolation.summary.missing)
    )
    graded.isolation_level = level
    return {"graded": graded_to_json(graded), "worker": worker}


def _say(line: str) -> None:
    # The worker's log: which machine graded what, for the instructor.
    print(line, file=sys.stderr, flush=True)


def _grade_task(task: Any, payload: dict[str, Any]) -> str:
    """The Celery task: grade once, store the outcome under ``Keys.done``."""
    keys = Keys(task.request.id, payload["batch"])
    client = redis_client(task.app.conf.broker_url)
    try:
        if _patiently(lambda: client.exists(keys.done)):
            return "already graded"  # handed out again after it was done
        if _patiently(lambda: client.exists(keys.cancelled)):
            return "cancelled"  # the coordinator stopped; nobody would read it
        attempts = _patiently(lambda: client.incr(keys.attempts))
        _patiently(lambda: client.expire(keys.attempts, KEY_TTL))
        if attempts > MAX_ATTEMPTS:
            reason = (
                f"{CRASHED}: a grading worker stopped {MAX_ATTEMPTS} times while "
                "grading it; not graded again (--force tries once more)"
            )
            outcome: dict[str, Any] = {"crashed": reason}
        else:
            node = task.request.hostname or socket.gethostname()
            _patiently(lambda: client.set(keys.started, node, ex=KEY_TTL))
            _say(f"{node}: grading {payload['name']} ({task.request.id})")
            try:
                outcome = grade_payload(payload)
            except Exception as exc:  # a fault of ours: said in the row, not lost
                outcome = {"failed": f"{type(exc).__name__}: {exc}"}
            _say(f"{node}: graded {payload['name']} ({task.request.id})")
        text = json.dumps(outcome)
        _patiently(lambda: client.set(keys.done, text, ex=KEY_TTL))
        return "graded"
    finally:
        client.close()
