"""`HealthWatcher`: XID and ECC events from NVML's event API, in a thread of its own.

`nvmlEventSetWait` blocks, so it gets its own thread and a short timeout (to notice
`stop()`). NVML reference-counts initialisation, so the watcher initialises it itself and
does not depend on the probe's state. When NVML is unusable the watcher retries with the
same backoff rules as the probe; the probe is the one that reports it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from torpor.common.backoff import Backoff

from . import nvml_lib as lib
from .model import GpuEvent, Severity
from .nvml import INIT_RETRY_INITIAL_S, INIT_RETRY_MAX_S, EventSink

log = logging.getLogger(__name__)
WATCHED_EVENTS = lib.XID_EVENT | lib.SINGLE_BIT_ECC_EVENT | lib.DOUBLE_BIT_ECC_EVENT
WAIT_MS = 500


class HealthWatcher:
    """Turns NVML events into `GpuEvent`s for `on_event` until `stop()`."""

    def __init__(
        self, on_event: EventSink, backoff: Backoff | None = None, wait_ms: int = WAIT_MS
    ) -> None:
        self._on_event = on_event
        self._backoff = backoff or Backoff(INIT_RETRY_INITIAL_S, INIT_RETRY_MAX_S)
        self._wait_ms = wait_ms
        self._stopping = threading.Event()
        self._watching = threading.Event()
        self._uuids: dict[int, str] = {}
        self._thread = threading.Thread(target=self._run, name="gpu-health", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def wait_watching(self, timeout_s: float) -> bool:
        """True once events are registered (tests wait on it before injecting one)."""
        return self._watching.wait(timeout_s)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._watch()
            except lib.NVMLError as error:
                log.debug("GPU health watcher paused: %s", error)
            self._watching.clear()
            self._stopping.wait(self._backoff.next_delay())

    def _watch(self) -> None:
        lib.init()
        try:
            event_set = lib.event_set_create()
            try:
                self._register(event_set)
                self._watching.set()
                self._backoff.reset()
                while not self._stopping.is_set():
                    raw = lib.event_wait(event_set, self._wait_ms)
                    if raw is not None:
                        self._report(raw)
            finally:
                lib.event_set_free(event_set)
        finally:
            lib.shutdown()

    def _register(self, event_set: Any) -> None:
        """Registers every GPU for what it supports of XID and ECC (MIG devices cannot)."""
        for index in range(lib.device_count()):
            handle = lib.handle_by_index(index)
            self._uuids[lib.handle_key(handle)] = lib.uuid(handle)
            try:
                types = lib.supported_event_types(handle) & WATCHED_EVENTS
                if types:
                    lib.register_events(handle, types, event_set)
            except lib.NVMLError as error:
                if lib.error_code(error) not in lib.NOT_AVAILABLE:
                    raise
                log.info("GPU %s reports no health events: %s", lib.uuid(handle), error)

    def _report(self, raw: lib.RawEvent) -> None:
        uuid = self._uuids.get(lib.handle_key(raw.handle), "unknown")
        if raw.event_type & lib.XID_EVENT:
            event = GpuEvent(
                "gpu.xid",
                f"XID {raw.data} on GPU {uuid}",
                Severity.ERROR,
                uuid,
                {"xid": str(raw.data)},
            )
        else:
            event = self._ecc_event(raw, uuid)
        log.warning("%s", event.message)
        self._on_event(event)

    def _ecc_event(self, raw: lib.RawEvent, uuid: str) -> GpuEvent:
        uncorrectable = bool(raw.event_type & lib.DOUBLE_BIT_ECC_EVENT)
        attributes = {"uncorrectable": str(uncorrectable).lower()}
        try:
            corrected, uncorrected = lib.ecc_totals(raw.handle)
            attributes |= {"corrected_total": str(corrected), "uncorrected_total": str(uncorrected)}
        except lib.NVMLError as error:
            log.debug("ECC counts of %s unreadable: %s", uuid, error)
        kind = "uncorrectable (double-bit)" if uncorrectable else "corrected (single-bit)"
        severity = Severity.ERROR if uncorrectable else Severity.WARNING
        return GpuEvent("gpu.ecc", f"{kind} ECC error on GPU {uuid}", severity, uuid, attributes)
