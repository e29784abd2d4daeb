"""serve() inside a real Jupyter kernel, the way a learner's notebook uses it."""

from __future__ import annotations

import json

import nbformat
from nbclient import NotebookClient

SERVE_CELL = """\
from fastapi import FastAPI
from coursekit.serve import serve

app = FastAPI()

@app.get("/")
def root():
    return {"version": VERSION}

server = serve(app)
"""

CALL_CELL = """\
import httpx
print(httpx.get(server.url + "/").json())
httpx.get(server.url + "/missing")
"""


def run_cells(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    return nb


def texts(cell: nbformat.NotebookNode) -> str:
    return json.dumps(cell.outputs)


def test_a_learner_reruns_the_server_cell_after_editing_a_route() -> None:
    nb = run_cells(
        "VERSION = 1",
        SERVE_CELL,
        CALL_CELL,
        "VERSION = 2",
        SERVE_CELL,  # the re-run: must replace the old server, not fail
        CALL_CELL,
        "import time; time.sleep(0.3)  # the server thread logs meanwhile",
    )
    serve_cell, first_call, rerun_call = nb.cells[1], nb.cells[2], nb.cells[5]

    # The server cell shows links, as HTML for a person, as text otherwise.
    [shown] = serve_cell.outputs
    assert shown.output_type == "display_data"
    assert "/docs" in shown.data["text/html"] and "/redoc" in shown.data["text/html"]
    assert shown.data["text/plain"].startswith(
        "<LiveServer 'app' running at http://127.0.0.1:"
    )

    assert first_call.outputs[0].text == "{'version': 1}\n"
    assert rerun_call.outputs[0].text == "{'version': 2}\n"

    # No uvicorn log line (startup, access log, 404) lands in any cell.
    for cell in nb.cells:
        assert "uvicorn" not in texts(cell).lower()
        assert "HTTP/1.1" not in texts(cell)
        assert "Application startup" not in texts(cell)
    assert all(o.output_type != "error" for c in nb.cells for o in c.outputs)


def test_uvicorn_run_in_a_cell_fails_but_serve_works() -> None:
    # Why serve() exists: the kernel's own event loop is already running.
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import uvicorn\nfrom fastapi import FastAPI\napp = FastAPI()\n"
            "uvicorn.run(app, port=0)"
        ),
        nbformat.v4.new_code_cell(
            "from coursekit.serve import serve\nserver = serve(app, show=False)\n"
            "print(server.running)"
        ),
    ]
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute()
    [error] = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert error.ename == "RuntimeError"
    assert nb.cells[1].outputs[0].text == "True\n"
