"""The container's health check: exit 0 if the app's ``/health`` answers 200.

Slim images have no curl; Python is there already. ``/health`` also checks
the database, so an app that cannot reach it reports unhealthy (503).
"""

import os
import sys
import urllib.error
import urllib.request

port = os.environ.get("PORT", "8000")
url = f"http://127.0.0.1:{port}/health"
try:
    with urllib.request.urlopen(url, timeout=3) as response:
        sys.exit(0 if response.status == 200 else 1)
except (urllib.error.URLError, OSError) as error:  # HTTPError (503) included
    print(f"{url}: {error}", file=sys.stderr)
    sys.exit(1)
