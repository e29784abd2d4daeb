"""Find Chromium for the browser tests, and install it where that is safe.

``make test`` runs this first (``python tests/browser/chromium.py``). It uses,
in order: the executable named by ``CHROMIUM``; ``chromium``,
``chromium-browser`` or Google Chrome on the PATH or in its usual place.
When none is there and this is a Debian-like machine where we run as root
(CI, containers), it installs Debian's ``chromium`` package with apt-get;
in CI, also through passwordless sudo. On a person's own machine it never
uses sudo: it says what to install.

Without Chromium the browser tests are skipped, except where ``CI`` is set
(or ``COURSEKIT_BROWSER_TESTS=required``): there they must run, and a
missing browser fails this script and the tests.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script
from tests import system_packages

ENV = "CHROMIUM"
REQUIRED_ENV = "COURSEKIT_BROWSER_TESTS"
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PLACES = (
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
)
HOW_TO_INSTALL = (
    "Install Chromium (Debian/Ubuntu: `sudo apt-get install chromium`; macOS: "
    "`brew install --cask chromium`) or Google Chrome, or name one with "
    f"{ENV}=/path/to/chrome."
)


class ChromiumError(Exception):
    """Chromium is missing or unusable; the message says what to do."""


def required() -> bool:
    """Whether the browser tests must run here rather than be skipped."""
    if os.environ.get(REQUIRED_ENV, "").lower() == "required":
        return True
    return system_packages.ci()


def find() -> Path | None:
    """The Chromium to use, or None when there is none."""
    named = os.environ.get(ENV, "").strip()
    if named:
        path = Path(shutil.which(named) or named)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ChromiumError(
                f"{ENV}={named} is not an executable file. {HOW_TO_INSTALL}"
            )
        return path
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    for place in PLACES:
        if os.access(place, os.X_OK):
            return Path(place)
    return None


def _as_root() -> list[str] | None:
    """How to run apt-get as root here without asking anyone, or None."""
    return system_packages.as_root(allow_sudo=required())


def can_install() -> bool:
    """Whether apt-get can install Chromium here without asking anyone."""
    return system_packages.can_install(allow_sudo=required())


def install() -> Path:
    """Install Debian's chromium package; return its executable."""
    result = system_packages.apt_install(["chromium"], allow_sudo=required())
    found = find()
    if result.returncode != 0 or found is None:
        raise ChromiumError(
            "Installing Chromium with apt-get failed:\n"
            + result.stdout[-3000:]
            + f"\n{HOW_TO_INSTALL}"
        )
    return found


def main() -> int:
    try:
        found = find()
        if found is None and can_install():
            print("==> installing Chromium for the browser tests (apt-get chromium)")
            found = install()
    except ChromiumError as error:
        print(f"==> {error}", file=sys.stderr)
        return 1
    if found is not None:
        print(f"==> browser tests use {found}")
        return 0
    if required():
        print(
            f"==> The browser tests must run here (CI is set), but there is no "
            f"Chromium and it cannot be installed. {HOW_TO_INSTALL}",
            file=sys.stderr,
        )
        return 1
    print(f"==> no Chromium: the browser tests will be skipped. {HOW_TO_INSTALL}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
