"""Encryption at rest: sealing, keyed names, key objects and the keyring (snapshot/crypto)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from pyfastcdc import FastCDC

from torpor.agent.snapshot.crypto import (
    SEAL_OVERHEAD_BYTES,
    Argon2idParams,
    CryptoError,
    KeyFile,
    KeyFileError,
    KeyObjectInvalid,
    KeyRemovalRefused,
    MasterKey,
    ObjectKind,
    Passphrase,
    RepositoryCipher,
    SealedObjectInvalid,
    WrongKey,
    add_key,
    init_keys,
    key_object_key,
    list_keys,
    looks_sealed,
    open_master_key,
    remove_key,
    rotate_key,
)
from torpor.agent.snapshot.crypto.kdf import MAX_KDF_COST, KdfParams
from torpor.agent.snapshot.crypto.key_object import decode_key_object
from torpor.agent.snapshot.crypto.sealing import Sealer
from torpor.agent.snapshot.format import chunk_id as plain_chunk_id
from torpor.agent.snapshot.store.memory import MemoryStore

pytestmark = pytest.mark.unit

FAST = Argon2idParams(memory_kib=8, iterations=1, lanes=1)  # microseconds, not 90 ms


def passphrase(text: str = "correct horse battery staple") -> Passphrase:
    return Passphrase(text, FAST)


@pytest.fixture
def cipher() -> RepositoryCipher:
    return RepositoryCipher(MasterKey.generate())


def one_line(error: pytest.ExceptionInfo[Exception]) -> str:
    message = str(error.value)
    assert message and "\n" not in message
    return message


# ---- the master key and keyed names ------------------------------------------------


def test_secrets_never_appear_in_repr() -> None:
    secret = os.urandom(32)
    master = MasterKey(secret)
    shown = [repr(master), str(master), f"{master}", repr(RepositoryCipher(master))]
    shown += [repr(Passphrase("hunter2")), repr(KeyFile(secret))]
    for text in shown:
        assert secret.hex() not in text and "hunter2" not in text and "redacted" in text


def test_subkeys_are_independent_and_the_seed_fits_fastcdc() -> None:
    master = MasterKey.generate()
    keys = {master.sealing_key, master.chunk_id_key, master.naming_key, master.secret()}
    assert len(keys) == 4
    assert 1 <= master.chunker_seed <= 2**63 - 1
    FastCDC(1 << 20, min_size=256 << 10, max_size=4 << 20, seed=master.chunker_seed)


def test_the_same_secret_derives_the_same_keys() -> None:
    secret = os.urandom(32)
    one, two = RepositoryCipher(MasterKey(secret)), RepositoryCipher(MasterKey(secret))
    assert one.chunk_id(b"data") == two.chunk_id(b"data")
    assert one.chunker_seed == two.chunker_seed
    assert MasterKey(secret) == MasterKey(secret) != MasterKey.generate()


def test_keyed_chunk_ids_differ_between_repositories() -> None:
    data = os.urandom(4096)
    first, second = RepositoryCipher(MasterKey.generate()), RepositoryCipher(MasterKey.generate())
    assert first.chunk_id(data) == first.chunk_id(data)
    assert first.chunk_id(data) != second.chunk_id(data)
    assert plain_chunk_id(data) not in {first.chunk_id(data), second.chunk_id(data)}
    assert len(first.chunk_id(data)) == 32


def test_metadata_ids_name_the_content_not_the_ciphertext(cipher: RepositoryCipher) -> None:
    first_id, first = cipher.seal_metadata(ObjectKind.MANIFEST, b"manifest")
    second_id, second = cipher.seal_metadata(ObjectKind.MANIFEST, b"manifest")
    index_id, _ = cipher.seal_metadata(ObjectKind.INDEX, b"manifest")
    assert first_id == second_id != index_id  # a retried write lands on the same name
    assert first != second  # a fresh nonce each time
    assert cipher.open_metadata(ObjectKind.MANIFEST, first_id, second) == b"manifest"


# ---- sealing -----------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 1 << 20])
def test_seal_round_trip_and_overhead(cipher: RepositoryCipher, size: int) -> None:
    stored, chunk = os.urandom(size), os.urandom(32)
    blob = cipher.seal_chunk(chunk, stored)
    assert len(blob) == size + SEAL_OVERHEAD_BYTES == size + 29
    assert looks_sealed(blob)
    assert cipher.open_chunk(chunk, blob) == stored


def test_seal_into_a_pack_buffer(cipher: RepositoryCipher) -> None:
    buffer, chunk = bytearray(4096), os.urandom(32)
    length = cipher.seal_chunk_into(chunk, b"x" * 100, memoryview(buffer)[10:])
    assert length == 100 + SEAL_OVERHEAD_BYTES
    assert cipher.open_chunk(chunk, memoryview(buffer)[10 : 10 + length]) == b"x" * 100
    with pytest.raises(CryptoError, match="buffer"):
        cipher.seal_chunk_into(chunk, b"x" * 100, memoryview(buffer)[:50])


def test_a_version_1_config_does_not_look_sealed(cipher: RepositoryCipher) -> None:
    assert not looks_sealed(b'{\n  "format": "torpor-snapshot",\n  "version": 1\n}\n')
    assert looks_sealed(cipher.seal_config(b"{}"))
    assert cipher.open_config(cipher.seal_config(b"{}")) == b"{}"
    assert cipher.open_pack_table(cipher.seal_pack_table(b"table")) == b"table"


def _flip(position: int) -> Callable[[bytes], bytes]:
    def damage(sealed: bytes) -> bytes:
        changed = bytearray(sealed)
        changed[position] ^= 0x01
        return bytes(changed)

    return damage


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_flip(5), "fails authentication"),  # the nonce
        (_flip(20), "fails authentication"),  # the ciphertext
        (_flip(-1), "fails authentication"),  # the tag
        (lambda sealed: sealed[:-1], "fails authentication"),
        (lambda sealed: sealed[: SEAL_OVERHEAD_BYTES - 1], "truncated"),
        (lambda sealed: b"", "truncated"),
        (lambda sealed: b"\x02" + sealed[1:], "format 2"),
    ],
)
def test_damaged_objects_are_refused(
    cipher: RepositoryCipher, damage: Callable[[bytes], bytes], reason: str
) -> None:
    object_id, sealed = cipher.seal_metadata(ObjectKind.MANIFEST, b"a manifest of some length")
    with pytest.raises(SealedObjectInvalid) as error:
        cipher.open_metadata(ObjectKind.MANIFEST, object_id, damage(sealed))
    assert reason in one_line(error)


def test_an_object_moved_to_another_name_is_refused(cipher: RepositoryCipher) -> None:
    _, sealed_a = cipher.seal_metadata(ObjectKind.MANIFEST, b"snapshot A")
    id_b, _ = cipher.seal_metadata(ObjectKind.MANIFEST, b"snapshot B")
    with pytest.raises(SealedObjectInvalid) as error:
        cipher.open_metadata(ObjectKind.MANIFEST, id_b, sealed_a)
    assert id_b in one_line(error)


def test_an_object_replayed_as_another_kind_is_refused(cipher: RepositoryCipher) -> None:
    object_id, sealed = cipher.seal_metadata(ObjectKind.INDEX, b"an index")
    with pytest.raises(SealedObjectInvalid) as error:
        cipher.open_metadata(ObjectKind.MANIFEST, object_id, sealed)
    assert "not the manifest" in one_line(error)
    with pytest.raises(SealedObjectInvalid):
        cipher.open_config(sealed)
    sealer = Sealer(MasterKey.generate().sealing_key)  # same name, other kind, one level down
    with pytest.raises(SealedObjectInvalid):
        sealer.open(ObjectKind.LOCK, "x", sealer.seal(ObjectKind.CONFIG, "x", b"{}"))


def test_a_chunk_blob_moved_to_another_chunk_id_is_refused(cipher: RepositoryCipher) -> None:
    blob = cipher.seal_chunk(cipher.chunk_id(b"one"), b"one")
    with pytest.raises(SealedObjectInvalid):
        cipher.open_chunk(cipher.chunk_id(b"two"), blob)


def test_content_that_does_not_match_its_id_is_refused() -> None:
    """A key holder sealing B under A's name (a bug, or a hostile writer with the key)."""
    master = MasterKey.generate()
    cipher = RepositoryCipher(master)
    id_a, _ = cipher.seal_metadata(ObjectKind.MANIFEST, b"A")
    forged = Sealer(master.sealing_key).seal(ObjectKind.MANIFEST, id_a, b"B")
    with pytest.raises(SealedObjectInvalid, match="does not match its id"):
        cipher.open_metadata(ObjectKind.MANIFEST, id_a, forged)


