"""Build the reference from a copy that holds only some chapters' files.

`test_chapters.py` runs this file in a fresh, isolated interpreter
(`python -I`), as the grader's sandbox runs an exercise: the copy of
`course_app` in ROOT is the only one it can import. It reads a JSON request
on stdin, `{"root", "upto", "db_dir", "imports", "check"}`, and prints one
JSON report on stdout: which `course_app` it imported, what the lifespan
did, the results of chapter `upto`'s checks against `create_app(upto)`
served live (None where `check` is false: a chapter without a contract),
what `create_app(upto + 1)` raised, and the outcome of each import statement
in `imports`.
"""

import json
import sys
import traceback
from pathlib import Path
from typing import Any

SECRET_KEY = "chapter-sandbox-signing-key-0123456789abcdef"


def hide_installed_course_app() -> None:
    """Make the editable install of the course unable to find `course_app`.

    Its finder (`__editable___*_finder`, on `sys.meta_path` after the path
    finder) maps `course_app` to the repository, and would find there any
    module of the package that the copy lacks. `coursekit` stays installed.
    """
    for name, module in list(sys.modules.items()):
        mapping = getattr(module, "MAPPING", None)
        if name.startswith("__editable__") and isinstance(mapping, dict):
            mapping.pop("course_app", None)


def attempt(statement: str) -> str:
    """`"ok"`, or the exception the import statement raised, as `Type: message`."""
    try:
        exec(statement, {})
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def build(
    root: str,
    upto: int,
    db_dir: str,
    imports: list[str],
    *,
    check: bool = True,
    redis_url: str | None = None,
) -> dict[str, Any]:
    hide_installed_course_app()
    sys.path.insert(0, root)

    from fastapi.testclient import TestClient
    from sqlalchemy import inspect

    import course_app
    from course_app.config import Settings
    from course_app.main import LAST_CHAPTER, ChapterUnavailableError, create_app
    from coursekit.contracts.ch08_requests import ALLOWED_ORIGIN
    from coursekit.contracts.runner import run_checks
    from coursekit.contracts.stored import StoredFiles
    from coursekit.serve import serve

    report: dict[str, Any] = {"course_app": course_app.__file__}
    settings = Settings(
        database_url=f"sqlite:///{Path(db_dir) / 'app.db'}",
        secret_key=SECRET_KEY,
        redis_url=redis_url,
        # Chapter 05's checks log in as one user up to six times a minute.
        login_attempts_per_minute=10,
        # Chapter 08's checks: the page origin they call from, and e-mails
        # in db_dir (where they look), delivered as slowly as the exercise's.
        cors_origins=[ALLOWED_ORIGIN],
        outbox_dir=Path(db_dir) / "outbox",
        mail_delay_seconds=2.0,
    )
    app = create_app(upto, settings=settings)
    with TestClient(app) as client:
        engine = app.state.engine
        report["lifespan"] = {
            "root": client.get("/").status_code,
            "tables": None if engine is None else inspect(engine).get_table_names(),
        }

    server = serve(app, name="chapter-sandbox", show=False)
    try:
        # The database is in db_dir: the checks that read it look there.
        files = StoredFiles([Path(db_dir)])
        results = (
            run_checks(
                server.url,
                upto,
                secret_key=SECRET_KEY,
                files=files,
                redis_url=redis_url,
            )
            if check
            else None
        )
    finally:
        server.stop()
    report["checks"] = (
        None
        if results is None
        else [
            {"id": r.id, "status": r.status, "message": r.message, "got": r.got}
            for r in results
        ]
    )

    report["next"] = None
    try:
        if upto < LAST_CHAPTER:
            create_app(upto + 1, settings=settings)
    except ChapterUnavailableError as exc:
        report["next"] = {
            "error": type(exc).__name__,
            "is_import_error": isinstance(exc, ImportError),
            "chapter": exc.chapter,
            "available": exc.available,
            "message": str(exc),
        }
    except Exception as exc:
        report["next"] = {"error": type(exc).__name__, "message": str(exc)}

    report["imports"] = {statement: attempt(statement) for statement in imports}
    # Every course_app module loaded (by the build, the checks and the
    # imports) must come from the copy.
    copy = Path(root).resolve()
    report["foreign"] = sorted(
        f"{name} from {module.__file__}"
        for name, module in list(sys.modules.items())
        if name.partition(".")[0] == "course_app"
        and getattr(module, "__file__", None)
        and not Path(module.__file__).resolve().is_relative_to(copy)
    )
    return report


def main() -> None:
    request = json.load(sys.stdin)
    try:
        report = build(
            request["root"],
            request["upto"],
            request["db_dir"],
            request["imports"],
            check=request.get("check", True),
            redis_url=request.get("redis_url"),
        )
    except BaseException:
        report = {"crashed": traceback.format_exc()}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
