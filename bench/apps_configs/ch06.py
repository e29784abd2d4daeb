"""course_app as it stands after chapter 06, for ``bench.configs`` to serve.

``uvicorn bench.apps_configs.ch06:app``: the reference app itself, nothing
added. Its settings come from the environment, as in production:
``DATABASE_URL`` (a seeded SQLite file), ``SECRET_KEY`` (one key for every
worker) and ``CACHE_TTL_SECONDS`` (0 turns the ``/stats/users`` cache off).
"""

from course_app.main import create_app

app = create_app(upto=6)
