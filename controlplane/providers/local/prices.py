"""The local provider's offers: a price table per (GPU type, count, region).

A real provider asks its cloud for prices; `local` reads them from a TOML table
(`TORPOR_LOCAL_PRICE_TABLE`) or uses the built-in one below, so the savings the control
plane reports for local hosts are in realistic dollars. Format, one entry per offer:

    [[offer]]
    gpu_type = "H100-80GB"
    gpu_count = 8
    region = "local"
    price_per_hour_cents = 9832   # the whole machine, US cents per hour
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ...errors import InvalidArgument
from ..base import Offer

PROVIDER = "local"

# On-demand list prices of comparable cloud machines (2025), whole machine per hour.
DEFAULT_TABLE: tuple[tuple[str, int, str, int], ...] = (
    ("A100-80GB", 1, "local", 507),
    ("A100-80GB", 4, "local", 2028),
    ("A100-80GB", 8, "local", 4097),
    ("H100-80GB", 1, "local", 1229),
    ("H100-80GB", 8, "local", 9832),
    ("L4", 1, "local", 80),
)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gpu_type: str = Field(min_length=1)
    gpu_count: int = Field(ge=1, le=64)
    region: str = Field(min_length=1)
    price_per_hour_cents: int = Field(ge=0)


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid")

    offer: list[_Entry] = Field(min_length=1)


class PriceTableError(ValueError):
    """The table cannot be used; `str()` is one line naming the file and the problem."""


def default_offers() -> list[Offer]:
    return [Offer(PROVIDER, *entry) for entry in DEFAULT_TABLE]


def load_offers(path: Path | None) -> list[Offer]:
    """The offers of the table at `path`, or the built-in table when None.

    Raises PriceTableError (one line) for an unreadable or invalid file."""
    if path is None:
        return default_offers()
    try:
        table = _Table.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except OSError as error:
        raise PriceTableError(f"{path}: cannot read: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise PriceTableError(f"{path}: not valid TOML: {error}") from error
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise PriceTableError(f"{path}: {where}: {first['msg']}") from error
    return [
        Offer(PROVIDER, e.gpu_type, e.gpu_count, e.region, e.price_per_hour_cents)
        for e in table.offer
    ]


def match_offer(offers: list[Offer], gpu_type: str, gpu_count: int, region: str) -> Offer:
    """The offer for exactly this spec; InvalidArgument naming the first field no offer has."""
    types = sorted({o.gpu_type for o in offers})
    if gpu_type not in types:
        raise InvalidArgument(
            f"no local offer has gpu_type {gpu_type!r}; choose one of {', '.join(types)}",
            field="gpu_type",
        )
    regions = sorted({o.region for o in offers if o.gpu_type == gpu_type})
    if region not in regions:
        raise InvalidArgument(
            f"{gpu_type} is not offered in region {region!r}; choose {', '.join(regions)}",
            field="region",
        )
    fitting = [o for o in offers if o.gpu_type == gpu_type and o.region == region]
    for offer in fitting:
        if offer.gpu_count == gpu_count:
            return offer
    counts = ", ".join(str(o.gpu_count) for o in sorted(fitting, key=lambda o: o.gpu_count))
    raise InvalidArgument(
        f"{gpu_type} in {region} comes with {counts} GPUs, not {gpu_count}", field="gpu_count"
    )
