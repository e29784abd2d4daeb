"""Real servers the production chapter runs beside the app, on loopback.

PostgreSQL, Redis and nginx, each started by the course's own tooling in a
folder of its own, listening on 127.0.0.1 on a free port, and stopped when
its ``with`` block ends (or, if the kernel dies, by a watchdog)::

    from coursekit.services import postgres, redis

    with postgres() as db, redis() as cache:
        db.url("asyncpg")  # postgresql+asyncpg://course@127.0.0.1:5xxxx/course
        cache.url          # redis://127.0.0.1:6xxxx/0

Where a server's program is not installed, the error says what to install
and how (``ServiceMissing``); where it fails to start, it shows the server's
own last lines (``ServiceError``).
"""

from coursekit.services.base import ServiceError, ServiceMissing, ServiceProcess

__all__ = ["ServiceError", "ServiceMissing", "ServiceProcess"]
