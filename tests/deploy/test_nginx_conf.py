"""deploy/nginx.conf, rendered for loopback, in front of real uvicorn servers."""

from __future__ import annotations

import gzip
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from coursekit.process import ProcessServer, serve_process
from coursekit.services.nginx import NginxServer, nginx
from tests.servers import start_or_skip

HERE = Path(__file__).resolve().parent
CONFIG = (HERE.parents[1] / "deploy" / "nginx.conf").read_text(encoding="utf-8")
REQUESTS = 50
#: A loopback address other than nginx's own, for the client: Linux routes
#: all of 127.0.0.0/8 to lo, so the app can tell the client from the proxy.
CLIENT_ADDRESS = "127.0.0.2"
#: Seconds to wait for a live message: a limit that catches a hang (a
#: WebSocket refused, an event held in nginx's buffers), not a measure.
LIVE_TIMEOUT = 10.0


def recorder(*uvicorn_args: str) -> ProcessServer:
    return serve_process(
        "recorder_app:app",
        app_dir=HERE,
        health_path="/_seen",
        uvicorn_args=uvicorn_args,
        show=False,
    )


def seen(app: ProcessServer, path: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = httpx.get(app.url + "/_seen").json()
    return [record for record in records if record["path"] == path]


@pytest.fixture(scope="module")
def app() -> Iterator[ProcessServer]:
    # uvicorn trusts X-Forwarded-For from 127.0.0.1 by default and then
    # reports port 0: without it, the app sees each TCP connection's port.
    with recorder("--no-proxy-headers") as server:
        yield server


@pytest.fixture(scope="module")
def proxy(app: ProcessServer) -> Iterator[NginxServer]:
    with start_or_skip(lambda: nginx(CONFIG, upstream=app.url)) as server:
        yield server


def serve_course_app(folder: Path) -> ProcessServer:
    env = {
        "DATABASE_URL": f"sqlite:///{folder / 'course.db'}",
        "SECRET_KEY": "a-test-key-that-is-long-enough-for-hs256",
        # The sign-ups' welcome e-mails (chapter 08) land here.
        "OUTBOX_DIR": str(folder / "outbox"),
    }
    # With the access log: a line per request the app saw.
    return serve_process(
        "course_app.main:app",
        app_dir=HERE.parents[1],
        env=env,
        health_path="/health",
        uvicorn_args=["--access-log"],
        show=False,
    )


@pytest.fixture(scope="module")
def course_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessServer]:
    with serve_course_app(tmp_path_factory.mktemp("course_app")) as server:
        yield server


@pytest.fixture
def fresh_course_app(tmp_path: Path) -> Iterator[ProcessServer]:
    """The course app with an empty feed: no sign-up announced yet."""
    with serve_course_app(tmp_path) as server:
        yield server


@pytest.fixture(scope="module")
def course_proxy(course_app: ProcessServer) -> Iterator[NginxServer]:
    with start_or_skip(lambda: nginx(CONFIG, upstream=course_app.url)) as server:
        yield server


def upstream_connections(proxy: NginxServer, app: ProcessServer, path: str) -> int:
    """How many TCP connections the app saw for ``REQUESTS`` requests via nginx."""
    with httpx.Client() as client:  # one keep-alive connection to nginx
        for _ in range(REQUESTS):
            assert client.get(proxy.url + path).status_code == 200
    records = seen(app, path)
    assert len(records) == REQUESTS
    return len({tuple(record["client"]) for record in records})


def test_connections_to_the_app_are_reused(
    proxy: NginxServer, app: ProcessServer
) -> None:
    connections = upstream_connections(proxy, app, "/keepalive")
    print(f"{REQUESTS} requests through nginx: {connections} upstream connections")
    assert connections <= 3


def test_without_keepalive_every_request_opens_a_connection(
    app: ProcessServer,
) -> None:
    # The contrast, and the proof that the test above can fail.
    config, removed = re.subn(r"^\s*keepalive \d+;$", "", CONFIG, flags=re.MULTILINE)
    assert removed == 1
    with start_or_skip(lambda: nginx(config, upstream=app.url)) as plain:
        connections = upstream_connections(plain, app, "/no-keepalive")
    print(f"{REQUESTS} requests without keepalive: {connections} connections")
    assert connections > REQUESTS * 0.9


def test_nginx_compresses_and_the_app_is_asked_for_identity(
    proxy: NginxServer, app: ProcessServer
) -> None:
    direct = httpx.get(app.url + "/big").content
    # Read the bytes on the wire: httpx would decompress them.
    with httpx.stream(
        "GET", proxy.url + "/big", headers={"Accept-Encoding": "gzip"}
    ) as response:
        wire = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(wire) == direct
    print(f"/big: {len(direct):,} bytes from the app, {len(wire):,} from nginx")
    assert len(wire) < len(direct) / 4
    # The app was not asked to compress: compression happens in one place.
    assert "accept-encoding" not in seen(app, "/big")[-1]["headers"]


