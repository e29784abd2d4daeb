"""Section 6: the production stack of chapter 07, each piece against its absence.

course_app after chapter 06 (``bench.apps_production``) is served in
processes of its own (``coursekit.process``) next to real servers on
loopback (``coursekit.services``: PostgreSQL, ...) and driven by
``coursekit.load.run_load`` (wrk when installed, else locust). As in
``bench.configs``, both servers of a pair run at once and the runs alternate
between them (A, B, B, A, ...); every ratio pairs run i of one side with run
i of the other (``bench.stats.ratios``). Every server's answer is checked
before any load, and a run with a failed or non-2xx request stops the
section.
"""

from __future__ import annotations

import contextlib
import importlib.util
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.context import Context
from bench.stats import Row, Sample, ratios
from coursekit.process import GUNICORN_WORKER

__all__ = ["NOTES", "ProductionBenchError", "run"]

SECTION = "production"
ROOT = Path(__file__).resolve().parent.parent
#: Concurrent keep-alive connections of every load run.
CONNECTIONS = 64
#: Users signed up through ``POST /users/`` (on PostgreSQL) before the
#: load, then copied, password hashes and ids included, into every other
#: database; the load reads the one in the middle.
SEED_USERS = 300
#: Sign-ups sent at once (argon2 hashing is most of their time).
SEED_CONCURRENCY = 8
#: Seconds per measured run, and of unmeasured load per server first.
DURATION = 2.0
QUICK_DURATION = 0.5
WARM_UP = 1.0
#: The PostgreSQL server's connection limit: a NullPool worker opens one
#: connection per request in flight (up to its 40 threads), a pooled one up
#: to DB_POOL_SIZE + DB_MAX_OVERFLOW (15).
PG_MAX_CONNECTIONS = 200
#: One worker's uvicorn settings, spelled out so that a missing uvloop or
#: httptools fails loudly instead of falling back.
UVICORN_ARGS = ("--loop", "uvloop", "--http", "httptools")
#: The apps, as ``module:attribute`` for uvicorn and gunicorn.
APP = "bench.apps_production.ch06:app"
NULLPOOL_APP = "bench.apps_production.nullpool:app"
WORKERS = 2
#: The shared cache pair: chapter 07 with and without REDIS_URL, on a
#: database of STATS_USERS users; a TTL short enough that entries expire
#: during every run, which is when one cache for all workers differs from
#: one per worker.
CACHE_APP = "bench.apps_production.ch07:app"
STATS_USERS = 20_000
STATS_DOMAINS = 40
STATS_TTL = 1.0
#: The X-Cache probe: clients on keep-alive connections of their own.
PROBE_CLIENTS = 8
PROBE_SECONDS = 3.0
QUICK_PROBE_SECONDS = 1.5
#: Seconds pg_stat_database must stay unchanged before a count is read.
STATS_QUIET = 1.2
#: The deployment's configs, read where they are.
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
#: The directive the no-cache nginx goes without.
PROXY_CACHE_ON = "proxy_cache app_cache;"
PROXY_CACHE_OFF = "proxy_cache off;"

