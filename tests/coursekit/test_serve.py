"""coursekit.serve: a real uvicorn server in a daemon thread of this process."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from coursekit.serve import LiveServer, ServeError, running_servers, serve

#: Set when a /slow request is being handled (a busy machine may take its
#: time to deliver it).
IN_FLIGHT = threading.Event()


def make_app(tag: str = "first") -> FastAPI:
    app = FastAPI()

    @app.get("/")
    async def root() -> dict[str, str]:
        return {"tag": tag}

    @app.get("/loop")
    async def loop() -> dict[str, str]:
        return {"loop": type(asyncio.get_running_loop()).__module__}

    @app.get("/slow")
    async def slow(delay: float = 0.3) -> dict[str, float]:
        IN_FLIGHT.set()
        await asyncio.sleep(delay)
        return {"slept": delay}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom in a route")

    return app


@pytest.fixture
def server() -> Iterator[LiveServer]:
    with serve(make_app(), name="test") as live:
        yield live


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_serves_on_a_free_loopback_port(server: LiveServer) -> None:
    assert server.host == "127.0.0.1"
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert httpx.get(server.url + "/").json() == {"tag": "first"}
    assert server.running


def test_runs_on_plain_asyncio_in_a_daemon_thread(server: LiveServer) -> None:
    assert httpx.get(server.url + "/loop").json() == {"loop": "asyncio.unix_events"}
    threads = [t for t in threading.enumerate() if t.name.startswith("coursekit")]
    assert threads
    assert all(t.daemon for t in threads)


def test_keep_alive_requests_are_as_quick_as_fresh_connections(
    server: LiveServer,
) -> None:
    def median_seconds(client: httpx.Client | None) -> float:
        times = []
        for _ in range(15):
            started = time.perf_counter()
            if client is None:
                httpx.get(server.url + "/")
            else:
                client.get("/")
            times.append(time.perf_counter() - started)
        return sorted(times)[len(times) // 2]

    with httpx.Client(base_url=server.url) as kept_alive:
        kept_alive.get("/")
        reused = median_seconds(kept_alive)
    fresh = median_seconds(None)
    # Reusing a connection saves the handshake; it must never cost more.
    assert reused < fresh * 2


def test_given_port_is_used() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with serve(make_app(), name="fixed", port=port) as live:
        assert live.port == port
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200


def test_rerun_with_same_name_replaces_the_old_server() -> None:
    first = serve(make_app("first"), name="rerun")
    second = serve(make_app("second"), name="rerun")
    try:
        assert not first.running
        assert port_is_free(first.port) or first.port == second.port
        assert httpx.get(second.url + "/").json() == {"tag": "second"}
        assert [s for s in running_servers() if s.name == "rerun"] == [second]
    finally:
        second.stop()


def test_rerun_on_the_same_port_replaces_the_old_server() -> None:
    first = serve(make_app("first"), name="a")
    second = serve(make_app("second"), name="b", port=first.port)
    try:
        assert not first.running
        assert httpx.get(second.url + "/").json() == {"tag": "second"}
    finally:
        second.stop()


def test_different_names_run_side_by_side() -> None:
    with (
        serve(make_app("one"), name="one") as one,
        serve(make_app("two"), name="two") as two,
    ):
        assert httpx.get(one.url + "/").json() == {"tag": "one"}
        assert httpx.get(two.url + "/").json() == {"tag": "two"}


def test_port_held_by_another_program_is_a_clear_error() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(ServeError, match=f"Port {port} .* already in use") as err:
            serve(make_app(), name="clash", port=port)
    assert "without port=" in str(err.value)


def test_failed_lifespan_raises_with_the_apps_exception() -> None:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("database unreachable")
        yield

    started = time.monotonic()
    with pytest.raises(ServeError, match="RuntimeError: database unreachable"):
        serve(FastAPI(lifespan=lifespan), name="broken")
    assert time.monotonic() - started < 5  # no waiting for the deadline
    assert "broken" not in {s.name for s in running_servers()}


def test_hanging_lifespan_hits_the_deadline() -> None:
    release = asyncio.Event()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await release.wait()  # never set: startup never finishes
        yield

    with pytest.raises(ServeError, match=r"did not start within 0\.5 s"):
        serve(FastAPI(lifespan=lifespan), name="hang", startup_timeout=0.5)


def test_stop_frees_the_port_and_is_idempotent() -> None:
    live = serve(make_app(), name="stopper")
    live.stop()
    assert not live.running
    assert port_is_free(live.port)
    live.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(live.url + "/")


def test_stop_lets_an_in_flight_request_finish() -> None:
    live = serve(make_app(), name="inflight", graceful_timeout=2.0)
    result: dict[str, object] = {}

    def call() -> None:
        result["body"] = httpx.get(live.url + "/slow?delay=0.4").json()

    IN_FLIGHT.clear()
    caller = threading.Thread(target=call)
    caller.start()
    assert IN_FLIGHT.wait(30), "the request never reached the server"
    live.stop()
    caller.join(30)
    assert result["body"] == {"slept": 0.4}


def test_stop_is_bounded_when_a_request_outlives_the_grace_period() -> None:
    live = serve(make_app(), name="stuck", graceful_timeout=0.2)
    caller = threading.Thread(
        target=lambda: httpx.get(live.url + "/slow?delay=30", timeout=60),
        daemon=True,
    )
    IN_FLIGHT.clear()
    caller.start()
    assert IN_FLIGHT.wait(30), "the request never reached the server"
    # Compared with the request's own 30 s, not with a wall-clock budget.
    started = time.monotonic()
    live.stop()
    assert time.monotonic() - started < 30 / 3
    assert not live.running


class RootRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.names.append(record.name)


def test_logs_are_captured_not_printed(
    server: LiveServer, capfd: pytest.CaptureFixture[str]
) -> None:
    # A kernel prints whatever reaches the root logger into the running cell.
    # (pytest's caplog cannot tell: it also listens on non-propagating loggers.)
    root = RootRecords()
    logging.getLogger().addHandler(root)
    try:
        httpx.get(server.url + "/")
        httpx.get(server.url + "/boom")
    finally:
        logging.getLogger().removeHandler(root)
    assert [n for n in root.names if n.startswith("uvicorn")] == []
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    # uvicorn logs the exception after the 500 has gone out: wait for it.
    deadline = time.monotonic() + 5
    while "Exception in ASGI application" not in server.logs():
        assert time.monotonic() < deadline, server.logs()
        time.sleep(0.01)
    logs = server.logs()
    assert '"GET / HTTP/1.1" 200' in logs
    assert '"GET /boom HTTP/1.1" 500' in logs


def test_logs_of_two_servers_do_not_mix() -> None:
    with serve(make_app(), name="l1") as one, serve(make_app(), name="l2") as two:
        httpx.get(one.url + "/?who=one")
        httpx.get(two.url + "/?who=two")
        assert "who=one" in one.logs() and "who=two" not in one.logs()
        assert "who=two" in two.logs() and "who=one" not in two.logs()


def test_links_for_a_person(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert server.docs_url == server.url + "/docs"
    assert server.redoc_url == server.url + "/redoc"
    html = server._repr_html_()
    assert f'href="{server.url}/docs"' in html and f'href="{server.url}/redoc"' in html
    assert repr(server) == f"<LiveServer 'test' running at {server.url}>"
    server.stop()
    assert "stopped" in repr(server) and "stopped" in server._repr_html_()


def test_behind_jupyter_server_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    with serve(make_app(), name="hub") as live:
        prefix = f"/user/ada/proxy/{live.port}"
        assert live.docs_url == f"{prefix}/docs"
        assert live.redoc_url == f"{prefix}/redoc"
        # The proxy strips its prefix; the app still has to know it so the
        # docs page asks for openapi.json through the proxy.
        docs = httpx.get(live.url + "/docs").text
        assert f"{prefix}/openapi.json" in docs
        assert httpx.get(live.url + "/").json() == {"tag": "first"}


def test_explicit_prefix_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    monkeypatch.setenv("COURSEKIT_PROXY_PREFIX", "")
    with serve(make_app(), name="local") as live:
        assert live.docs_url == live.url + "/docs"
    monkeypatch.setenv("COURSEKIT_PROXY_PREFIX", "hub/x")
    with serve(make_app(), name="custom") as live:
        assert live.docs_url == f"/hub/x/proxy/{live.port}/docs"
