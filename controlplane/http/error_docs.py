"""The error body in the OpenAPI document, so clients (and the schema fuzz test) know
every status a route may answer with."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi import ResponseSpec


@dataclass(frozen=True)
class ErrorDetail:
    code: str
    message: str
    field: str | None = None


@dataclass(frozen=True)
class ErrorBody:
    """`{"error": {"code", "message", "field"?}}`, the body of every error."""

    error: ErrorDetail


_MEANING = {
    400: "Invalid input; `field` names the offending field",
    401: "No valid access token or API key",
    403: "Your role does not allow this; the message names the roles that do",
    404: "No such resource in your teams",
    409: "Conflicts with the current state; the message says what to do",
    429: "Too many attempts; see the Retry-After header",
    503: "A dependency (the database) is not answering; retry later",
    504: "An agent did not answer in time; the instance is as it was, retry later",
}


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    """`responses=` for a route that may answer with these error statuses (400 always)."""
    return {
        status: ResponseSpec(data_container=ErrorBody, description=_MEANING[status])
        for status in sorted({400, *statuses})
    }


AUTHENTICATED = (401, 403, 404, 409)
"""What any route taking a `caller` may answer besides its own success."""
