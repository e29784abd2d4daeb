"""course_app after chapter 06 with no connection pool: a connection per request.

``uvicorn bench.apps_production.nullpool:app``: ``create_app(upto=6)`` from
the environment's settings, whose engine is then replaced, before the app
starts, by one made with SQLAlchemy's ``NullPool``: every session opens a
new connection to the server and closes it when it is done. course_app has
no setting for this (``DB_POOL_SIZE`` is at least 1 and always means a
``QueuePool``), so the swap is done here, on ``app.state`` where create_app
keeps the engine and session factory that the lifespan, the routes'
sessions and ``/health`` all use. The other engine options (pre-ping, which
skips fresh connections, and SQLite's ``check_same_thread``) are course_app's.
"""

from sqlalchemy import create_engine, make_url
from sqlalchemy.pool import NullPool

from course_app.db import create_session_factory, engine_options
from course_app.main import create_app

#: The queue pool's options, which NullPool does not take.
_POOL_OPTIONS = ("pool_size", "max_overflow", "pool_timeout", "pool_recycle")

app = create_app(upto=6)
_settings = app.state.settings
_url = make_url(_settings.database_url)
_options = {
    name: value
    for name, value in engine_options(_url, _settings).items()
    if name not in _POOL_OPTIONS
}
_options["poolclass"] = NullPool
# The pooled engine create_app made has opened no connection yet.
app.state.engine.dispose()
app.state.engine = create_engine(_url, **_options)
app.state.session_factory = create_session_factory(app.state.engine)
