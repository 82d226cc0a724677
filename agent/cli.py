"""`torpor-agent`: the console script systemd starts (`torpor-agent run --config …`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from torpor.common.version import torpor_version

from . import daemon
from .config import DEFAULT_CONFIG_PATH, ConfigError, load_config
from .errors import EX_CONFIG
from .idle import cli as idle_cli


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torpor-agent", description="The torpor agent, run on every GPU host."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the agent until SIGTERM")
    run.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG_PATH,
        help=f"the agent's TOML config (default {DEFAULT_CONFIG_PATH})",
    )
    commands.add_parser("version", help="print the agent's version")
    for name in idle_cli.add_commands(commands):
        commands.choices[name].add_argument(
            "--config", type=Path, default=DEFAULT_CONFIG_PATH, help="the agent's TOML config"
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status: 0 after a clean stop, 78 (EX_CONFIG) for anything the operator must fix."""
    args = _parser().parse_args(argv)
    if args.command == "version":
        print(f"torpor-agent {torpor_version()}")  # the command's output
        return 0
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"torpor-agent: invalid configuration:\n{error}", file=sys.stderr)
        return EX_CONFIG
    if args.command == "inhibit":
        return idle_cli.run_inhibit(args, config)
    if args.command == "status":
        return idle_cli.run_status(args, config)
    if config.control_plane is None:
        print(
            f"torpor-agent: {args.config}: control_plane.address is required to run the agent;"
            ' add a [control_plane] section with address = "host:8767"',
            file=sys.stderr,
        )
        return EX_CONFIG
    return daemon.run(config)


if __name__ == "__main__":
    sys.exit(main())
