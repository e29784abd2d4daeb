"""The class report (``report.html``): each section's content, escaping, offline."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from coursekit.contracts.runner import CheckResult
from coursekit.grading.class_report import (
    REPORT,
    TOP_FAILURES,
    normalise_message,
    render_class_report,
    write_class_report,
)
from coursekit.grading.report import Record
from coursekit.grading.similarity import REFERENCE, SimilarPair

ROOT = Path(__file__).resolve().parents[3]
WRITTEN = datetime(2026, 11, 30, 14, 5, tzinfo=UTC)
TASKS = ["root", "items", "docs"]
#: id, task, name, points: a small chapter of 5 points, in the chapter's order.
CHECKS = [
    ("01.root_hello", "root", "GET / says hello", 1),
    ("01.items_read", "items", "GET /items/{id} answers", 2),
    ("01.items_type", "items", "item_id is an integer", 1),
    ("01.docs_pages", "docs", "/docs and /redoc are served", 1),
]
FULL = "full"
WEAKER = "weaker: bubblewrap cannot run here (no user namespaces)"
HOSTILE = "<script>alert(1)</script>.ipynb"
HOSTILE_MESSAGE = 'status 200, but <img src=x onerror=alert(1)> said "hi"'
NOT_JSON = "not graded: the notebook is not valid JSON (Expecting value: line 1)"


def record(
    name: str,
    failed: dict[str, str] | None = None,
    *,
    status: str = "graded",
    cell_errors: list[str] | None = None,
    level: str = FULL,
) -> Record:
    """A record of ``CHECKS``: each passes, unless ``failed`` gives its message."""
    failed = failed or {}
    results = []
    for check_id, task, title, points in CHECKS:
        if status != "graded":
            outcome, got, message = "skipped", 0, "not graded"
        elif check_id in failed:
            outcome, got, message = "failed", 0, failed[check_id]
        else:
            outcome, got, message = "passed", points, ""
        results.append(
            CheckResult(
                id=check_id,
                chapter="01",
                task=task,
                name=title,
                status=outcome,
                points=got,
                max_points=points,
                hint="a hint",
                message=message,
            )
        )
    return Record.build(
        submission=name,
        path=f"/submissions/{name}",
        sha256="0" * 64,
        chapter="01",
        status=status,
        results=results,
        cell_errors=cell_errors or [],
        notes=[],
        duration=1.5,
        isolation=["bubblewrap", "rlimits"] if status == "graded" else [],
        isolation_level=level,
    )


def the_class() -> list[Record]:
    return [
        record("ada_01.ipynb"),
        record("bob_01.ipynb", {"01.items_type": "expected 3, got 5"}),
        record(
            "cy_01.ipynb",
            {
                "01.items_type": "expected 3, got 7",
                "01.docs_pages": "status 404, expected 200",
            },
        ),
        record(
            "dee_01.ipynb",
            {"01.docs_pages": "status 500, expected 200"},
            cell_errors=["cell 4: NameError: name 'itme' is not defined"],
        ),
        record(HOSTILE, {"01.root_hello": HOSTILE_MESSAGE}, level=WEAKER),
        record("eve_01.ipynb", status=NOT_JSON),
    ]


def render(records: list[Record] | None = None, **kwargs: object) -> str:
    records = the_class() if records is None else records
    return render_class_report(
        records,
        TASKS,
        chapter="01",
        written=WRITTEN,
        **kwargs,  # type: ignore[arg-type]
    )


def section(page: str, anchor: str) -> str:
    """The HTML of the element with ``id=anchor`` (sections do not nest)."""
    found = re.search(
        rf'<(section|header) id="{anchor}"[^>]*>(.*?)</\1>', page, flags=re.S
    )
    assert found, f"no #{anchor} in the page"
    return found.group(2)


def text(fragment: str) -> str:
    """What a reader sees of ``fragment``: tags dropped, entities decoded."""
    fragment = re.sub(r"<svg.*?</svg>", " ", fragment, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def rows(fragment: str) -> list[str]:
    """Each table row of ``fragment`` as its text, cells joined by " | "."""
    found = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", fragment, flags=re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)
        found.append(" | ".join(text(cell) for cell in cells))
    return found


def test_the_header_counts_the_class() -> None:
    header = rows(section(render(), "summary"))
    assert header == [
        "Chapter | 01",
        "Submissions | 6",
        "Graded | 5",
        "Not graded | 1",
        "Mean total (graded) | 4.0",  # 5, 4, 3, 4, 4
        "Median total (graded) | 4",
        "Max points | 5",
        "Written | 2026-11-30 14:05 UTC",
    ]


def test_the_histogram_has_a_bar_per_point_and_the_numbers_as_text() -> None:
    histogram = section(render(), "histogram")
    svg = re.search(r"<svg .*?</svg>", histogram, flags=re.S)
    assert svg, "no inline SVG"
    assert 'role="img" aria-labelledby="histogram-caption"' in svg.group()
    # One bar per whole point from 0 to the maximum, empty ones too.
    assert svg.group().count("fill: #3b6ea5") == 6
    caption = re.search(
        r'<figcaption id="histogram-caption">(.*?)</figcaption>', histogram
    )
    assert caption
    assert "5 graded submissions" in caption.group(1)
    assert "from 0 to 5: median 4, mean 4.0" in caption.group(1)
    assert rows(histogram) == ["Total | Learners", "3 | 1", "4 | 3", "5 | 1"]


def test_the_same_class_gives_the_same_page() -> None:
    # The SVG's ids are salted and it has no date: only "Written" changes.
    assert render() == render()


def test_task_and_check_pass_rates_in_the_chapters_order() -> None:
    assert rows(section(render(), "tasks")) == [
        "Task / check | Points | Passed (graded learners)",
        "Task root | 1 | 4 of 5, 80%",
        "GET / says hello | 1 | 4 of 5, 80%",
        "Task items | 3 | 3 of 5, 60%",
        "GET /items/{id} answers | 2 | 5 of 5, 100%",
        "item_id is an integer | 1 | 3 of 5, 60%",
        "Task docs | 1 | 3 of 5, 60%",
        "/docs and /redoc are served | 1 | 3 of 5, 60%",
    ]


def test_a_share_is_not_rounded_to_all_or_none() -> None:
    records = [record(f"l{i:03}.ipynb") for i in range(299)]
    records.append(record("miss.ipynb", {"01.root_hello": "status 404, expected 200"}))
    found = rows(section(render(records), "tasks"))
    assert "GET / says hello | 1 | 299 of 300, 99%" in found


def test_failures_group_messages_that_differ_in_numbers_only() -> None:
    failures = rows(section(render(), "failures"))
    assert failures[0] == "Check | Message (one example) | Learners"
    body = failures[1:]
    # bob's "got 5" and cy's "got 7" are one failure of two learners, first;
    # then one learner each, in the chapter's order of checks. A 404 and a
    # 500 are different mistakes and stay apart.
    assert body[0] == "item_id is an integer task items | expected 3, got 5 | 2"
    assert body[1] == f"GET / says hello task root | {HOSTILE_MESSAGE} | 1"
    assert sorted(body[2:]) == [
        "/docs and /redoc are served task docs | status 404, expected 200 | 1",
        "/docs and /redoc are served task docs | status 500, expected 200 | 1",
    ]
    assert len(body) == 4


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("expected 3, got 5", "expected 3, got 7"),
        ("the answer after about 0.31 s", "the answer after about 2 s"),
        ('detail "User 3 not found"', 'detail "no such user"'),
        ("expected 'Not Found', got 'nope'", "expected 'Not Found', got 'missing'"),
        ("10 answers after about 1.5 s", "4 answers after about 0.5 s"),
    ],
)
def test_messages_that_differ_in_values_group(first: str, second: str) -> None:
    assert normalise_message(first) == normalise_message(second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("status 404, expected 200", "status 500, expected 200"),
        ("no X-Cache header", "no ETag header"),
        ("the app's Redis is down", "the app's cache is down"),
        ("the response exposes password", "the response exposes hashed_password"),
        ("a 401 without the Bearer challenge", "the token lives too long"),
    ],
)
def test_distinct_messages_stay_apart(first: str, second: str) -> None:
    assert normalise_message(first) != normalise_message(second)


def test_only_the_most_common_failures_are_listed() -> None:
    records = [
        record(f"l{i:02}.ipynb", {"01.root_hello": f"kind {chr(65 + i)} of mistake"})
        for i in range(TOP_FAILURES + 5)
    ]
    records += [
        record("m1.ipynb", {"01.root_hello": "the usual mistake"}),
        record("m2.ipynb", {"01.root_hello": "the usual mistake"}),
    ]
    failures = section(render(records), "failures")
    body = rows(failures)[1:]
    assert len(body) == TOP_FAILURES
    assert body[0].endswith("| the usual mistake | 2")
    # 21 kinds in all: the 20 one-offs and the usual mistake.
    assert "The 15 most common of 21 kinds" in text(failures)
    assert "6 less common kinds are not shown" in text(failures)


def test_rows_not_graded_and_cell_errors_are_listed() -> None:
    missing = section(render(), "not-graded")
    found = rows(missing)
    assert found[:2] == ["Submission | Reason", f"eve_01.ipynb | {NOT_JSON}"]
    assert found[2:] == [
        "Submission | Status | Cells | Errors (first three)",
        "dee_01.ipynb | graded | 1 | cell 4: NameError: name 'itme' is not defined",
    ]
    everyone = render([record("ada_01.ipynb")])
    assert "Every submission was graded." in text(section(everyone, "not-graded"))
    assert "No notebook raised an error in a cell." in everyone


def test_weaker_isolation_is_a_loud_warning() -> None:
    isolation = section(render(), "isolation")
    assert '<p class="warning" role="alert">' in isolation
    assert "isolation was WEAKER than the sandbox for 1 of 6 submissions" in text(
        isolation
    )
    assert f"{WEAKER} | bubblewrap, rlimits | 1" in rows(isolation)
    assert "full | bubblewrap, rlimits | 4" in rows(isolation)
    assert "full | (no kernel ran) | 1" in rows(isolation)

    # Said at the top too, for whoever reads only the header.
    assert "for 1 of 6 submissions, isolation was WEAKER" in text(
        section(render(), "summary")
    )

    page = render([record("ada_01.ipynb")])
    assert 'class="warning"' not in page
    full = section(page, "isolation")
    assert "Every kernel ran in the full sandbox." in text(full)


def test_near_copies_are_listed_as_something_to_look_at() -> None:
    similar = [
        SimilarPair("bob_01.ipynb", "cy_01.ipynb", 0.874, "pair"),
        SimilarPair(HOSTILE, REFERENCE, 0.97, "reference"),
    ]
    notes = ["2 notebooks had no task code to compare"]
    page = render(similar=similar, similarity_notes=notes)
    found = section(page, "similarity")
    assert "not a verdict" in text(found)
    assert rows(found)[1:] == [
        f"{HOSTILE} | the reference solution | 97%",
        "bob_01.ipynb | cy_01.ipynb | 87%",
    ]
    assert notes[0] in text(found)


def test_without_near_copies_it_says_so_or_that_the_comparison_did_not_run() -> None:
    assert "No near-copies were found." in text(section(render(), "similarity"))
    notes = ["copydetect is not installed"]
    skipped = section(
        render(similarity_ran=False, similarity_notes=notes), "similarity"
    )
    assert "The comparison did not run." in text(skipped)
    assert "copydetect is not installed" in text(skipped)
    assert "No near-copies were found." not in text(skipped)


def test_what_a_submission_wrote_is_escaped_text() -> None:
    sneaky = "x\n<b>Status: graded</b>.ipynb"
    huge = "expected 3, got " + "9" * 5000
    page = render(
        [
            *the_class(),
            record(sneaky, {"01.items_type": huge}, cell_errors=['<i id="x">']),
        ],
        similar=[SimilarPair(HOSTILE, "a\"'<>.ipynb", 0.9, "pair")],
    )
    # The page has no script at all; the hostile name and message are text.
    assert "<script" not in page.lower()
    assert "<img" not in page and "<b>" not in page and "<i " not in page
    assert html.escape(HOSTILE, quote=True) in page
    assert html.escape(HOSTILE_MESSAGE, quote=True) in page
    assert "a&quot;&#x27;&lt;&gt;.ipynb" in page
    # On one line, the newline shown as an escape; long text clipped.
    assert "x\\n&lt;b&gt;Status: graded&lt;/b&gt;.ipynb" in page
    assert "9" * 5000 not in page
    assert "9" * 250 + "…" in page


class _Tags(HTMLParser):
    """Every start tag of a page with its attributes, as a browser parses it."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def test_the_page_asks_nothing_of_any_other_origin() -> None:
    page = render()
    assert page.startswith("<!DOCTYPE html>")
    parser = _Tags()
    parser.feed(page)
    names = {tag for tag, _ in parser.tags}
    fetching = {"script", "link", "img", "iframe", "object", "embed", "base"}
    assert not names & fetching, names & fetching
    # Every link and reference is a fragment of this page.
    targets = [
        value
        for _, attrs in parser.tags
        for name, value in attrs.items()
        if name in ("src", "href", "xlink:href", "action", "srcset", "poster")
    ]
    assert targets, "the page has no links at all?"
    assert all(t.startswith("#") for t in targets), targets
    styles = " ".join(a.get("style", "") for _, a in parser.tags) + page
    assert set(re.findall(r"url\(([^)]*)\)", styles)) <= set(
        re.findall(r"url\((#[^)]*)\)", styles)
    )
    assert "@import" not in page
    # What is left that names http(s) is the SVG's XML namespaces: names,
    # not requests.
    named = {
        name
        for _, attrs in parser.tags
        for name, value in attrs.items()
        if re.search(r"https?:", value)
    }
    assert named <= {"xmlns", "xmlns:xlink"}, named
    assert "default-src 'none'" in page  # and a CSP forbids fetching anything


