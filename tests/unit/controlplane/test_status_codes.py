"""One mapping from domain errors to HTTP and gRPC."""

from __future__ import annotations

import grpc
import pytest

from torpor.controlplane import errors
from torpor.controlplane.status_codes import body_of, grpc_status, http_status

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("error", "http", "rpc"),
    [
        (errors.NotFound("x"), 404, grpc.StatusCode.NOT_FOUND),
        (errors.InvalidArgument("x"), 400, grpc.StatusCode.INVALID_ARGUMENT),
        (errors.Unauthenticated("x"), 401, grpc.StatusCode.UNAUTHENTICATED),
        (errors.PermissionDenied("x"), 403, grpc.StatusCode.PERMISSION_DENIED),
        (errors.Conflict("x"), 409, grpc.StatusCode.FAILED_PRECONDITION),
        (errors.FailedPrecondition("x"), 409, grpc.StatusCode.FAILED_PRECONDITION),
        (errors.Unavailable("x"), 503, grpc.StatusCode.UNAVAILABLE),
        (errors.DeadlineExceeded("x"), 504, grpc.StatusCode.DEADLINE_EXCEEDED),
        (
            errors.RateLimited("x", retry_after_s=1.0),
            429,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        ),
        (errors.TorporError("x"), 500, grpc.StatusCode.INTERNAL),
    ],
)
def test_each_error_has_one_status(
    error: errors.TorporError, http: int, rpc: grpc.StatusCode
) -> None:
    assert http_status(error) == http
    assert grpc_status(error) == rpc


def test_the_body_names_the_field_only_when_there_is_one() -> None:
    assert body_of(errors.NotFound("no host")) == {
        "error": {"code": "not_found", "message": "no host"}
    }
    assert body_of(errors.InvalidArgument("bad", field="limit"))["error"]["field"] == "limit"
