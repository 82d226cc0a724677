"""Reference on-demand prices of AWS, GCP and Azure per GPU type, from a versioned data
file (`data/reference_prices_v<N>.json`) that names its sources and the date they were
read. They are list prices as of that date: the comparison says which version it used.

A file that does not validate is refused with one line naming the file and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any, NoReturn

CURRENT_FILE = "reference_prices_v2.json"
CLOUDS = ("aws", "gcp", "azure")


class ReferencePricesError(ValueError):
    """The file cannot be used; `str()` is one line naming the file and the field."""


@dataclass(frozen=True)
class ReferencePrice:
    cloud: str
    instance_type: str
    gpus: int
    machine_per_hour: Decimal
    source: str = ""
    """The document that states this price (v2 on); empty: the file's per-cloud source."""
    as_of: str = ""
    """The date that document states, when it states one."""

    @property
    def per_gpu_hour(self) -> Decimal:
        return self.machine_per_hour / self.gpus


@dataclass(frozen=True)
class ReferencePrices:
    version: int
    retrieved: str
    currency: str
    source: dict[str, str]
    regions: dict[str, str]
    prices: dict[str, dict[str, ReferencePrice]]
    """gpu type -> cloud -> price."""


def parse(name: str, document: Any) -> ReferencePrices:
    """Validates a decoded file; ReferencePricesError names `name` and the field."""
    if not isinstance(document, dict):
        _fail(name, "", "not a JSON object")
    version = document.get("version")
    if not isinstance(version, int) or version < 1:
        _fail(name, "version", "must be a positive integer")
    strings = {key: document.get(key) for key in ("retrieved", "currency")}
    for key, value in strings.items():
        if not isinstance(value, str) or not value:
            _fail(name, key, "must be a non-empty string")
    source, regions = _per_cloud(name, document, "source"), _per_cloud(name, document, "regions")
    prices = document.get("prices")
    if not isinstance(prices, dict) or not prices:
        _fail(name, "prices", "must map GPU types to clouds")
    return ReferencePrices(
        version=version,
        retrieved=str(strings["retrieved"]),
        currency=str(strings["currency"]),
        source=source,
        regions=regions,
        prices={gpu: _gpu_prices(name, gpu, by_cloud) for gpu, by_cloud in prices.items()},
    )


def _per_cloud(name: str, document: dict[str, Any], key: str) -> dict[str, str]:
    table = document.get(key)
    if not isinstance(table, dict) or set(table) != set(CLOUDS):
        _fail(name, key, f"must name exactly {', '.join(CLOUDS)}")
    return {str(cloud): str(value) for cloud, value in table.items()}


def _gpu_prices(name: str, gpu: str, by_cloud: Any) -> dict[str, ReferencePrice]:
    where = f"prices.{gpu}"
    if not isinstance(by_cloud, dict) or not set(by_cloud) <= set(CLOUDS) or not by_cloud:
        _fail(name, where, f"must map some of {', '.join(CLOUDS)} to prices")
    return {
        cloud: _price(name, f"{where}.{cloud}", cloud, entry) for cloud, entry in by_cloud.items()
    }


def _price(name: str, where: str, cloud: str, entry: Any) -> ReferencePrice:
    if not isinstance(entry, dict):
        _fail(name, where, "must be an object")
    kind, gpus = entry.get("instance_type"), entry.get("gpus")
    if not isinstance(kind, str) or not kind:
        _fail(name, f"{where}.instance_type", "must be a non-empty string")
    if not isinstance(gpus, int) or gpus < 1:
        _fail(name, f"{where}.gpus", "must be a positive integer")
    try:
        price = Decimal(str(entry.get("machine_per_hour")))
    except InvalidOperation:
        price = Decimal(-1)
    if not price.is_finite() or price <= 0:
        _fail(name, f"{where}.machine_per_hour", "must be a positive decimal string")
    extras = {key: entry.get(key, "") for key in ("source", "as_of")}
    for key, value in extras.items():
        if not isinstance(value, str):
            _fail(name, f"{where}.{key}", "must be a string")
    return ReferencePrice(cloud, str(kind), int(gpus), price, extras["source"], extras["as_of"])


def _fail(name: str, field: str, problem: str) -> NoReturn:
    raise ReferencePricesError(f"{name}: {field or '(document)'}: {problem}")


@cache
def current() -> ReferencePrices:
    """The packaged file in use (read once)."""
    text = resources.files(__package__).joinpath("data", CURRENT_FILE).read_text("utf-8")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise ReferencePricesError(f"{CURRENT_FILE}: not valid JSON: {err}") from err
    return parse(CURRENT_FILE, document)