def test_another_repository_key_opens_nothing(cipher: RepositoryCipher) -> None:
    object_id, sealed = cipher.seal_metadata(ObjectKind.INDEX, b"index")
    with pytest.raises(SealedObjectInvalid):
        RepositoryCipher(MasterKey.generate()).open_metadata(ObjectKind.INDEX, object_id, sealed)


# ---- key-encryption keys -----------------------------------------------------------


def test_open_with_the_passphrase_it_was_created_with(store: MemoryStore) -> None:
    created = init_keys(store, passphrase(), note="laptop")
    opened = open_master_key(store, passphrase())
    assert opened.master == created.master and opened.key_id == created.key_id


def test_a_wrong_passphrase_is_one_line(store: MemoryStore) -> None:
    init_keys(store, passphrase())
    with pytest.raises(WrongKey) as error:
        open_master_key(store, passphrase("wrong"))
    assert one_line(error).startswith("no key in memory://test opens with this passphrase")


def test_an_empty_passphrase_is_refused() -> None:
    with pytest.raises(CryptoError, match="empty"):
        Passphrase("")


def test_passphrases_are_compared_after_unicode_normalisation(store: MemoryStore) -> None:
    init_keys(store, passphrase("caf\u00e9"))  # precomposed é
    open_master_key(store, passphrase("cafe\u0301"))  # e + combining acute


