"""Runs the commands the control plane sends and remembers their results.

The control plane may resend a command whose result it did not see (docs/design.md,
"The stream protocol", point 6), so a repeated id is answered with the remembered
result instead of running the command twice. Long commands (Hibernate) run as tasks
whose result goes to the outbox when done; a repeat while one runs starts nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping

from google.protobuf import unknown_fields

from torpor.proto.v1 import agent_pb2

from .outbox import Outbox

log = logging.getLogger(__name__)

REMEMBERED_RESULTS = 256

Handler = Callable[[agent_pb2.Command], agent_pb2.CommandResult]
LongHandler = Callable[[agent_pb2.Command], Awaitable[agent_pb2.CommandResult]]
Gate = Callable[[agent_pb2.Command], agent_pb2.CommandResult | None]
"""Asked before a new command runs: None lets it run, a result is answered instead (fencing)."""


def _ping(command: agent_pb2.Command) -> agent_pb2.CommandResult:
    """Proves the command path end to end: echo the payload."""
    return agent_pb2.CommandResult(ok=True, outputs={"payload": command.ping.payload})


HANDLERS: dict[str, Handler] = {"ping": _ping}


class CommandDispatcher:
    """Turns a Command into its CommandResult, at most once per command id."""

    def __init__(
        self,
        remember: int = REMEMBERED_RESULTS,
        handlers: Mapping[str, Handler] | None = None,
        long_handlers: Mapping[str, LongHandler] | None = None,
        outbox: Outbox | None = None,
        gate: Gate | None = None,
    ) -> None:
        self._remember = remember
        self._results: OrderedDict[str, agent_pb2.CommandResult] = OrderedDict()
        self._handlers = HANDLERS | dict(handlers or {})
        self._long = dict(long_handlers or {})
        self._outbox = outbox or Outbox()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._gate = gate

    def handle(self, command: agent_pb2.Command) -> agent_pb2.CommandResult | None:
        """The remembered result for a known id, else the result of running it now;
        None for a long command (its result goes to the outbox when it ends)."""
        remembered = self._results.get(command.id)
        if remembered is not None:
            log.debug("command %s repeated: answering the remembered result", command.id)
            return remembered
        refusal = self._gate(command) if self._gate is not None else None
        if refusal is not None:
            return self._finish(command, refusal)
        long_handler = self._long.get(command.WhichOneof("kind") or "")
        if long_handler is not None:
            self._start(command, long_handler)
            return None
        return self._finish(command, self._run(command))

    def _finish(
        self, command: agent_pb2.Command, result: agent_pb2.CommandResult
    ) -> agent_pb2.CommandResult:
        result.command_id = command.id
        if command.id:  # an id-less command cannot be recognised when repeated
            self._results[command.id] = result
            while len(self._results) > self._remember:
                self._results.popitem(last=False)
        return result

    def _start(self, command: agent_pb2.Command, handler: LongHandler) -> None:
        if command.id in self._running:
            log.info("command %s repeated while running: its result comes when done", command.id)
            return
        task = asyncio.create_task(self._run_long(command, handler))
        self._running[command.id] = task

    async def _run_long(self, command: agent_pb2.Command, handler: LongHandler) -> None:
        try:
            result = await handler(command)
        except Exception as error:  # a bug in a handler: say so, keep the agent up
            log.exception("command %s failed", command.id)
            result = agent_pb2.CommandResult(ok=False, error=f"the agent failed: {error}")
        finally:
            self._running.pop(command.id, None)
        self._outbox.put(agent_pb2.AgentMessage(command_result=self._finish(command, result)))

    def close(self) -> None:
        """Cancels the long commands still running (the agent is stopping)."""
        for task in self._running.values():
            task.cancel()

    def _run(self, command: agent_pb2.Command) -> agent_pb2.CommandResult:
        kind = command.WhichOneof("kind") or _unknown_kind(command)
        handler = self._handlers.get(kind)
        if handler is None:  # a newer control plane than this agent
            return agent_pb2.CommandResult(ok=False, error=f"unsupported command: {kind}")
        return handler(command)


def _unknown_kind(command: agent_pb2.Command) -> str:
    """A kind added to the proto after this agent was built arrives as an unknown field."""
    fields = unknown_fields.UnknownFieldSet(command)
    numbers = sorted(int(fields[i].field_number) for i in range(len(fields)))
    return f"field {numbers[0]}" if numbers else "no kind set"
