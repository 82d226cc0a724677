"""Failover: failover (with --wait), failover-status, failover-readiness."""

from __future__ import annotations

import argparse

from torpor.ctl import output, render
from torpor.ctl.client import AdminClient
from torpor.proto.v1 import admin_pb2

from .base import Handler, Subparsers
from .instances import follow_started


def register(commands: Subparsers) -> dict[str, Handler]:
    failover = commands.add_parser(
        "failover", help="move a running instance to another host now (a last snapshot first)"
    )
    failover.add_argument("instance_id")
    failover.add_argument(
        "--wait", action="store_true", help="follow it until it ends; exit 1 unless running"
    )
    failover.add_argument(
        "--wait-timeout", type=float, default=600.0, help="seconds --wait waits at most"
    )
    status = commands.add_parser(
        "failover-status", help="an instance's epoch, placements and last failover"
    )
    status.add_argument("instance_id")
    readiness = commands.add_parser(
        "failover-readiness", help="could it fail over now, and what would it lose"
    )
    readiness.add_argument("instance_id")
    return {
        "failover": failover_cmd,
        "failover-status": status_cmd,
        "failover-readiness": readiness_cmd,
    }


def failover_cmd(client: AdminClient, args: argparse.Namespace) -> str:
    started = client.call(
        "FailoverInstance", admin_pb2.FailoverInstanceRequest(id=args.instance_id)
    )
    return follow_started(client, args, started, "running")


def status_cmd(client: AdminClient, args: argparse.Namespace) -> str:
    request = admin_pb2.GetFailoverStatusRequest(id=args.instance_id)
    status = client.call("GetFailoverStatus", request)
    return output.as_json(status) if args.output == "json" else render.failover_status(status)


def readiness_cmd(client: AdminClient, args: argparse.Namespace) -> str:
    request = admin_pb2.GetFailoverReadinessRequest(id=args.instance_id)
    readiness = client.call("GetFailoverReadiness", request)
    if args.output == "json":
        return output.as_json(readiness)
    return render.failover_readiness(readiness)
