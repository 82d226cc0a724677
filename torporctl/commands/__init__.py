"""torporctl's subcommands, one module per concern. Each module's `register` adds its
subparsers and returns {command name: handler}; a handler makes its AdminService calls and
returns the text to print (one JSON document under `--output json`).

A new command is one `register` entry, one handler calling one RPC through
`AdminClient.call`, and one rendering function in `torporctl/render.py`."""

from __future__ import annotations

from . import failover, failover_settings, fleet, instances, savings, tokens, warmpool
from .base import Handler, Subparsers

MODULES = (fleet, instances, failover, failover_settings, warmpool, savings, tokens)


def register_all(commands: Subparsers) -> dict[str, Handler]:
    handlers: dict[str, Handler] = {}
    for module in MODULES:
        handlers.update(module.register(commands))
    return handlers
