"""The credential store: file modes, round trip, a stable nonce, atomic replacement."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from torpor.agent.errors import PermanentError
from torpor.agent.identity import CredentialStore, HostCredential

pytestmark = pytest.mark.unit


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_save_and_load_round_trip_with_private_modes(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "state")
    store.prepare()
    assert store.load() is None
    store.save(HostCredential("h-1", "thc_h-1.secret"))
    assert CredentialStore(tmp_path / "state").load() == HostCredential("h-1", "thc_h-1.secret")
    assert mode(tmp_path / "state") == 0o700
    assert mode(tmp_path / "state" / "credentials.json") == 0o600


def test_credential_repr_hides_the_secret() -> None:
    assert "secret" not in repr(HostCredential("h-1", "thc_h-1.secret"))


def test_nonce_is_created_once_and_kept(tmp_path: Path) -> None:
    nonce = CredentialStore(tmp_path).join_nonce()
    assert len(nonce) >= 32
    assert CredentialStore(tmp_path).join_nonce() == nonce
    assert mode(tmp_path / "join_nonce") == 0o600


def test_replacing_leaves_no_temp_files(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.save(HostCredential("h-1", "thc_h-1.a"))
    store.save(HostCredential("h-1", "thc_h-1.b"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["credentials.json"]
    assert store.load() == HostCredential("h-1", "thc_h-1.b")


def test_corrupt_credentials_file_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "credentials.json").write_text("{not json")
    with pytest.raises(PermanentError, match="remove the file and join again"):
        CredentialStore(tmp_path).load()


def test_uncreatable_state_dir_is_one_clear_line() -> None:
    # nobody, root included, may create a directory in /proc
    with pytest.raises(PermanentError, match=r"state directory \S+ is not usable") as caught:
        CredentialStore(Path("/proc/torpor-test/state")).prepare()
    assert "\n" not in str(caught.value)


def test_state_dir_that_is_a_file_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(PermanentError, match=r"set agent\.state_dir in the config"):
        CredentialStore(tmp_path / "file" / "state").prepare()
