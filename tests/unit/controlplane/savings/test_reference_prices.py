"""The reference price file: the packaged version validates, names its sources and date,
and a broken one is refused in one line naming the file and the field."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest

from torpor.controlplane.savings.money import present
from torpor.controlplane.savings.reference import (
    CURRENT_FILE,
    ReferencePricesError,
    current,
    parse,
)

pytestmark = pytest.mark.unit


def _document() -> dict[str, Any]:
    path = resources.files("torpor.controlplane.savings").joinpath("data", CURRENT_FILE)
    return dict(json.loads(path.read_text("utf-8")))


def test_the_packaged_file_names_sources_date_and_prices() -> None:
    prices = current()
    assert prices.version == 2 and prices.currency == "USD" and prices.retrieved
    assert all(url.startswith("https://") for url in prices.source.values())
    h100 = prices.prices["H100-80GB"]["aws"]
    assert (h100.instance_type, h100.gpus, h100.per_gpu_hour) == (
        "p5.48xlarge",
        8,
        Decimal("6.88"),
    )
    assert {"A100-80GB", "H100-80GB", "L4"} <= set(prices.prices)
    every = [price for by_cloud in prices.prices.values() for price in by_cloud.values()]
    assert all(price.source.startswith("https://") and price.as_of for price in every)


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("version",), 0, "version"),
        (("retrieved",), "", "retrieved"),
        (("source",), {"aws": "x"}, "source"),
        (("prices", "L4", "aws", "machine_per_hour"), "free", "prices.L4.aws.machine_per_hour"),
        (("prices", "L4", "aws", "gpus"), 0, "prices.L4.aws.gpus"),
        (("prices", "L4", "ibm"), {}, "prices.L4"),
        (("prices", "L4", "aws", "as_of"), 20260209, "prices.L4.aws.as_of"),
    ],
)
def test_a_broken_file_names_the_field(path: tuple[str, ...], value: Any, field: str) -> None:
    document = copy.deepcopy(_document())
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ReferencePricesError) as caught:
        parse("broken.json", document)
    assert str(caught.value).startswith(f"broken.json: {field}: ")
    assert "\n" not in str(caught.value)


def test_presentation_rounds_half_even_to_the_cent() -> None:
    assert [present(Decimal(v)) for v in ("55.705", "55.715", "0.005", "7.4700")] == [
        "55.70",
        "55.72",
        "0.00",
        "7.47",
    ]
