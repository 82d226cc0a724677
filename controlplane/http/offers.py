"""What the providers can place: GPU type and count, region, price per hour."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency

from ..accounts.caller import Caller
from ..providers.base import Offer
from ..runtime import ControlPlane
from .error_docs import AUTHENTICATED, errors


class OfferController(Controller):
    path = "/api/v1/offers"
    tags = ["instances"]

    @get(
        "/",
        summary="What instances can be created: GPU type and count, region, price",
        responses=errors(*AUTHENTICATED),
    )
    async def list_offers(
        self, control_plane: NamedDependency[ControlPlane], caller: NamedDependency[Caller]
    ) -> list[Offer]:
        return await control_plane.services.instances.offers(caller)
