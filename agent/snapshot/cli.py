"""`torpor-agent snapshot …`: the snapshot engine on its own, without a control plane.

Reads the same agent.toml as the daemon (`[snapshot]`), with `--repository` and
`--workspace` to override it. Every failure is one line on stderr and exit status 1;
`--json` prints one JSON object (or list) on stdout for scripts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from .. import error_lines
from ..config import AgentConfig
from . import cli_keys, operations
from .errors import SnapshotError
from .key_source import key_from
from .placement import CommitGuard
from .progress import Progress, Reporter, human_bytes
from .prune import PruneReport
from .repository import SnapshotInfo, UnreadableSnapshot
from .retention import RetentionPolicy
from .store.base import StoreError

EXIT_FAILED = 1


def add_parser(commands: Any) -> None:
    """Registers `snapshot` and its subcommands on the agent's argument parser."""
    parser = commands.add_parser("snapshot", help="create, list, restore and prune snapshots")
    parser.add_argument("--config", type=Path, default=None, help="the agent's TOML config")
    parser.add_argument("--repository", help="override [snapshot] repository")
    parser.add_argument("--workspace", type=Path, help="override [snapshot] workspace")
    parser.add_argument(
        "--key-file", type=Path, help="the key of an encrypted repository (or TORPOR_SNAPSHOT_KEY)"
    )
    parser.add_argument(
        "--passphrase-file", type=Path, help="or its passphrase (or TORPOR_SNAPSHOT_PASSPHRASE)"
    )
    sub = parser.add_subparsers(dest="snapshot_command", required=True)
    create = sub.add_parser("create", help="snapshot the workspace (incremental)")
    create.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
    create.add_argument("--parent", help="compare against this snapshot (default: newest)")
    create.add_argument("--keep-forever", action="store_true", help="pin: forget never removes it")
    sub.add_parser("list", help="list snapshots, oldest first")
    show = sub.add_parser("show", help="one snapshot's details")
    show.add_argument("snapshot", help="an id, a unique prefix, or 'latest'")
    show.add_argument("--tree", action="store_true", help="also list every path")
    restore = sub.add_parser("restore", help="restore a snapshot into a directory")
    restore.add_argument("snapshot", help="an id, a unique prefix, or 'latest'")
    restore.add_argument("--target", type=Path, required=True, help="where to restore")
    restore.add_argument(
        "--trust-ownership",
        action="store_true",
        help="restore recorded owners and setuid/setgid bits (only from a repository you trust)",
    )
    verify = sub.add_parser("verify", help="check the repository's consistency")
    verify.add_argument("--read-data", action="store_true", help="read and hash every pack")
    forget = sub.add_parser("forget", help="remove snapshots (their data goes at prune)")
    forget.add_argument("snapshots", nargs="*", help="ids or prefixes")
    forget.add_argument("--keep-last", type=int, default=0, metavar="N")
    forget.add_argument("--keep-daily", type=int, default=0, metavar="N")
    forget.add_argument("--keep-weekly", type=int, default=0, metavar="N")
    forget.add_argument("--dry-run", action="store_true")
    forget.add_argument("--prune", action="store_true", help="prune afterwards")
    prune = sub.add_parser("prune", help="delete data no snapshot references")
    prune.add_argument("--dry-run", action="store_true")
    prune.add_argument("--wait", type=float, default=0.0, metavar="S", help="wait for locks")
    for name, text in (("pin", "keep a snapshot forever"), ("unpin", "undo pin")):
        sub.add_parser(name, help=text).add_argument("snapshot")
    unlock = sub.add_parser("unlock", help="remove stale locks (their holder is gone)")
    unlock.add_argument(
        "--all",
        dest="remove_all",
        action="store_true",
        help="remove live locks too: only when no other operation uses the repository",
    )
    for child in sub.choices.values():
        child.add_argument("--json", action="store_true", help="print JSON on stdout")
    cli_keys.add_parsers(sub)  # after the loop: their subcommands take --json themselves


GuardFor = Callable[[AgentConfig, str], CommitGuard | None]
"""The fence for a snapshot into a repository (agent/fencing/cli_guard.py); None: none."""


def run(args: argparse.Namespace, config: AgentConfig, guard_for: GuardFor | None = None) -> int:
    """Runs one subcommand; any failure, even an OSError or a bug, is one line on stderr.
    `create` commits through `guard_for`'s guard, as the daemon does (fencing)."""
    operation = f"snapshot {args.snapshot_command}"
    return error_lines.reported(operation, lambda: _run(operation, args, config, guard_for))