def test_small_responses_are_not_compressed(proxy: NginxServer) -> None:
    response = httpx.get(proxy.url + "/small", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in response.headers  # below gzip_min_length


def test_the_catalogue_is_served_from_the_proxy_cache(
    course_proxy: NginxServer, course_app: ProcessServer
) -> None:
    def app_saw() -> int:
        return course_app.logs().count('"GET /catalogue HTTP/1.1" 200')

    before = app_saw()
    first = httpx.get(course_proxy.url + "/catalogue")
    second = httpx.get(course_proxy.url + "/catalogue")
    assert first.headers["x-cache-status"] == "MISS"
    assert second.headers["x-cache-status"] == "HIT"
    assert second.content == first.content
    assert second.headers["cache-control"] == "public, max-age=60"
    assert app_saw() == before + 1
    # The client's own copy is checked against the cached ETag: 304, no body.
    again = httpx.get(
        course_proxy.url + "/catalogue",
        headers={"If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304
    assert again.headers["x-cache-status"] == "HIT"
    assert app_saw() == before + 1


def test_other_paths_are_not_cached(course_proxy: NginxServer) -> None:
    response = httpx.get(course_proxy.url + "/health")
    assert response.json() == {"status": "ok", "database": "ok"}
    assert "x-cache-status" not in response.headers


def test_the_app_s_redirects_keep_the_proxy_s_host_and_port(
    course_proxy: NginxServer,
) -> None:
    response = httpx.get(course_proxy.url + "/users")
    assert response.status_code == 307
    assert response.headers["location"] == course_proxy.url + "/users/"


def client_seen_by_app(*uvicorn_args: str) -> dict[str, Any]:
    app = recorder(*uvicorn_args)
    with app, start_or_skip(lambda: nginx(CONFIG, upstream=app.url)) as proxy:
        transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS)
        with httpx.Client(transport=transport) as client:
            client.get(proxy.url + "/who")
        (record,) = seen(app, "/who")
        record["proxy_port"] = proxy.port
    return record


def test_the_app_sees_the_real_client_when_it_trusts_the_proxy() -> None:
    record = client_seen_by_app("--proxy-headers", "--forwarded-allow-ips", "127.0.0.1")
    assert record["client"][0] == CLIENT_ADDRESS
    assert record["scheme"] == "http"
    assert record["headers"]["host"] == f"127.0.0.1:{record['proxy_port']}"
    assert record["headers"]["x-forwarded-for"] == CLIENT_ADDRESS
    assert record["headers"]["x-forwarded-proto"] == "http"


def test_the_app_sees_the_proxy_without_proxy_headers() -> None:
    record = client_seen_by_app("--no-proxy-headers")
    assert record["client"][0] == "127.0.0.1"
    # The header arrived; only the app did not believe it.
    assert record["headers"]["x-forwarded-for"] == CLIENT_ADDRESS


def test_the_app_sees_the_proxy_when_it_trusts_other_addresses() -> None:
    record = client_seen_by_app("--proxy-headers", "--forwarded-allow-ips", "10.0.0.1")
    assert record["client"][0] == "127.0.0.1"


def test_a_stopped_app_gives_a_json_502_and_the_error_log_says_why() -> None:
    app = recorder()
    with app, start_or_skip(lambda: nginx(CONFIG, upstream=app.url)) as proxy:
        assert httpx.get(proxy.url + "/up").status_code == 200
        app.stop()
        response = httpx.get(proxy.url + "/down")
        assert response.status_code == 502
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "detail": "Bad gateway: the app server is not answering"
        }
        # nginx logs a request once it has answered it: the lines may land
        # a moment after the response (a limit catches a missing one).
        deadline = time.monotonic() + 10
        while "upstream_status=502" not in proxy.access_log():
            assert time.monotonic() < deadline, proxy.access_log()
            time.sleep(0.05)
        assert "connect() failed (111: Connection refused)" in proxy.error_log()


def test_the_proxy_answers_its_own_health_check(proxy: NginxServer) -> None:
    response = httpx.get(proxy.url + "/nginx-health")
    assert (response.status_code, response.text) == (200, "ok\n")


def sign_up(proxy: NginxServer, name: str) -> dict[str, Any]:
    """A new user, created through nginx: the feed announces it."""
    body = {
        "name": name,
        "email": f"{uuid.uuid4().hex}@example.com",
        "password": "a-long-enough-password",
    }
    response = httpx.post(proxy.url + "/users/", json=body, timeout=LIVE_TIMEOUT)
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()
    return user


def test_a_websocket_passes_through_nginx(course_proxy: NginxServer) -> None:
    # Without Upgrade and "Connection: upgrade" passed on, the app gets a
    # plain GET and the handshake fails (websockets raises InvalidStatus).
    url = course_proxy.url.replace("http://", "ws://", 1) + "/ws/signups"
    with connect(url, open_timeout=LIVE_TIMEOUT) as websocket:
        assert websocket.response.headers["server"] == "nginx"
        # The route subscribes before it accepts: this sign-up is heard.
        user = sign_up(course_proxy, "Ada over WebSocket")
        message = json.loads(websocket.recv(timeout=LIVE_TIMEOUT))
    assert message["type"] == "signup"
    assert message["user"] == {"id": user["id"], "name": "Ada over WebSocket"}


def next_event(lines: Iterator[str]) -> dict[str, str]:
    """The next event's fields (``id``, ``event``, ``data``); comments skipped."""
    fields: dict[str, str] = {}
    for line in lines:
        if not line:
            if fields:
                return fields
            continue
        if line.startswith(":"):  # a comment, such as FastAPI's ": ping"
            continue
        name, _, value = line.partition(":")
        fields[name] = value.removeprefix(" ")
    raise AssertionError(f"the stream ended before an event: {fields}")


def signup_event(proxy: NginxServer, name: str) -> dict[str, str]:
    """The SSE event of a sign-up made while /events/signups streams via nginx.

    The app behind ``proxy`` must have announced no sign-up yet.
    """
    # Buffered, nginx holds the whole response, headers included, until the
    # app writes its first event; with nothing announced yet, there is none
    # before this sign-up, made only once the headers are here. A held
    # response is then a ReadTimeout (the timeout is per read), not a hang.
    # Last-Event-ID: 0 asks for the kept events first: the route subscribes
    # only as the response starts, and a sign-up made just then could come
    # before that; replayed, it cannot be missed.
    with httpx.stream(
        "GET",
        proxy.url + "/events/signups",
        headers={"Last-Event-ID": "0", "Accept-Encoding": "gzip"},
        timeout=LIVE_TIMEOUT,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in response.headers  # events as written
        user = sign_up(proxy, name)
        event = next_event(response.iter_lines())
    assert event["event"] == "signup"
    assert json.loads(event["data"]) == {"id": user["id"], "name": name}
    return event


def test_server_sent_events_pass_through_nginx_as_they_happen(
    fresh_course_app: ProcessServer,
) -> None:
    with start_or_skip(lambda: nginx(CONFIG, upstream=fresh_course_app.url)) as proxy:
        event = signup_event(proxy, "Ada over SSE")
    assert event["id"] == "1"


def test_events_are_not_buffered_even_without_the_app_s_header(
    fresh_course_app: ProcessServer,
) -> None:
    # nginx obeys the app's X-Accel-Buffering: no (FastAPI sends it); told
    # to ignore it, only the events location's proxy_buffering off is left.
    # Without that line this test fails with a ReadTimeout.
    config, added = re.subn(
        r"^(\s*proxy_read_timeout 30s;)$",
        r"\1\n        proxy_ignore_headers X-Accel-Buffering;",
        CONFIG,
        flags=re.MULTILINE,
    )
    assert added == 1
    with start_or_skip(lambda: nginx(config, upstream=fresh_course_app.url)) as proxy:
        signup_event(proxy, "Bob over SSE")


def test_a_one_mib_avatar_passes_and_a_larger_body_is_nginx_s_413(
    course_proxy: NginxServer,
) -> None:
    # Chapter 10 accepts a picture of exactly 1 MiB; with its multipart form
    # that is a little over nginx's default of 1m, which would refuse it.
    email = f"avatar-{uuid.uuid4().hex}@example.com"
    with httpx.Client(base_url=course_proxy.url, timeout=30) as client:
        user = client.post(
            "/users/",
            json={"name": "Ada", "email": email, "password": "correct-horse"},
        ).json()
        login = {"username": email, "password": "correct-horse"}
        token = client.post("/token", data=login).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        path = f"/users/{user['id']}/avatar"
        picture = b"\x89PNG\r\n\x1a\n" + bytes(1024 * 1024 - 8)
        sent = client.put(path, files={"file": ("a.png", picture)}, headers=auth)
        assert sent.status_code == 204, sent.text
        assert client.get(path).content == picture
        huge = picture + bytes(200 * 1024)
        refused = client.put(path, files={"file": ("a.png", huge)}, headers=auth)
    assert refused.status_code == 413
    # nginx's own page: the app, which answers in JSON, never saw the body.
    assert "413 Request Entity Too Large" in refused.text
