"""Warm pools: warmpool [list] | hosts | provision | enable | disable | status | cleanup."""

from __future__ import annotations

import argparse

from torpor.ctl import output, render
from torpor.ctl.client import AdminClient
from torpor.proto.v1 import admin_pb2

from .base import Handler, Subparsers, whole_number
from .tokens import duration_s

NO_POOLS = "no warm pools: create one with `torporctl warmpool provision`"
ONE_POOL = {
    "enable": "keep the pool filled to its target",
    "disable": "release the pool's standbys (the pool and its target stay)",
    "status": "one pool: target, ready, acquiring, claimed, standby cost so far",
    "cleanup": "release the pool's standbys and delete the pool",
}


def register(commands: Subparsers) -> dict[str, Handler]:
    pools = commands.add_parser(
        "warmpool", help="warm pools of standby hosts (no action: list the pools)"
    )
    actions = pools.add_subparsers(dest="warmpool_command", metavar="ACTION")
    actions.add_parser("list", help="every pool with target, ready, acquiring, claimed, cost")
    hosts = actions.add_parser("hosts", help="the standby hosts the pools hold or are getting")
    hosts.add_argument("--pool", default="", help="only this pool's (a pool id)")
    provision = actions.add_parser(
        "provision", help="create the pool of a GPU type, count and region, or change its target"
    )
    provision.add_argument("--gpu-type", required=True)
    provision.add_argument("--gpu-count", type=whole_number, default=1)
    provision.add_argument("--region", required=True)
    provision.add_argument(
        "--target", type=whole_number, required=True, help="standby hosts to keep"
    )
    provision.add_argument(
        "--max-idle-s",
        type=duration_s,
        default=0,
        help="release (and replace) a standby unclaimed this long, e.g. 6h (default: never)",
    )
    owner = provision.add_mutually_exclusive_group(required=True)
    owner.add_argument("--team", default="", help="the team whose instances the pool serves")
    owner.add_argument(
        "--shared",
        action="store_true",
        help="serve every team; standbys prefetch only encrypted repositories",
    )
    for name, help_text in ONE_POOL.items():
        actions.add_parser(name, help=help_text).add_argument("pool_id")
    return {"warmpool": warmpool_cmd}


def warmpool_cmd(client: AdminClient, args: argparse.Namespace) -> str:
    action = args.warmpool_command or "list"
    if action == "list":
        pools = list(client.call("ListWarmPools", admin_pb2.ListWarmPoolsRequest()).pools)
        if args.output == "json":
            return output.as_json(pools)
        return render.pools_table(pools) if pools else NO_POOLS
    if action == "hosts":
        request = admin_pb2.ListStandbyHostsRequest(pool_id=args.pool)
        hosts = list(client.call("ListStandbyHosts", request).hosts)
        if args.output == "json":
            return output.as_json(hosts)
        return render.standbys_table(hosts) if hosts else "no standby hosts"
    if action == "provision":
        return _provision(client, args)
    return _one_pool(client, args, action)


def _provision(client: AdminClient, args: argparse.Namespace) -> str:
    request = admin_pb2.ProvisionWarmPoolRequest(
        gpu_type=args.gpu_type,
        gpu_count=args.gpu_count,
        region=args.region,
        target=args.target,
        max_idle_s=args.max_idle_s,
        team_id=args.team,
        shared=args.shared,
    )
    reply = client.call("ProvisionWarmPool", request)
    if args.output == "json":
        return output.as_json(reply)
    return render.pool_line(reply.pool, "created" if reply.created else "updated")


def _one_pool(client: AdminClient, args: argparse.Namespace, action: str) -> str:
    if action == "status":
        request = admin_pb2.GetWarmPoolStatusRequest(id=args.pool_id)
        status = client.call("GetWarmPoolStatus", request)
        return output.as_json(status) if args.output == "json" else render.pool_status(status)
    if action == "cleanup":
        reply = client.call("CleanupWarmPool", admin_pb2.CleanupWarmPoolRequest(id=args.pool_id))
        if args.output == "json":
            return output.as_json(reply)
        return f"warm pool {args.pool_id} deleted; its standby hosts were released"
    change = admin_pb2.SetWarmPoolEnabledRequest(id=args.pool_id, enabled=action == "enable")
    pool = client.call("SetWarmPoolEnabled", change)
    return output.as_json(pool) if args.output == "json" else render.pool_line(pool, action + "d")
