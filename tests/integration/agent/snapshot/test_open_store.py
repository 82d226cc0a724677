"""Repository URLs to stores: every accepted form, and a clear refusal of the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from torpor.agent.config import S3Section
from torpor.agent.snapshot.store.local import LocalStore
from torpor.agent.snapshot.store.memory import MemoryStore
from torpor.agent.snapshot.store.open import RepositoryURLError, open_store
from torpor.agent.snapshot.store.s3 import S3Store

pytestmark = pytest.mark.unit


def test_s3_url_gives_an_s3_store_under_the_prefix() -> None:
    store = open_store("s3://bucket-1/team/repo/", s3=S3Section(region="eu-west-1"))
    assert isinstance(store, S3Store)
    assert store.describe() == "s3://bucket-1/team/repo"
    store.close()


def test_file_url_and_plain_path_give_a_local_store(tmp_path: Path) -> None:
    by_url = open_store(f"file://{tmp_path}/repo")
    by_path = open_store(str(tmp_path / "repo"))
    assert isinstance(by_url, LocalStore)
    assert isinstance(by_path, LocalStore)
    assert by_url.describe() == by_path.describe() == str(tmp_path / "repo")


def test_relative_path_is_made_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert open_store("repo").describe() == str(tmp_path / "repo")


def test_memory_url_gives_a_memory_store() -> None:
    store = open_store("memory://unit")
    assert isinstance(store, MemoryStore)
    assert store.describe() == "memory://unit"


@pytest.mark.parametrize("url", ["gs://bucket/x", "s3://", "file://host/path", ""])
def test_other_urls_are_refused_naming_the_accepted_forms(url: str) -> None:
    with pytest.raises(ValueError, match=r"s3://BUCKET") as raised:
        open_store(url)
    assert isinstance(raised.value, RepositoryURLError)
