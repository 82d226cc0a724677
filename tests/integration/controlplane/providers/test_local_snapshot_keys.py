"""The local provider hands an encrypted repository's key to `torpor-agent snapshot` in
its environment (`TORPOR_SNAPSHOT_KEY`, hex), never on its command line, and only for an
instance that has one. A stand-in executable reports what it was given."""

from __future__ import annotations

from pathlib import Path

import pytest

from torpor.controlplane.providers.local import snapshots
from torpor.controlplane.repository_keys.secret import RepositoryKey

pytestmark = pytest.mark.integration
REPORTER = """#!/bin/sh
printf '[{"id": "%s", "argv": "%s"}]' "${TORPOR_SNAPSHOT_KEY-unset}" "$*"
"""


@pytest.fixture
def reporter(tmp_path: Path) -> Path:
    """A `torpor-agent` that lists one snapshot named after the key it was given."""
    executable = tmp_path / "torpor-agent"
    executable.write_text(REPORTER)
    executable.chmod(0o755)
    (tmp_path / "repository").mkdir()
    return executable


async def test_the_key_goes_in_the_environment_not_the_command_line(
    reporter: Path, tmp_path: Path
) -> None:
    key = RepositoryKey.generate()
    [seen] = await snapshots.listed(reporter, tmp_path / "repository", key)
    assert seen["id"] == key.hex() and len(seen["id"]) == 64
    assert key.hex() not in seen["argv"] and seen["argv"].endswith("list --json")


async def test_no_key_means_none_even_one_this_process_inherited(
    reporter: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(snapshots.SNAPSHOT_KEY_ENV, "ab" * 32)
    [seen] = await snapshots.listed(reporter, tmp_path / "repository")
    assert seen["id"] == "unset"
