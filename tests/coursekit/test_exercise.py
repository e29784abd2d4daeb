"""build_app(): exercise routers, alone or in front of the reference system."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.testclient import TestClient

from course_app.config import Settings
from coursekit.exercise import build_app


def greeting(text: str) -> APIRouter:
    router = APIRouter()

    @router.get("/")
    def root() -> dict[str, str]:
        return {"message": text}

    return router


def test_routers_alone() -> None:
    with TestClient(build_app(greeting("mine"))) as client:
        assert client.get("/").json() == {"message": "mine"}
        assert client.get("/items/1").status_code == 404


def test_a_rebuilt_app_serves_the_edited_router_not_a_stale_copy() -> None:
    build_app(greeting("first version"))
    with TestClient(build_app(greeting("edited"))) as client:
        assert client.get("/").json() == {"message": "edited"}


def test_in_front_of_the_reference_yours_answer_and_the_rest_still_works() -> None:
    settings = Settings(database_url="sqlite://")
    app = build_app(greeting("mine"), upto=4, settings=settings)
    with TestClient(app) as client:
        assert client.get("/").json() == {"message": "mine"}
        assert client.get("/items/3").json() == {"item_id": 3, "q": None}
        assert client.get("/health").json() == {"status": "ok", "database": "ok"}
        assert client.get("/openapi.json").status_code == 200
