"""Make the nbgitpuller link that opens a lesson of the course on a class's hub.

    python deploy/jupyterhub/nbgitpuller_link.py \\
        --hub https://hub.example.org \\
        --repo https://github.com/your-org/fastapi-notebook-course \\
        --notebook notebooks/01_hello_world.ipynb

A learner who follows it logs in, their server starts, nbgitpuller clones
the repository into ``~/<repository name>`` (or, when it is there, merges
the new commits without overwriting their changes), and JupyterLab opens
the notebook. The link format is nbgitpuller's:
``{hub}/hub/user-redirect/git-pull?repo=...&branch=...&urlpath=...``.
"""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlencode, urlsplit

DEFAULT_NOTEBOOK = "notebooks/00_start_here.ipynb"


class LinkError(ValueError):
    """An argument that cannot make a working link; the message says why."""


def _http_url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise LinkError(f"{what} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def nbgitpuller_link(
    hub: str, repo: str, *, branch: str = "main", notebook: str = DEFAULT_NOTEBOOK
) -> str:
    """The link that pulls ``repo`` on ``hub`` and opens ``notebook`` in JupyterLab."""
    hub = _http_url(hub, "the hub")
    repo = _http_url(repo, "the repository")
    folder = repo.removesuffix(".git").rsplit("/", 1)[-1]
    if not notebook or notebook.startswith("/") or ".." in notebook.split("/"):
        raise LinkError(
            f"the notebook must be a path inside the repository: {notebook!r}"
        )
    query = urlencode(
        {"repo": repo, "branch": branch, "urlpath": f"lab/tree/{folder}/{notebook}"}
    )
    return f"{hub}/hub/user-redirect/git-pull?{query}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hub", required=True, help="the hub's address")
    parser.add_argument("--repo", required=True, help="the course's git repository")
    parser.add_argument("--branch", default="main")
    parser.add_argument("--notebook", default=DEFAULT_NOTEBOOK)
    args = parser.parse_args(argv)
    try:
        link = nbgitpuller_link(
            args.hub, args.repo, branch=args.branch, notebook=args.notebook
        )
    except LinkError as error:
        print(f"nbgitpuller_link: {error}", file=sys.stderr)
        return 2
    print(link)
    return 0


if __name__ == "__main__":
    sys.exit(main())
