"""`torpor-agent inhibit` and `torpor-agent status`: the idle feature from a shell."""

from __future__ import annotations

import argparse
import json
import re
import time
from datetime import datetime

from ..config import AgentConfig
from .explain import NoStatus, duration, read_status, summary, table
from .inhibitors import Inhibitor, InhibitorStore

EX_UNAVAILABLE = 69  # sysexits: the agent's view is not available
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """ "30s", "15m", "2h", "1d", "1h30m" -> seconds (argparse type)."""
    compact = text.strip().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise argparse.ArgumentTypeError(f"expected a duration like 30s, 15m or 2h, got {text!r}")
    seconds = sum(float(number) * _UNIT_S[unit] for number, unit in parts)
    if seconds <= 0:
        raise argparse.ArgumentTypeError("the duration must be positive")
    return seconds


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> list[str]:
    """Adds `inhibit` and `status`; returns their names (they need --config)."""
    inhibit = commands.add_parser("inhibit", help="keep this machine from hibernating")
    action = inhibit.add_mutually_exclusive_group(required=True)
    action.add_argument("--for", dest="duration", type=parse_duration, help="e.g. 30m, 2h")
    action.add_argument("--list", action="store_true", help="list the active inhibitors")
    action.add_argument("--release", metavar="ID", help="remove an inhibitor")
    inhibit.add_argument("--why", default="", help="shown in status and to the control plane")
    status = commands.add_parser("status", help="show the idle policy's view of this machine")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    return ["inhibit", "status"]


def run_inhibit(args: argparse.Namespace, config: AgentConfig) -> int:
    store = InhibitorStore(config.state_dir())
    now = time.time()
    if args.list:
        for each in store.active(now):
            print(_describe(each))
        return 0
    if args.release:
        if not store.release(args.release):
            print(f"torpor-agent: no inhibitor {args.release}")
            return 1
        print(f"released {args.release}")
        return 0
    if not args.why:
        print('torpor-agent: say why with --why "...": it is shown to whoever wonders')
        return 2
    inhibitor = store.add(args.why, args.duration, now)
    print(f"{inhibitor.id} holds this machine up until {_local(inhibitor.expires_wall)}")
    return 0


def _describe(inhibitor: Inhibitor) -> str:
    until = _local(inhibitor.expires_wall)
    return f"{inhibitor.id}  until {until}  by {inhibitor.who}  {inhibitor.why}"


def _local(wall: float) -> str:
    return datetime.fromtimestamp(wall).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def run_status(args: argparse.Namespace, config: AgentConfig) -> int:
    try:
        status = read_status(config.state_dir(), time.time())
    except NoStatus as error:
        print(f"torpor-agent: {error}")
        return EX_UNAVAILABLE
    if args.json:
        body = {"age_s": status.age_s, "stale": status.stale} | status.decision.to_dict()
        print(json.dumps(body, indent=2))
        return EX_UNAVAILABLE if status.stale else 0
    if status.stale:
        print(
            f"torpor-agent: the agent's last status is {duration(status.age_s)} old: "
            "is the agent running? (shown below as it was)"
        )
    print(table(status.decision))
    print()
    print(summary(status.decision))
    return EX_UNAVAILABLE if status.stale else 0
