"""Renders every HTTP error as `{"error": {"code", "message", "field"?}}`.

Domain errors take their status from `status_codes`; the framework's own errors (a bad
query parameter, an unknown route) get the same body shape.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from ..errors import RateLimited, TorporError, Unauthenticated
from ..status_codes import body_of, code_for_http_status, error_body, http_status

log = logging.getLogger(__name__)
AnyRequest = Request[Any, Any, Any]


def _domain_error(_: AnyRequest, err: TorporError) -> Response[dict[str, Any]]:
    return Response(body_of(err), status_code=http_status(err), headers=_headers_of(err))


def _headers_of(err: TorporError) -> dict[str, str]:
    """401 says how to authenticate (RFC 9110); 429 says when to come back."""
    if isinstance(err, Unauthenticated):
        return {"WWW-Authenticate": 'Bearer realm="torpor"'}
    if isinstance(err, RateLimited):
        return {"Retry-After": str(max(1, math.ceil(err.retry_after_s)))}
    return {}


def _http_error(_: AnyRequest, err: HTTPException) -> Response[dict[str, Any]]:
    field = None
    if isinstance(err, ValidationException) and isinstance(err.extra, list) and err.extra:
        first = err.extra[0]
        field = first.get("key") if isinstance(first, dict) else None
    body = error_body(code_for_http_status(err.status_code), err.detail, field)
    return Response(body, status_code=err.status_code, headers=err.headers)


def _unexpected(request: AnyRequest, err: Exception) -> Response[dict[str, Any]]:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=err)
    return Response(error_body("internal", "internal error"), status_code=500)


def exception_handlers() -> ExceptionHandlersMap:
    return {
        TorporError: _domain_error,
        HTTPException: _http_error,
        Exception: _unexpected,
    }
