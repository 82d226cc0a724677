"""The repository master key file: made once with mode 0600, never replaced, and refused
with one line when others may read it or it is not 32 bytes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from torpor.controlplane.configure import keyring_from
from torpor.controlplane.repository_keys.master_key import (
    MASTER_KEY_BYTES,
    MASTER_KEY_FILE,
    MasterKeyError,
    load_master_key,
)
from torpor.controlplane.settings import Settings

pytestmark = pytest.mark.unit


def refusal(path: Path, *, create: bool = False) -> str:
    with pytest.raises(MasterKeyError) as caught:
        load_master_key(path, create=create)
    message = caught.value.message
    assert "\n" not in message and str(path) in message
    return message


def test_a_missing_default_key_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "state" / MASTER_KEY_FILE
    made = load_master_key(path, create=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(made.secret) == MASTER_KEY_BYTES and path.read_bytes() == made.secret
    again = load_master_key(path, create=True)
    assert again.secret == made.secret  # an existing key is never replaced
    assert [p.name for p in path.parent.iterdir()] == [MASTER_KEY_FILE]  # no temp left


def test_a_key_readable_by_others_is_refused_saying_chmod_600(tmp_path: Path) -> None:
    path = tmp_path / MASTER_KEY_FILE
    path.write_bytes(os.urandom(MASTER_KEY_BYTES))
    path.chmod(0o644)
    message = refusal(path)
    assert message.endswith(f"chmod 600 {path}") and "0644" in message
    path.chmod(0o640)
    assert f"chmod 600 {path}" in refusal(path)


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_a_key_of_the_wrong_length_is_refused(tmp_path: Path, size: int) -> None:
    path = tmp_path / MASTER_KEY_FILE
    path.write_bytes(b"k" * size)
    path.chmod(0o600)
    assert f"not {MASTER_KEY_BYTES} random bytes" in refusal(path)


def test_a_configured_key_file_is_never_made(tmp_path: Path) -> None:
    path = tmp_path / "operator.key"
    assert "does not exist" in refusal(path)
    assert not path.exists()


def test_settings_name_the_default_file_and_an_operators_own(tmp_path: Path) -> None:
    default = Settings(state_dir=tmp_path)
    assert default.repository_master_key_path() == tmp_path / MASTER_KEY_FILE
    keyring_from(default)
    assert (tmp_path / MASTER_KEY_FILE).exists()
    own = tmp_path / "own.key"
    own.write_bytes(os.urandom(MASTER_KEY_BYTES))
    own.chmod(0o600)
    configured = Settings(state_dir=tmp_path, repository_master_key_file=own)
    assert keyring_from(configured).master_key_path == own
    own.unlink()
    with pytest.raises(MasterKeyError):
        keyring_from(configured)  # the operator's file is gone: never a fresh key in its place


def test_the_key_never_shows_in_a_repr(tmp_path: Path) -> None:
    key = load_master_key(tmp_path / MASTER_KEY_FILE, create=True)
    keyring = keyring_from(Settings(state_dir=tmp_path))
    for shown in (repr(key), repr(keyring), str(key)):
        assert key.secret.hex() not in shown and repr(key.secret) not in shown
