"""``show(response)``: an HTTP response as a reader wants to see it.

The status line, the headers that matter to the lesson, and the body as
indented JSON. Headers that change on every run (``date``) are left out
unless asked for, so notebook outputs stay comparable.
"""

from __future__ import annotations

import json

import httpx

__all__ = ["show"]

#: Bodies longer than this are summarised rather than printed.
MAX_BODY = 2000


def _json(value: object, indent: str = "") -> str:
    """Indented JSON, but short lists of plain values stay on one line."""
    inner = indent + "  "
    if isinstance(value, dict) and value:
        items = [
            f"{inner}{json.dumps(k, ensure_ascii=False)}: {_json(v, inner)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list) and value:
        flat = json.dumps(value, ensure_ascii=False)
        if len(flat) <= 60 and not any(isinstance(v, dict | list) for v in value):
            return flat
        items = [f"{inner}{_json(v, inner)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{indent}]"
    return json.dumps(value, ensure_ascii=False)


def _body(response: httpx.Response) -> str:
    content = response.content
    if not content:
        return "(no body)"
    if "json" in response.headers.get("content-type", ""):
        try:
            text = _json(response.json())
        except ValueError:
            text = response.text
    else:
        text = response.text
    if len(text) > MAX_BODY:
        return f"{text[:MAX_BODY]}\n... ({len(content):,} bytes in all)"
    return text


def show(response: httpx.Response, *headers: str) -> None:
    """Print a response: status line, ``content-type`` and the named headers, body.

    Example::

        show(httpx.get(server.url + "/users/me"), "www-authenticate")
    """
    # The phrase from httpx's table, not the one the server sent: uvicorn takes
    # it from Python's http module, which renamed some between versions
    # (422 is "Unprocessable Content" from Python 3.13 on).
    phrase = httpx.codes.get_reason_phrase(response.status_code)
    print(f"HTTP {response.status_code} {phrase}".rstrip())
    for name in ("content-type", *headers):
        value = response.headers.get(name)
        print(f"{name}: {value if value is not None else '(not sent)'}")
    print(_body(response))
