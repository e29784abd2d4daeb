"""gunicorn's settings for the course app: ``gunicorn -c deploy/gunicorn.conf.py
course_app.main:app``.

gunicorn is the process manager: it starts the workers, restarts one that
dies or hangs, and stops them gracefully. Each worker is a uvicorn server
(the ``uvicorn-worker`` package; ``uvicorn.workers`` is deprecated) running
the app on its own event loop. Every setting can be changed from the
environment, so that one image runs anywhere.
"""

import os

# Listen on every interface inside a container (nginx reaches it over the
# container network); HOST=127.0.0.1 keeps it on loopback elsewhere.
bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"

# One worker per core the container may use is the usual start: each worker
# is a single-threaded event loop. Measure before raising it (lesson 06b:
# two workers gave ~1.9x one on two cores).
workers = int(os.environ.get("WORKERS", "2"))
worker_class = "uvicorn_worker.UvicornWorker"

# A worker that does not report for this long is killed and replaced.
timeout = int(os.environ.get("WORKER_TIMEOUT", "30"))
# On SIGTERM, workers finish the requests in flight for up to this long.
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "20"))
# Idle keep-alive connections stay open this long: longer than nginx keeps
# its idle upstream connections (keepalive_timeout 4s in deploy/nginx.conf),
# so the proxy, not the app, closes them and never sends a request on a
# connection being closed. (gunicorn's default, 2 s, is shorter than that.)
keepalive = int(os.environ.get("KEEPALIVE", "10"))

# Believe X-Forwarded-For and X-Forwarded-Proto only from the proxy: anyone
# else could claim any address. The default fits nginx on the same machine;
# deploy/compose.yaml fixes nginx's address and sets FORWARDED_ALLOW_IPS to it.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Logs to stdout/stderr, where containers collect them. No access log here:
# nginx writes one line per request already.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
