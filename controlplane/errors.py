"""Domain errors: what went wrong in terms of torpor, not of HTTP or gRPC.

Services raise these; `status_codes` is the one place that maps them onto the wire.
"""

from __future__ import annotations

from typing import ClassVar


class TorporError(Exception):
    """Base of every error shown to a caller; `message` is one line for a human."""

    code: ClassVar[str] = "internal"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(TorporError):
    code = "not_found"


class InvalidArgument(TorporError):
    code = "invalid_argument"


class Unauthenticated(TorporError):
    code = "unauthenticated"


class PermissionDenied(TorporError):
    code = "permission_denied"


class Conflict(TorporError):
    code = "conflict"


class FailedPrecondition(TorporError):
    code = "failed_precondition"


class Unavailable(TorporError):
    """Retryable: the caller may try again later."""

    code = "unavailable"


class DeadlineExceeded(TorporError):
    code = "deadline_exceeded"


class RateLimited(TorporError):
    """Too many attempts; `retry_after_s` says when the next one may succeed."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s
