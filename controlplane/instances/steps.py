"""What a step of an operation is: a coroutine over the journalled operation and its
instance that acts, records, and returns the next step's name (or DONE)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..db.models import InstanceRow, OperationRow

DONE = "done"
"""The step name that ends an operation."""

Step = Callable[[OperationRow, InstanceRow], Awaitable[str]]
StepTable = dict[str, dict[str, Step]]
"""Operation kind → step name → the step."""
