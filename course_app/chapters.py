"""The manifest of the reference system: which files of `course_app` each chapter adds.

While an exercise is graded, the grader's sandbox shows the submission only
the reference chapters the exercise builds on (exercise 05 builds on
`create_app(upto=4)`, so it sees chapters 1 to 4 and nothing of chapter 5),
so that nobody scores a chapter by importing the reference's answer. This
manifest is how the sandbox knows which files those are: `files_upto(4)`.

It holds because the package is laid out by chapter: each module belongs to
the first chapter that needs it, and no module imports one of a later
chapter (only `create_app`, in `main`, imports a chapter's modules, inside
that chapter's `if upto >= N` block). Besides the modules, chapter 11 adds the
pages' templates (`templates/*.html`) and their stylesheet (`static/`),
read from beside the modules at run time; no other file of the package is
data. `tests/course_app/test_chapters.py` checks that every module and
data file is listed once, and builds each chapter from exactly its files.
"""

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Final

#: The import name of the package the paths are relative to: `course_app`,
#: or the learner's own package name in a copy `coursekit.catch_up` made.
PACKAGE: Final = __name__.rpartition(".")[0]
#: Whether this is the reference itself rather than a learner's copy.
IS_REFERENCE: Final = PACKAGE == "course_app"

#: For each chapter, the files it adds, relative to the package's folder
#: (`/`-separated, as `Path` joins them on any system).
CHAPTER_FILES: Final[Mapping[int, tuple[str, ...]]] = MappingProxyType(
    {
        # The factory, the settings, the 422 handler, the first routes.
        1: (
            "__init__.py",
            "chapters.py",
            "config.py",
            "errors.py",
            "main.py",
            "routers/__init__.py",
            "routers/root.py",
        ),
        # Users in memory, their API models, their hashed passwords.
        2: (
            "passwords.py",
            "repositories.py",
            "schemas.py",
            "routers/users.py",
        ),
        # Waiting with async def and def.
        3: ("routers/io.py",),
        # The database, the dependencies, users in SQL, items and health.
        4: (
            "db.py",
            "deps.py",
            "models.py",
            "pagination.py",
            "sql_repository.py",
            "routers/health.py",
            "routers/items.py",
        ),
        # JWTs and login (lesson 05a), the current user and /users/me (05b).
        5: (
            "tokens.py",
            "routers/auth.py",
            "current_user.py",
            "routers/me.py",
        ),
        # The TTL cache, the catalogue, cached statistics.
        6: (
            "cache.py",
            "routers/catalogue.py",
            "routers/stats.py",
        ),
        # Redis shared by the workers: the cache, the login limiter.
        7: (
            "redis_client.py",
            "shared_cache.py",
            "rate_limit.py",
            "unavailable.py",
        ),
        # A request id and timing on every response, CORS, welcome e-mails.
        8: ("request_id.py", "mail.py", "welcome.py"),
        # Sign-ups live over a WebSocket and SSE; users as CSV, streamed.
        9: ("feed.py", "routers/live.py"),
        # A picture per user: files uploaded and served back; 403.
        10: ("avatars.py", "routers/avatars.py"),
        # Pages for people: templates, a stylesheet, a session cookie.
        11: (
            "sessions.py",
            "routers/pages.py",
            "templates/base.html",
            "templates/catalogue.html",
            "templates/login.html",
            "static/site.css",
        ),
    }
)


#: Lessons that teach a chapter in parts, each but the last: the chapter and
#: the files of it the package holds after that lesson (its earlier parts'
#: and its own). `coursekit.catch_up("04a")` writes chapters 1 to 3 and
#: these; the last part (lesson 04c) ends with the whole chapter.
LESSON_PARTS: Final[Mapping[str, tuple[int, tuple[str, ...]]]] = MappingProxyType(
    {
        "04a": (4, ("pagination.py", "routers/items.py")),
        "04b": (
            4,
            (
                "pagination.py",
                "routers/items.py",
                "db.py",
                "models.py",
                "sql_repository.py",
            ),
        ),
        "05a": (5, ("tokens.py", "routers/auth.py")),
        "08a": (8, ("request_id.py",)),
    }
)


def files_upto(upto: int) -> tuple[str, ...]:
    """The files of the reference as it stands after chapter `upto`.

    That is the files of chapters 1 to `upto`, chapter by chapter, relative
    to the package's folder: what a sandbox must show for
    `create_app(upto=upto)` to work, and all it may show of the reference
    to an exercise that builds on chapter `upto`. `upto=0` (an exercise that
    builds on nothing) gives no files at all.

    Raises:
        ValueError: `upto` is not 0 or a chapter of `CHAPTER_FILES`.
    """
    if isinstance(upto, bool) or not isinstance(upto, int):
        raise ValueError(f"upto must be a chapter number, an int; got {upto!r}")
    if not 0 <= upto <= max(CHAPTER_FILES):
        raise ValueError(f"upto must be from 0 to {max(CHAPTER_FILES)}; got {upto}")
    return tuple(
        path
        for chapter in sorted(CHAPTER_FILES)
        if chapter <= upto
        for path in CHAPTER_FILES[chapter]
    )


def chapter_of(module: str) -> int | None:
    """The chapter that adds the module named `module` (`"course_app.deps"`).

    None if the name is not a module of the manifest. `create_app` uses it
    to tell a chapter missing from a sandbox from any other import error.
    """
    if module != PACKAGE and not module.startswith(PACKAGE + "."):
        return None
    parts = module.split(".")[1:]
    candidates = {"/".join([*parts, "__init__.py"])}
    if parts:
        candidates.add("/".join(parts) + ".py")
    for chapter, paths in CHAPTER_FILES.items():
        if candidates.intersection(paths):
            return chapter
    return None


def available_upto(package_dir: Path | None = None) -> int:
    """The last chapter whose files, and those of every chapter before it, exist.

    `package_dir` defaults to the folder this module was imported from. In
    the course's own copy that is the last chapter; in an exercise's
    sandbox, the chapter the exercise builds on.
    """
    folder = Path(__file__).parent if package_dir is None else package_dir
    available = 0
    for chapter in sorted(CHAPTER_FILES):
        if not all((folder / path).is_file() for path in CHAPTER_FILES[chapter]):
            break
        available = chapter
    return available
