"""The poll loop: read every signal, decide, write status.json, tell the control plane.

Polling does blocking I/O (NVML, /proc, HTTP to Jupyter), so it runs in a thread; the
event loop only schedules it and forwards what changed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from torpor.proto.v1 import agent_pb2

from ..clock import Clock
from ..gpu.model import GpuProbe, GpuSnapshot
from ..outbox import Outbox
from .decision import Decision
from .explain import write_status
from .gpu_signals import GpuSignals
from .host_signals import HostSignals
from .inhibitors import InhibitorStore, inhibitor_reading
from .jupyter import JupyterSignal
from .policy import IdlePolicy
from .report import alert_event, idle_report
from .sessions import SessionSignal
from .settings import IdleSection, with_override
from .verdict import SignalReading

log = logging.getLogger(__name__)


@dataclass
class IdleSources:
    """Everything the policy reads; each is an interface so tests can script it."""

    gpu_probe: GpuProbe
    gpus: GpuSignals
    host: HostSignals
    sessions: SessionSignal | None
    jupyter: JupyterSignal | None
    inhibitors: InhibitorStore
    lock_path: Path

    def read(self, settings: IdleSection, now_s: float, now_wall: float) -> list[SignalReading]:
        readings: list[SignalReading] = []
        kernels = {}
        if self.jupyter is not None and settings.jupyter:
            state = self.jupyter.read()
            readings.append(state.reading)
            kernels = state.kernels
        readings.extend(self.gpus.read(self._snapshot(now_s), settings, kernels))
        readings.extend(self.host.read(now_s, settings))
        if self.sessions is not None and settings.ssh_sessions:
            readings.append(self.sessions.read())
        readings.append(inhibitor_reading(self.inhibitors, self.lock_path, now_wall))
        return readings

    def _snapshot(self, now_s: float) -> GpuSnapshot:
        try:
            return self.gpu_probe.poll()
        except Exception as error:  # a probe bug must read as "unknown", never as idle
            log.exception("the GPU probe failed")
            return GpuSnapshot(now_s, error=f"the GPU probe failed: {error}")


class IdleMonitor:
    """Owns the policy; `run()` polls forever and puts reports and alerts in the outbox."""

    def __init__(
        self,
        settings: IdleSection,
        sources: IdleSources,
        state_dir: Path,
        clock: Clock,
        outbox: Outbox,
    ) -> None:
        self._configured = settings
        self.settings = settings
        self._sources = sources
        self._state_dir = state_dir
        self._clock = clock
        self._outbox = outbox
        self._policy = IdlePolicy(settings.window_s)
        self.latest: Decision | None = None

    def apply_override(self, override: agent_pb2.IdlePolicyOverride) -> None:
        """Replaces any earlier override (raises pydantic.ValidationError for a bad value)."""
        self.settings = with_override(self._configured, override)
        log.info("idle policy override from the control plane applied")

    def poll(self) -> Decision:
        """One poll; blocking (run it in a thread)."""
        now_s, now_wall = self._clock.monotonic(), self._clock.wall()
        readings = self._sources.read(self.settings, now_s, now_wall)
        self._policy.window_s = self.settings.window_s
        decision = self._policy.observe(readings, now_s, now_wall)
        try:
            write_status(self._state_dir, decision, now_wall, self.settings.poll_interval_s)
        except OSError as error:
            log.warning("cannot write the idle status file: %s", error)
        self.latest = decision
        return decision

    def current_report(self) -> agent_pb2.AgentMessage | None:
        """The idle report to repeat on a new stream, while the machine is idle."""
        if self.latest is None or not self.latest.idle:
            return None
        return agent_pb2.AgentMessage(idle_report=idle_report(self.latest))

    async def run(self) -> None:
        was_idle = False
        while True:
            try:
                decision = await asyncio.to_thread(self.poll)
            except Exception:  # a bug in a source: no decision, so status goes stale (busy)
                log.exception("idle poll failed")
                self.latest = None
                await self._clock.sleep(self.settings.poll_interval_s)
                continue
            for alert in decision.alerts:
                log.warning("%s cannot be read (%s): counted as busy", alert.name, alert.detail)
                self._outbox.put(agent_pb2.AgentMessage(event=alert_event(alert)))
            if decision.idle != was_idle:
                log.info("idle policy: machine is now %s", "idle" if decision.idle else "busy")
                self._outbox.put(agent_pb2.AgentMessage(idle_report=idle_report(decision)))
                was_idle = decision.idle
            await self._clock.sleep(self.settings.poll_interval_s)
