"""The Litestar application; its lifespan runs the whole control plane (gRPC included).

`litestar --app torpor.controlplane.app:create_app run` and `torpor-controlplane serve`
both end up here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from torpor.common.version import torpor_version

from .http.api_keys import ApiKeyController
from .http.auth import AuthController
from .http.caller import provide_caller
from .http.dependencies import provide_control_plane
from .http.exceptions import exception_handlers
from .http.failover import FailoverController
from .http.health import HealthController
from .http.hosts import HostController
from .http.instances import InstanceController
from .http.join_tokens import JoinTokenController
from .http.metrics import MetricsController, build_metrics, provide_metrics
from .http.offers import OfferController
from .http.savings import SavingsController
from .http.snapshots import SnapshotController
from .http.teams import TeamController
from .http.text_guard import refuse_nul_characters
from .http.users import InvitationController, UserController
from .http.warmpool import WarmPoolController
from .runtime import ControlPlane
from .settings import Settings, load_settings


def create_app(settings: Settings | None = None) -> Litestar:
    """The app for `settings` (default: read from the environment)."""
    chosen = settings if settings is not None else load_settings()

    @asynccontextmanager
    async def run_control_plane(app: Litestar) -> AsyncIterator[None]:
        async with ControlPlane(chosen) as control_plane:
            app.state.control_plane = control_plane
            yield

    app = Litestar(
        before_request=refuse_nul_characters,
        route_handlers=[
            HealthController,
            HostController,
            MetricsController,
            AuthController,
            ApiKeyController,
            UserController,
            TeamController,
            InvitationController,
            OfferController,
            InstanceController,
            SnapshotController,
            SavingsController,
            JoinTokenController,
            WarmPoolController,
            FailoverController,
        ],
        lifespan=[run_control_plane],
        dependencies={
            "control_plane": Provide(provide_control_plane),
            "metrics": Provide(provide_metrics),
            "caller": Provide(provide_caller),
        },
        exception_handlers=exception_handlers(),
        openapi_config=OpenAPIConfig(
            title="torpor control plane", version=torpor_version(), path="/docs"
        ),
    )
    app.state.settings = chosen
    app.state.metrics = build_metrics()
    return app
