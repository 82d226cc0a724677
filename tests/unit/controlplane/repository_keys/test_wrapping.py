"""Sealing repository secrets: a round trip opens the same 32 bytes; another instance's id,
another master key or a damaged row fail with one line naming the instance and the key
file; and the secret never shows in a repr on its way to the wire."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from torpor.controlplane.fleet.schemas import Assign, Assignment, Command, Prefetch, Restore
from torpor.controlplane.grpc import convert
from torpor.controlplane.repository_keys.keyring import RepositoryKeyring
from torpor.controlplane.repository_keys.master_key import MasterKey
from torpor.controlplane.repository_keys.secret import RepositoryKey
from torpor.controlplane.repository_keys.wrapping import (
    WRAPPED_BYTES,
    RepositoryKeyError,
    unwrap,
    wrap,
)

pytestmark = pytest.mark.unit
MASTER = MasterKey(Path("/state/repository-master.key"), os.urandom(32))
OTHER = MasterKey(Path("/elsewhere/repository-master.key"), os.urandom(32))


def failure(master: MasterKey, instance_id: str, wrapped: bytes) -> str:
    with pytest.raises(RepositoryKeyError) as caught:
        unwrap(master, instance_id, wrapped)
    message = caught.value.message
    assert "\n" not in message and instance_id in message
    return message


def test_a_wrapped_key_opens_to_the_same_secret() -> None:
    key = RepositoryKey.generate()
    wrapped = wrap(MASTER, "i-1", key)
    assert len(wrapped) == WRAPPED_BYTES and key.reveal() not in wrapped
    assert unwrap(MASTER, "i-1", wrapped).reveal() == key.reveal()
    assert wrap(MASTER, "i-1", key) != wrapped  # a fresh nonce every time


def test_another_instances_id_does_not_open_it() -> None:
    wrapped = wrap(MASTER, "i-1", RepositoryKey.generate())
    assert str(MASTER.path) in failure(MASTER, "i-2", wrapped)


def test_another_master_key_does_not_open_it() -> None:
    wrapped = wrap(MASTER, "i-1", RepositoryKey.generate())
    message = failure(OTHER, "i-1", wrapped)
    assert str(OTHER.path) in message and "does not open" in message


def test_a_damaged_row_is_one_line_too() -> None:
    wrapped = bytearray(wrap(MASTER, "i-1", RepositoryKey.generate()))
    wrapped[-1] ^= 1
    failure(MASTER, "i-1", bytes(wrapped))
    assert "damaged" in failure(MASTER, "i-1", bytes(wrapped[:20]))


def test_the_keyring_seals_new_keys_and_opens_none_as_unencrypted() -> None:
    keyring = RepositoryKeyring(MASTER)
    wrapped = keyring.new_wrapped("i-1")
    opened = keyring.open("i-1", wrapped)
    assert opened is not None and len(opened.reveal()) == 32
    assert keyring.open("i-1", None) is None  # made before repository keys: unencrypted


def test_the_secret_reaches_the_wire_and_no_repr() -> None:
    key = RepositoryKey.generate()
    secret = key.reveal()
    assignment = Assignment("i-1", 3, "/repo", 60.0, key)
    actions = [Assign(assignment), Restore("snap", "/repo", key), Prefetch("/repo", ["s"], key)]
    for action in actions:
        for shown in (repr(action), repr(Command(action, epoch=3)), str(key), f"{key}"):
            assert key.hex() not in shown and repr(secret) not in shown
    wire = [convert.command_to_proto(Command(action)) for action in actions]
    assert wire[0].assign.assignment.repository_key == secret
    assert wire[1].restore.repository_key == secret
    assert wire[2].prefetch.repository_key == secret


def test_no_key_is_empty_bytes_on_the_wire() -> None:
    message = convert.assignment_to_proto(Assignment("i-1", 1, "/repo", 60.0))
    assert message.repository_key == b""
    restore = convert.command_to_proto(Command(Restore("snap")))
    assert restore.restore.repository_key == b""


def test_a_key_an_agent_echoes_in_hello_is_not_read() -> None:
    echoed = convert.assignment_from_proto(
        convert.assignment_to_proto(Assignment("i-1", 1, "", 60.0, RepositoryKey.generate()))
    )
    assert echoed.repository_key is None
