"""Where torpor keeps its state on a machine, for the agent and the control plane alike."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

SYSTEM_STATE_DIR = Path("/var/lib/torpor")


def default_state_dir(
    environ: Mapping[str, str], euid: int, home: Path, *, root_needs_systemd: bool
) -> Path:
    """`$STATE_DIRECTORY` (systemd), else /var/lib/torpor for a root service, else the user's.

    `root_needs_systemd`: the agent runs as root only as a daemon, so root alone
    means "service" (False); the control plane is often started by hand as root
    in development, so it is a service only under systemd (`INVOCATION_ID`).
    """
    from_systemd = environ.get("STATE_DIRECTORY", "")
    if from_systemd:
        return Path(from_systemd.split(":")[0])  # StateDirectory= may list several; ours is first
    if euid == 0 and (not root_needs_systemd or environ.get("INVOCATION_ID")):
        return SYSTEM_STATE_DIR
    return home / ".local" / "share" / "torpor"
