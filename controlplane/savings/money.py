"""Money as Decimal: exact amounts per interval, rounded to the cent only when shown.

Each interval's amount is kept to 1e-10 of the currency unit (`PRECISION`), so a total is
the exact sum of its parts; `present` rounds half-even to the cent for display only.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

CURRENCY = "USD"
PRECISION = Decimal("1e-10")
CENT = Decimal("0.01")
MICROS_PER_HOUR = 3_600_000_000
HOURS_PER_MONTH = 730
"""A GB-month is 730 hours, as AWS, GCP and Azure bill storage."""
BYTES_PER_GB = 2**30
"""Storage is billed per GiB ("GB" on the clouds' price pages)."""
ROUNDING_RULE = "each amount exact to 1e-10; totals summed exactly, then rounded half-even to 0.01"


def from_cents(cents: int) -> Decimal:
    return Decimal(cents) / 100


def micros(start: datetime, end: datetime) -> int:
    """Whole microseconds from `start` to `end` (never negative)."""
    delta = end - start
    return max((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds, 0)


def hours(span_micros: int) -> Decimal:
    return exact(Decimal(span_micros) / MICROS_PER_HOUR)


def exact(value: Decimal) -> Decimal:
    """The ledger's working precision: 1e-10, half-even."""
    return value.quantize(PRECISION, rounding=ROUND_HALF_EVEN)


def per_hour(price: Decimal, span_micros: int, share_of: int = 1) -> Decimal:
    """`price` per hour over the span, split `share_of` ways."""
    return exact(price * span_micros / (Decimal(MICROS_PER_HOUR) * share_of))


def per_gb_month(price: Decimal, gigabytes: Decimal, span_micros: int) -> Decimal:
    return exact(price * gigabytes * span_micros / (Decimal(MICROS_PER_HOUR) * HOURS_PER_MONTH))


def present(amount: Decimal) -> str:
    """ "12.34": rounded half-even to the cent, for display only."""
    return str(amount.quantize(CENT, rounding=ROUND_HALF_EVEN))
