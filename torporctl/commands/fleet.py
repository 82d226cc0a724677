"""Hosts: hosts, host, ping, watch, drain."""

from __future__ import annotations

import argparse

from torpor.ctl import output, render
from torpor.ctl.client import AdminClient
from torpor.proto.v1 import admin_pb2

from .base import Handler, Subparsers

STATE_FILTERS = {
    "connected": admin_pb2.HOST_STATE_CONNECTED,
    "disconnected": admin_pb2.HOST_STATE_DISCONNECTED,
    "released": admin_pb2.HOST_STATE_RELEASED,  # given back on purpose: listed only so
}


def register(commands: Subparsers) -> dict[str, Handler]:
    hosts = commands.add_parser("hosts", help="list hosts with state and latest telemetry")
    hosts.add_argument("--state", choices=sorted(STATE_FILTERS))
    commands.add_parser("host", help="show one host").add_argument("host_id")
    ping = commands.add_parser("ping", help="send a ping command to a host's agent")
    ping.add_argument("host_id")
    watch = commands.add_parser("watch", help="stream fleet events until Ctrl-C")
    watch.add_argument("--host", default="", help="only this host's events")
    watch.add_argument(
        "--after",
        type=int,
        default=0,
        help="first replay the stored events numbered above N (default 0: only new events)",
    )
    drain = commands.add_parser(
        "drain",
        help="no new placements on a host; hibernate (or --failover) its running instances",
    )
    drain.add_argument("host_id")
    drain.add_argument("--undo", action="store_true", help="undrain: take placements again")
    drain.add_argument(
        "--failover",
        action="store_true",
        help="move running instances off by failover (to other hosts) instead of hibernating",
    )
    return {
        "hosts": hosts_cmd,
        "host": host_cmd,
        "ping": ping_cmd,
        "watch": watch_cmd,
        "drain": drain_cmd,
    }


def hosts_cmd(client: AdminClient, args: argparse.Namespace) -> str:
    hosts = client.list_hosts(STATE_FILTERS.get(args.state or "", 0))
    if args.output == "json":
        return output.as_json(hosts)
    return output.hosts_table(hosts) if hosts else "no hosts yet: start an agent with a join token"


def host_cmd(client: AdminClient, args: argparse.Namespace) -> str:
    host = client.get_host(args.host_id)
    return output.as_json(host) if args.output == "json" else output.host_details(host)


def ping_cmd(client: AdminClient, args: argparse.Namespace) -> str:
    reply = client.ping_host(args.host_id, timeout_ms=int(args.timeout * 1000))
    if args.output == "json":
        return output.as_json(reply)
    return f"{args.host_id}: pong in {reply.round_trip_ms} ms"


def watch_cmd(client: AdminClient, args: argparse.Namespace) -> str:
    for event in client.watch_events(args.after, args.host):
        line = output.as_json_line(event) if args.output == "json" else output.event_line(event)
        print(line, flush=True)
    return ""


def drain_cmd(client: AdminClient, args: argparse.Namespace) -> str:
    if args.undo:
        drain = client.call("UndrainHost", admin_pb2.UndrainHostRequest(host_id=args.host_id))
    else:
        request = admin_pb2.DrainHostRequest(host_id=args.host_id, failover=args.failover)
        drain = client.call("DrainHost", request)
    if args.output == "json":
        return output.as_json(drain)
    return render.drain_line(drain, "failing over" if args.failover else "hibernating")
