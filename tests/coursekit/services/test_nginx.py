"""coursekit.services.nginx against a real nginx in front of a real uvicorn."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from coursekit.process import ProcessServer, serve_process
from coursekit.services.base import ServiceError, port_answers, unprivileged_user
from coursekit.services.nginx import NginxServer, nginx, version
from tests.servers import start_or_skip

RECORDER_DIR = Path(__file__).resolve().parents[2] / "deploy"

# The smallest config that keeps nginx inside its folder: the directives
# nginx() insists on, and a proxy to the upstream.
MINIMAL = """\
pid ${NGINX_STATE}/nginx.pid;
error_log ${NGINX_LOGS}/error.log;
worker_processes 1;
events { worker_connections 64; }
http {
    access_log ${NGINX_LOGS}/access.log;
    client_body_temp_path ${NGINX_STATE}/client_body;
    proxy_temp_path ${NGINX_STATE}/proxy;
    fastcgi_temp_path ${NGINX_STATE}/fastcgi;
    uwsgi_temp_path ${NGINX_STATE}/uwsgi;
    scgi_temp_path ${NGINX_STATE}/scgi;
    upstream app { ${NGINX_UPSTREAM_SERVERS} }
    server {
        listen ${NGINX_LISTEN};
        location / { proxy_pass http://app; }
    }
}
"""


def recorder() -> ProcessServer:
    return serve_process(
        "recorder_app:app", app_dir=RECORDER_DIR, health_path="/_seen", show=False
    )


@pytest.fixture
def app() -> Iterator[ProcessServer]:
    with recorder() as server:
        yield server


def seen(app: ProcessServer) -> list[dict[str, object]]:
    records: list[dict[str, object]] = httpx.get(app.url + "/_seen").json()
    return records


def test_requests_pass_through_to_the_app(app: ProcessServer) -> None:
    with start_or_skip(lambda: nginx(MINIMAL, upstream=app.url)) as proxy:
        assert proxy.url == f"http://127.0.0.1:{proxy.port}"
        response = httpx.get(proxy.url + "/hello?x=1")
        assert response.status_code == 200
        assert response.json() == {"ok": True}
        assert [record["path"] for record in seen(app)] == ["/hello"]
        # nginx logs a request once it has answered it: wait for the line.
        deadline = time.monotonic() + 10
        while "GET /hello?x=1 HTTP/1.1" not in proxy.access_log():
            assert time.monotonic() < deadline, proxy.access_log()
            time.sleep(0.05)
        assert "listen" in proxy.config_path.read_text()


def test_version_is_the_installed_nginx() -> None:
    with start_or_skip(
        lambda: nginx(
            MINIMAL.replace("${NGINX_UPSTREAM_SERVERS}", "server 127.0.0.1:9;")
        )
    ):
        assert version().split(".")[0].isdigit()


def test_a_broken_config_is_refused_with_nginx_s_own_message(
    app: ProcessServer,
) -> None:
    broken = MINIMAL.replace("worker_processes 1;", "worker_processes 1;\nbogus on;")
    with (
        pytest.raises(ServiceError) as refused,
        start_or_skip(lambda: nginx(broken, upstream=app.url)),
    ):
        pass
    message = str(refused.value)
    assert "nginx -t" in message
    assert 'unknown directive "bogus"' in message


def test_a_placeholder_nginx_does_not_know_is_refused(app: ProcessServer) -> None:
    config = MINIMAL.replace("${NGINX_LISTEN}", "${NGINX_LISTEN_ON}")
    with (
        pytest.raises(ServiceError, match=r"NGINX_LISTEN_ON.*placeholders are"),
        start_or_skip(lambda: nginx(config, upstream=app.url)),
    ):
        pass


def test_a_config_that_would_write_elsewhere_is_refused(app: ProcessServer) -> None:
    config = MINIMAL.replace("proxy_temp_path ${NGINX_STATE}/proxy;", "")
    with (
        pytest.raises(ServiceError, match="does not set proxy_temp_path"),
        start_or_skip(lambda: nginx(config, upstream=app.url)),
    ):
        pass


def test_an_upstream_is_needed_when_the_config_proxies() -> None:
    with (
        pytest.raises(ServiceError, match="no upstream was given"),
        start_or_skip(lambda: nginx(MINIMAL)),
    ):
        pass


def test_a_stopped_upstream_gives_502_and_the_error_log_says_why() -> None:
    app = recorder()
    with app, start_or_skip(lambda: nginx(MINIMAL, upstream=app.url)) as proxy:
        assert httpx.get(proxy.url + "/").status_code == 200
        app.stop()
        response = httpx.get(proxy.url + "/")
        assert response.status_code == 502
        log = proxy.error_log()
        assert "connect() failed (111: Connection refused)" in log
        assert f'upstream: "http://127.0.0.1:{app.port}/"' in log


def test_reload_switches_to_a_new_upstream(app: ProcessServer) -> None:
    with (
        recorder() as other,
        start_or_skip(lambda: nginx(MINIMAL, upstream=app.url)) as proxy,
    ):
        httpx.get(proxy.url + "/before")
        proxy.reload(upstream=other.url)
        with httpx.Client() as client:  # a new connection: a new worker
            client.get(proxy.url + "/after")
        assert [r["path"] for r in seen(app)] == ["/before"]
        assert [r["path"] for r in seen(other)] == ["/after"]


def test_a_bad_reload_is_refused_and_the_old_config_keeps_serving(
    app: ProcessServer,
) -> None:
    with start_or_skip(lambda: nginx(MINIMAL, upstream=app.url)) as proxy:
        before = proxy.config_path.read_text()
        with pytest.raises(ServiceError, match='unknown directive "bogus"'):
            proxy.reload(MINIMAL.replace("worker_processes 1;", "bogus on;"))
        assert proxy.config_path.read_text() == before
        assert httpx.get(proxy.url + "/still").status_code == 200


def test_workers_run_unprivileged_when_we_are_root(app: ProcessServer) -> None:
    with start_or_skip(lambda: nginx(MINIMAL, upstream=app.url)) as proxy:
        master = psutil.Process(proxy._process.pid)  # type: ignore[union-attr]
        workers = [p for p in master.children() if "worker" in " ".join(p.cmdline())]
        assert workers
        user = unprivileged_user()
        expected = os.geteuid() if user is None else user.pw_uid
        assert {worker.uids().effective for worker in workers} == {expected}
        if user is not None:
            assert proxy.config_path.read_text().startswith(f"user {user.pw_name} ")


def test_a_folder_inside_a_private_parent_works(
    app: ProcessServer, tmp_path: Path
) -> None:
    # As root the workers run as another user, who cannot enter tmp_path's
    # parents (mode 700): nginx() makes every path relative to the folder.
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    folder = private / "nginx"
    # Every request body goes through a temp file, which a worker writes.
    config = MINIMAL.replace("http {", "http {\n    client_body_in_file_only clean;")
    with start_or_skip(lambda: nginx(config, folder, upstream=app.url)) as proxy:
        response = httpx.post(proxy.url + "/upload", content=b"x" * 10_000)
        assert response.status_code == 200, proxy.error_log()
        assert proxy.folder == folder
    assert (folder / "logs" / "access.log").exists()  # a given folder stays


def test_stop_closes_the_port_and_removes_a_temporary_folder(
    app: ProcessServer,
) -> None:
    with start_or_skip(lambda: nginx(MINIMAL, upstream=app.url)) as proxy:
        assert isinstance(proxy, NginxServer)
        assert port_answers(proxy.port)
    assert not proxy.running
    assert not port_answers(proxy.port)
    assert not proxy.folder.exists()
    proxy.stop()  # twice is fine
