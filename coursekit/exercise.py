"""``build_app()``: the app of an exercise notebook, rebuilt from its routers.

In an exercise each task's cell makes a fresh ``APIRouter`` and the app is
rebuilt from all of them. Re-running an edited cell then replaces that
task's routes instead of adding a second copy behind the first (with plain
``@app.get`` the old copy keeps answering). ``upto=N`` puts the learner's
routes in front of the course's reference system after chapter N, so a
learner who is stuck in chapter N-1 can still do chapter N.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI

__all__ = ["build_app"]


def build_app(
    *routers: APIRouter, upto: int = 0, settings: Any = None, title: str = "My app"
) -> FastAPI:
    """An app serving ``routers`` in order, in front of the reference's routes.

    Args:
        routers: the exercise's routers; earlier ones match first.
        upto: 0 for the routers alone; N to serve them in front of
            ``course_app.create_app(upto=N)``: for a path and method that
            both have, yours answers (pick ``upto`` so that they rarely
            overlap: the docs page lists both).
        settings: ``course_app.config.Settings`` for the reference part.
        title: the title shown in ``/docs``.
    """
    if upto:
        from course_app.main import create_app

        app = create_app(upto, settings=settings)
        app.title = title
    else:
        app = FastAPI(title=title)
    # The reference's routes stay; yours go first, and the first route that
    # matches a request answers it.
    base_routes = list(app.router.routes)
    app.router.routes.clear()
    for router in routers:
        app.include_router(router)
    app.router.routes.extend(base_routes)
    return app
