"""The local provider's offers: the built-in table, a custom one, and specs no offer has."""

from __future__ import annotations

from pathlib import Path

import pytest

from torpor.controlplane.errors import InvalidArgument
from torpor.controlplane.providers.local.prices import default_offers, load_offers, match_offer
from torpor.controlplane.settings import SettingsError, load_settings

pytestmark = pytest.mark.unit


def test_the_built_in_table_prices_every_machine_in_cents() -> None:
    offers = {(o.gpu_type, o.gpu_count): o for o in default_offers()}
    assert {("A100-80GB", 1), ("A100-80GB", 8), ("H100-80GB", 8), ("L4", 1)} <= set(offers)
    assert all(o.provider == "local" and o.region == "local" for o in offers.values())
    assert offers["H100-80GB", 8].price_per_hour_cents > offers["H100-80GB", 1].price_per_hour_cents


def test_a_custom_table_replaces_the_built_in_one(tmp_path: Path) -> None:
    table = tmp_path / "prices.toml"
    table.write_text(
        '[[offer]]\ngpu_type = "B200"\ngpu_count = 8\nregion = "lab"\n'
        "price_per_hour_cents = 12000\n"
    )
    [offer] = load_offers(table)
    assert (offer.gpu_type, offer.gpu_count, offer.region, offer.price_per_hour_cents) == (
        "B200",
        8,
        "lab",
        12000,
    )
    assert load_settings(local_price_table=table).local_price_table == table


def test_a_broken_table_is_refused_at_start_up_naming_the_variable(tmp_path: Path) -> None:
    table = tmp_path / "prices.toml"
    table.write_text('[[offer]]\ngpu_type = "B200"\ngpu_count = 0\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(local_price_table=table)
    [line] = caught.value.lines
    assert line.startswith("TORPOR_LOCAL_PRICE_TABLE:") and "gpu_count" in line


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (("T4", 1, "local"), "gpu_type"),
        (("H100-80GB", 1, "mars"), "region"),
        (("H100-80GB", 3, "local"), "gpu_count"),
    ],
)
def test_a_spec_no_offer_has_names_the_field(spec: tuple[str, int, str], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        match_offer(default_offers(), *spec)
    assert caught.value.field == field and "\n" not in caught.value.message
