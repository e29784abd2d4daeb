"""The reference FastAPI service the course builds, chapter by chapter.

`create_app(upto=N)` returns the system as it stands at the end of chapter N.
"""

from .main import create_app

__all__ = ["create_app"]
