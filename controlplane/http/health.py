"""Health probes: liveness says the process answers, readiness that the database does."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency

from ..runtime import ControlPlane
from .error_docs import errors


class HealthController(Controller):
    tags = ["health"]

    @get("/health", summary="Process health")
    async def health(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/api/v1/health/liveness", summary="Liveness probe")
    async def liveness(self) -> dict[str, str]:
        return {"status": "ok"}

    @get(
        "/api/v1/health/readiness",
        summary="Readiness probe: the database answers",
        responses=errors(503),
    )
    async def readiness(self, control_plane: NamedDependency[ControlPlane]) -> dict[str, str]:
        """503 with the error body when the database cannot answer `SELECT 1`."""
        await control_plane.check_database()
        return {"status": "ok", "database": "ok"}
