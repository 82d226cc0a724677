"""botocore's exceptions turned into the store's errors, one line each with the fix.

Kept apart from the store so the mapping, which is most of what callers see of S3,
reads in one place. No botocore exception may escape a store method: the engine
catches only StoreError.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from .base import (
    ObjectExists,
    ObjectNotFound,
    StoreAccessDenied,
    StoreError,
    StoreUnavailable,
)

NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "403",
        "Forbidden",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
    }
)
CREDENTIALS_FIX = "check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the IAM policy"


@contextmanager
def mapped_errors(where: str, endpoint: str, key: str = "") -> Iterator[None]:
    """Runs one S3 call; `where` is `s3://bucket/prefix`, `key` the object (if any)."""
    try:
        yield
    except ClientError as error:
        raise translate_client_error(error, where, key) from None
    except (NoCredentialsError, PartialCredentialsError) as error:
        raise StoreAccessDenied(
            f"{where}: no usable AWS credentials ({error}): {CREDENTIALS_FIX}"
        ) from None
    except ConnectionError as error:
        raise StoreUnavailable(
            f"{where}: cannot reach the S3 endpoint {endpoint} after retries ({error})"
        ) from None
    except BotoCoreError as error:
        raise StoreError(f"{where}: S3 request failed: {error}") from None


def translate_client_error(error: ClientError, where: str, key: str) -> StoreError:
    """The StoreError for an S3 error response (after botocore's own retries)."""
    details = error.response.get("Error", {})
    code = details.get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    name = f"{where}/{key}" if key else where
    if code in NOT_FOUND_CODES:
        return ObjectNotFound(f"object {key} does not exist in {where}")
    if code == "PreconditionFailed" or status == 412:
        return ObjectExists(f"{name} already exists")
    if code in DENIED_CODES or status == 403:
        return StoreAccessDenied(
            f"{name}: the credentials were refused ({code}): {CREDENTIALS_FIX}"
        )
    if code == "NoSuchBucket":
        bucket = where.removeprefix("s3://").split("/", 1)[0]
        return StoreError(
            f"the bucket {bucket} does not exist: create it or fix the repository URL"
        )
    if status >= 500 or code in ("SlowDown", "RequestTimeout"):
        return StoreUnavailable(f"{name}: S3 kept failing after retries ({code} {status})")
    message = details.get("Message", "")
    return StoreError(f"{name}: S3 refused the request ({code}: {message})")
