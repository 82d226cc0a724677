"""Failover settings: failover-settings [INSTANCE] [--set KEY=VALUE ...].

The server replaces settings whole (as the HTTP PUT does), so `--set` reads them, changes
the keys given and writes them back: the keys not named keep their values. Keys are the
fields of admin.proto's FailoverSettingValues, checked here before any call."""

from __future__ import annotations

import argparse

from google.protobuf.descriptor import FieldDescriptor

from torpor.ctl import output, render
from torpor.ctl.client import EXIT_USAGE, AdminClient, CtlError
from torpor.proto.v1 import admin_pb2

from .base import Handler, Subparsers

FIELDS = {field.name: field for field in admin_pb2.FailoverSettingValues.DESCRIPTOR.fields}
INHERIT = "inherit"
TRUE, FALSE = ("true", "yes", "on"), ("false", "no", "off")
INT32_MAX = 2**31 - 1
Change = bool | int | None
"""A new value; None: inherit the global one again (instances only)."""


def register(commands: Subparsers) -> dict[str, Handler]:
    settings = commands.add_parser(
        "failover-settings",
        help="failover settings: the global ones, or an instance's (own and inherited)",
    )
    settings.add_argument(
        "instance_id", nargs="?", default="", help="an instance (default: the global settings)"
    )
    settings.add_argument(
        "--set",
        dest="changes",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"change a setting, repeatable ({', '.join(FIELDS)}): true/false, or whole "
        f"seconds; for an instance, {INHERIT} takes the global value again",
    )
    return {"failover-settings": settings_cmd}


def settings_cmd(client: AdminClient, args: argparse.Namespace) -> str:
    changes = parse_changes(args.changes, instance=bool(args.instance_id))
    request = admin_pb2.GetFailoverSettingsRequest(instance_id=args.instance_id)
    settings = client.call("GetFailoverSettings", request)
    if changes:
        own = settings.overrides if args.instance_id else settings.effective
        update = admin_pb2.UpdateFailoverSettingsRequest(
            instance_id=args.instance_id, values=changed(own, changes)
        )
        settings = client.call("UpdateFailoverSettings", update)
    if args.output == "json":
        return output.as_json(settings)
    return render.failover_settings(settings)


def parse_changes(items: list[str], *, instance: bool) -> dict[str, Change]:
    """`KEY=VALUE` strings as {key: value}; CtlError (exit 2) naming a bad key or value."""
    changes: dict[str, Change] = {}
    for item in items:
        key, equals, text = item.partition("=")
        key = key.strip()
        if not equals:
            raise CtlError(f"--set wants KEY=VALUE, not {item!r}", EXIT_USAGE)
        if key not in FIELDS:
            known = ", ".join(FIELDS)
            raise CtlError(f"unknown failover setting {key!r} (known: {known})", EXIT_USAGE)
        changes[key] = _value(key, text.strip().lower(), instance)
    return changes


def _value(key: str, text: str, instance: bool) -> Change:
    if text == INHERIT:
        if not instance:
            raise CtlError(f"{key}={INHERIT}: only an instance's settings inherit", EXIT_USAGE)
        return None
    if FIELDS[key].type == FieldDescriptor.TYPE_BOOL:
        if text in TRUE + FALSE:
            return text in TRUE
        raise CtlError(f"{key} is true or false, not {text!r}", EXIT_USAGE)
    digits = text.removeprefix("-")
    if digits.isascii() and digits.isdigit() and int(digits) <= INT32_MAX:
        return int(text)  # the server checks the range, naming the field
    raise CtlError(f"{key} is a whole number of seconds, not {text!r}", EXIT_USAGE)


def changed(
    values: admin_pb2.FailoverSettingValues, changes: dict[str, Change]
) -> admin_pb2.FailoverSettingValues:
    """A copy of `values` with `changes` applied (None clears the field: inherited)."""
    result = admin_pb2.FailoverSettingValues()
    result.CopyFrom(values)
    for key, value in changes.items():
        if value is None:
            result.ClearField(key)  # type: ignore[arg-type]
        else:
            setattr(result, key, value)
    return result
