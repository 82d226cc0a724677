"""`torporctl`: the operator's terminal view of the fleet, over the AdminService.

Exit codes: 0 done, 1 the control plane refused (message printed), 2 usage,
3 the control plane cannot be reached.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from torpor.common.tls import ClientTls
from torpor.ctl.client import EXIT_OK, EXIT_USAGE, AdminClient, CtlError, Target
from torpor.ctl.commands import register_all
from torpor.ctl.commands.base import Handler

DEFAULT_SERVER = "127.0.0.1:8767"
HANDLERS: dict[str, Handler] = {}
"""Filled by `build_parser` from the command modules."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="torporctl", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--server",
        default=os.environ.get("TORPOR_SERVER", DEFAULT_SERVER),
        help="control plane gRPC address (env TORPOR_SERVER; default %(default)s)",
    )
    parser.add_argument(
        "--token", default=None, help="admin token (env TORPOR_ADMIN_TOKEN, or --token-file)"
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help="file holding the admin token (env TORPOR_ADMIN_TOKEN_FILE)",
    )
    add_tls_arguments(parser)
    parser.add_argument("--output", "-o", choices=("table", "json"), default="table")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per call")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    HANDLERS.update(register_all(commands))
    return parser


def add_tls_arguments(parser: argparse.ArgumentParser) -> None:
    """--ca/--cert/--key: TLS to the gRPC port, with a client certificate for mutual TLS."""
    env = os.environ.get
    tls = parser.add_argument_group("TLS (any of --ca/--cert turns it on)")
    tls.add_argument(
        "--ca", type=Path, default=env("TORPOR_CA"), help="PEM CA bundle (env TORPOR_CA)"
    )
    tls.add_argument(
        "--cert", type=Path, default=env("TORPOR_CERT"), help="operator certificate (TORPOR_CERT)"
    )
    tls.add_argument("--key", type=Path, default=env("TORPOR_KEY"), help="its key (TORPOR_KEY)")
    tls.add_argument(
        "--tls-server-name",
        default=env("TORPOR_TLS_SERVER_NAME"),
        help="name to check the server certificate against (TORPOR_TLS_SERVER_NAME)",
    )


def resolve_tls(args: argparse.Namespace) -> ClientTls | None:
    if args.ca is None and args.cert is None:
        return None
    if (args.cert is None) != (args.key is None):
        raise CtlError("pass --cert and --key together (TORPOR_CERT, TORPOR_KEY)", EXIT_USAGE)
    return ClientTls(args.ca, args.cert, args.key, args.tls_server_name)


def resolve_token(args: argparse.Namespace) -> str:
    """--token, then --token-file, then TORPOR_ADMIN_TOKEN, then TORPOR_ADMIN_TOKEN_FILE."""
    if args.token:
        return str(args.token)
    token_file = args.token_file or os.environ.get("TORPOR_ADMIN_TOKEN_FILE")
    if token_file:
        try:
            return Path(token_file).read_text().strip()
        except OSError as error:
            raise CtlError(f"cannot read the admin token file: {error}", EXIT_USAGE) from None
    token = os.environ.get("TORPOR_ADMIN_TOKEN", "")
    if not token:
        raise CtlError(
            "no admin token: create one on the server with "
            "`torpor-controlplane admin-tokens create NAME`, then set TORPOR_ADMIN_TOKEN",
            EXIT_USAGE,
        )
    return token


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        target = Target(args.server, resolve_token(args), args.timeout, resolve_tls(args))
        client = AdminClient(target)
        try:
            text = HANDLERS[args.command](client, args)
        finally:
            client.close()
    except CtlError as error:
        print(f"torporctl: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return EXIT_OK
    if text:
        print(text)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