def _run(
    operation: str, args: argparse.Namespace, config: AgentConfig, guard_for: GuardFor | None
) -> int:
    try:
        key = key_from(args.key_file, args.passphrase_file, config.snapshot.key_file)
        settings = operations.Settings.from_config(config, args.repository, args.workspace, key)
        if args.snapshot_command == "create":
            guard = guard_for(config, settings.repository) if guard_for is not None else None
            return _create(settings, args, guard)
        return _HANDLERS[args.snapshot_command](settings, args)
    except (SnapshotError, StoreError) as error:
        error_lines.say(f"torpor-agent: {error}")
        return EXIT_FAILED
    except msgspec.DecodeError as error:  # a stored object no reader anticipated
        error_lines.say(
            f"torpor-agent: {operation}: a repository object does not decode ({error}):"
            " the repository may be damaged or from a newer torpor; see `snapshot verify`"
        )
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("torpor-agent: interrupted; the repository is unchanged", file=sys.stderr)
        return 130


def _create(
    settings: operations.Settings, args: argparse.Namespace, guard: CommitGuard | None = None
) -> int:
    progress = Progress("snapshot")
    with Reporter(progress):
        snapshot_id, manifest = operations.create(
            settings,
            progress,
            tags=args.tag,
            parent=args.parent,
            keep=args.keep_forever,
            guard=guard,
        )
    stats = manifest.stats
    if args.json:
        _print_json({"id": snapshot_id, "parent": manifest.parent, **msgspec.to_builtins(stats)})
    else:
        print(
            f"snapshot {snapshot_id[:12]} saved: {stats.files} files, {human_bytes(stats.bytes)};"
            f" read {human_bytes(stats.bytes_read)}, new {human_bytes(stats.bytes_new)}"
            f" ({human_bytes(stats.stored_new)} stored) in {stats.duration_s:.1f}s"
        )
    return 0


def _list(settings: operations.Settings, args: argparse.Namespace) -> int:
    """Readable snapshots oldest first, then each unreadable one as a row with its reason
    (it stays listed so it can be forgotten by id; verify and prune name it too)."""
    listed = operations.catalog(settings)
    if args.json:
        rows = [_summary(info) for info in listed.readable]
        _print_json(rows + [_unreadable(bad) for bad in listed.unreadable])
        return 0
    print(f"{'ID':12}  {'TIME':25}  {'HOST':16}  {'EPOCH':>5}  {'FILES':>7}  {'SIZE':>10}  TAGS")
    for info in listed.readable:
        m = info.manifest
        tags = ",".join(m.tags + (["pinned"] if info.pinned else []))
        print(
            f"{info.id[:12]}  {m.time[:25]:25}  {m.hostname[:16]:16}  {m.epoch or '-':>5}"
            f"  {m.stats.files:>7}"
            f"  {human_bytes(m.stats.bytes):>10}  {tags}"
        )
    for bad in listed.unreadable:
        print(f"{bad.id[:12]}  UNREADABLE{' (pinned)' if bad.pinned else ''}: {bad.reason}")
    return 0


def _show(settings: operations.Settings, args: argparse.Namespace) -> int:
    info = operations.show(settings, args.snapshot)
    summary = _summary(info)
    if args.tree:
        summary["entries"] = [
            {"path": e.path, "kind": e.kind, "size": e.size, "mode": oct(e.mode)}
            for e in info.manifest.entries
        ]
    if args.json:
        _print_json(summary)
        return 0
    for key, value in summary.items():
        if key != "entries":
            print(f"{key:>12}: {value}")
    for entry in summary.get("entries", []):
        print(f"  {entry['mode']:>6} {entry['kind']:7} {entry['size']:>12}  {entry['path']}")
    return 0


def _restore(settings: operations.Settings, args: argparse.Namespace) -> int:
    if args.trust_ownership:
        settings = dataclasses.replace(settings, trust_ownership=True)
    progress = Progress("restore")
    with Reporter(progress):
        snapshot_id = operations.restore(settings, args.snapshot, args.target, progress)
    if args.json:
        _print_json({"id": snapshot_id, "target": str(args.target), "bytes": progress.bytes})
    else:
        print(f"restored {snapshot_id[:12]} into {args.target}: {human_bytes(progress.bytes)}")
    return 0


