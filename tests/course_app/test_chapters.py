"""The manifest, and the reference built from each chapter's files alone.

The grader shows an exercise's sandbox only `files_upto(N)` of the
reference. So every module must be listed, in the chapter that first needs
it; no module may import one of a later chapter; and the files of chapters
1 to N must be enough for `create_app(upto=N)` to build, start and pass its
chapter's checks, while chapter N + 1's code is nowhere to be imported.
"""

import ast
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

import course_app
from course_app import chapters, main
from course_app.chapters import CHAPTER_FILES, available_upto, chapter_of, files_upto
from coursekit.services import ServiceMissing
from coursekit.services import redis as redis_service
from tests import system_packages

PACKAGE_DIR = Path(course_app.__file__).parent
REPOSITORY = PACKAGE_DIR.parent
SANDBOX_SCRIPT = Path(__file__).with_name("chapter_sandbox.py")
CHAPTERS = range(main.FIRST_CHAPTER, main.LAST_CHAPTER + 1)


CHAPTER_OF_FILE = {
    path: chapter for chapter, paths in CHAPTER_FILES.items() for path in paths
}


def module_name(path: str) -> str:
    """`routers/auth.py` -> `course_app.routers.auth`."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["course_app", *parts])


# The manifest


#: The package's data files: chapter 11's templates and stylesheet.
DATA_FILES = ("templates/*.html", "static/*.css")


def test_every_module_is_in_exactly_one_chapter() -> None:
    modules = {
        path.relative_to(PACKAGE_DIR).as_posix()
        for pattern in ("*.py", *DATA_FILES)
        for path in PACKAGE_DIR.rglob(pattern)
    }
    listed = Counter(path for paths in CHAPTER_FILES.values() for path in paths)
    assert [path for path, count in listed.items() if count > 1] == []
    assert sorted(modules - set(listed)) == [], "modules in no chapter"
    assert sorted(set(listed) - modules) == [], "listed files that do not exist"


def test_every_listed_file_exists() -> None:
    for path in files_upto(main.LAST_CHAPTER):
        assert (PACKAGE_DIR / path).is_file(), path


def test_the_manifest_has_the_chapters_of_create_app() -> None:
    assert list(CHAPTER_FILES) == list(CHAPTERS)
    assert all(CHAPTER_FILES[chapter] for chapter in CHAPTERS)


def test_files_upto_adds_one_chapter_at_a_time() -> None:
    assert files_upto(0) == ()
    for chapter in CHAPTERS:
        assert files_upto(chapter) == files_upto(chapter - 1) + CHAPTER_FILES[chapter]
    assert "routers/auth.py" not in files_upto(4)
    assert "routers/auth.py" in files_upto(5)
    assert "routers/me.py" in files_upto(5)


@pytest.mark.parametrize("upto", [-1, main.LAST_CHAPTER + 1, True, 2.0, "3", None])
def test_files_upto_needs_a_chapter(upto: Any) -> None:
    with pytest.raises(ValueError, match="upto must be"):
        files_upto(upto)


@pytest.mark.parametrize(
    ("module", "chapter"),
    [
        ("course_app", 1),
        ("course_app.main", 1),
        ("course_app.routers", 1),
        ("course_app.routers.users", 2),
        ("course_app.deps", 4),
        ("course_app.tokens", 5),
        ("course_app.routers.auth", 5),
        ("course_app.routers.me", 5),
        ("course_app.routers.stats", 6),
        ("course_app.security", None),
        ("course_app.routers.nothing", None),
        ("course_appx", None),
        ("jwt", None),
        ("", None),
    ],
)
def test_chapter_of(module: str, chapter: int | None) -> None:
    assert chapter_of(module) == chapter


def test_chapter_of_every_listed_module() -> None:
    for path, chapter in CHAPTER_OF_FILE.items():
        if path.endswith(".py"):
            assert chapter_of(module_name(path)) == chapter, path


def copy_chapters(upto: int, root: Path) -> Path:
    """Copy exactly `files_upto(upto)` into `root/course_app`; return `root`."""
    for path in files_upto(upto):
        target = root / "course_app" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PACKAGE_DIR / path, target)
    return root


def test_available_upto(tmp_path: Path) -> None:
    assert available_upto() == main.LAST_CHAPTER
    assert available_upto(tmp_path) == 0
    copy = copy_chapters(3, tmp_path / "three") / "course_app"
    assert available_upto(copy) == 3
    (copy / "schemas.py").unlink()  # chapter 2 broken: 3 does not count
    assert available_upto(copy) == 1


def _imported_modules(tree: ast.AST, package: str) -> Iterator[tuple[int, str]]:
    """(line, module) for every course_app module an AST imports, anywhere."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing package
                base = ".".join([*package.split(".")[: 1 - node.level], base])
            for alias in node.names:
                # `from course_app import deps` imports the module deps.
                submodule = f"{base}.{alias.name}"
                yield node.lineno, submodule if chapter_of(submodule) else base


