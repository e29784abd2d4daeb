"""``jupyter lab``, a second sooner: what ``make lab`` runs.

``python -m coursekit.lab ARGS`` is ``jupyter lab ARGS``, except that the
Jupyter server starts without importing ``rfc3987_syntax`` (see
``coursekit.startup``): jupyter_events, which every Jupyter server loads,
imports jsonschema's format checkers, and that one costs about 1.1 s of the
server's 1.9 s of imports, for two string formats no event schema uses.
"""

from __future__ import annotations

import sys

from coursekit.startup import skip_unused_slow_imports


def main() -> None:
    """Run JupyterLab with the command line's arguments."""
    skip_unused_slow_imports()
    from jupyterlab.labapp import main as lab_main

    sys.exit(lab_main())


if __name__ == "__main__":
    main()
