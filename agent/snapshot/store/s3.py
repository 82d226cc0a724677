"""A repository under a prefix of an S3-compatible bucket (AWS, MinIO, Ceph, R2, …).

Credentials come from the standard AWS chain (environment, profile, instance role), never
from torpor's config. botocore retries throttling and 5xx with backoff ("standard" mode),
so by the time an error reaches the engine it is one the engine cannot fix by retrying.
Every upload carries a SHA-256 checksum that S3 verifies before it stores the object.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .base import ObjectInfo
from .s3_errors import mapped_errors

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import ChecksumAlgorithmType
    from mypy_boto3_s3.type_defs import (
        CompletedPartTypeDef,
        CompleteMultipartUploadRequestTypeDef,
        GetObjectRequestTypeDef,
        PutObjectRequestTypeDef,
    )

MIB = 1024 * 1024
DEFAULT_MULTIPART_THRESHOLD_BYTES = 64 * MIB
MIN_PART_BYTES = 5 * MIB  # S3's smallest part (except the last)
MAX_PARTS = 10_000  # S3's most parts per upload
POOL_CONNECTIONS = 16  # the engine's I/O threads share one client
CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 60
CHECKSUM: ChecksumAlgorithmType = (
    "SHA256"  # CRC32C would need awscrt; SHA-256 is built into botocore and moto
)


class S3Store:
    """Objects under `s3://bucket/prefix/`; keys are relative to the prefix."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        max_attempts: int = 8,
        multipart_threshold_bytes: int = DEFAULT_MULTIPART_THRESHOLD_BYTES,
        list_page_size: int = 1000,
    ) -> None:
        self._bucket = bucket
        self._prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self._threshold = max(multipart_threshold_bytes, 1)  # never split an empty object
        self._page_size = list_page_size  # lowered only by tests, to exercise pagination
        config = Config(
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            max_pool_connections=POOL_CONNECTIONS,
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=READ_TIMEOUT_S,
        )
        # A private session: boto3's default session is not thread-safe to create clients on.
        session = boto3.session.Session()
        self._client: S3Client = session.client(
            "s3", endpoint_url=endpoint_url, region_name=region, config=config
        )
        self._endpoint = self._client.meta.endpoint_url

    def describe(self) -> str:
        return f"s3://{self._bucket}/{self._prefix}".rstrip("/")

    def put(self, key: str, data: bytes | memoryview, *, if_absent: bool = False) -> None:
        with mapped_errors(self.describe(), self._endpoint, key):
            if len(data) >= self._threshold:
                self._put_multipart(key, memoryview(data), if_absent)
                return
            request: PutObjectRequestTypeDef = {
                "Bucket": self._bucket,
                "Key": self._prefix + key,
                "Body": bytes(data),
                "ChecksumAlgorithm": CHECKSUM,
            }
            if if_absent:
                request["IfNoneMatch"] = "*"
            self._client.put_object(**request)

    def get(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        if length == 0:
            self.size(key)  # still raises ObjectNotFound, as the other stores do
            return b""
        request: GetObjectRequestTypeDef = {"Bucket": self._bucket, "Key": self._prefix + key}
        if start > 0 or length is not None:
            end = "" if length is None else str(start + length - 1)
            request["Range"] = f"bytes={start}-{end}"
        with mapped_errors(self.describe(), self._endpoint, key):
            try:
                response = self._client.get_object(**request)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") == "InvalidRange":
                    return b""  # the range starts at or past the end: nothing there
                raise
            return response["Body"].read()

    def size(self, key: str) -> int:
        with mapped_errors(self.describe(), self._endpoint, key):
            head = self._client.head_object(Bucket=self._bucket, Key=self._prefix + key)
        return head["ContentLength"]

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self._bucket,
            Prefix=self._prefix + prefix,
            PaginationConfig={"PageSize": self._page_size},
        )
        with mapped_errors(self.describe(), self._endpoint):
            for page in pages:
                for item in page.get("Contents", []):
                    yield ObjectInfo(item["Key"][len(self._prefix) :], item["Size"])

    def delete(self, key: str) -> None:
        # S3 answers 204 for a missing key too, so a retried delete is not an error.
        with mapped_errors(self.describe(), self._endpoint, key):
            self._client.delete_object(Bucket=self._bucket, Key=self._prefix + key)

    def close(self) -> None:
        self._client.close()

    def _put_multipart(self, key: str, data: memoryview, if_absent: bool) -> None:
        """Uploads in parts; aborts on any failure so no orphaned parts keep costing money."""
        full_key = self._prefix + key
        upload = self._client.create_multipart_upload(
            Bucket=self._bucket, Key=full_key, ChecksumAlgorithm=CHECKSUM
        )
        upload_id = upload["UploadId"]
        try:
            parts = self._upload_parts(full_key, upload_id, data)
            request: CompleteMultipartUploadRequestTypeDef = {
                "Bucket": self._bucket,
                "Key": full_key,
                "UploadId": upload_id,
                "MultipartUpload": {"Parts": parts},
            }
            if if_absent:
                request["IfNoneMatch"] = "*"
            self._client.complete_multipart_upload(**request)
        except BaseException:
            self._abort(full_key, upload_id)
            raise

    def _upload_parts(
        self, full_key: str, upload_id: str, data: memoryview
    ) -> Sequence[CompletedPartTypeDef]:
        part_bytes = max(self._threshold, MIN_PART_BYTES, math.ceil(len(data) / MAX_PARTS))
        parts: list[CompletedPartTypeDef] = []
        for number, offset in enumerate(range(0, len(data), part_bytes), start=1):
            response = self._client.upload_part(
                Bucket=self._bucket,
                Key=full_key,
                UploadId=upload_id,
                PartNumber=number,
                Body=bytes(data[offset : offset + part_bytes]),
                ChecksumAlgorithm=CHECKSUM,
            )
            parts.append(
                {
                    "PartNumber": number,
                    "ETag": response["ETag"],
                    "ChecksumSHA256": response["ChecksumSHA256"],
                }
            )
        return parts

    def _abort(self, full_key: str, upload_id: str) -> None:
        """Best effort: a failed abort leaves parts a bucket lifecycle rule should expire."""
        try:
            self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=full_key, UploadId=upload_id
            )
        except Exception:  # the upload's own error is the one worth reporting
            return
