"""Instances: instances, instance, hibernate, wake, snapshots."""

from __future__ import annotations

import argparse
import sys
import time

from torpor.ctl import output, render
from torpor.ctl.client import EXIT_REFUSED, AdminClient, CtlError
from torpor.proto.v1 import admin_pb2

from .base import Handler, Subparsers

STATES = ("provisioning", "running", "hibernating", "hibernated", "waking", "fenced", "failed")
POLL_INTERVAL_S = 0.5
MOVING = ("provisioning", "hibernating", "waking", "failing_over")
"""States an operation passes through: still under way even when a read falls between
the journal's end and the state's (the operation already gone, the state not yet)."""


def register(commands: Subparsers) -> dict[str, Handler]:
    listing = commands.add_parser("instances", help="list instances of every team")
    listing.add_argument("--team", default="", help="only this team's (a team id)")
    listing.add_argument("--state", choices=STATES)
    listing.add_argument("--limit", type=int, default=0, help="at most N (default 50, max 200)")
    listing.add_argument("--offset", type=int, default=0)
    commands.add_parser("instance", help="show one instance").add_argument("instance_id")
    for name, verb in (("hibernate", "snapshot and release its host"), ("wake", "restore it")):
        action = commands.add_parser(name, help=f"{verb} (prints the operation started)")
        action.add_argument("instance_id")
        action.add_argument(
            "--wait", action="store_true", help="follow it until it ends; exit 1 if it failed"
        )
        action.add_argument(
            "--wait-timeout", type=float, default=600.0, help="seconds --wait waits at most"
        )
    snapshots = commands.add_parser("snapshots", help="an instance's snapshots, newest first")
    snapshots.add_argument("instance_id")
    return {
        "instances": instances_cmd,
        "instance": instance_cmd,
        "hibernate": hibernate_cmd,
        "wake": wake_cmd,
        "snapshots": snapshots_cmd,
    }


def instances_cmd(client: AdminClient, args: argparse.Namespace) -> str:
    request = admin_pb2.ListInstancesRequest(
        team_id=args.team, state=args.state or "", limit=args.limit, offset=args.offset
    )
    reply = client.call("ListInstances", request)
    if args.output == "json":
        return output.as_json(list(reply.instances))
    return render.instances_table(reply.instances) if reply.instances else "no instances"


def instance_cmd(client: AdminClient, args: argparse.Namespace) -> str:
    instance = client.call("GetInstance", admin_pb2.GetInstanceRequest(id=args.instance_id))
    return output.as_json(instance) if args.output == "json" else render.instance_details(instance)


def hibernate_cmd(client: AdminClient, args: argparse.Namespace) -> str:
    request = admin_pb2.HibernateInstanceRequest(id=args.instance_id)
    return follow_started(client, args, client.call("HibernateInstance", request), "hibernated")


def wake_cmd(client: AdminClient, args: argparse.Namespace) -> str:
    request = admin_pb2.WakeInstanceRequest(id=args.instance_id)
    return follow_started(client, args, client.call("WakeInstance", request), "running")


def follow_started(
    client: AdminClient, args: argparse.Namespace, started: admin_pb2.Instance, target: str
) -> str:
    """The operation started; with --wait, progress lines (stderr) until it ends in
    `target` (exit 1 otherwise). Shared by hibernate, wake and failover."""
    if not args.wait:
        return output.as_json(started) if args.output == "json" else render.operation_line(started)
    print(render.operation_line(started), file=sys.stderr, flush=True)
    final = follow(client, started, args.wait_timeout)
    if final.state != target:
        raise CtlError(
            f"instance {final.id} is {final.state}, not {target}: {final.state_reason}; "
            f"see `torporctl instance {final.id}`",
            EXIT_REFUSED,
        )
    return output.as_json(final) if args.output == "json" else render.operation_line(final)


def follow(
    client: AdminClient, instance: admin_pb2.Instance, timeout_s: float
) -> admin_pb2.Instance:
    """Polls the instance until no operation runs and it rests in a state; prints each
    step it reaches."""
    deadline = time.monotonic() + timeout_s
    seen = render.progress(instance)
    while instance.HasField("operation") or instance.state in MOVING:
        if time.monotonic() > deadline:
            raise CtlError(
                f"instance {instance.id} is still {instance.state} after {timeout_s:g} s; "
                "it goes on: follow it with `torporctl watch` or `torporctl instance`",
                EXIT_REFUSED,
            )
        time.sleep(POLL_INTERVAL_S)
        instance = client.call("GetInstance", admin_pb2.GetInstanceRequest(id=instance.id))
        if render.progress(instance) != seen:
            seen = render.progress(instance)
            print(seen, file=sys.stderr, flush=True)
    return instance


def snapshots_cmd(client: AdminClient, args: argparse.Namespace) -> str:
    request = admin_pb2.ListSnapshotsRequest(instance_id=args.instance_id)
    reply = client.call("ListSnapshots", request)
    if args.output == "json":
        return output.as_json(list(reply.snapshots))
    return render.snapshots_table(reply.snapshots) if reply.snapshots else "no snapshots yet"
