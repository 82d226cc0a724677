"""The one mapping from domain errors to HTTP status codes, gRPC status codes and the
error body `{"error": {"code", "message", "field"?}}`, so HTTP and gRPC never disagree."""

from __future__ import annotations

from typing import Any

import grpc

from .errors import (
    Conflict,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RateLimited,
    TorporError,
    Unauthenticated,
    Unavailable,
)

_STATUS: dict[type[TorporError], tuple[int, grpc.StatusCode]] = {
    NotFound: (404, grpc.StatusCode.NOT_FOUND),
    InvalidArgument: (400, grpc.StatusCode.INVALID_ARGUMENT),
    Unauthenticated: (401, grpc.StatusCode.UNAUTHENTICATED),
    PermissionDenied: (403, grpc.StatusCode.PERMISSION_DENIED),
    # The request clashes with the resource's state (an instance busy or in the wrong
    # state): FAILED_PRECONDITION, not ALREADY_EXISTS, for gRPC clients to react alike.
    Conflict: (409, grpc.StatusCode.FAILED_PRECONDITION),
    FailedPrecondition: (409, grpc.StatusCode.FAILED_PRECONDITION),
    Unavailable: (503, grpc.StatusCode.UNAVAILABLE),
    DeadlineExceeded: (504, grpc.StatusCode.DEADLINE_EXCEEDED),
    RateLimited: (429, grpc.StatusCode.RESOURCE_EXHAUSTED),
}
_INTERNAL = (500, grpc.StatusCode.INTERNAL)

# For errors raised by the HTTP framework itself (a bad query parameter, an unknown route).
_CODE_OF_HTTP_STATUS = {
    400: "invalid_argument",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    429: "rate_limited",
    503: "unavailable",
}


def _lookup(err: TorporError) -> tuple[int, grpc.StatusCode]:
    for cls in type(err).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return _INTERNAL


def http_status(err: TorporError) -> int:
    return _lookup(err)[0]


def grpc_status(err: TorporError) -> grpc.StatusCode:
    return _lookup(err)[1]


def code_for_http_status(status: int) -> str:
    return _CODE_OF_HTTP_STATUS.get(status, "internal" if status >= 500 else "bad_request")


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The body of every HTTP error."""
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"error": error}


def body_of(err: TorporError) -> dict[str, Any]:
    return error_body(err.code, err.message, err.field)
