"""course_app after chapter 06, unchanged, for ``bench.production`` to serve.

``uvicorn bench.apps_production.ch06:app`` (or gunicorn with
``uvicorn_worker.UvicornWorker``). Settings come from the environment:
``DATABASE_URL`` (SQLite or PostgreSQL), ``SECRET_KEY`` (one key for every
worker), the ``DB_POOL_*`` sizes (course_app's defaults unless set).
"""

from course_app.main import create_app

app = create_app(upto=6)
