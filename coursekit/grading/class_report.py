"""The class report: ``report.html``, one page the instructor opens offline.

``coursekit grade --out DIR`` writes ``DIR/report.html`` after each batch:
the class's totals (with a histogram drawn by matplotlib and inlined as
SVG), each task's and check's pass rate, the most common failure messages,
the rows that were not graded and why, the isolation the kernels had, and
near-copies between submissions.

The page is one file: its style is inline, its plot is inline SVG, and it
has no script at all, so it opens from a USB stick, prints, and works with
JavaScript off. A Content-Security-Policy that forbids every fetch and
every script is a second line of defence behind the escaping.

Everything a submission could have written (its file name, status, check
messages, cell errors) is untrusted: it goes through ``untrusted.one_line``
(controls escaped, clipped) and then ``html.escape``. The page is built with
``html.escape`` at each interpolation rather than a template engine: the
sections are small tables, Jinja2 is not one of the course's declared
dependencies, and an escape written at every call site is easy to audit.
"""

from __future__ import annotations

import html
import io
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from coursekit.grading.report import GRADED, Record, _write_atomic
from coursekit.grading.untrusted import one_line

if TYPE_CHECKING:
    # Only its type: the module itself loads nbformat and the comparison,
    # which a notebook rendering a report from results.json need not pay for.
    from coursekit.grading.similarity import SimilarPair

__all__ = [
    "REPORT",
    "TOP_FAILURES",
    "normalise_message",
    "render_class_report",
    "write_class_report",
]

#: The report's file name in ``--out``.
REPORT = "report.html"
#: How many of the most common failure messages the report lists.
TOP_FAILURES = 15
#: The statuses of a check that counts as a failure (``"error"``: the check
#: itself crashed on what the server sent, which the learner should see too).
_FAILED = ("failed", "error")
#: Fetch nothing, run nothing: only the inline style (and the SVG's own).
_CSP = "default-src 'none'; style-src 'unsafe-inline'"

_STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: #1d1d1f; max-width: 62rem; margin: 1.5rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .3rem; }
h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ccc;
  break-after: avoid; }
nav a { margin-right: .8rem; }
table { border-collapse: collapse; margin: .6rem 0; }
th, td { border: 1px solid #ccc; padding: .25rem .55rem; text-align: left;
  vertical-align: top; }
