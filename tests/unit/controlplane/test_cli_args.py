"""Durations accepted by `tokens create --ttl`."""

from __future__ import annotations

import argparse

import pytest

from torpor.controlplane.cli import build_parser, parse_duration

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("15m", 900), ("1h", 3600), ("7d", 604800), ("90", 90)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1w", "-5m", "0", "h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_the_commands_parse() -> None:
    args = build_parser().parse_args(["tokens", "create", "--ttl", "1h", "--note", "rack 4"])
    assert (args.ttl, args.note) == (3600, "rack 4")
    assert build_parser().parse_args(["tokens", "revoke", "abc"]).id == "abc"
    assert build_parser().parse_args(["admin-tokens", "create", "alice"]).name == "alice"
