"""course_app after chapter 07, unchanged, for ``bench.production`` to serve.

``uvicorn bench.apps_production.ch07:app``: with ``REDIS_URL`` the statistics
cache lives in Redis, shared by every worker; without it each worker keeps
its own (chapter 06's in-process cache). Other settings as in ``ch06``.
"""

from course_app.main import create_app

app = create_app(upto=7)
