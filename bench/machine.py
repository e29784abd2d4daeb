"""The machine a benchmark ran on, as a short Markdown list."""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import subprocess
from importlib import metadata

import psutil

__all__ = ["describe_machine"]

_PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "pydantic",
    "sqlalchemy",
    "ipykernel",
    "nbclient",
    "nbval",
    "locust",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _wrk_version() -> str | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    try:
        out = subprocess.run(
            [wrk, "--version"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return "wrk"
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0].split(" [")[0] if first else "wrk"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def describe_machine(elapsed: float) -> str:
    """Date, CPU, cores, memory, OS, Python, load tool and package versions."""
    cores = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cores
    memory = psutil.virtual_memory().total / 2**30
    wrk = _wrk_version()
    tool = wrk if wrk else f"locust {_version('locust')} (wrk is not installed)"
    packages = ", ".join(f"{p} {_version(p)}" for p in _PACKAGES)
    today = datetime.date.today().isoformat()
    return "\n".join(
        [
            f"- Run on {today}, {elapsed / 60:.1f} minutes in all",
            f"- {_cpu_model()}, {usable} of {cores} cores usable, {memory:.1f} GiB",
            f"- {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}",
            f"- Load generator: {tool}",
            f"- {packages}",
        ]
    )