th { background: #f2f2f2; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.task td { font-weight: 600; background: #fafafa; }
tr.check td:first-child { padding-left: 1.4rem; }
.msg { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .85em;
  overflow-wrap: anywhere; }
.warning { border: 3px solid #b00020; background: #fdecee; color: #5c0011;
  padding: .6rem .9rem; font-weight: 600; }
.ok { border-left: 4px solid #2e7d32; padding-left: .6rem; }
.note { color: #555; }
figure { margin: .6rem 0; }
svg.plot { display: block; width: 100%; max-width: 40rem; height: auto; }
@media print { nav { display: none; } body { margin: 0; max-width: none; } }
"""


def write_class_report(
    out: Path,
    records: Sequence[Record],
    tasks: Sequence[str],
    *,
    chapter: str,
    similar: Sequence[SimilarPair] = (),
    similarity_notes: Sequence[str] = (),
    similarity_ran: bool = True,
    written: datetime | None = None,
) -> Path:
    """Write ``out/report.html`` for ``records``; returns its path.

    Args:
        out: the grader's ``--out`` folder.
        records: every row of the batch (graded or not), as in ``results.json``.
        tasks: the chapter's tasks, in the chapter's order (``Report.tasks``).
        chapter: the chapter graded, e.g. ``"02"``.
        similar: near-copies found (``coursekit.grading.similarity``).
        similarity_notes: what the comparison has to say (what it skipped...).
        similarity_ran: False when the comparison did not run at all.
        written: when the report is written (default: now, UTC).

    The file is replaced atomically: a reader sees the old page or the new.
    """
    path = out / REPORT
    text = render_class_report(
        records,
        tasks,
        chapter=chapter,
        similar=similar,
        similarity_notes=similarity_notes,
        similarity_ran=similarity_ran,
        written=written,
    )
    _write_atomic(path, text)
    return path


def render_class_report(
    records: Sequence[Record],
    tasks: Sequence[str],
    *,
    chapter: str,
    similar: Sequence[SimilarPair] = (),
    similarity_notes: Sequence[str] = (),
    similarity_ran: bool = True,
    written: datetime | None = None,
) -> str:
    """The report's HTML (``write_class_report`` without the file)."""
    records = sorted(records, key=lambda r: r.submission)
    graded = [r for r in records if r.status == GRADED]
    checks = _checks(records, tasks)
    when = (written or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M %Z").strip()
    title = f"Chapter {chapter} · class report"
    body = [
        _header(title, chapter, records, graded, when),
        _histogram(graded, _max_points(records)),
        _tasks(graded, checks),
        _failures(graded, checks),
        _not_graded(records),
        _isolation(records),
        _similarity(similar, similarity_notes, similarity_ran),
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


# -- text ------------------------------------------------------------------


def _e(value: object, limit: int = 300) -> str:
    """``value`` as HTML text: on one line, clipped, escaped (quotes too)."""
    return html.escape(one_line(str(value), limit), quote=True)


def _percent(part: int, whole: int) -> str:
    if whole == 0:
        return "n/a"
    share = 100 * part / whole
    # Rounding must not say "100%" when one learner missed, nor "0%" when
    # one passed.
    if 0 < part < whole:
        share = min(max(share, 1), 99)
    return f"{share:.0f}%"


def _count(part: int, whole: int) -> str:
    return f"{part} of {whole}, {_percent(part, whole)}"


def _table(head: Sequence[str], rows: Iterable[str], numeric: set[int]) -> str:
    """A table; ``head`` is HTML already, ``numeric`` the right-aligned columns."""
    num = ' class="num"'
    cells = "".join(
        f'<th scope="col"{num if i in numeric else ""}>{h}</th>'
        for i, h in enumerate(head)
    )
    return f"<table>\n<thead><tr>{cells}</tr></thead>\n<tbody>\n" + (
        "\n".join(rows) + "\n</tbody>\n</table>"
    )


def _section(anchor: str, title: str, *parts: str) -> str:
    inner = "\n".join(p for p in parts if p)
    return (
        f'<section id="{anchor}" aria-labelledby="{anchor}-title">\n'
        f'<h2 id="{anchor}-title">{title}</h2>\n{inner}\n</section>'
    )


# -- the checks, in the chapter's order -------------------------------------


@dataclass
class _Check:
    id: str
    task: str
    name: str
    max_points: int
    order: int


def _checks(records: Sequence[Record], tasks: Sequence[str]) -> list[_Check]:
    """Every check seen, grouped by task in the chapter's order.

    Results are stored in the contract's order, so a check's first
    appearance gives its place within its task; a task missing from
    ``tasks`` (an older row) comes after the known ones.
    """
    found: dict[str, _Check] = {}
    for record in records:
        for result in record.results:
            check_id = str(result.get("id", ""))
            if check_id not in found:
                found[check_id] = _Check(
                    id=check_id,
                    task=str(result.get("task", "")),
                    name=str(result.get("name", check_id)),
                    max_points=int(result.get("max_points", 0)),
                    order=len(found),
                )
    rank = {task: i for i, task in enumerate(tasks)}
    return sorted(found.values(), key=lambda c: (rank.get(c.task, len(rank)), c.order))


def _max_points(records: Sequence[Record]) -> int:
    return max((r.max for r in records), default=0)


# -- header ----------------------------------------------------------------


def _header(
    title: str,
    chapter: str,
    records: Sequence[Record],
    graded: Sequence[Record],
    when: str,
) -> str:
    totals = [r.total for r in graded]
    if totals:
        mean = f"{statistics.mean(totals):.1f}"
        median = f"{statistics.median(totals):g}"
    else:
        mean = median = "none graded"
    rows = [
        ("Chapter", _e(chapter)),
        ("Submissions", str(len(records))),
        ("Graded", str(len(graded))),
        ("Not graded", str(len(records) - len(graded))),
        ("Mean total (graded)", mean),
        ("Median total (graded)", median),
        ("Max points", str(_max_points(records))),
        ("Written", _e(when)),
    ]
    table = "\n".join(
        f'<tr><th scope="row">{k}</th><td class="num">{v}</td></tr>' for k, v in rows
    )
    links = " ".join(
        f'<a href="#{anchor}">{name}</a>'
        for anchor, name in [
            ("histogram", "Totals"),
            ("tasks", "Tasks and checks"),
            ("failures", "Common failures"),
            ("not-graded", "Not graded"),
            ("isolation", "Isolation"),
            ("similarity", "Near-copies"),
        ]
    )
    weaker = sum(r.isolation_level != "full" for r in records)
    # Said again at the top: a reader who stops at the header must see it.
    warning = (
        f'<p class="warning">WARNING: for {weaker} of {len(records)} '
        "submissions, isolation was WEAKER than the sandbox: see "
        '<a href="#isolation">Isolation</a>.</p>\n'
        if weaker
        else ""
    )
    return (
        f'<header id="summary">\n<h1>{_e(title)}</h1>\n{warning}'
        f"<table>\n<tbody>\n{table}\n</tbody>\n</table>\n"
        f'<nav aria-label="Sections">{links}</nav>\n</header>'
    )


# -- histogram -------------------------------------------------------------


def _histogram(graded: Sequence[Record], max_points: int) -> str:
    title = "Totals"
    if not graded:
        return _section(
            "histogram",
            title,
            '<p class="empty">No submission was graded: there are no totals '
            "to plot.</p>",
        )
    totals = Counter(r.total for r in graded)
    top = max(max_points, *totals)
    counts = [totals.get(points, 0) for points in range(top + 1)]
    caption = (
        f"Totals of the {len(graded)} graded submissions, one bar per point "
        f"from 0 to {top}: median {statistics.median(totals.elements()):g}, "
        f"mean {statistics.mean(totals.elements()):.1f}. The table below "
        "gives every total reached."
    )
    figure = (
        "<figure>\n"
        + _plot(counts, "histogram-caption")
        + f'\n<figcaption id="histogram-caption">{_e(caption)}</figcaption>\n'
        "</figure>"
    )
    rows = (
        f'<tr><td class="num">{points}</td><td class="num">{count}</td></tr>'
        for points, count in enumerate(counts)
        if count
    )
    return _section(
        "histogram", title, figure, _table(["Total", "Learners"], rows, {0, 1})
    )


def _plot(counts: Sequence[int], caption_id: str) -> str:
    """A bar per whole point, as inline SVG (no external file, no fetch).

    matplotlib is imported here: it costs half a second or more, which a
    grading run pays once, at the end, and nothing else that imports this
    module pays at all. A ``Figure`` made directly (not pyplot) touches no
    global backend or figure list, so a notebook that calls this keeps its
    own backend; the SVG is written by matplotlib's SVG backend whatever
    that is.
    """
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(7.0, 2.8))
    # Fixed margins, not a layout engine: that would draw the figure twice.
    figure.subplots_adjust(left=0.09, right=0.98, bottom=0.17, top=0.96)
    axes = figure.add_subplot()
    axes.bar(range(len(counts)), counts, width=0.85, color="#3b6ea5")
    axes.set_xlabel("total points")
    axes.set_ylabel("learners")
    axes.set_xlim(-0.6, len(counts) - 0.4)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.spines[["top", "right"]].set_visible(False)
    buffer = io.StringIO()
    # The same totals give the same bytes: fixed ids, no date; text stays
    # text (the page's fonts), which keeps the SVG small.
    settings = {"svg.hashsalt": "coursekit-class-report", "svg.fonttype": "none"}
    with matplotlib.rc_context(settings):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    # Inline in HTML: no XML prolog or DOCTYPE, and no RDF metadata (its
    # URLs name vocabularies; nothing fetches them, but nothing needs them).
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, count=1, flags=re.S)
    return svg.replace(
        "<svg ",
        f'<svg class="plot" role="img" aria-labelledby="{caption_id}" ',
        1,
    ).strip()


# -- tasks and checks --------------------------------------------------------


def _task_full(record: Record, task: str) -> bool:
    results = [r for r in record.results if r.get("task") == task]
    points = sum(int(r.get("points", 0)) for r in results)
    most = sum(int(r.get("max_points", 0)) for r in results)
    if most == 0:
        # A task whose checks carry no points: "full" means all passed.
        return bool(results) and all(r.get("status") == "passed" for r in results)
    return points >= most


def _tasks(graded: Sequence[Record], checks: Sequence[_Check]) -> str:
    title = "Tasks and checks"
    if not checks:
        return _section("tasks", title, '<p class="empty">No checks ran.</p>')
    status: dict[str, dict[str, str]] = {
        r.submission: {str(res.get("id")): str(res.get("status")) for res in r.results}
        for r in graded
    }
    rows = []
    for task in dict.fromkeys(c.task for c in checks):
        own = [c for c in checks if c.task == task]
        having = [
            r for r in graded if any(res.get("task") == task for res in r.results)
        ]
        full = sum(_task_full(r, task) for r in having)
        points = sum(c.max_points for c in own)
        rows.append(
            f'<tr class="task"><td>Task {_e(task)}</td><td class="num">{points}</td>'
            f'<td class="num">{_count(full, len(having))}</td></tr>'
        )
        for check in own:
            seen = [s[check.id] for s in status.values() if check.id in s]
            passed = seen.count("passed")
            rows.append(
                f'<tr class="check"><td>{_e(check.name)}</td>'
                f'<td class="num">{check.max_points}</td>'
                f'<td class="num">{_count(passed, len(seen))}</td></tr>'
            )
    note = (
        '<p class="note">A task passes with full points on it; a check passes '
        "with status “passed”. Shares are of the graded submissions.</p>"
    )
    head = ["Task / check", "Points", "Passed (graded learners)"]
    return _section("tasks", title, note, _table(head, rows, {1, 2}))


# -- common failures ---------------------------------------------------------

#: A value in a message: an HTTP status after "status" (kept: a 404 and a
#: 500 are different mistakes), a quoted value (not an apostrophe inside a
#: word: "the app's"), or a number.
_VALUE = re.compile(
    r"""(?P<status>\bstatus\s+[1-5]\d\d\b)"""
    r"""|(?P<quoted>(?<!\w)'[^'\n]*'(?!\w)|"[^"\n]*"|“[^”\n]*”)"""
    r"""|(?P<number>(?<![\w.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"""
)


def _value(match: re.Match[str]) -> str:
    if match["status"]:
        return match["status"]
    return "“…”" if match["quoted"] else "N"


def normalise_message(message: str) -> str:
    """``message`` with its numbers and quoted values collapsed, for grouping.

    "expected 3, got 5" and "expected 3, got 7" become one; "status 404"
    and "status 500" stay apart.
    """
    return " ".join(_VALUE.sub(_value, one_line(message, 600)).split())


@dataclass
class _Failure:
    check: _Check
    pattern: str
    learners: set[str] = field(default_factory=set)
    messages: Counter[str] = field(default_factory=Counter)


def _failures(graded: Sequence[Record], checks: Sequence[_Check]) -> str:
    title = "Most common failures"
    by_id = {c.id: c for c in checks}
    groups: dict[tuple[str, str], _Failure] = {}
    for record in graded:
        for result in record.results:
            if result.get("status") not in _FAILED:
                continue
            check = by_id[str(result.get("id", ""))]
            message = one_line(str(result.get("message", "")), 600) or "(no message)"
            key = (check.id, normalise_message(message))
            group = groups.setdefault(key, _Failure(check, key[1]))
            group.learners.add(record.submission)
            group.messages[message] += 1
    if not groups:
        text = "No check failed." if graded else "No submission was graded."
        return _section("failures", title, f'<p class="empty">{text}</p>')
    ranked = sorted(
        groups.values(),
        key=lambda g: (-len(g.learners), g.check.order, g.pattern),
    )
    rows = []
    for group in ranked[:TOP_FAILURES]:
        # The most frequent wording stands for the group (Counter keeps the
        # first seen first among equals).
        (message, _), *_ = group.messages.most_common(1)
        rows.append(
            f"<tr><td>{_e(group.check.name)}<br>"
            f'<span class="note">task {_e(group.check.task)}</span></td>'
            f'<td class="msg">{_e(message)}</td>'
            f'<td class="num">{len(group.learners)}</td></tr>'
        )
    more = len(ranked) - TOP_FAILURES
    note = (
        f'<p class="note">The {min(len(ranked), TOP_FAILURES)} most common of '
        f"{len(ranked)} kinds of failure (messages that differ only in numbers "
        "or quoted values count as one; one message stands for each)."
        + (f" {more} less common kinds are not shown." if more > 0 else "")
        + " Message text comes from the submissions' servers.</p>"
    )
    head = ["Check", "Message (one example)", "Learners"]
    return _section("failures", title, note, _table(head, rows, {2}))


# -- not graded and cell errors ----------------------------------------------


def _not_graded(records: Sequence[Record]) -> str:
    title = "Not graded, and cells that raised"
    missing = [r for r in records if r.status != GRADED]
    if missing:
        rows = (
            f"<tr><td>{_e(r.submission)}</td>"
            f'<td class="msg">{_e(r.status, 600)}</td></tr>'
            for r in missing
        )
        first = _table(["Submission", "Reason"], rows, set())
    else:
        first = '<p class="ok">Every submission was graded.</p>'
    raised = [r for r in records if r.cell_errors]
    if raised:
        rows = (
            f"<tr><td>{_e(r.submission)}</td>"
            f"<td>{'graded' if r.status == GRADED else 'not graded'}</td>"
            f'<td class="num">{len(r.cell_errors)}</td>'
            f'<td class="msg">{_errors(r.cell_errors)}</td></tr>'
            for r in raised
        )
        head = ["Submission", "Status", "Cells", "Errors (first three)"]
        second = f"<h3>Notebooks with cell errors ({len(raised)})</h3>\n" + _table(
            head, rows, {2}
        )
    else:
        second = '<p class="ok">No notebook raised an error in a cell.</p>'
    return _section("not-graded", title, first, second)


def _errors(errors: Sequence[str]) -> str:
    shown = "<br>".join(_e(error, 200) for error in errors[:3])
    return shown + (f"<br>… and {len(errors) - 3} more" if len(errors) > 3 else "")


# -- isolation ----------------------------------------------------------------


def _isolation(records: Sequence[Record]) -> str:
    title = "Isolation"
    if not records:
        return _section("isolation", title, '<p class="empty">No submissions.</p>')
    kinds: Counter[tuple[str, tuple[str, ...]]] = Counter(
        (r.isolation_level, tuple(r.isolation)) for r in records
    )
    weaker = {level for level, _ in kinds if level != "full"}
    rows = (
        f"<tr><td>{_e(level or '(not recorded)', 1000)}</td>"
        f"<td>{_e(', '.join(applied) or '(no kernel ran)', 1000)}</td>"
        f'<td class="num">{count}</td></tr>'
        for (level, applied), count in sorted(kinds.items())
    )
    parts = []
    if weaker:
        count = sum(n for (level, _), n in kinds.items() if level in weaker)
        parts.append(
            '<p class="warning" role="alert">WARNING: isolation was WEAKER than '
            f"the sandbox for {count} of {len(records)} submissions. Without it "
            "a submission could read other submissions or the hidden checks, "
            "change the course's files or the grades folder, and reach the "
            "network: weigh these grades with that in mind, and grade again "
            "with bubblewrap installed (--sandbox require refuses to grade "
            "without it).</p>"
        )
    else:
        parts.append('<p class="ok">Every kernel ran in the full sandbox.</p>')
    head = ["Level", "What applied", "Submissions"]
    parts.append(_table(head, rows, {2}))
    return _section("isolation", title, *parts)


# -- near-copies --------------------------------------------------------------


def _similarity(similar: Sequence[SimilarPair], notes: Sequence[str], ran: bool) -> str:
    title = "Near-copies"
    intro = (
        '<p class="note">Submissions whose task code is nearly the same, for '
        "the instructor to look at: this is not a verdict. Short tasks leave "
        "little room for variety, and learners may have worked together as "
        "allowed.</p>"
    )
    parts = [intro]
    if not ran:
        parts.append('<p class="empty">The comparison did not run.</p>')
    elif not similar:
        parts.append('<p class="ok">No near-copies were found.</p>')
    else:
        rows = (
            f"<tr><td>{_e(pair.first)}</td><td>{_other(pair)}</td>"
            f'<td class="num">{pair.score * 100:.0f}%</td></tr>'
            for pair in sorted(similar, key=lambda p: (-p.score, p.first, p.second))
        )
        head = ["Submission", "Near-copy of", "Similarity"]
        parts.append(_table(head, rows, {2}))
    if notes:
        items = "".join(f"<li>{_e(note, 600)}</li>" for note in notes)
        parts.append(f'<ul class="note">{items}</ul>')
    return _section("similarity", title, *parts)


def _other(pair: SimilarPair) -> str:
    if pair.kind == "reference":
        return "<em>the reference solution</em>"
    return _e(pair.second)
