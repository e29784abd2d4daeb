"""PostgreSQL, Redis and nginx for the production chapter's tests.

``make test`` runs this first (``python tests/servers.py``). Where a server's
program is missing and this is a Debian-like machine where we run as root
(CI, containers), it installs Debian's ``postgresql``, ``redis-server`` and
``nginx`` with apt-get (in CI, also through passwordless sudo), then starts
each once on loopback the way the tests do.

The tests use ``start_or_skip``: without a server they are skipped with the
message of how to install it, except where ``CI`` is set: there they must
run, and this script and the tests fail.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from coursekit.services import ServiceMissing
from tests import system_packages

#: Debian's package for each program the services need.
PACKAGES = {
    "initdb": "postgresql",
    "redis-server": "redis-server",
    "nginx": "nginx",
}

T = TypeVar("T")


@contextmanager
def start_or_skip(start: Callable[[], AbstractContextManager[T]]) -> Iterator[T]:
    """Start a service for a test; skip the test (fail in CI) if it is missing."""
    import pytest

    try:
        service = start()
    except ServiceMissing as missing:
        if system_packages.ci():
            pytest.fail(f"{missing} (CI is set: this test must run)")
        pytest.skip(str(missing))
    with service as running:
        yield running


def _programs_missing() -> list[str]:
    from coursekit.services import nginx, postgres, redis

    missing = []
    for module in (postgres, redis, nginx):
        try:
            module.find_programs()
        except ServiceMissing as error:
            missing.append(str(error))
    return missing


def main() -> int:
    required = system_packages.ci()
    missing = _programs_missing()
    if missing and system_packages.can_install(allow_sudo=required):
        print("==> installing PostgreSQL, Redis and nginx for the tests (apt-get)")
        result = system_packages.apt_install(
            sorted(set(PACKAGES.values())), allow_sudo=required
        )
        if result.returncode != 0:
            print(result.stdout[-3000:], file=sys.stderr)
        missing = _programs_missing()
    if missing:
        for message in missing:
            print(f"==> {message}", file=sys.stderr)
        if required:
            print(
                "==> CI is set: the production chapter's tests must run",
                file=sys.stderr,
            )
            return 1
        print("==> the tests that need these servers will be skipped", file=sys.stderr)
        return 0
    from coursekit.services import nginx, postgres, redis

    with tempfile.TemporaryDirectory(prefix="coursekit-servers-") as folder:
        try:
            with postgres.postgres(Path(folder) / "pg") as db:
                version = db.version()
            with redis.redis(Path(folder) / "redis") as cache:
                redis_version = cache.version()
            nginx_version = nginx.version()
        except Exception as error:  # a server that is there but will not start
            print(f"==> a server would not start: {error}", file=sys.stderr)
            return 1 if required else 0
    found = f"PostgreSQL {version}, Redis {redis_version}, nginx {nginx_version}"
    print(f"==> servers: {found}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