def test_a_class_with_nothing_graded_still_renders() -> None:
    page = render([record("eve_01.ipynb", status=NOT_JSON)])
    histogram = section(page, "histogram")
    assert "<svg" not in histogram
    assert "No submission was graded" in text(histogram)
    assert "Mean total (graded) | none graded" in rows(section(page, "summary"))
    assert "Task root | 1 | 0 of 0, n/a" in rows(section(page, "tasks"))
    assert "No submission was graded." in text(section(page, "failures"))
    assert "eve_01.ipynb" in text(section(page, "not-graded"))
    # Not even a record: still a page with every section.
    empty = render([])
    for anchor in ("summary", "histogram", "tasks", "failures", "not-graded"):
        section(empty, anchor)
    assert "Submissions | 0" in rows(section(empty, "summary"))


def test_it_is_written_atomically_into_out(tmp_path: Path) -> None:
    out = tmp_path / "grades"
    path = write_class_report(out, the_class(), TASKS, chapter="01", written=WRITTEN)
    assert path == out / REPORT
    assert path.read_text(encoding="utf-8") == render()
    assert [p.name for p in out.iterdir()] == [REPORT]  # no temporary left


def test_it_leaves_matplotlibs_global_state_alone(tmp_path: Path) -> None:
    # A fresh process, as a notebook would be: after a report, no pyplot,
    # the same backend (none chosen yet) and the same rcParams.
    code = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
import matplotlib
from coursekit.grading.class_report import render_class_report
from coursekit.grading.report import Record
keys = ("svg.hashsalt", "svg.fonttype")
before = {{k: matplotlib.rcParams[k] for k in keys}}
backend = matplotlib.rcParams._get_backend_or_none()
row = Record("a.ipynb", "a.ipynb", "", "01", "graded", 1, 2, {{}}, [])
page = render_class_report([row], [], chapter="01")
assert "<svg" in page
assert {{k: matplotlib.rcParams[k] for k in keys}} == before
assert matplotlib.rcParams._get_backend_or_none() == backend
assert "matplotlib.pyplot" not in sys.modules
print("ok")
"""
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == "ok"