def test_key_file_round_trip(store: MemoryStore, tmp_path: Path) -> None:
    path = tmp_path / "repo.key"
    created = init_keys(store, KeyFile.create(path))
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(path.read_text().strip()) == 64
    assert open_master_key(store, KeyFile.load(path)).master == created.master


def test_a_wrong_key_file_is_one_line(store: MemoryStore, tmp_path: Path) -> None:
    init_keys(store, KeyFile.create(tmp_path / "right.key"))
    wrong = KeyFile.create(tmp_path / "wrong.key")
    with pytest.raises(WrongKey) as error:
        open_master_key(store, wrong)
    assert f"opens with this key file {tmp_path / 'wrong.key'}" in one_line(error)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_a_key_file_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "repo.key"
    KeyFile.create(path)
    path.chmod(mode)
    with pytest.raises(KeyFileError) as error:
        KeyFile.load(path)
    assert one_line(error).endswith(f"(mode {mode:04o}): chmod 600 {path}")


@pytest.mark.parametrize("text", ["", "not a key\n", "ab" * 31 + "\n", "zz" * 32, "x" * 5000])
def test_a_malformed_key_file_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "repo.key"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="does not hold a key"):
        KeyFile.load(path)


def test_a_key_file_is_never_overwritten_and_must_exist(tmp_path: Path) -> None:
    KeyFile.create(tmp_path / "repo.key")
    with pytest.raises(KeyFileError, match="already exists"):
        KeyFile.create(tmp_path / "repo.key")
    with pytest.raises(KeyFileError, match="does not exist"):
        KeyFile.load(tmp_path / "missing.key")


def test_a_key_file_does_not_try_passphrase_keys(store: MemoryStore, tmp_path: Path) -> None:
    init_keys(store, passphrase())
    with pytest.raises(WrongKey, match="tried 0 of 0"):
        open_master_key(store, KeyFile.create(tmp_path / "repo.key"))


# ---- hostile key objects -----------------------------------------------------------


def _rewrite(store: MemoryStore, key_id: str, **changes: Any) -> None:
    """Edits a stored key object's JSON as an attacker with bucket write would."""
    name = key_object_key(key_id)
    document = msgspec.json.decode(store.get(name))
    for field, value in changes.items():
        if field.startswith("kdf_"):
            document["kdf"][field.removeprefix("kdf_")] = value
        else:
            document[field] = value
    store.put(name, msgspec.json.encode(document))