NOTES = f"""\
How this section measures. Every server is course_app's `create_app(upto=6)`
(`{APP}`, settings from the environment) in processes of its own, one worker
unless a row says otherwise, with uvicorn's `{" ".join(UVICORN_ARGS)}`. Before
any load, {SEED_USERS} users sign up through `POST /users/` on PostgreSQL and
are copied (ids and hashes) into the other databases, and every server must
answer `GET /users/{{id}}` with the user signed up under that id. The load
generator (wrk, {CONNECTIONS} keep-alive connections; locust when wrk is
missing) runs on the same machine as the servers, so the numbers
are what the stack does while sharing the CPU with its client. Runs alternate
between the two sides of a pair; a run with any failed or non-2xx response
stops the section.

- *PostgreSQL against SQLite*: `GET /users/{{id}}` (one primary-key read, a
  `def` route) with `DATABASE_URL` on a SQLite file and on a PostgreSQL
  server on loopback (`coursekit.services.postgres`, fsync off), both with
  course_app's pool (`DB_POOL_SIZE` 5, overflow 10). The same row is read
  every time, so both databases serve it from memory: this is the cost of
  the driver and the round trip, not of the disk.
- *Pool against a connection per request*: the same read on PostgreSQL with
  course_app's pool and with SQLAlchemy's `NullPool`
  (`{NULLPOOL_APP}`: course_app has no setting for it, so that module swaps
  the engine before the app starts). "connections opened" is the growth of
  the server's own count of sessions (`pg_stat_database.sessions`) for the
  side's database during a measured run; NullPool must open at least one per
  request counted, or the section stops.
- *gunicorn against uvicorn*: {WORKERS} workers each, `gunicorn -k
  {GUNICORN_WORKER}` against `uvicorn --workers {WORKERS}`, on PostgreSQL.
  The worker runs uvicorn's own server with its defaults (uvloop and
  httptools when installed, as they are here): gunicorn only manages the
  processes, so expect about 1.0x. gunicorn reads `deploy/gunicorn.conf.py`
  when it is there (no access log, keepalive 10 s), with bind and workers
  set on its command line.
- *nginx in front*: `deploy/nginx.conf` as `coursekit.services.nginx`
  renders it (keepalive connections to the app, an access log line per
  request, `worker_processes auto`), in front of the same one-worker
  uvicorn that the other side loads directly: what the extra hop costs.
- *Proxy cache*: `GET /catalogue` (69 KB of JSON with `Cache-Control:
  public, max-age=60`, and an ETag) through two nginx in front of that
  uvicorn, `deploy/nginx.conf` and the same with `proxy_cache off;`, the
  client asking for gzip: nginx asks the app for identity and compresses on
  both sides, so the difference is the trip to the app. Both must return the
  app's bytes; the hit rate is the share of the cached nginx's access log
  lines for the run that say `cache=HIT`.
- *Redis cache*: `GET /stats/users` (a GROUP BY over {STATS_USERS:,} users
  in {STATS_DOMAINS} domains, inserted directly) on chapter 07's app
  (`{CACHE_APP}`, `create_app(upto=7)`), {WORKERS} workers each, with
  `CACHE_TTL_SECONDS={STATS_TTL:g}` so that entries expire during every run:
  without `REDIS_URL` each worker has its own cache, with it they share one
  in Redis (`coursekit.services.redis`). Both must count the users right.
  "queries" is the database's transactions during a run (one per miss; the
  load tool's count of requests covers only the measured window, so the
  rate is a little high). The hit rate is what `X-Cache` said to
  {PROBE_CLIENTS} clients, each on its own keep-alive connection, asking one
  request after the other for a few seconds, alternating between the two
  servers. The in-process cache holds a lock while it computes, so a worker
  misses once per TTL; the shared cache has no lock across workers, so every
  request that arrives while a miss is being computed misses too.
"""


class ProductionBenchError(RuntimeError):
    """A measurement of this section cannot be trusted; the message says why."""


