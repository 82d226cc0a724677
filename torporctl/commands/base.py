"""What a command module provides: handlers, registered on argparse's subparsers."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from torpor.ctl.client import AdminClient

Handler = Callable[[AdminClient, argparse.Namespace], str]
Subparsers = Any
MAX_WHOLE = 2**31 - 1
"""argparse's `_SubParsersAction`, which is private."""


def whole_number(text: str) -> int:
    """A count or a number of seconds: 0 or more (argparse turns the error into exit 2)."""
    if not text.strip().isdigit() or int(text) > MAX_WHOLE:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (0, 1, 2, ...)")
    return int(text)