@pytest.mark.parametrize(
    ("changes", "bound"),
    [
        ({"kdf_memory_kib": 100 * 1024 * 1024}, "memory_kib 104857600 is outside the bounds"),
        ({"kdf_iterations": 10**9}, "iterations 1000000000 is outside the bounds"),
        ({"kdf_lanes": 10**6}, "lanes 1000000 is outside the bounds"),
        ({"kdf_memory_kib": 1 << 20, "kdf_iterations": 16}, "is above the bound"),
        ({"kdf_memory_kib": 4}, "memory_kib 4 is outside the bounds"),
    ],
)
def test_hostile_kdf_parameters_are_refused_before_any_work(
    store: MemoryStore, changes: dict[str, int], bound: str
) -> None:
    key_id = init_keys(store, passphrase()).key_id
    _rewrite(store, key_id, **changes)
    started = time.monotonic()
    with pytest.raises(KeyObjectInvalid) as invalid:
        decode_key_object(key_object_key(key_id), store.get(key_object_key(key_id)))
    with pytest.raises(WrongKey) as error:
        open_master_key(store, passphrase())
    assert time.monotonic() - started < 1.0  # 100 GiB of Argon2 would not be
    assert bound in one_line(invalid)
    assert bound in one_line(error) and "1 refused" in str(error.value)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"version": 2}, "key object version 2; this agent reads version 1"),
        ({"extra": 1}, "unknown field `extra`"),
        ({"salt": "AAAA"}, "length >= 16"),
        ({"wrapped": "AAAA"}, "length >= 60"),
        ({"note": "n" * 300}, "length <= 256"),
        ({"id": "0" * 32}, "holds key 00000000000000000000000000000000: moved or renamed"),
        ({"kdf_name": "scrypt"}, "Invalid value 'scrypt'"),
    ],
)
def test_malformed_key_objects_are_refused(
    store: MemoryStore, changes: dict[str, object], reason: str
) -> None:
    key_id = init_keys(store, passphrase()).key_id
    _rewrite(store, key_id, **changes)
    with pytest.raises(KeyObjectInvalid) as error:
        decode_key_object(key_object_key(key_id), store.get(key_object_key(key_id)))
    assert reason in one_line(error)
    assert reason in list_keys(store)[0].problem


def test_oversized_or_garbage_key_objects_are_refused(store: MemoryStore) -> None:
    store.put(key_object_key("a" * 32), b"{" + b" " * 10_000 + b"}")
    store.put(key_object_key("b" * 32), b"\x00garbage")
    problems = [info.problem for info in list_keys(store)]
    assert "larger than 4096 bytes" in problems[0] and "not a valid key object" in problems[1]
    with pytest.raises(WrongKey, match="2 refused"):
        open_master_key(store, passphrase())


@pytest.mark.parametrize(
    "changes", [{"note": "edited"}, {"kdf_iterations": 2}, {"created": "2020-01-01"}]
)
def test_an_edited_key_object_no_longer_opens(
    store: MemoryStore, changes: dict[str, object]
) -> None:
    key_id = init_keys(store, passphrase()).key_id
    _rewrite(store, key_id, **changes)
    with pytest.raises(WrongKey, match="tried 1 of 1"):
        open_master_key(store, passphrase())


def test_too_many_key_objects_are_refused(store: MemoryStore) -> None:
    for number in range(65):
        store.put(key_object_key(f"{number:032x}"), b"{}")
    with pytest.raises(CryptoError, match="65 key objects, more than 64"):
        open_master_key(store, passphrase())


class _CountingKek:
    """A passphrase stand-in that counts derivations instead of running Argon2."""

    def __init__(self, kek: bytes, params: Argon2idParams) -> None:
        self.kek, self.params, self.derivations = kek, params, 0

    description = "passphrase"

    def accepts(self, kdf: KdfParams) -> bool:
        return isinstance(kdf, Argon2idParams)

    def new_params(self) -> KdfParams:
        return self.params

    def derive(self, kdf: KdfParams, salt: bytes) -> bytes:
        self.derivations += 1
        return self.kek


