#!/usr/bin/env bash
# Gradescope runs this once, in /autograder/source, to build the image.
set -euo pipefail
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${AUTOGRADER_ROOT:-/autograder}"
NEEDS_REDIS=@NEEDS_REDIS@

# System packages, where we may install them (Gradescope: root, Ubuntu).
wanted=()
command -v bwrap >/dev/null || wanted+=(bubblewrap)
if [ "$NEEDS_REDIS" = 1 ] && ! command -v redis-server >/dev/null; then
  wanted+=(redis-server)
fi
python_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }
PYTHON=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null && python_ok "$candidate"; then
    PYTHON="$(command -v "$candidate")"; break
  fi
done
[ -n "$PYTHON" ] || wanted+=(python3.11 python3.11-venv)
if [ "${#wanted[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing ${wanted[*]} (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${wanted[@]}"
  else
    echo "setup.sh: missing ${wanted[*]}, and cannot install them (not root, or no apt-get)." >&2
  fi
fi
if [ -z "$PYTHON" ]; then
  if command -v python3.11 >/dev/null && python_ok python3.11; then
    PYTHON="$(command -v python3.11)"
  else
    echo "setup.sh: the course needs Python 3.11 or newer, and none was found or installed." >&2
    exit 1
  fi
fi
echo "==> creating $ROOT/venv with $("$PYTHON" --version)"
"$PYTHON" -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --quiet --upgrade pip
echo "==> installing the course"
PYTHONWARNINGS=ignore "$ROOT/venv/bin/python" -m pip install --quiet --editable "$SOURCE/course"
"$ROOT/venv/bin/python" -P -m coursekit.grading.autograder --check-install
echo "==> the autograder is ready"
