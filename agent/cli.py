"""`torpor-agent`: the console script systemd starts (`torpor-agent run --config …`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from torpor.common.version import torpor_version

from . import error_lines
from .config import DEFAULT_CONFIG_PATH, AgentConfig, ConfigError, load_config
from .errors import EX_CONFIG
from .fencing.cli_guard import held_guard
from .idle import cli as idle_cli
from .logs import configure_logging
from .snapshot import cli as snapshot_cli


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
    snapshot_cli.add_parser(commands)
    for name in idle_cli.add_commands(commands):
        commands.choices[name].add_argument(
            "--config", type=Path, default=DEFAULT_CONFIG_PATH, help="the agent's TOML config"
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status: 0 after a clean stop, 78 (EX_CONFIG) for anything the operator must fix.

    Commands that end (snapshot, inhibit, status) turn any failure into one line and exit 1
    (error_lines.py); the daemon logs its own, with tracebacks for the journal.
    """
    args = _parser().parse_args(argv)
    if args.command == "version":
        print(f"torpor-agent {torpor_version()}")  # the command's output
        return 0
    if args.command == "run":
        return _serve(args)
    return error_lines.reported(args.command, lambda: _command(args))


def _command(args: argparse.Namespace) -> int:
    config = _configured(args)
    if config is None:
        return EX_CONFIG
    if args.command == "snapshot":
        configure_logging(config.log)
        return snapshot_cli.run(args, config, guard_for=held_guard)  # fenced: refused
    return _LOCAL_COMMANDS[args.command](args, config)


def _serve(args: argparse.Namespace) -> int:
    config = _configured(args)
    if config is None:
        return EX_CONFIG
    if config.control_plane is None:
        print(
            f"torpor-agent: {args.config}: control_plane.address is required to run the agent;"
            ' add a [control_plane] section with address = "host:8767"',
            file=sys.stderr,
        )
        return EX_CONFIG
    from . import daemon  # noqa: PLC0415 -- grpc and NVML: only the daemon pays their import

    return daemon.run(config)


def _configured(args: argparse.Namespace) -> AgentConfig | None:
    """The config, or None once every problem in it is printed (one line each)."""
    try:
        return _load_config(args)
    except ConfigError as error:
        print(f"torpor-agent: invalid configuration:\n{error}", file=sys.stderr)
        return None


_LOCAL_COMMANDS = {"inhibit": idle_cli.run_inhibit, "status": idle_cli.run_status}


def _load_config(args: argparse.Namespace) -> AgentConfig:
    """Snapshot commands work without a config file when --repository is given."""
    path = args.config
    if args.command == "snapshot" and path is None:
        if args.repository and not DEFAULT_CONFIG_PATH.exists():
            return AgentConfig()
        path = DEFAULT_CONFIG_PATH
    return load_config(path)


if __name__ == "__main__":
    sys.exit(main())
