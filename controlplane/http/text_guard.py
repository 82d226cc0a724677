"""Refuses NUL characters in a request's path, query and JSON body, naming the field.

PostgreSQL cannot store U+0000 in text, so such a value would reach the database and come
back as a 500 (found by the schema fuzz test); SQLite would store it silently. No field of
the API has a use for it, so it is a 400 at the door, on both backends alike.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, unquote

from litestar import Request

from ..errors import InvalidArgument

NUL = "\x00"
MESSAGE = "text may not contain NUL (U+0000) characters; remove them and send again"


def _nul_path(value: Any, where: str) -> str | None:
    """The dotted path of the first string holding a NUL inside a decoded JSON value."""
    if isinstance(value, str):
        return where if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{where}.{key}" if where else str(key)
            if NUL in str(key):
                return inner
            found = _nul_path(item, inner)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_path(item, f"{where}[{index}]")
            if found is not None:
                return found
    return None


async def refuse_nul_characters(request: Request[Any, Any, Any]) -> None:
    """Litestar `before_request` hook: InvalidArgument naming the offending field."""
    if NUL in unquote(request.scope.get("raw_path", b"").decode("latin-1")):
        raise InvalidArgument(MESSAGE, field="path")
    query = request.scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if NUL in name or NUL in value:
            raise InvalidArgument(MESSAGE, field=name.replace(NUL, ""))
    if request.method in {"POST", "PUT", "PATCH"}:
        body = await request.body()
        if b"\\u0000" in body or b"\x00" in body:
            try:
                decoded = json.loads(body)
            except ValueError:
                return  # not JSON: the route's own validation answers
            field = _nul_path(decoded, "")
            if field is not None:
                raise InvalidArgument(MESSAGE, field=field or "body")
