"""S3Store's own promises: refused credentials, an unreachable endpoint, multipart uploads."""

from __future__ import annotations

import os
import time

import boto3
import pytest

from tests.support.processes import free_port
from tests.support.s3server import FAKE_CREDENTIALS, S3Bucket
from torpor.agent.snapshot.store.base import (
    ObjectExists,
    ObjectNotFound,
    StoreAccessDenied,
    StoreError,
    StoreUnavailable,
)
from torpor.agent.snapshot.store.s3 import MIB, S3Store

pytestmark = pytest.mark.integration


def _store(bucket: S3Bucket, **options: int) -> S3Store:
    return S3Store(bucket.name, "repo", endpoint_url=bucket.endpoint_url, **options)


def test_refused_credentials_raise_access_denied_in_one_line(
    moto_server_with_auth: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREVOKEDREVOKED00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    store = S3Store("torpor-auth", "repo", endpoint_url=moto_server_with_auth, max_attempts=2)
    calls = [
        lambda: store.put("config", b"{}"),
        lambda: store.get("config"),
        lambda: store.size("config"),
        lambda: list(store.list()),
    ]
    for call in calls:
        with pytest.raises(StoreAccessDenied) as raised:
            call()
        message = str(raised.value)
        assert "\n" not in message
        assert "credentials were refused" in message
        assert "AWS_ACCESS_KEY_ID" in message
    store.close()


def test_unreachable_endpoint_raises_unavailable_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    store = S3Store("torpor-nowhere", "repo", endpoint_url=endpoint, max_attempts=2)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=endpoint.replace(".", r"\.")):
        store.put("config", b"{}")
    with pytest.raises(StoreUnavailable):
        list(store.list())
    assert time.monotonic() - started < 10
    store.close()


def test_missing_bucket_is_a_store_error_naming_it(s3_bucket: S3Bucket) -> None:
    store = S3Store("torpor-no-such-bucket", "", endpoint_url=s3_bucket.endpoint_url)
    with pytest.raises(StoreError, match="torpor-no-such-bucket") as raised:
        store.get("config")
    assert not isinstance(raised.value, ObjectNotFound)
    store.close()


def test_large_objects_go_up_in_parts_with_checksums(s3_bucket: S3Bucket) -> None:
    store = _store(s3_bucket, multipart_threshold_bytes=5 * MIB)
    data = os.urandom(12 * MIB)
    store.put("data/ab/pack", data)
    client = boto3.session.Session().client("s3", endpoint_url=s3_bucket.endpoint_url)
    head = client.head_object(Bucket=s3_bucket.name, Key="repo/data/ab/pack")
    assert head["ETag"].strip('"').endswith("-3")  # 5 + 5 + 2 MiB
    assert store.get("data/ab/pack") == data
    client.close()
    store.close()


def test_small_objects_carry_a_sha256_checksum(s3_bucket: S3Bucket) -> None:
    store = _store(s3_bucket)
    store.put("config", b"{}")
    client = boto3.session.Session().client("s3", endpoint_url=s3_bucket.endpoint_url)
    head = client.head_object(Bucket=s3_bucket.name, Key="repo/config", ChecksumMode="ENABLED")
    assert head.get("ChecksumSHA256")
    client.close()
    store.close()


def test_refused_conditional_multipart_upload_is_aborted(s3_bucket: S3Bucket) -> None:
    store = _store(s3_bucket, multipart_threshold_bytes=5 * MIB)
    store.put("snapshots/big", b"first", if_absent=True)
    with pytest.raises(ObjectExists):
        store.put("snapshots/big", os.urandom(6 * MIB), if_absent=True)
    assert store.get("snapshots/big") == b"first"
    client = boto3.session.Session().client("s3", endpoint_url=s3_bucket.endpoint_url)
    assert client.list_multipart_uploads(Bucket=s3_bucket.name).get("Uploads", []) == []
    client.close()
    store.close()


def test_keys_are_relative_to_the_prefix(s3_bucket: S3Bucket) -> None:
    inside, other = (
        _store(s3_bucket),
        S3Store(s3_bucket.name, "other/", endpoint_url=s3_bucket.endpoint_url),
    )
    inside.put("index/i1", b"x")
    other.put("index/i2", b"y")
    assert [o.key for o in inside.list()] == ["index/i1"]
    assert inside.describe() == f"s3://{s3_bucket.name}/repo"
    inside.close()
    other.close()