def _verify(settings: operations.Settings, args: argparse.Namespace) -> int:
    progress = Progress("verify")
    with Reporter(progress):
        report = operations.check(settings, read_data=args.read_data, progress=progress)
    if args.json:
        _print_json(msgspec.to_builtins(report) | {"ok": report.ok})
    else:
        for problem in report.problems:
            print(f"problem: {problem}")
        verdict = "ok" if report.ok else f"{len(report.problems)} problem(s)"
        print(
            f"{report.snapshots} snapshots, {report.packs} packs, {report.chunks} chunks: {verdict}"
        )
    return 0 if report.ok else EXIT_FAILED


def _forget(settings: operations.Settings, args: argparse.Namespace) -> int:
    policy = RetentionPolicy(args.keep_last, args.keep_daily, args.keep_weekly)
    if policy.empty and not args.snapshots:
        raise SnapshotError("forget: name snapshots or give --keep-last/--keep-daily/--keep-weekly")
    removed = operations.forget(settings, args.snapshots, policy, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    if not args.json:
        print(f"{verb} {len(removed)} snapshot(s)" + "".join(f"\n  {i[:12]}" for i in removed))
    pruned = None
    if args.prune and not args.dry_run:
        pruned = operations.prune_repository(settings, dry_run=False, wait_s=0.0)
    if args.json:
        extra = {"prune": msgspec.to_builtins(pruned)} if pruned is not None else {}
        _print_json({"removed": removed, "dry_run": args.dry_run, **extra})
    elif pruned is not None:
        _print_prune(pruned)
    return 0


def _prune(settings: operations.Settings, args: argparse.Namespace) -> int:
    report = operations.prune_repository(settings, dry_run=args.dry_run, wait_s=args.wait)
    if args.json:
        _print_json(msgspec.to_builtins(report))
    else:
        _print_prune(report)
    return 0


def _print_prune(report: PruneReport) -> None:
    verb = "would delete" if report.dry_run else "deleted"
    print(
        f"{verb} {report.packs_deleted} pack(s) ({human_bytes(report.bytes_freed)}),"
        f" repacked {report.packs_repacked} into {report.packs_written}"
    )


def _pin(settings: operations.Settings, args: argparse.Namespace) -> int:
    snapshot_id = operations.set_pin(settings, args.snapshot, pinned=args.snapshot_command == "pin")
    if args.json:
        _print_json({"id": snapshot_id, "pinned": args.snapshot_command == "pin"})
    else:
        print(f"{args.snapshot_command}ned {snapshot_id[:12]}")
    return 0


def _unlock(settings: operations.Settings, args: argparse.Namespace) -> int:
    if args.remove_all:
        print(
            "torpor-agent: warning: --all removes live locks too; if another create or prune"
            " is running on this repository, prune may delete data it still needs",
            file=sys.stderr,
        )
    report = operations.unlock(settings, remove_all=args.remove_all)
    if args.json:
        _print_json(msgspec.to_builtins(report) | {"all": args.remove_all})
        return 0
    print(f"removed {len(report.removed)} lock(s); {report.kept} live lock(s) kept")
    for removed in report.removed:
        whose = removed.record.describe() if removed.record else removed.key
        print(f"  {whose}: {removed.reason}")
    return 0


def _summary(info: SnapshotInfo) -> dict[str, Any]:
    m = info.manifest
    return {
        "id": info.id,
        "time": m.time,
        "hostname": m.hostname,
        "epoch": m.epoch,
        "workspace": m.workspace,
        "tags": m.tags,
        "parent": m.parent,
        "pinned": info.pinned,
        **msgspec.to_builtins(m.stats),
    }


def _unreadable(bad: UnreadableSnapshot) -> dict[str, Any]:
    return {"id": bad.id, "pinned": bad.pinned, "unreadable": True, "reason": bad.reason}


def _print_json(value: object) -> None:
    print(json.dumps(value))


_HANDLERS = {
    "create": _create,
    "list": _list,
    "show": _show,
    "restore": _restore,
    "verify": _verify,
    "forget": _forget,
    "prune": _prune,
    "pin": _pin,
    "unpin": _pin,
    "unlock": _unlock,
    "init": cli_keys.init,
    "key": cli_keys.key,
}
