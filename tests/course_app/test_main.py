import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import inspect
from starlette.middleware.gzip import GZipMiddleware

import course_app
from course_app import main
from course_app.config import InsecureSecretKeyWarning, Settings
from course_app.main import create_app

ROUTES = {
    1: {("GET", "/"), ("GET", "/items/{item_id}")},
    2: {
        ("POST", "/users/"),
        ("GET", "/users/"),
        ("GET", "/users/{user_id}"),
        ("PATCH", "/users/{user_id}"),
        ("DELETE", "/users/{user_id}"),
    },
    3: {("GET", "/io/async"), ("GET", "/io/sync"), ("GET", "/io/fanout")},
    4: {("GET", "/items/"), ("GET", "/health")},
    5: {("POST", "/token"), ("GET", "/users/me")},
    6: {("GET", "/catalogue"), ("GET", "/stats/users")},
    7: set(),  # Redis behind the routes of chapters 5 and 6
    8: set(),  # middleware, CORS and a background e-mail
    # and the WebSocket at /ws/signups, which OpenAPI does not describe
    9: {("GET", "/events/signups"), ("GET", "/exports/users.csv")},
    10: {
        ("PUT", "/users/{user_id}/avatar"),
        ("GET", "/users/{user_id}/avatar"),
        ("DELETE", "/users/{user_id}/avatar"),
    },
    # and the mount at /static, which OpenAPI does not describe
    11: {
        ("GET", "/pages/catalogue"),
        ("GET", "/pages/login"),
        ("POST", "/pages/login"),
        ("POST", "/pages/logout"),
    },
}


def _operations(app: FastAPI) -> set[tuple[str, str]]:
    paths = app.openapi()["paths"]
    return {(method.upper(), path) for path in paths for method in paths[path]}


@pytest.mark.parametrize("upto", range(1, main.LAST_CHAPTER + 1))
def test_each_chapter_adds_exactly_its_routes(settings: Settings, upto: int) -> None:
    expected = set().union(*(ROUTES[chapter] for chapter in range(1, upto + 1)))
    assert _operations(create_app(upto, settings=settings)) == expected


@pytest.mark.parametrize("upto", [0, main.LAST_CHAPTER + 1, -1, True, 2.0, "3"])
def test_upto_must_be_a_chapter(upto: object) -> None:
    with pytest.raises(ValueError, match="upto must be a chapter"):
        create_app(upto)  # type: ignore[arg-type]


def test_by_default_the_whole_reference(settings: Settings) -> None:
    assert create_app(settings=settings).state.chapter == main.LAST_CHAPTER == 11


def test_create_app_is_exported_by_the_package() -> None:
    assert course_app.create_app is create_app


def test_gzip_only_from_chapter_6(settings: Settings) -> None:
    def gzip(app: FastAPI) -> list[dict[str, object]]:
        return [m.kwargs for m in app.user_middleware if m.cls is GZipMiddleware]

    assert gzip(create_app(5, settings=settings)) == []
    assert gzip(create_app(6, settings=settings)) == [
        {"minimum_size": 1000, "compresslevel": 6}
    ]


@pytest.mark.parametrize("upto", [1, 2, 3, 4])
def test_chapters_without_tokens_need_no_secret_key(upto: int, db_url: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        app = create_app(upto, settings=Settings(database_url=db_url))
    assert app.state.settings.secret_key is None


def test_tokens_without_secret_key_warn_and_still_work(
    db_url: str, fast_hashing: None
) -> None:
    with pytest.warns(InsecureSecretKeyWarning, match="SECRET_KEY"):
        app = create_app(5, settings=Settings(database_url=db_url))
    with TestClient(app) as client:
        client.post(
            "/users/",
            json={"name": "Ada", "email": "ada@example.com", "password": "p" * 8},
        )
        token = client.post(
            "/token", data={"username": "ada@example.com", "password": "p" * 8}
        ).json()["access_token"]
        me = client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200


def test_chapters_2_and_3_need_no_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'never.db'}"
    with TestClient(create_app(3, settings=Settings(database_url=url))) as client:
        assert client.get("/users/").json() == []
    assert not (tmp_path / "never.db").exists()