@dataclass
class _Side:
    """One side of a pair: a server, a path, request headers, its runs."""

    label: str
    server: object  # coursekit.process.ProcessServer
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Read around every measured run, each a count so far (connections
    #: opened, cache hits logged): the run's share is after minus before.
    counters: Mapping[str, Callable[[], int]] = field(default_factory=dict)
    #: The process whose CPU says when the side is idle again, when it is
    #: not ``server`` itself (nginx: the app server behind it).
    app: object | None = None
    rps: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    counted: dict[str, list[int]] = field(default_factory=dict)


def _settle(server: object, limit: float = 5.0) -> None:
    """Wait until the server is idle: requests queued when the load generator
    stopped must not be served during the other side's run."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = server.cpu_seconds()  # type: ignore[attr-defined]
        time.sleep(0.1)
        if server.cpu_seconds() - before < 0.02:  # type: ignore[attr-defined]
            return


def _load(ctx: Context, side: _Side, seconds: float, *, measure: bool = True) -> None:
    from coursekit.load import run_load

    server = side.server
    url = server.url + side.path  # type: ignore[attr-defined]
    before = {name: read() for name, read in side.counters.items()}
    result = run_load(
        url, users=CONNECTIONS, duration=seconds, headers=side.headers, tool="auto"
    )
    if result.failures or result.requests == 0:
        raise ProductionBenchError(
            f"{side.label}: {result.failures} of {result.requests} requests to "
            f"{side.path} failed or were not 2xx ({result.tool}); the numbers "
            "would not be comparable"
        )
    _settle(side.app or server)
    if not measure:
        ctx.log(f"  {side.label}: warm-up {result.rps:,.0f} req/s")
        return
    side.rps.append(result.rps)
    side.requests.append(result.requests)
    extra = ""
    for name, read in side.counters.items():
        grown = read() - before[name]
        side.counted.setdefault(name, []).append(grown)
        extra += f", {name} {grown:,}"
    ctx.log(
        f"  {side.label}: {result.rps:,.0f} req/s, p99 {result.p99_ms:.0f} ms"
        f"{extra} ({result.tool})"
    )


def _alternate(ctx: Context, a: _Side, b: _Side, seconds: float) -> None:
    for side in (a, b):
        _load(ctx, side, WARM_UP, measure=False)
    for round_ in range(ctx.repeats):
        ctx.log(f"  round {round_ + 1} of {ctx.repeats}")
        # Alternate which side goes first, so neither always follows the other.
        first, second = (a, b) if round_ % 2 == 0 else (b, a)
        _load(ctx, first, seconds)
        _load(ctx, second, seconds)


# -- servers -------------------------------------------------------------------


def _require_fast_parsers() -> None:
    """uvicorn's ``auto`` (what gunicorn's worker uses) must mean uvloop and
    httptools, as ``UVICORN_ARGS`` does, or the pair compares two settings."""
    missing = [
        m for m in ("uvloop", "httptools") if importlib.util.find_spec(m) is None
    ]
    if missing:
        raise ProductionBenchError(
            f"{', '.join(missing)} not installed: uvicorn would fall back to "
            "asyncio/h11 and the gunicorn pair would not compare like with like"
        )


def _serve_uvicorn(
    ctx: Context, name: str, target: str, env: dict[str, str], workers: int = 1
) -> object:
    from coursekit.process import serve_process

    server = serve_process(
        target,
        app_dir=ROOT,
        workers=workers,
        env=env,
        uvicorn_args=list(UVICORN_ARGS),
        show=False,
    )
    ctx.log(f"  server {name}: {server.command_line}")
    return server


def _serve_gunicorn(
    ctx: Context, name: str, target: str, env: dict[str, str], workers: int
) -> object:
    """gunicorn with uvicorn's worker, as lesson 07c runs it (``serve_gunicorn``).

    The deployment's settings when they are there; the command line
    overrides the config file, so bind and workers are still these.
    """
    from coursekit.process import serve_gunicorn

    server = serve_gunicorn(
        target,
        app_dir=ROOT,
        config=GUNICORN_CONF if GUNICORN_CONF.is_file() else None,
        workers=workers,
        env=env,
        show=False,
    )
    ctx.log(f"  server {name}: {server.command_line}")
    return server


def _sign_up(server: object, count: int) -> list[dict[str, object]]:
    """Sign up ``count`` users through the API; what it answered, by id."""
    url = server.url  # type: ignore[attr-defined]

    def one(n: int) -> dict[str, object]:
        body = {
            "name": f"User {n}",
            "email": f"user{n}@example.com",
            "password": f"password-{n}",
        }
        response = client.post(url + "/users/", json=body)
        if response.status_code != 201:
            raise ProductionBenchError(
                f"POST /users/ answered {response.status_code}: {response.text[:200]}"
            )
        return response.json()

    with (
        httpx.Client(timeout=30.0, trust_env=False) as client,
        ThreadPoolExecutor(SEED_CONCURRENCY) as pool,
    ):
        users = list(pool.map(one, range(count)))
    return sorted(users, key=lambda user: int(str(user["id"])))


def _copy_users(source: str, targets: Iterable[str]) -> None:
    """Copy the users table of database URL ``source`` into each of ``targets``
    (tables made by the app's startup), ids and password hashes included."""
    from sqlalchemy import create_engine, insert, select, text

    from course_app.models import User

    engine = create_engine(source)
    try:
        with engine.connect() as connection:
            rows = [dict(r._mapping) for r in connection.execute(select(User))]
    finally:
        engine.dispose()
    for url in targets:
        engine = create_engine(url)
        try:
            with engine.begin() as connection:
                connection.execute(insert(User), rows)
                if engine.dialect.name == "postgresql":
                    # The next sign-up gets the next id, as after real ones.
                    connection.execute(
                        text(
                            "SELECT setval(pg_get_serial_sequence('users', 'id'), "
                            "max(id)) FROM users"
                        )
                    )
        finally:
            engine.dispose()


def _check_user(server: object, label: str, user: Mapping[str, object]) -> None:
    url = f"{server.url}/users/{user['id']}"  # type: ignore[attr-defined]
    response = httpx.get(url, timeout=10.0, trust_env=False)
    if response.status_code != 200 or response.json() != dict(user):
        raise ProductionBenchError(
            f"{label}: GET /users/{user['id']} answered {response.status_code} "
            f"{response.text[:200]!r}, expected {dict(user)!r}"
        )


def _pg_counter(db: object, database: str, expression: str) -> Callable[[], int]:
    """A counter from ``pg_stat_database`` for ``database``.

    ``sessions`` counts the connections ever opened to it (PostgreSQL 14
    and later), ``xact_commit + xact_rollback`` its transactions (each cache
    miss of ``/stats/users`` is one: its query, then the rollback that hands
    the connection back). A backend reports what it did once it is idle, at
    most once a second, and a NullPool connection when it closes: readings
    that stay equal for over a second mean all of a run is counted.
    """
    sql = f"SELECT {expression} FROM pg_stat_database WHERE datname = '{database}'"

    def read() -> int:
        value = db.query(sql)  # type: ignore[attr-defined]
        if value is None or value == "":
            raise ProductionBenchError(f"PostgreSQL did not answer {sql!r}")
        return int(value)

    def count() -> int:
        last, same_since = read(), time.monotonic()
        deadline = same_since + 15.0
        while time.monotonic() < deadline:
            time.sleep(0.3)
            now = read()
            if now != last:
                last, same_since = now, time.monotonic()
            elif time.monotonic() - same_since > STATS_QUIET:
                return now
        return last

    return count


def _sessions(db: object, database: str) -> Callable[[], int]:
    """How many connections were ever opened to ``database``."""
    return _pg_counter(db, database, "sessions")


def _transactions(db: object, database: str) -> Callable[[], int]:
    """How many transactions ``database`` has run."""
    return _pg_counter(db, database, "xact_commit + xact_rollback")


def _seed_stats(url: str) -> None:
    """STATS_USERS users over STATS_DOMAINS e-mail domains, inserted directly
    (as bench.configs does): enough rows for the GROUP BY to cost something."""
    from sqlalchemy import create_engine, insert

    from course_app.db import create_tables
    from course_app.models import User

    engine = create_engine(url)
    try:
        create_tables(engine)
        rows = [
            {
                "name": f"User {n}",
                "email": f"user{n}@domain{n % STATS_DOMAINS}.example",
                "hashed_password": "-",
            }
            for n in range(STATS_USERS)
        ]
        with engine.begin() as connection:
            connection.execute(insert(User), rows)
    finally:
        engine.dispose()


def _probe_cache(server: object, seconds: float) -> tuple[int, int]:
    """(hits, misses) that ``X-Cache`` reported to PROBE_CLIENTS clients, each
    on a keep-alive connection of its own, asking for ``/stats/users`` one
    request after the other for ``seconds``; every answer must be the same."""
    url = server.url + "/stats/users"  # type: ignore[attr-defined]
    deadline = time.monotonic() + seconds

    def client() -> tuple[int, int, set[bytes]]:
        hits = misses = 0
        bodies: set[bytes] = set()
        with httpx.Client(timeout=10.0, trust_env=False) as http:
            while time.monotonic() < deadline:
                answer = http.get(url)
                state = answer.headers.get("x-cache")
                if answer.status_code != 200 or state not in ("HIT", "MISS"):
                    raise ProductionBenchError(
                        f"/stats/users answered {answer.status_code} with X-Cache "
                        f"{state!r}: {answer.text[:200]!r}"
                    )
                hits += state == "HIT"
                misses += state == "MISS"
                bodies.add(answer.content)
        return hits, misses, bodies

    with ThreadPoolExecutor(PROBE_CLIENTS) as pool:
        done = list(pool.map(lambda _: client(), range(PROBE_CLIENTS)))
    bodies = set().union(*(b for _, _, b in done))
    if len(bodies) != 1:
        raise ProductionBenchError(
            f"/stats/users gave {len(bodies)} different bodies during the probe"
        )
    return sum(h for h, _, _ in done), sum(m for _, m, _ in done)


def _check_stats(servers: Iterable[object]) -> None:
    """Every server counts the seeded users right, and says HIT or MISS."""
    expected = {
        "users": STATS_USERS,
        "domains": {
            f"domain{d}.example": len(range(d, STATS_USERS, STATS_DOMAINS))
            for d in range(STATS_DOMAINS)
        },
    }
    for server in servers:
        answer = httpx.get(
            server.url + "/stats/users",  # type: ignore[attr-defined]
            timeout=10.0,
            trust_env=False,
        )
        if answer.status_code != 200 or answer.json() != expected:
            raise ProductionBenchError(
                f"/stats/users answered {answer.status_code} "
                f"{answer.text[:200]!r}, not the {STATS_USERS:,} users seeded"
            )
        if answer.headers.get("x-cache") not in ("HIT", "MISS"):
            raise ProductionBenchError("/stats/users sent no X-Cache header")


@contextlib.contextmanager
def _stack(ctx: Context, folder: Path, secret: str) -> Iterator[dict[str, object]]:
    """PostgreSQL with a database per server whose connections are counted,
    the app servers, and two nginx (deploy/nginx.conf, and the same without
    its proxy cache) in front of the pooled one."""
    from coursekit.services.nginx import nginx
    from coursekit.services.postgres import postgres
    from coursekit.services.redis import redis

    _require_fast_parsers()
    with contextlib.ExitStack() as stack:
        db = stack.enter_context(postgres(max_connections=PG_MAX_CONNECTIONS))
        ctx.log(f"  PostgreSQL {db.version()} on port {db.port}")
        cache = stack.enter_context(redis())
        ctx.log(f"  Redis {cache.version()} on port {cache.port}")
        common = {"SECRET_KEY": secret, "CACHE_TTL_SECONDS": "60"}

        def url(database: str) -> str:
            db.query(f"CREATE DATABASE {database}")
            return db.url("psycopg", database=database)

        plans = {
            "sqlite": (APP, f"sqlite:///{folder / 'bench.db'}", 1, "uvicorn"),
            "pooled": (APP, url("pooled"), 1, "uvicorn"),
            "nullpool": (NULLPOOL_APP, url("nullpool"), 1, "uvicorn"),
            "uvicorn2": (APP, url("workers"), WORKERS, "uvicorn"),
            "gunicorn2": (APP, db.url("psycopg", database="workers"), WORKERS, "g"),
            "cache_local": (CACHE_APP, url("stats_local"), WORKERS, "uvicorn"),
            "cache_redis": (CACHE_APP, url("stats_redis"), WORKERS, "uvicorn"),
        }
        for name in ("cache_local", "cache_redis"):
            _seed_stats(plans[name][1])
        extra = {
            # Empty counts as unset (course_app's settings): no Redis, even
            # if this shell has a REDIS_URL.
            "cache_local": {"REDIS_URL": "", "CACHE_TTL_SECONDS": f"{STATS_TTL:g}"},
            "cache_redis": {
                "REDIS_URL": cache.url,
                "CACHE_TTL_SECONDS": f"{STATS_TTL:g}",
            },
        }
        servers: dict[str, object] = {"db": db}
        urls: dict[str, str] = {}
        # Started at once: each takes seconds to import the app.
        with ThreadPoolExecutor(len(plans)) as pool:
            futures = {}
            for name, (target, database_url, workers, kind) in plans.items():
                env = {**common, "DATABASE_URL": database_url, **extra.get(name, {})}
                serve = _serve_uvicorn if kind == "uvicorn" else _serve_gunicorn
                futures[name] = pool.submit(serve, ctx, name, target, env, workers)
                urls[name] = database_url
            for future in futures.values():  # every one started is stopped
                with contextlib.suppress(Exception):
                    stack.callback(future.result().stop)  # type: ignore[attr-defined]
            for name, future in futures.items():
                servers[name] = future.result()  # raises if it did not start
        servers["urls"] = urls
        servers["redis"] = cache

        template = NGINX_CONF.read_text(encoding="utf-8")
        uncached = template.replace(PROXY_CACHE_ON, PROXY_CACHE_OFF)
        if template.count(PROXY_CACHE_ON) != 1:
            raise ProductionBenchError(
                f"{NGINX_CONF.relative_to(ROOT)} does not say `{PROXY_CACHE_ON}` "
                "exactly once; the no-cache side is that config without it"
            )
        upstream = servers["pooled"].url  # type: ignore[attr-defined]
        for name, config in (("nginx", template), ("nginx_nocache", uncached)):
            proxy = stack.enter_context(nginx(config, upstream=upstream))
            ctx.log(f"  {name}: port {proxy.port}, in front of {upstream}")
            servers[name] = proxy
        yield servers


def _nginx_log(proxy: object, marker: str) -> Callable[[], int]:
    """A count of the access log's lines for ``GET /catalogue`` holding
    ``marker`` (``cache=HIT``) or, with ``marker`` empty, all of them."""

    def count() -> int:
        log = proxy.access_log()  # type: ignore[attr-defined]
        return sum(
            1
            for line in log.splitlines()
            if '"GET /catalogue ' in line and marker in line
        )

    return count


def _check_catalogue(direct: object, cached: object, uncached: object) -> None:
    """The catalogue through either nginx is the app's, byte for byte; one
    is served from the cache after the first request, the other never."""
    headers = {"Accept-Encoding": "gzip"}
    with httpx.Client(timeout=10.0, trust_env=False) as client:
        expected = client.get(direct.url + "/catalogue").content  # type: ignore[attr-defined]
        for proxy, wanted in ((cached, "HIT"), (uncached, None)):
            for _ in range(2):
                answer = client.get(proxy.url + "/catalogue", headers=headers)  # type: ignore[attr-defined]
            status = answer.headers.get("x-cache-status")
            if (
                answer.status_code != 200
                or answer.content != expected
                or status != wanted
                or answer.headers.get("content-encoding") != "gzip"
            ):
                raise ProductionBenchError(
                    f"/catalogue through nginx answered {answer.status_code}, "
                    f"X-Cache-Status {status!r} (expected {wanted!r}), "
                    f"content-encoding {answer.headers.get('content-encoding')!r}, "
                    f"{len(answer.content):,} B against the app's {len(expected):,} B"
                )


def run(ctx: Context) -> Iterable[Row]:
    seconds = QUICK_DURATION if ctx.quick else DURATION
    rows: list[Row] = []

    def row(what: str, sample: Sample, note: str = "") -> None:
        rows.append(Row(SECTION, what, sample, None, note))

    secret = secrets.token_urlsafe(32)
    with (
        tempfile.TemporaryDirectory(prefix="bench-production-") as folder,
        _stack(ctx, Path(folder), secret) as servers,
    ):
        db = servers["db"]
        # Every database gets its users through the API; the servers that
        # share a database (the two with workers, the pooled one and the
        # nginx in front of it) must answer for them too.
        ctx.log(f"  signing up {SEED_USERS} users, copying them to the others")
        users = _sign_up(servers["pooled"], SEED_USERS)
        urls = servers["urls"]
        assert isinstance(urls, dict)
        _copy_users(
            urls["pooled"], [urls[n] for n in ("sqlite", "nullpool", "uvicorn2")]
        )
        user = users[len(users) // 2]
        names = ("sqlite", "pooled", "nullpool", "uvicorn2", "gunicorn2", "nginx")
        for name in names:
            _check_user(servers[name], name, user)
        target = dict.fromkeys(names, user)

        def side(label: str, name: str, *, sessions: str = "") -> _Side:
            counters = {"connections": _sessions(db, sessions)} if sessions else {}
            return _Side(
                label, servers[name], f"/users/{target[name]['id']}", counters=counters
            )

        # -- 1. PostgreSQL against SQLite ---------------------------------
        ctx.log("pair: SQLite / PostgreSQL, GET /users/{id}")
        sqlite = side("SQLite", "sqlite")
        pg = side("PostgreSQL", "pooled")
        _alternate(ctx, sqlite, pg, seconds)
        row("GET /users/{id}, SQLite file", Sample(sqlite.rps, "req/s"))
        row("GET /users/{id}, PostgreSQL", Sample(pg.rps, "req/s"))
        row(
            "PostgreSQL / SQLite, req/s",
            ratios(pg.rps, sqlite.rps),
            note="one worker each, course_app's pool; the same row every time",
        )

        # -- 2. a pool against a connection per request ---------------------
        ctx.log("pair: pool / NullPool on PostgreSQL, GET /users/{id}")
        pooled = side("pool", "pooled", sessions="pooled")
        null = side("NullPool", "nullpool", sessions="nullpool")
        _alternate(ctx, pooled, null, seconds)
        null_opened = null.counted["connections"]
        for opened, answered in zip(null_opened, null.requests, strict=True):
            if opened < answered:
                raise ProductionBenchError(
                    f"NullPool: {opened} connections opened for {answered} "
                    "requests; a connection per request opens at least one each, "
                    "so the count (or the app) is wrong"
                )
        row("GET /users/{id}, PostgreSQL, pool", Sample(pooled.rps, "req/s"))
        row("GET /users/{id}, PostgreSQL, NullPool", Sample(null.rps, "req/s"))
        row(
            "pool / NullPool, req/s",
            ratios(pooled.rps, null.rps),
            note="DB_POOL_SIZE 5 + overflow 10 against a connection per request",
        )
        row(
            "connections opened per run, pool",
            Sample(pooled.counted["connections"], ""),
            note="pg_stat_database.sessions; overflow connections close on return",
        )
        row(
            "connections opened per run, NullPool",
            Sample(null_opened, ""),
            note="at least one per request, checked",
        )
        row(
            "connections opened per request, NullPool",
            Sample(
                [o / r for o, r in zip(null_opened, null.requests, strict=True)], ""
            ),
            note="over 1: requests outside the measured window count too",
        )

        # -- 3. gunicorn against uvicorn --------------------------------------
        ctx.log(f"pair: uvicorn --workers {WORKERS} / gunicorn, GET /users/{{id}}")
        uvicorn2 = side(f"uvicorn --workers {WORKERS}", "uvicorn2")
        gunicorn2 = side(f"gunicorn -k UvicornWorker -w {WORKERS}", "gunicorn2")
        _alternate(ctx, uvicorn2, gunicorn2, seconds)
        row(
            f"GET /users/{{id}}, uvicorn --workers {WORKERS}",
            Sample(uvicorn2.rps, "req/s"),
        )
        row(
            f"GET /users/{{id}}, gunicorn -k UvicornWorker -w {WORKERS}",
            Sample(gunicorn2.rps, "req/s"),
            note=_gunicorn_config_note(),
        )
        row(
            "gunicorn / uvicorn, req/s",
            ratios(gunicorn2.rps, uvicorn2.rps),
            note="the same uvicorn server underneath: about 1.0x",
        )

        # -- 4. nginx in front of uvicorn -------------------------------------
        ctx.log("pair: uvicorn alone / nginx in front, GET /users/{id}")
        alone = side("uvicorn alone", "pooled")
        proxied = side("nginx -> uvicorn", "nginx")
        proxied.app = servers["pooled"]
        _alternate(ctx, alone, proxied, seconds)
        row("GET /users/{id}, uvicorn alone", Sample(alone.rps, "req/s"))
        row("GET /users/{id}, nginx in front", Sample(proxied.rps, "req/s"))
        row(
            "nginx in front / uvicorn alone, req/s",
            ratios(proxied.rps, alone.rps),
            note="deploy/nginx.conf (keepalive upstream, access log), the same "
            "uvicorn worker behind it",
        )

        # -- 5. the proxy cache for /catalogue --------------------------------
        ctx.log("pair: nginx without / with its proxy cache, GET /catalogue")
        _check_catalogue(servers["pooled"], servers["nginx"], servers["nginx_nocache"])
        gzip = {"Accept-Encoding": "gzip"}
        cached = _Side(
            "proxy cache",
            servers["nginx"],
            "/catalogue",
            gzip,
            counters={
                "hits": _nginx_log(servers["nginx"], "cache=HIT"),
                "logged": _nginx_log(servers["nginx"], ""),
            },
        )
        plain = _Side("no proxy cache", servers["nginx_nocache"], "/catalogue", gzip)
        cached.app = plain.app = servers["pooled"]
        _alternate(ctx, plain, cached, seconds)
        row("GET /catalogue via nginx, no proxy cache", Sample(plain.rps, "req/s"))
        row("GET /catalogue via nginx, proxy cache", Sample(cached.rps, "req/s"))
        row(
            "proxy cache / no proxy cache, req/s",
            ratios(cached.rps, plain.rps),
            note="69 KB of JSON, gzipped by nginx for the client on both sides",
        )
        hit_rate = [
            hits / logged if logged else 0.0
            for hits, logged in zip(
                cached.counted["hits"], cached.counted["logged"], strict=True
            )
        ]
        row(
            "proxy cache hit rate (access log)",
            Sample([100 * rate for rate in hit_rate], "%"),
            note="cache=HIT lines of the requests nginx logged during a run",
        )

        # -- 6. the Redis cache shared by the workers -------------------------
        ctx.log(f"pair: in-process / Redis cache, {WORKERS} workers, /stats/users")
        _check_stats([servers["cache_local"], servers["cache_redis"]])
        local = _Side(
            "in-process cache",
            servers["cache_local"],
            "/stats/users",
            counters={"queries": _transactions(db, "stats_local")},
        )
        shared = _Side(
            "Redis cache",
            servers["cache_redis"],
            "/stats/users",
            counters={"queries": _transactions(db, "stats_redis")},
        )
        _alternate(ctx, local, shared, seconds)
        probe = QUICK_PROBE_SECONDS if ctx.quick else PROBE_SECONDS
        probed: dict[str, list[tuple[int, int]]] = {"local": [], "shared": []}
        for round_ in range(ctx.repeats):
            order = ("local", "shared") if round_ % 2 == 0 else ("shared", "local")
            for key in order:
                server = servers["cache_local" if key == "local" else "cache_redis"]
                hits, misses = _probe_cache(server, probe)
                probed[key].append((hits, misses))
                ctx.log(f"  X-Cache probe, {key}: {hits} HIT, {misses} MISS")
                _settle(server)

        def hit_rate(key: str) -> list[float]:
            return [100 * h / (h + m) for h, m in probed[key]]

        def misses(key: str) -> list[float]:
            return [float(m) for _, m in probed[key]]

        what = f"GET /stats/users, {WORKERS} workers, CACHE_TTL_SECONDS={STATS_TTL:g}"
        row(f"{what}, in-process cache", Sample(local.rps, "req/s"))
        row(f"{what}, Redis cache", Sample(shared.rps, "req/s"))
        row(
            "Redis / in-process cache, req/s",
            ratios(shared.rps, local.rps),
            note="a hit costs a Redis round trip; a miss, the GROUP BY",
        )
        row(
            "queries per 1,000 requests, in-process cache",
            Sample(
                [
                    1000 * q / r
                    for q, r in zip(
                        local.counted["queries"], local.requests, strict=True
                    )
                ],
                "",
            ),
            note="pg_stat_database transactions during a run: one per miss",
        )
        row(
            "queries per 1,000 requests, Redis cache",
            Sample(
                [
                    1000 * q / r
                    for q, r in zip(
                        shared.counted["queries"], shared.requests, strict=True
                    )
                ],
                "",
            ),
        )
        row(
            "X-Cache hit rate, in-process cache",
            Sample(hit_rate("local"), "%"),
            note=f"{PROBE_CLIENTS} keep-alive clients for {probe:g} s",
        )
        row("X-Cache hit rate, Redis cache", Sample(hit_rate("shared"), "%"))
        row("X-Cache misses per probe, in-process cache", Sample(misses("local"), ""))
        row("X-Cache misses per probe, Redis cache", Sample(misses("shared"), ""))
    return rows


def _gunicorn_config_note() -> str:
    if GUNICORN_CONF.is_file():
        return f"-c {GUNICORN_CONF.relative_to(ROOT)}, bind and workers overridden"
    return "command-line options only (no deploy/gunicorn.conf.py)"
