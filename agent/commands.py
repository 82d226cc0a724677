"""Runs the commands the control plane sends and remembers their results.

The control plane may resend a command whose result it did not see (docs/design.md,
"The stream protocol", point 6), so a repeated id is answered with the remembered
result instead of running the command twice.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable

from google.protobuf import unknown_fields

from torpor.proto.v1 import agent_pb2

log = logging.getLogger(__name__)

REMEMBERED_RESULTS = 256

Handler = Callable[[agent_pb2.Command], agent_pb2.CommandResult]


def _ping(command: agent_pb2.Command) -> agent_pb2.CommandResult:
    """Proves the command path end to end: echo the payload."""
    return agent_pb2.CommandResult(ok=True, outputs={"payload": command.ping.payload})


HANDLERS: dict[str, Handler] = {"ping": _ping}


class CommandDispatcher:
    """Turns a Command into its CommandResult, at most once per command id."""

    def __init__(self, remember: int = REMEMBERED_RESULTS) -> None:
        self._remember = remember
        self._results: OrderedDict[str, agent_pb2.CommandResult] = OrderedDict()

    def handle(self, command: agent_pb2.Command) -> agent_pb2.CommandResult:
        """The remembered result for a known id, else the result of running it now."""
        remembered = self._results.get(command.id)
        if remembered is not None:
            log.debug("command %s repeated: answering the remembered result", command.id)
            return remembered
        result = self._run(command)
        result.command_id = command.id
        if command.id:  # an id-less command cannot be recognised when repeated
            self._results[command.id] = result
            while len(self._results) > self._remember:
                self._results.popitem(last=False)
        return result

    def _run(self, command: agent_pb2.Command) -> agent_pb2.CommandResult:
        kind = command.WhichOneof("kind") or _unknown_kind(command)
        handler = HANDLERS.get(kind)
        if handler is None:  # a newer control plane than this agent
            return agent_pb2.CommandResult(ok=False, error=f"unsupported command: {kind}")
        return handler(command)


def _unknown_kind(command: agent_pb2.Command) -> str:
    """A kind added to the proto after this agent was built arrives as an unknown field."""
    fields = unknown_fields.UnknownFieldSet(command)
    numbers = sorted(int(fields[i].field_number) for i in range(len(fields)))
    return f"field {numbers[0]}" if numbers else "no kind set"
