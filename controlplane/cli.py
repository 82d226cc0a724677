"""`torpor-controlplane`: serve, migrate, and manage tokens directly on the database.

Expected failures end with one line and a documented exit status, never a traceback:
78 (EX_CONFIG) for invalid settings or an unusable repository master key, 1 for a
database that cannot be used.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any

from torpor.common.timestamps import utc_now

from .db.engine import DatabaseUnreachable
from .db.migrate import upgrade_database
from .errors import TorporError
from .repository_keys.master_key import MasterKeyError
from .services import open_services, preflight
from .settings import Settings, SettingsError, load_settings

PROG = "torpor-controlplane"
EX_CONFIG = 78
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_SECONDS_PER_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def parse_duration(text: str) -> float:
    """`30s`, `15m`, `1h`, `7d` or plain seconds."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (use e.g. 30s, 15m, 1h, 7d)")
    return float(match.group(1)) * _SECONDS_PER_UNIT[match.group(2)]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


async def _serve(_: argparse.Namespace, settings: Settings) -> int:
    import uvicorn  # noqa: PLC0415 - only `serve` needs the server stack

    from .app import create_app  # noqa: PLC0415

    await preflight(settings)  # a bad key or database is one line here, a traceback in uvicorn
    logging.getLogger("torpor").info(
        "torpor control plane: HTTP on http://%s:%d, gRPC on %s:%d",
        settings.http_host,
        settings.http_port,
        settings.grpc_host,
        settings.grpc_port,
    )
    config = uvicorn.Config(
        app=create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    await server.serve()
    return 0 if server.started else 1


async def _db_upgrade(_: argparse.Namespace, settings: Settings) -> int:
    await upgrade_database(settings.database_url)
    _stderr("database is up to date")
    return 0


async def _tokens_create(args: argparse.Namespace, settings: Settings) -> int:
    ttl_s = args.ttl if args.ttl is not None else settings.join_token_ttl_s
    async with open_services(settings) as services:
        token = await services.join_tokens.create(ttl_s, args.note)
    print(token)
    _stderr(
        f"join token valid for {ttl_s:g} s, for one host: set control_plane.join_token "
        "in that host's /etc/torpor/agent.toml"
    )
    return 0


async def _tokens_list(_: argparse.Namespace, settings: Settings) -> int:
    async with open_services(settings) as services:
        tokens = await services.join_tokens.list()
    now = utc_now()
    rows = [("ID", "CREATED", "EXPIRES", "STATUS", "USED BY", "NOTE")]
    rows += [
        (
            t.id,
            _when(t.created_at),
            _when(t.expires_at),
            t.status(now),
            t.used_by_host_id or "-",
            t.note,
        )
        for t in tokens
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


async def _tokens_revoke(args: argparse.Namespace, settings: Settings) -> int:
    async with open_services(settings) as services:
        await services.join_tokens.revoke(args.id)
    _stderr(f"join token {args.id} revoked")
    return 0


async def _admin_tokens_create(args: argparse.Namespace, settings: Settings) -> int:
    async with open_services(settings) as services:
        token = await services.admin_tokens.create(args.name)
    print(token)
    _stderr("admin token shown once; clients send it as `authorization: Bearer <token>`")
    return 0


async def _operators_add(args: argparse.Namespace, settings: Settings) -> int:
    async with open_services(settings) as services:
        user = await services.accounts.users.set_operator(args.email, True)
    _stderr(f"{user.email} is now a platform operator (fleet-wide routes, e.g. /api/v1/hosts)")
    return 0


async def _operators_remove(args: argparse.Namespace, settings: Settings) -> int:
    async with open_services(settings) as services:
        user = await services.accounts.users.set_operator(args.email, False)
    _stderr(f"{user.email} is no longer a platform operator")
    return 0


async def _operators_list(_: argparse.Namespace, settings: Settings) -> int:
    async with open_services(settings) as services:
        operators = await services.accounts.users.operators()
    for user in operators:
        print(f"{user.email}  {user.id}")
    return 0


def _add_operator_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The platform-operator role is granted here only, never through the API."""
    operators = commands.add_parser("operators", help="platform operators (fleet-wide access)")
    actions = operators.add_subparsers(required=True, metavar="ACTION")
    add = actions.add_parser("add", help="make a registered user a platform operator")
    add.add_argument("email")
    add.set_defaults(run=_operators_add)
    remove = actions.add_parser("remove", help="take the operator role away")
    remove.add_argument("email")
    remove.set_defaults(run=_operators_remove)
    actions.add_parser("list", help="list operators").set_defaults(run=_operators_list)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="The torpor control plane.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the HTTP API and the gRPC server")
    serve.set_defaults(run=_serve)
    db = commands.add_parser("db", help="database maintenance").add_subparsers(
        required=True, metavar="ACTION"
    )
    db.add_parser("upgrade", help="apply pending migrations").set_defaults(run=_db_upgrade)
    _add_token_commands(commands)
    admin = commands.add_parser("admin-tokens", help="operator tokens")
    admin_actions = admin.add_subparsers(required=True, metavar="ACTION")
    create_admin = admin_actions.add_parser("create", help="create an admin token (printed once)")
    create_admin.add_argument("name", help="who or what holds the token")
    create_admin.set_defaults(run=_admin_tokens_create)
    _add_operator_commands(commands)
    return parser


def _add_token_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tokens = commands.add_parser("tokens", help="join tokens for new hosts")
    actions = tokens.add_subparsers(required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a join token (only the token on stdout)")
    create.add_argument(
        "--ttl", type=parse_duration, default=None, help="lifetime: 30s, 15m, 1h, 7d"
    )
    create.add_argument("--note", default="", help="free text shown by `tokens list`")
    create.set_defaults(run=_tokens_create)
    actions.add_parser("list", help="list join tokens").set_defaults(run=_tokens_list)
    revoke = actions.add_parser("revoke", help="revoke a join token")
    revoke.add_argument("id", help="the token id from `tokens list`")
    revoke.set_defaults(run=_tokens_revoke)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `torpor-controlplane` console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as err:
        _stderr(f"{PROG}: invalid configuration:")
        for line in err.lines:
            _stderr(f"  {line}")
        return EX_CONFIG
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT)
    if settings.log_level != "debug":
        logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per migration step
    return _run(args.run, args, settings)


def _run(command: Command, args: argparse.Namespace, settings: Settings) -> int:
    try:
        return asyncio.run(command(args, settings))
    except DatabaseUnreachable as err:
        _stderr(f"{PROG}: {err}; {err.hint()}")
    except MasterKeyError as err:
        _stderr(f"{PROG}: {err.message}")
        return EX_CONFIG
    except TorporError as err:
        _stderr(f"{PROG}: {err.message}")
    except KeyboardInterrupt:
        return 130
    return 1
