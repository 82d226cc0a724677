"""`[gpu]`: how the agent samples its GPUs and whether it serves Prometheus metrics."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GpuSection(BaseModel):
    """`[gpu]` in agent.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    """Sample GPUs through NVML; off: the agent reports host telemetry only."""
    poll_interval_s: float = Field(default=1.0, gt=0, le=60)
    """How often NVML is polled (each poll also collects every buffered utilisation sample)."""
    health_events: bool = True
    """Watch NVML's XID and ECC events in a thread and send them as alerts."""
    prometheus_port: int | None = Field(default=None, ge=1, le=65535)
    """Serve DCGM-named GPU metrics on this port; unset (the default): no endpoint."""
    prometheus_address: str = "127.0.0.1"
    """The address the metrics endpoint binds to; 0.0.0.0 to let a remote Prometheus scrape."""
