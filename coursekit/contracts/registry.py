"""Where the checks of every chapter are declared and looked up.

A check is a plain function that takes an ``httpx.Client`` (its ``base_url``
points at the server under test) and raises when the server misbehaves, like
a pytest test taking a ``client`` fixture. ``@check`` registers it together
with the chapter (taken from the module's name, ``chNN_...``), the task it
belongs to, its points and a hint for the learner.

Where the learner writes a test instead of a route, the task's checks are
mutants (``@mutant``): each builds the chapter's reference app with one
bug, and earns its points when the learner's test function, which must pass
against the reference itself, fails against it (``learner_tests``).
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CHAPTERS",
    "EXERCISE_BASES",
    "Check",
    "UnknownChapter",
    "UnknownTask",
    "check",
    "checks_for",
    "mutant",
    "normalize_chapter",
    "tasks_for",
]

#: Chapter number -> (title, module holding its checks).
CHAPTERS: dict[str, tuple[str, str]] = {
    "01": ("hello world", "ch01_hello"),
    "02": ("CRUD: users", "ch02_crud"),
    "03": ("async", "ch03_async"),
    "04": ("dependency injection", "ch04_dependencies"),
    "05": ("OAuth2 + JWT", "ch05_auth"),
    "06": ("optimization", "ch06_optimization"),
    "07": ("production", "ch07_production"),
    "08": ("around every request", "ch08_requests"),
    "09": ("live updates and streaming", "ch09_live"),
    "10": ("files and permissions", "ch10_files"),
    "11": ("pages and cookies", "ch11_pages"),
}

#: The reference chapter each chapter's exercise builds on: its notebook
#: serves the learner's routes in front of ``create_app(upto=N)`` (0: none).
#: A graded submission sees only those chapters of ``course_app``.
EXERCISE_BASES: dict[str, int] = {
    "01": 0,
    "02": 0,
    "03": 2,
    "04": 1,
    "05": 4,
    "06": 5,
    "07": 6,
    "08": 7,
    "09": 8,
    "10": 9,
    "11": 10,
}

CheckFunc = Callable[..., Any]

_MODULE_RE = re.compile(r"(?:^|\.)ch(\d\d)_\w+$")
_registered: dict[str, list[Check]] = {}


class UnknownChapter(ValueError):
    """No chapter has that number."""


class UnknownTask(ValueError):
    """The chapter has no task of that name."""


@dataclass(frozen=True)
class Check:
    """One black-box HTTP check of a chapter's contract."""

    chapter: str
    task: str
    name: str
    points: int
    hint: str
    func: CheckFunc
    #: "http": ``func(client)`` checks a server. "mutant": ``func()`` builds
    #: the reference with a bug that ``test_function`` must catch.
    kind: str = "http"
    #: The notebook's test function a mutant is for.
    test_function: str = ""
    #: What a mutant's bug is, as the learner reads it when a test misses it.
    bug: str = ""

    @property
    def id(self) -> str:
        """A stable identifier such as ``ch02-create_user-duplicate_email_409``."""
        return f"ch{self.chapter}-{self.task}-{self.name}"

    @property
    def needs_secret_key(self) -> bool:
        """True when the check asks for the server's signing key."""
        return "secret_key" in inspect.signature(self.func).parameters

    @property
    def needs_files(self) -> bool:
        """True when the check also reads what the app wrote (``stored``)."""
        return "files" in inspect.signature(self.func).parameters

    @property
    def needs_redis(self) -> bool:
        """True when the check also talks to the Redis the app uses (``redis_url``)."""
        return "redis_url" in inspect.signature(self.func).parameters

    @property
    def needs_websocket(self) -> bool:
        """True when the check opens WebSocket connections (``websocket``)."""
        return "websocket" in inspect.signature(self.func).parameters

    @property
    def is_mutant(self) -> bool:
        """True for a mutant, graded by running the learner's own test."""
        return self.kind == "mutant"


def check(*, task: str, points: int, hint: str) -> Callable[[CheckFunc], CheckFunc]:
    """Register the decorated function as a check of its module's chapter.

    The function takes ``client: httpx.Client`` and, when it needs the
    server's signing key, ``secret_key: str | None``. It passes by returning
    and fails by raising ``CheckFailed`` (see ``coursekit.contracts.expect``).
    """
    if not 1 <= points <= 3:
        raise ValueError(f"points must be 1..3, not {points}")

    def register(func: CheckFunc) -> CheckFunc:
        chapter = _chapter_of(func)
        _add(chapter, Check(chapter, task, func.__name__, points, hint, func))
        return func

    return register


def mutant(
    *, task: str, test: str, bug: str, hint: str, points: int = 1
) -> Callable[[CheckFunc], CheckFunc]:
    """Register the decorated function as a mutant of its module's chapter.

    The function takes nothing and returns an ASGI app: the chapter's
    reference with the bug ``bug`` (a phrase: "``item_id`` accepts any
    text"). The learner's function ``test`` earns ``points`` when it fails
    against that app (and passes against the reference).
    """
    if not 1 <= points <= 3:
        raise ValueError(f"points must be 1..3, not {points}")

    def register(func: CheckFunc) -> CheckFunc:
        chapter = _chapter_of(func)
        new = Check(
            chapter, task, func.__name__, points, hint, func, "mutant", test, bug
        )
        _add(chapter, new)
        return func

    return register


def _chapter_of(func: CheckFunc) -> str:
    match = _MODULE_RE.search(func.__module__)
    if match is None or match.group(1) not in CHAPTERS:
        raise ValueError(f"{func.__module__} is not a chNN_ chapter module")
    return match.group(1)


def _add(chapter: str, new: Check) -> None:
    checks = _registered.setdefault(chapter, [])
    # A reloaded module registers its checks again: replace, don't double.
    checks[:] = [c for c in checks if c.name != new.name]
    checks.append(new)


def normalize_chapter(chapter: str | int) -> str:
    """Turn ``2``, ``"2"``, ``"02"`` or ``"ch02"`` into ``"02"``.

    Raises:
        UnknownChapter: there is no such chapter.
    """
    text = str(chapter).strip().lower().removeprefix("ch")
    key = text.zfill(2) if text.isdigit() else text
    if key not in CHAPTERS:
        known = ", ".join(CHAPTERS)
        raise UnknownChapter(f"unknown chapter {chapter!r} (known: {known})")
    return key


def _load(chapter: str) -> list[Check]:
    importlib.import_module(f"{__package__}.{CHAPTERS[chapter][1]}")
    return _registered.get(chapter, [])


def tasks_for(chapter: str | int) -> list[str]:
    """The chapter's task names, in the order their first check was declared."""
    return list(dict.fromkeys(c.task for c in _load(normalize_chapter(chapter))))


def checks_for(chapter: str | int, task: str | None = None) -> list[Check]:
    """The chapter's checks in declaration order, optionally of one task only.

    Raises:
        UnknownChapter: there is no such chapter.
        UnknownTask: the chapter has no task of that name.
    """
    key = normalize_chapter(chapter)
    checks = list(_load(key))
    if task is None:
        return checks
    selected = [c for c in checks if c.task == task]
    if not selected:
        known = ", ".join(tasks_for(key))
        raise UnknownTask(f"chapter {key} has no task {task!r} (known: {known})")
    return selected
