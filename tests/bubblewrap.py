"""Bubblewrap for the grading sandbox: found, or installed where that is safe.

``make test`` runs this first (``python tests/bubblewrap.py``). ``coursekit
grade`` isolates every submission with bubblewrap (``bwrap``); the tests of
the grader's isolation make real attacks against it. When bwrap is missing
and this is a Debian-like machine where we run as root (CI, containers), it
installs Debian's ``bubblewrap`` package with apt-get (in CI, also through
passwordless sudo). Then it tries a sandbox the way the grader makes one.

Without a working sandbox the tests that need one are skipped, except where
``CI`` is set: there they must run, and this script and the tests fail.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from coursekit.grading import sandbox
from tests import system_packages

HOW_TO_INSTALL = (
    "Install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; "
    "Fedora: `sudo dnf install bubblewrap`)."
)


def main() -> int:
    required = system_packages.ci()
    if shutil.which(sandbox.BWRAP) is None and system_packages.can_install(
        allow_sudo=required
    ):
        print("==> installing bubblewrap for the grading sandbox (apt-get)")
        result = system_packages.apt_install(["bubblewrap"], allow_sudo=required)
        if result.returncode != 0:
            print(result.stdout[-3000:], file=sys.stderr)
    try:
        box = sandbox.bubblewrap()
    except sandbox.SandboxUnavailable as exc:
        if required:
            print(
                f"==> The grading sandbox must be tested here (CI is set), but: "
                f"{exc}. {HOW_TO_INSTALL}",
                file=sys.stderr,
            )
            return 1
        print(f"==> {exc}: the sandbox's tests will be skipped. {HOW_TO_INSTALL}")
        return 0
    print(f"==> the grading sandbox uses {box.version} ({box.path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
