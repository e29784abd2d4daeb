"""JupyterHub's proxy for the hub tests: found, or installed into the venv.

``make test`` runs this first (``python tests/hub_proxy.py``). JupyterHub
(installed from PyPI with the test extra) sends every request through
configurable-http-proxy, a Node.js program from the npm registry. This
installs it, pinned to its major version, into ``<venv>/node/`` with
``npm install --prefix``; when it is already there it does nothing. Without
node and npm, and where we run as root on a Debian-like machine (CI,
containers), it first installs Debian's ``nodejs`` and ``npm`` with apt-get
(in CI, also through passwordless sudo).

Without the proxy the hub tests are skipped, except where ``CI`` is set:
there they must run, and this script and the tests fail.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from tests import system_packages

PACKAGE = "configurable-http-proxy@5"
#: Inside the venv, so that removing the venv removes it too.
NODE_PREFIX = Path(sys.prefix) / "node"
PROXY = NODE_PREFIX / "node_modules" / ".bin" / "configurable-http-proxy"
NPM_OPTIONS = ("--no-audit", "--no-fund", "--loglevel=error")
HOW_TO_INSTALL = (
    "Install Node.js and npm (Debian/Ubuntu: `sudo apt-get install nodejs npm`; "
    "macOS: `brew install node`), then run `python tests/hub_proxy.py` with the "
    "venv's python."
)


def find() -> Path | None:
    """The configurable-http-proxy executable in the venv, or None."""
    return PROXY if PROXY.is_file() else None


def _npm_install() -> subprocess.CompletedProcess[str]:
    npm = shutil.which("npm") or "npm"
    return subprocess.run(
        [npm, "install", "--prefix", str(NODE_PREFIX), *NPM_OPTIONS, PACKAGE],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )


def version(proxy: Path) -> str:
    """What ``configurable-http-proxy --version`` says."""
    result = subprocess.run(
        [str(proxy), "--version"], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or result.stderr.strip()


def main() -> int:
    required = system_packages.ci()
    proxy = find()
    if proxy is None:
        have_node = shutil.which("node") and shutil.which("npm")
        if not have_node and system_packages.can_install(allow_sudo=required):
            print("==> installing Node.js and npm for JupyterHub's proxy (apt-get)")
            result = system_packages.apt_install(["nodejs", "npm"], allow_sudo=required)
            if result.returncode != 0:
                print(result.stdout[-3000:], file=sys.stderr)
        if shutil.which("node") and shutil.which("npm"):
            print(f"==> installing {PACKAGE} into {NODE_PREFIX} (npm)")
            result = _npm_install()
            if result.returncode != 0:
                print(result.stdout[-3000:], file=sys.stderr)
            proxy = find()
    if proxy is None:
        message = f"no configurable-http-proxy in {NODE_PREFIX}. {HOW_TO_INSTALL}"
        if required:
            print(
                f"==> The JupyterHub tests must run here (CI is set), but: {message}",
                file=sys.stderr,
            )
            return 1
        print(f"==> {message} The JupyterHub tests will be skipped.")
        return 0
    print(f"==> JupyterHub tests use configurable-http-proxy {version(proxy)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
