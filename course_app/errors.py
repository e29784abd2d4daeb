"""Exception handlers."""

import json
import math
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


class SafeJSONResponse(JSONResponse):
    """JSON that can always be rendered, whatever the client sent.

    Validation errors echo the rejected input. Python's JSON parser accepts
    `NaN` and lone surrogates (`"\\ud800"`), which the standard rendering
    cannot write (non-finite floats) or encode as UTF-8 (surrogates): it
    fails, and a bad request becomes a 500. Only then this falls back to
    writing such floats as strings and escaping surrogates.
    """

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except (ValueError, UnicodeEncodeError):
            return json.dumps(
                _finite(content),
                ensure_ascii=True,
                allow_nan=False,
                separators=(",", ":"),
            ).encode("ascii")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


async def validation_exception_handler(
    request: Request, exc: RequestValidationError
) -> JSONResponse:
    """FastAPI's own 422 response, rendered so that it cannot fail."""
    return SafeJSONResponse(
        status_code=422, content={"detail": jsonable_encoder(exc.errors())}
    )