@pytest.mark.parametrize(
    "path",
    [path for path in CHAPTER_OF_FILE if path.endswith(".py") and path != "main.py"],
)
def test_no_module_imports_a_later_chapter(path: str) -> None:
    # Anywhere in the module, functions included: a lazy import of a later
    # chapter would fail in a sandbox the first time that code runs.
    own = CHAPTER_OF_FILE[path]
    name = module_name(path)
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    tree = ast.parse((PACKAGE_DIR / path).read_text(), path)
    later = [
        f"line {line}: {module} (chapter {chapter_of(module)})"
        for line, module in _imported_modules(tree, package)
        if (chapter_of(module) or 0) > own
    ]
    assert later == [], f"{path} is chapter {own}"


def test_main_imports_later_chapters_only_inside_create_app() -> None:
    # main is chapter 1 and builds every chapter: its module level may
    # import chapter 1 only. Its lazy imports are exercised by building
    # each chapter from its files alone (the sandbox tests below).
    tree = ast.parse((PACKAGE_DIR / "main.py").read_text())
    top = ast.Module(
        body=[n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)],
        type_ignores=[],
    )
    assert [
        module
        for _, module in _imported_modules(top, "course_app")
        if (chapter_of(module) or 0) > 1
    ] == []


# Each chapter built from its own files, in a fresh interpreter


