"""Command dispatch: ping, unknown kinds, and at-most-once per id."""

from __future__ import annotations

import pytest

from torpor.agent.commands import CommandDispatcher
from torpor.proto.v1 import agent_pb2

pytestmark = pytest.mark.unit


def ping(command_id: str, payload: str) -> agent_pb2.Command:
    return agent_pb2.Command(id=command_id, ping=agent_pb2.Ping(payload=payload))


def test_ping_echoes_its_payload() -> None:
    result = CommandDispatcher().handle(ping("c-1", "hello"))
    assert result == agent_pb2.CommandResult(
        command_id="c-1", ok=True, outputs={"payload": "hello"}
    )


def test_command_without_kind_is_unsupported() -> None:
    result = CommandDispatcher().handle(agent_pb2.Command(id="c-2"))
    assert not result.ok
    assert result.command_id == "c-2"
    assert result.error == "unsupported command: no kind set"


def test_kind_newer_than_the_agent_is_unsupported() -> None:
    newer = agent_pb2.Command(id="c-3").SerializeToString() + b"\x9a\x01\x00"  # field 19, empty
    result = CommandDispatcher().handle(agent_pb2.Command.FromString(newer))
    assert (result.ok, result.error) == (False, "unsupported command: field 19")


def test_repeated_id_returns_the_remembered_result() -> None:
    dispatcher = CommandDispatcher()
    first = dispatcher.handle(ping("c-4", "first"))
    again = dispatcher.handle(ping("c-4", "second"))
    assert again == first
    assert again.outputs["payload"] == "first"


def test_only_recent_ids_are_remembered() -> None:
    dispatcher = CommandDispatcher(remember=2)
    dispatcher.handle(ping("a", "1"))
    dispatcher.handle(ping("b", "1"))
    dispatcher.handle(ping("c", "1"))
    assert dispatcher.handle(ping("a", "2")).outputs["payload"] == "2"
    assert dispatcher.handle(ping("c", "2")).outputs["payload"] == "1"
