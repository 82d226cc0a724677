"""Agent join tokens: tokens create | list | revoke."""

from __future__ import annotations

import argparse
import re
import sys

from torpor.ctl import output, render
from torpor.ctl.client import AdminClient
from torpor.proto.v1 import admin_pb2

from .base import Handler, Subparsers

_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^(\d+)([smhd]?)$")


def duration_s(text: str) -> int:
    """'90', '90s', '15m', '1h', '2d' as whole seconds (argparse turns the error into exit 2)."""
    match = _DURATION.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: a positive number with s, m, h or d (e.g. 1h)"
        )
    return int(match.group(1)) * _UNITS_S[match.group(2) or "s"]


def register(commands: Subparsers) -> dict[str, Handler]:
    tokens = commands.add_parser("tokens", help="agent join tokens: create, list, revoke")
    actions = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="a one-time token for a new host (shown once)")
    create.add_argument("--note", default="", help="what the token is for (e.g. the hostname)")
    create.add_argument(
        "--ttl", type=duration_s, default=0, help="how long it may be used (default: server's)"
    )
    actions.add_parser("list", help="every token with its status")
    actions.add_parser("revoke", help="stop a token from being used").add_argument("token_id")
    return {"tokens": tokens_cmd}


def tokens_cmd(client: AdminClient, args: argparse.Namespace) -> str:
    if args.tokens_command == "create":
        request = admin_pb2.CreateJoinTokenRequest(note=args.note, ttl_s=args.ttl)
        created = client.call("CreateJoinToken", request)
        if args.output == "json":
            return output.as_json(created)
        print(render.token_created_hint(created.token), file=sys.stderr)
        return str(created.secret)
    if args.tokens_command == "list":
        listed = client.call("ListJoinTokens", admin_pb2.ListJoinTokensRequest()).tokens
        if args.output == "json":
            return output.as_json(list(listed))
        return render.tokens_table(listed) if listed else "no join tokens"
    revoked = client.call("RevokeJoinToken", admin_pb2.RevokeJoinTokenRequest(id=args.token_id))
    return output.as_json(revoked) if args.output == "json" else f"join token {revoked.id} revoked"
