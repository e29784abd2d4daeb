"""coursekit.services.redis: a real redis-server on loopback."""

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_py

from coursekit.services import ServiceError, ServiceMissing
from coursekit.services import redis as service
from coursekit.services.base import port_answers
from tests.servers import start_or_skip


@pytest.fixture
def server() -> Iterator[service.RedisServer]:
    with start_or_skip(service.redis) as running:
        yield running


def test_starts_on_loopback_and_answers_ping(server: service.RedisServer) -> None:
    assert server.url == f"redis://127.0.0.1:{server.port}/0"
    with redis_py.Redis.from_url(server.url) as client:
        assert client.ping() is True
    assert server.version().split(".")[0].isdigit()
    assert server.socket_path is None


def test_keeps_nothing_on_disk(server: service.RedisServer) -> None:
    with server.client() as client:
        config = client.config_get("*")
    assert config["save"] == ""
    assert config["appendonly"] == "no"
    assert config["bind"] == "127.0.0.1"
    assert config["protected-mode"] == "yes"


def test_a_second_instance_gets_another_port(server: service.RedisServer) -> None:
    with start_or_skip(service.redis) as other:
        assert other.port != server.port
        with server.client() as first, other.client() as second:
            first.set("where", "first")
            assert second.get("where") is None


def test_stop_then_start_again_on_the_same_port(server: service.RedisServer) -> None:
    port = server.port
    server.stop()
    assert not server.running
    assert not port_answers(port)
    with server.client(timeout=0.5) as client, pytest.raises(redis_py.ConnectionError):
        client.ping()
    server.start()
    assert server.running
    assert server.port == port
    with server.client() as client:
        assert client.ping() is True


def test_paused_it_does_not_answer_until_resumed(server: service.RedisServer) -> None:
    server.pause()
    with server.client(timeout=0.2) as client:
        with pytest.raises(redis_py.TimeoutError):
            client.ping()
        server.resume()
        assert client.ping() is True


def test_a_paused_server_still_stops(server: service.RedisServer) -> None:
    server.pause()
    server.stop()
    assert not server.running
    assert not port_answers(server.port)


def test_a_temporary_folder_is_removed_at_stop() -> None:
    with start_or_skip(service.redis) as server:
        folder = server.folder
        assert folder.is_dir()
    assert not folder.exists()


def test_a_given_folder_and_a_unix_socket() -> None:
    # Not under tmp_path: pytest's paths are often too long for a socket.
    with tempfile.TemporaryDirectory(prefix="ck-", dir="/tmp") as parent:
        folder = Path(parent) / "private" / "redis"
        _serve_on_a_unix_socket(folder)
        assert folder.is_dir()  # the caller's folder stays


def _serve_on_a_unix_socket(folder: Path) -> None:
    with start_or_skip(lambda: service.redis(folder, unix_socket=True)) as server:
        assert server.folder == folder
        assert server.socket_path == folder / "redis.sock"
        with redis_py.Redis(unix_socket_path=str(server.socket_path)) as client:
            assert client.ping() is True


def test_a_socket_path_too_long_is_refused_before_starting(tmp_path: Path) -> None:
    folder = tmp_path / ("x" * 120)
    with pytest.raises(ServiceError, match="shorter"):
        service.redis(folder, unix_socket=True)
    assert not folder.exists()


def test_a_missing_program_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(service, "SEARCH_FOLDERS", ())
    with pytest.raises(ServiceMissing) as missing:
        service.redis()
    message = str(missing.value)
    assert "redis-server is not installed" in message
    assert "sudo apt-get install redis-server" in message
    assert "brew install redis" in message
    assert "conda install -c conda-forge redis" in message
    with pytest.raises(ServiceMissing):
        service.find_programs()


def test_a_server_that_exits_at_once_shows_its_output(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    command = service.RedisServer.command

    def with_a_bad_option(self: service.RedisServer) -> list[str]:
        return [*command(self), "--no-such-option", "yes"]

    monkeypatch.setattr(service.RedisServer, "command", with_a_bad_option)
    with pytest.raises(ServiceError) as error:
        start_or_skip(service.redis).__enter__()
    message = str(error.value)
    assert "redis-server exited with code" in message
    assert "no-such-option" in message  # its own words, not ours
