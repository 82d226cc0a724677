"""Opening a repository's master key with a passphrase or key file, at a bounded cost.

The cost of a wrong passphrase is Argon2 time, once per key object tried: the unwrap after
it is microseconds, so a stored "key check" would save nothing (and would give an offline
attacker nothing new either: the wrap's tag already is one). What bounds the cost is
which objects are tried: only those the KEK can have written, cheapest first, within
OPEN_KDF_BUDGET in all; a user with many passphrase keys names theirs with `key_id`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..store.base import ObjectStore
from .cipher import RepositoryCipher
from .errors import KeyObjectInvalid, SealedObjectInvalid, WrongKey
from .kek import KeyEncryptionKey
from .key_object import KeyObject, unwrap
from .keyring import OPEN_KDF_BUDGET, Unlocked, add_key, read_key_objects, remove_key
from .keys import MasterKey


@dataclass
class _Attempt:
    """One open: tries key objects in turn, spending from the KDF budget, counting outcomes."""

    kek: KeyEncryptionKey
    sealed_config: bytes | None
    budget: int = OPEN_KDF_BUDGET
    tried: int = 0
    over_budget: int = 0
    foreign: int = 0
    refused: list[str] = field(default_factory=list)

    def open(self, key_object: KeyObject) -> Unlocked | None:
        if key_object.kdf.cost > self.budget:
            self.over_budget += 1
            return None
        self.budget -= key_object.kdf.cost
        self.tried += 1
        master = unwrap(key_object, self.kek.derive(key_object.kdf, key_object.salt))
        if master is None:
            return None
        if not self._opens_config(master):  # a stray key of another repository, same KEK
            self.foreign += 1
            return None
        return Unlocked(master, key_object.id)

    def _opens_config(self, master: MasterKey) -> bool:
        if self.sealed_config is None:
            return True
        try:
            RepositoryCipher(master).open_config(self.sealed_config)
        except SealedObjectInvalid:
            return False
        return True


def open_master_key(
    store: ObjectStore,
    kek: KeyEncryptionKey,
    *,
    key_id: str | None = None,
    sealed_config: bytes | None = None,
) -> Unlocked:
    """The master key, from the first key object `kek` opens.

    Pass the repository's sealed `config` when there is one: a key object that opens but
    wraps another master key (left by an init that lost a race, or planted) is then skipped.

    Raises:
        WrongKey: no key object opens (one line saying what was tried and refused).
        CryptoError: too many key objects, or the KDF cannot run here.
    """
    attempt = _Attempt(kek, sealed_config)
    candidates = _candidates(read_key_objects(store), kek, key_id, attempt.refused)
    for key_object in candidates:
        unlocked = attempt.open(key_object)
        if unlocked is not None:
            return unlocked
    raise WrongKey(_wrong_key_message(store, attempt, len(candidates), key_id))


def _candidates(
    found: list[tuple[str, KeyObject | KeyObjectInvalid]],
    kek: KeyEncryptionKey,
    key_id: str | None,
    refused: list[str],
) -> list[KeyObject]:
    """Key objects worth a derivation: decodable, of the KEK's kind; cheapest, then newest first."""
    candidates: list[KeyObject] = []
    for _, key_object in found:
        if isinstance(key_object, KeyObjectInvalid):
            refused.append(str(key_object))
        elif kek.accepts(key_object.kdf) and key_object.id.startswith(key_id or ""):
            candidates.append(key_object)
    candidates.sort(key=lambda k: k.created, reverse=True)
    candidates.sort(key=lambda k: k.kdf.cost)  # stable: newest first within one cost
    return candidates


def _wrong_key_message(
    store: ObjectStore, attempt: _Attempt, candidates: int, key_id: str | None
) -> str:
    what = f"key {key_id}" if key_id else "key"
    head = f"no {what} in {store.describe()} opens with this {attempt.kek.description}"
    details = [f"tried {attempt.tried} of {candidates} matching key objects"]
    if attempt.over_budget:
        details.append(f"{attempt.over_budget} left untried past the KDF budget: name one")
    if attempt.foreign:
        details.append(f"{attempt.foreign} opened but belong to another repository")
    if attempt.refused:
        details.append(f"{len(attempt.refused)} refused, first: {attempt.refused[0]}")
    return f"{head} ({'; '.join(details)})"


def rotate_key(
    store: ObjectStore,
    old: KeyEncryptionKey,
    new: KeyEncryptionKey,
    note: str = "",
    *,
    sealed_config: bytes | None = None,
) -> Unlocked:
    """Replaces the key `old` opens by one for `new`; no data is rewritten.

    Order: open with `old`, add `new`, open again with `new` (so the new key object is
    proven to read back before anything is removed), then remove the old key object.

    Raises:
        WrongKey: `old` opens no key.
    """
    current = open_master_key(store, old, sealed_config=sealed_config)
    new_id = add_key(store, current.master, new, note)
    reopened = open_master_key(store, new, key_id=new_id, sealed_config=sealed_config)
    remove_key(store, reopened, current.key_id)
    return reopened