def _solution_imports() -> dict[int, list[str]]:
    """For each base chapter, the course_app imports of the exercises on it."""
    imports: dict[int, list[str]] = {}
    for notebook in sorted((REPOSITORY / "solutions").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        code = "\n".join(
            "".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"
        )
        bases = {int(n) for n in re.findall(r"\bupto=(\d+)", code)}
        assert len(bases) == 1, f"{notebook.name}: one base chapter, got {bases}"
        found = re.findall(r"^from course_app(?:\.\w+)* import .+$", code, re.M)
        if found:
            imports.setdefault(bases.pop(), []).extend(found)
    return imports


SOLUTION_IMPORTS = _solution_imports()

#: Chapter 5's code: none of it may be importable where chapter 4 is the last.
CHAPTER_5_CODE = [
    "import course_app.routers.auth",
    "from course_app.routers import auth",
    "from course_app.current_user import CurrentUserDep",
    "from course_app.deps import CurrentUserDep",
    "from course_app.deps import get_current_user",
    "from course_app.tokens import create_access_token",
    "from course_app.tokens import decode_access_token",
    "from course_app.security import create_access_token",
    "from course_app.passwords import create_access_token",
]


def _imports_for(upto: int) -> list[str]:
    later = [
        f"import {module_name(path)}"
        for chapter in CHAPTERS
        if chapter > upto
        for path in CHAPTER_FILES[chapter]
        if path.endswith(".py")
    ]
    return later + SOLUTION_IMPORTS.get(upto, []) + CHAPTER_5_CODE


#: The sandboxes' fixture runs an interpreter per chapter side by side: a
#: busy machine takes minutes, not the default two, to start them all.
SANDBOX_TIMEOUT = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def sandboxes(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[int, dict[str, Any]]]:
    """For each chapter N, the report of `chapter_sandbox.py` on a copy of
    exactly `files_upto(N)`; the interpreters run side by side."""
    with ExitStack() as servers:
        yield _sandbox_reports(tmp_path_factory, servers)


def _redis_url(servers: ExitStack) -> str | None:
    """A Redis of its own for chapter 07's app; None where there is none (not CI)."""
    try:
        server = redis_service.redis()
    except ServiceMissing as missing:
        if system_packages.ci():
            pytest.fail(f"{missing} (CI is set: chapter 07's checks must run)")
        return None
    return servers.enter_context(server).url


def _sandbox_reports(
    tmp_path_factory: pytest.TempPathFactory, servers: ExitStack
) -> dict[int, dict[str, Any]]:
    running = {}
    for upto in CHAPTERS:
        root = copy_chapters(upto, tmp_path_factory.mktemp(f"chapters-1-{upto}"))
        request = {
            "root": str(root),
            "upto": upto,
            "db_dir": str(root),
            "imports": _imports_for(upto),
            # Chapter 07's checks look into the Redis its app uses: one of
            # its own (the checks pause the whole server).
            "redis_url": _redis_url(servers) if upto >= 7 else None,
        }
        (root / "request.json").write_text(json.dumps(request))
        with ExitStack() as files:
            process = subprocess.Popen(
                # -I: no PYTHONPATH, no user site, neither the script's folder
                # nor the working folder on sys.path; outside the repository.
                [sys.executable, "-I", str(SANDBOX_SCRIPT)],
                cwd=root,
                stdin=files.enter_context((root / "request.json").open()),
                stdout=files.enter_context((root / "report.json").open("w")),
                stderr=files.enter_context((root / "stderr.txt").open("w")),
            )
        running[upto] = (root, process)
    reports = {}
    for upto, (root, process) in running.items():
        code = process.wait(timeout=600)
        err = (root / "stderr.txt").read_text()
        out = (root / "report.json").read_text()
        report = json.loads(out) if code == 0 else {"crashed": f"exit {code}"}
        if "crashed" in report:
            report["crashed"] += f"\nstdout:\n{out}\nstderr:\n{err}"
        report["root"] = root
        reports[upto] = report
    return reports


def report_of(sandboxes: dict[int, dict[str, Any]], upto: int) -> dict[str, Any]:
    """Chapter `upto`'s report; fails the test if its interpreter crashed."""
    report = sandboxes[upto]
    if "crashed" in report:
        pytest.fail(f"chapter {upto}'s sandbox crashed:\n{report['crashed']}")
    return report


@pytest.mark.parametrize("upto", CHAPTERS)
@SANDBOX_TIMEOUT
def test_sandbox_imports_only_the_copy(
    sandboxes: dict[int, dict[str, Any]], upto: int
) -> None:
    report = report_of(sandboxes, upto)
    copy = report["root"] / "course_app" / "__init__.py"
    assert Path(report["course_app"]).resolve() == copy.resolve()
    assert report["foreign"] == []


@pytest.mark.parametrize("upto", CHAPTERS)
@SANDBOX_TIMEOUT
def test_sandbox_builds_starts_and_passes_its_chapter(
    sandboxes: dict[int, dict[str, Any]], upto: int
) -> None:
    report = report_of(sandboxes, upto)
    assert report["lifespan"] == {
        "root": 200,
        "tables": (["avatars", "users"] if upto >= 10 else ["users"])
        if upto >= 4
        else None,
    }
    assert report["checks"], f"chapter {upto} has no checks"
    no_redis = [c for c in report["checks"] if "Redis your app uses" in c["message"]]
    if no_redis:
        pytest.skip(f"no Redis here: {len(no_redis)} checks of chapter {upto} skipped")
    failed = [check for check in report["checks"] if check["status"] != "passed"]
    assert failed == []


@pytest.mark.parametrize("upto", CHAPTERS[:-1])
@SANDBOX_TIMEOUT
def test_sandbox_refuses_the_next_chapter(
    sandboxes: dict[int, dict[str, Any]], upto: int
) -> None:
    refused = report_of(sandboxes, upto)["next"]
    assert refused is not None, f"create_app(upto={upto + 1}) built"
    assert refused["error"] == "ChapterUnavailableError", refused
    assert refused["is_import_error"]
    assert (refused["chapter"], refused["available"]) == (upto + 1, upto)
    message = refused["message"]
    assert message.startswith(
        f"create_app(upto={upto + 1}): chapter {upto + 1} of the reference system "
        "is not available here (course_app."
    )
    assert "While an exercise is graded, only the chapters of the reference" in message
    assert f"create_app(upto={upto}) works" in message


@pytest.mark.parametrize("upto", CHAPTERS)
@SANDBOX_TIMEOUT
def test_sandbox_hides_every_later_module(
    sandboxes: dict[int, dict[str, Any]], upto: int
) -> None:
    imports = report_of(sandboxes, upto)["imports"]
    for chapter in CHAPTERS:
        for path in CHAPTER_FILES[chapter] if chapter > upto else ():
            if path.endswith(".py"):  # data files are not imported
                outcome = imports[f"import {module_name(path)}"]
                assert outcome.startswith("ModuleNotFoundError: "), (path, outcome)


@pytest.mark.parametrize("upto", sorted(SOLUTION_IMPORTS))
@SANDBOX_TIMEOUT
def test_sandbox_keeps_what_exercises_import(
    sandboxes: dict[int, dict[str, Any]], upto: int
) -> None:
    # The exercises on chapter N import names of the reference; their sandbox
    # holds chapters 1 to N only, so those names must be in those files.
    imports = report_of(sandboxes, upto)["imports"]
    assert {s: imports[s] for s in SOLUTION_IMPORTS[upto]} == {
        s: "ok" for s in SOLUTION_IMPORTS[upto]
    }


def test_exercises_import_names_of_the_reference() -> None:
    # Guards the test above against finding nothing to check.
    assert sorted(SOLUTION_IMPORTS) == [4, 5, 6, 7, 8, 9, 10]
    assert "from course_app.deps import SessionDep" in SOLUTION_IMPORTS[4]
    assert any(
        line.startswith("from course_app.routers.stats import UserStats")
        for line in SOLUTION_IMPORTS[6]
    )


@SANDBOX_TIMEOUT
def test_chapter_4_sandbox_has_no_chapter_5_code(
    sandboxes: dict[int, dict[str, Any]],
) -> None:
    imports = report_of(sandboxes, 4)["imports"]
    assert [s for s in CHAPTER_5_CODE if imports[s] == "ok"] == []
    assert {s: imports[s].partition(":")[0] for s in CHAPTER_5_CODE} == {
        "import course_app.routers.auth": "ModuleNotFoundError",
        "from course_app.routers import auth": "ImportError",
        "from course_app.current_user import CurrentUserDep": "ModuleNotFoundError",
        "from course_app.deps import CurrentUserDep": "ImportError",
        "from course_app.deps import get_current_user": "ImportError",
        "from course_app.tokens import create_access_token": "ModuleNotFoundError",
        "from course_app.tokens import decode_access_token": "ModuleNotFoundError",
        "from course_app.security import create_access_token": "ModuleNotFoundError",
        "from course_app.passwords import create_access_token": "ImportError",
    }
    # ... while the whole reference has them, where they live now.
    full = report_of(sandboxes, 6)["imports"]
    assert full["import course_app.routers.auth"] == "ok"
    assert full["from course_app.tokens import create_access_token"] == "ok"


def test_a_lesson_part_adds_files_of_its_own_chapter() -> None:
    for lesson, (chapter, files) in chapters.LESSON_PARTS.items():
        assert lesson.startswith(f"{chapter:02d}"), lesson
        assert files and set(files) < set(chapters.CHAPTER_FILES[chapter]), lesson
