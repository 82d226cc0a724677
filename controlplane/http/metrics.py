"""Prometheus metrics from a per-app registry, collected from live state at scrape time.

Per app, not the process-wide default registry: tests build several apps in one process,
and a collector registered twice in one registry is an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from torpor.common.version import torpor_version

from ..runtime import ControlPlane, MetricsSnapshot


class ControlPlaneCollector(Collector):
    """Turns the snapshot taken for this scrape into metric families."""

    def __init__(self) -> None:
        self.snapshot: MetricsSnapshot | None = None

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | InfoMetricFamily]:
        yield InfoMetricFamily(
            "torpor_build", "torpor build information", value={"version": torpor_version()}
        )
        snapshot = self.snapshot
        if snapshot is None:
            return
        hosts = GaugeMetricFamily("torpor_hosts", "Hosts by state", labels=["state"])
        for state, count in sorted(snapshot.hosts_by_state.items()):
            hosts.add_metric([state], count)
        yield hosts
        yield GaugeMetricFamily(
            "torpor_agent_streams", "Live agent streams", value=snapshot.agent_streams
        )
        yield GaugeMetricFamily(
            "torpor_event_subscribers", "Live event watchers", value=snapshot.event_subscribers
        )
        events = CounterMetricFamily(
            "torpor_events", "Events published by this process", labels=["kind"]
        )
        for kind, count in sorted(snapshot.events_by_kind.items()):
            events.add_metric([kind], count)
        yield events


@dataclass(frozen=True)
class AppMetrics:
    """One app's registry and the collector in it."""

    registry: CollectorRegistry
    collector: ControlPlaneCollector


def build_metrics() -> AppMetrics:
    registry = CollectorRegistry(auto_describe=False)
    collector = ControlPlaneCollector()
    registry.register(collector)
    return AppMetrics(registry, collector)


async def provide_metrics(state: State) -> AppMetrics:
    return cast(AppMetrics, state.metrics)


class MetricsController(Controller):
    @get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics(
        self, control_plane: NamedDependency[ControlPlane], metrics: NamedDependency[AppMetrics]
    ) -> Response[bytes]:
        metrics.collector.snapshot = await control_plane.metrics_snapshot()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
