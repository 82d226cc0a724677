"""The store a repository URL names: the one place that knows the URL forms."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from ...config import S3Section
from .base import ObjectStore
from .local import LocalStore
from .memory import MemoryStore

if TYPE_CHECKING:
    from .s3 import S3Store

MIB = 1024 * 1024
ACCEPTED_FORMS = "s3://BUCKET[/PREFIX], file:///ABSOLUTE/PATH, a directory path, or memory://NAME"


class RepositoryURLError(ValueError):
    """The repository URL is not one of the accepted forms; the message lists them."""


def open_store(url: str, *, s3: S3Section | None = None) -> ObjectStore:
    """The store for `url`; `s3` tunes S3 access (endpoint, retries, multipart).

    `memory://NAME` gives a new, empty store on every call (for tests).

    Raises:
        RepositoryURLError: `url` is empty, has an unknown scheme, or lacks a bucket.
    """
    if not url:
        raise _refused("''", "empty repository URL")
    if "://" not in url:
        return LocalStore(Path(url).expanduser().absolute())
    parts = urlsplit(url)
    if parts.scheme == "s3":
        return _open_s3(url, parts.netloc, parts.path, s3 or S3Section())
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise _refused(url, "a file URL takes no host")
        return LocalStore(Path(unquote(parts.path)))
    if parts.scheme == "memory":
        return MemoryStore(parts.netloc + parts.path)
    raise _refused(url, "unknown repository scheme")


def _refused(url: str, why: str) -> RepositoryURLError:
    return RepositoryURLError(f"{url}: {why}; expected {ACCEPTED_FORMS}")


def _open_s3(url: str, bucket: str, prefix: str, section: S3Section) -> S3Store:
    from .s3 import S3Store  # noqa: PLC0415 -- boto3 costs 0.1 s to import: only when used

    if not bucket:
        raise _refused(url, "no bucket")
    return S3Store(
        bucket,
        unquote(prefix),
        endpoint_url=section.endpoint_url,
        region=section.region,
        max_attempts=section.max_attempts,
        multipart_threshold_bytes=section.multipart_threshold_mib * MIB,
    )