def test_lifespan_creates_the_tables(settings: Settings, tmp_path: Path) -> None:
    app = create_app(4, settings=settings)
    assert not (tmp_path / "app.db").exists()
    with TestClient(app):
        # Chapter 10's table too once this process has built chapter 10: its
        # model registers with the one metadata when first imported.
        tables = inspect(app.state.engine).get_table_names()
        assert tables in (["users"], ["avatars", "users"])


def test_lifespan_disposes_the_engine(settings: Settings) -> None:
    app = create_app(4, settings=settings)
    with TestClient(app) as client:
        client.get("/health")
        pool = app.state.engine.pool
        assert pool.checkedin() == 1
    # dispose() closes the pooled connections and swaps in a fresh pool.
    assert app.state.engine.pool is not pool
    assert pool.checkedin() == 0


def test_docs(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
    schema = client.get("/openapi.json").json()
    assert schema["info"]["title"] == "Course App"
    assert "chapter 6" in schema["info"]["description"]
    assert [tag["name"] for tag in schema["tags"]] == [
        "basics",
        "users",
        "io",
        "items",
        "health",
        "auth",
        "catalogue",
        "stats",
    ]


def test_openapi_never_shows_a_password_in_a_response(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert "password" not in schemas["UserPublic"]["properties"]
    assert "hashed_password" not in str(schemas)


def test_module_app_is_built_on_first_use(
    monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("SECRET_KEY", "e" * 32)
    monkeypatch.delitem(vars(main), "app", raising=False)
    try:
        app = main.app
        assert isinstance(app, FastAPI)
        assert main.app is app
        assert app.state.chapter == main.LAST_CHAPTER
        assert app.state.settings.database_url == db_url
    finally:
        vars(main).pop("app", None)


def test_unknown_module_attribute() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = main.no_such_thing


def test_routes_serve(make_client: Callable[..., TestClient]) -> None:
    client = make_client(1)
    assert client.get("/").json() == {"message": "Hello, FastAPI"}
    assert client.get("/users/").status_code == 404


def test_a_missing_chapter_is_an_error_of_its_own(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    # As in an exercise's sandbox that holds chapters 1 to 4 only.
    monkeypatch.setitem(sys.modules, "course_app.routers.auth", None)
    with pytest.raises(main.ChapterUnavailableError) as info:
        create_app(6, settings=settings)
    error = info.value
    assert isinstance(error, ImportError)
    assert (error.chapter, error.upto, error.name) == (5, 6, "course_app.routers.auth")
    assert str(error).startswith(
        "create_app(upto=6): chapter 5 of the reference system is not available "
        "here (course_app.routers.auth is missing). While an exercise is graded, "
        "only the chapters of the reference it builds on are available"
    )
    assert error.__suppress_context__  # not shown as a ModuleNotFoundError
    assert "ChapterUnavailableError" in main.__all__
    create_app(4, settings=settings)  # the chapters that are here still build


class _Broken:
    """A finder that fails to import course_app.routers.stats with `error`."""

    def __init__(self, error: ImportError) -> None:
        self.error = error

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "course_app.routers.stats":
            raise self.error


@pytest.mark.parametrize(
    "error",
    [
        ImportError("cannot import name 'x' from 'y'", name="y"),
        ModuleNotFoundError("No module named 'sqlalchemy.x'", name="sqlalchemy.x"),
        ModuleNotFoundError("not in the manifest", name="course_app.not_a_module"),
    ],
    ids=["import-error", "library", "not-in-manifest"],
)
def test_other_import_errors_are_not_a_missing_chapter(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, error: ImportError
) -> None:
    monkeypatch.delitem(sys.modules, "course_app.routers.stats", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_Broken(error), *sys.meta_path])
    with pytest.raises(ImportError) as info:
        create_app(6, settings=settings)
    assert info.value is error
