"""The systemd notify protocol, by hand (one datagram per message, no libsystemd).

Used for READY=1 (config valid, state dir usable), STATUS= (connection state),
WATCHDOG=1 (the event loop is alive) and STOPPING=1. Without `$NOTIFY_SOCKET`
(not started by systemd as Type=notify) every method is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)

USEC_PER_S = 1_000_000


class SystemdNotifier:
    """Sends sd_notify messages to the socket systemd named in the environment."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = _socket_address(env.get("NOTIFY_SOCKET", ""))
        self._watchdog_usec = env.get("WATCHDOG_USEC", "")
        self._watchdog_pid = env.get("WATCHDOG_PID", "")

    def ready(self) -> None:
        self._send("READY=1")

    def status(self, text: str) -> None:
        """One line shown by `systemctl status`."""
        self._send("STATUS=" + text.replace("\n", " "))

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def watchdog_interval_s(self) -> float | None:
        """How often to send WATCHDOG=1: half the timeout, so one late ping is not fatal.

        None when systemd asked for no watchdog, or asked another process (WATCHDOG_PID).
        """
        if self._watchdog_pid and self._watchdog_pid != str(os.getpid()):
            return None
        try:
            usec = int(self._watchdog_usec)
        except ValueError:
            return None
        return usec / USEC_PER_S / 2 if usec > 0 else None

    def _send(self, message: str) -> None:
        """A lost notification must never stop the agent, so errors are only logged."""
        if self._address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self._address)
                sock.sendall(message.encode("utf-8"))
        except OSError as error:
            log.warning("cannot notify systemd at %s: %s", self._address, error)


def _socket_address(value: str) -> str | None:
    """'@name' is Linux's abstract namespace, spelled with a leading NUL on the wire."""
    if not value:
        return None
    return "\0" + value[1:] if value.startswith("@") else value
