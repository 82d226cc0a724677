"""Generic protobuf <-> JSON-able dict conversion for what is stored as JSON (GPUs, telemetry).

Not `json_format.MessageToDict`: it writes 64-bit integers as strings, and byte counts
should stay numbers in the database and the HTTP API.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp


def message_to_dict(message: Message) -> dict[str, Any]:
    """Set fields by proto name; an unset optional is left out ("not available")."""
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        if field.has_presence and not message.HasField(field.name):
            continue
        out[field.name] = _field_value(field, getattr(message, field.name))
    return out


def _field_value(field: Any, value: Any) -> Any:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        return {str(k): _scalar_or_message(v) for k, v in value.items()}
    if field.is_repeated:
        return [_scalar_or_message(item) for item in value]
    return _scalar_or_message(value)


def _scalar_or_message(value: Any) -> Any:
    if isinstance(value, Timestamp):
        return value.ToJsonString()
    if isinstance(value, Message):
        return message_to_dict(value)
    return value


def dict_to_message(data: dict[str, Any], message: Message) -> Message:
    """Fills `message` from a stored dict; fields this build does not know are skipped."""
    return json_format.ParseDict(data, message, ignore_unknown_fields=True)
