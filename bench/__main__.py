"""``python -m bench``: run the sections, print the table, write RESULTS.md.

    python -m bench                   # everything; rewrites bench/RESULTS.md
    python -m bench --only serving    # some sections; prints, writes nothing
    python -m bench --quick           # short runs, to try the harness out

RESULTS.md is only rewritten by a full run that succeeded, so the file always
holds one complete run: the table it printed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from bench.context import Context
from bench.machine import describe_machine
from bench.stats import Row

#: Section modules in the order they run, with the title of their table.
SECTIONS: dict[str, str] = {
    "serving": "1. Serving: course_app against raw ASGI and Starlette",
    "configs": "2. Serving configurations taught in chapter 06",
    "live_server": "3. The live server in a kernel: serve() and stop()",
    "notebooks": "4. The course as CI sees it",
    "grading": "5. Grading throughput",
    "production": "6. The production stack of chapter 07",
    "distributed": "7. Grading on Celery workers against grading locally",
}

RESULTS = Path(__file__).with_name("RESULTS.md")
COLUMNS = ("what", "median", "spread (min .. max)", "runs", "goal", "note")


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(rows: Iterable[Row]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join(" --- " for _ in COLUMNS) + "|",
    ]
    for row in rows:
        cells = row.cells()
        lines.append("| " + " | ".join(_escape(cells[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(SECTIONS),
        metavar="SECTION",
        help=f"run only these sections ({', '.join(SECTIONS)}); writes no file",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per measurement (default 3)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="short runs; writes no file"
    )
    parser.add_argument(
        "--out", type=Path, help=f"where to write the results (default {RESULTS})"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    ctx = Context(repeats=args.repeats, quick=args.quick)
    names = args.only or list(SECTIONS)
    started = time.perf_counter()
    parts: list[str] = []
    failed: list[str] = []
    for name in names:
        ctx.log(f"section {name}: starting")
        try:
            module = importlib.import_module(f"bench.{name}")
            rows = list(module.run(ctx))
        except KeyboardInterrupt:
            print("\nbench: interrupted; nothing written", file=sys.stderr)
            return 130
        except Exception as exc:  # one broken section must not hide the others
            failed.append(name)
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            ctx.log(f"section {name} FAILED: {type(exc).__name__}: {message}")
            # The rest of the message (a failing command's output) is what
            # tells why; the table keeps only the first line.
            rest = str(exc).strip().splitlines()[1:]
            if rest:
                print("\n".join(rest), file=sys.stderr, flush=True)
            parts.append(
                f"## {SECTIONS[name]}\n\nFailed: {type(exc).__name__}: {message}"
            )
            continue
        body = table(rows)
        notes = getattr(module, "NOTES", "")
        parts.append(
            f"## {SECTIONS[name]}\n\n{body}" + (f"\n\n{notes}" if notes else "")
        )
        ctx.log(f"section {name}: done")
    elapsed = time.perf_counter() - started
    document = "\n\n".join(
        [
            "# Benchmark results",
            "Written by `make bench` (`python -m bench`); every figure is the "
            f"median of {ctx.repeats} runs unless its row says otherwise, with "
            "the spread of the runs. Ratios pair runs made side by side.",
            describe_machine(elapsed),
            *parts,
        ]
    )
    print(document)
    if failed:
        print(f"bench: {', '.join(failed)} failed; nothing written", file=sys.stderr)
        return 1
    out = args.out or (None if args.only or args.quick else RESULTS)
    if out is not None:
        out.write_text(document + "\n", encoding="utf-8")
        print(f"bench: wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