def test_a_wrong_passphrase_spends_a_bounded_kdf_budget(store: MemoryStore) -> None:
    costly = Argon2idParams(memory_kib=MAX_KDF_COST // 4, iterations=1, lanes=4)
    master = MasterKey.generate()
    for _ in range(20):
        add_key(store, master, _CountingKek(os.urandom(32), costly))
    guess = _CountingKek(os.urandom(32), costly)
    with pytest.raises(WrongKey, match="16 left untried past the KDF budget") as error:
        open_master_key(store, guess)
    assert guess.derivations == 4
    assert "tried 4 of 20" in one_line(error)


def test_a_stray_key_of_another_repository_is_skipped(store: MemoryStore) -> None:
    ours = init_keys(store, passphrase())
    add_key(store, MasterKey.generate(), passphrase())  # e.g. left by an init that lost a race
    config = RepositoryCipher(ours.master).seal_config(b"{}")
    for _ in range(5):
        assert open_master_key(store, passphrase(), sealed_config=config).master == ours.master
    store.delete(key_object_key(ours.key_id))
    with pytest.raises(WrongKey, match="1 opened but belong to another repository"):
        open_master_key(store, passphrase(), sealed_config=config)


def test_a_key_id_picks_one_key(store: MemoryStore) -> None:
    first = init_keys(store, passphrase()).key_id
    second = add_key(store, open_master_key(store, passphrase()).master, passphrase())
    assert open_master_key(store, passphrase(), key_id=second[:8]).key_id == second
    assert open_master_key(store, passphrase(), key_id=first).key_id == first
    with pytest.raises(WrongKey, match="no key ffff in"):
        open_master_key(store, passphrase(), key_id="ffff")


# ---- add, list, remove, rotate -----------------------------------------------------


def test_add_list_remove(store: MemoryStore, tmp_path: Path) -> None:
    first = init_keys(store, passphrase("old"), note="alice")
    spare = KeyFile.create(tmp_path / "spare.key")
    spare_id = add_key(store, first.master, spare, note="offline copy")
    listed = {info.key_id: info for info in list_keys(store)}
    assert set(listed) == {first.key_id, spare_id}
    assert listed[first.key_id].note == "alice"
    assert listed[first.key_id].kdf == "argon2id m=8KiB t=1 p=1"
    assert listed[spare_id].kdf == "keyfile" and listed[spare_id].problem == ""
    by_file = open_master_key(store, spare)
    assert by_file.master == first.master
    assert remove_key(store, by_file, first.key_id[:6]) == first.key_id
    with pytest.raises(WrongKey):
        open_master_key(store, passphrase("old"))


def test_remove_refuses_the_key_in_use_and_the_last_key(store: MemoryStore) -> None:
    first = init_keys(store, passphrase())
    with pytest.raises(KeyRemovalRefused, match="the one this session opened") as error:
        remove_key(store, first, first.key_id)
    assert one_line(error)
    second = add_key(store, first.master, passphrase("second"))
    store.delete(key_object_key(first.key_id))  # removed meanwhile by another session
    with pytest.raises(KeyRemovalRefused, match="last key"):
        remove_key(store, first, second)
    assert [info.key_id for info in list_keys(store)] == [second]


def test_remove_needs_one_matching_id(store: MemoryStore) -> None:
    unlocked = init_keys(store, passphrase())
    store.put(key_object_key("ab" + "1" * 30), b"{}")  # ids sharing a prefix
    store.put(key_object_key("ab" + "2" * 30), b"{}")
    with pytest.raises(CryptoError, match="2 keys with id 'ab'"):
        remove_key(store, unlocked, "ab")
    for unknown in ("zz", ""):  # "" would match every key: it names none
        with pytest.raises(CryptoError, match=f"no key with id '{unknown}'"):
            remove_key(store, unlocked, unknown)
    assert remove_key(store, unlocked, "ab1") == "ab" + "1" * 30  # junk can be cleaned up


def test_init_refuses_a_repository_that_has_keys(store: MemoryStore) -> None:
    init_keys(store, passphrase())
    with pytest.raises(CryptoError, match="already has keys"):
        init_keys(store, passphrase())


def test_rotation_rewrites_no_data(store: MemoryStore) -> None:
    first = init_keys(store, passphrase("old"))
    cipher = RepositoryCipher(first.master)
    object_id, sealed = cipher.seal_metadata(ObjectKind.MANIFEST, b"a snapshot")
    config = cipher.seal_config(b"{}")
    rotated = rotate_key(store, passphrase("old"), passphrase("new"), sealed_config=config)
    assert rotated.master == first.master and rotated.key_id != first.key_id
    assert [info.key_id for info in list_keys(store)] == [rotated.key_id]
    with pytest.raises(WrongKey):
        open_master_key(store, passphrase("old"))
    reopened = RepositoryCipher(open_master_key(store, passphrase("new")).master)
    assert reopened.open_metadata(ObjectKind.MANIFEST, object_id, sealed) == b"a snapshot"


def test_default_kdf_costs_are_within_bounds() -> None:
    params = Argon2idParams()
    assert (params.memory_kib, params.iterations, params.lanes) == (64 * 1024, 3, 4)
    with pytest.raises(ValueError, match="memory_kib 16 is outside"):
        Argon2idParams(memory_kib=16, iterations=1, lanes=4)
