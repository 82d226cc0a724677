"""`torpor-agent snapshot init` and `snapshot key list|add|remove`: the command line of
key_operations.py. The key that opens the repository comes from the `snapshot` options
(`--key-file`, `--passphrase-file`) or the environment (key_source.py)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from . import key_operations, operations
from .crypto import KeyEncryptionKey, KeyFile, Passphrase
from .errors import SnapshotError
from .key_source import read_passphrase
from .opening import ENCRYPTIONS


def add_parsers(sub: Any) -> None:
    """`init` and `key …` on the `snapshot` subcommands."""
    init = sub.add_parser("init", help="create a repository (encrypted unless told otherwise)")
    init.add_argument("--encryption", choices=ENCRYPTIONS, default="repokey")
    init.add_argument(
        "--new-key-file", type=Path, help="create a random key file here (mode 0600) and use it"
    )
    init.add_argument("--json", action="store_true", help="print JSON on stdout")
    keys = sub.add_parser("key", help="the keys of an encrypted repository")
    commands = keys.add_subparsers(dest="key_command", required=True)
    commands.add_parser("list", help="every key object (wrapped keys only)")
    add = commands.add_parser("add", help="one more key; rotate by adding, then removing")
    new = add.add_mutually_exclusive_group(required=True)
    new.add_argument("--new-key-file", type=Path, help="create a random key file here")
    new.add_argument("--new-passphrase-file", type=Path, help="a passphrase's first line")
    add.add_argument("--note", default="", help="recorded with the key, e.g. who holds it")
    commands.add_parser("remove", help="remove a key (not the one in use)").add_argument("key_id")
    for child in commands.choices.values():
        child.add_argument("--json", action="store_true", help="print JSON on stdout")


def init(settings: operations.Settings, args: argparse.Namespace) -> int:
    if args.new_key_file is not None:
        if settings.key is not None:
            raise SnapshotError("init: give either --new-key-file or a key, not both")
        settings = dataclasses.replace(settings, key=KeyFile.create(args.new_key_file))
    done = key_operations.init(settings, args.encryption)
    if args.json:
        print(json.dumps(dataclasses.asdict(done)))
    else:
        print(f"created repository {done.repository_id} at {done.repository} ({done.encryption})")
    return 0


def key(settings: operations.Settings, args: argparse.Namespace) -> int:
    if args.key_command == "list":
        found = key_operations.keys(settings)
        if args.json:
            print(json.dumps([dataclasses.asdict(info) for info in found]))
        for info in [] if args.json else found:
            state = f"  UNREADABLE: {info.problem}" if info.problem else ""
            print(f"{info.key_id[:16]}  {info.created[:19]}  {info.kdf}  {info.note}{state}")
        return 0
    if args.key_command == "add":
        key_id = key_operations.add(settings, _new_key(args), args.note)
        verb = "added key"
    else:
        key_id = key_operations.remove(settings, args.key_id)
        verb = "removed key"
    print(json.dumps({"key_id": key_id}) if args.json else f"{verb} {key_id}")
    return 0


def _new_key(args: argparse.Namespace) -> KeyEncryptionKey:
    if args.new_key_file is not None:
        return KeyFile.create(args.new_key_file)
    return Passphrase(read_passphrase(args.new_passphrase_file))
