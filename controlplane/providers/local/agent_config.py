"""The agent.toml of a local host: join the control plane, snapshot the host's workspace
into the instance's repository, read the simulated GPUs (or none)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from torpor.common.atomic import atomic_write_text

from .layout import HostLayout


@dataclass(frozen=True)
class IdleOverrides:
    """`[idle]` keys for every local host (short windows make the demo and tests fast)."""

    window_s: float | None = None
    grace_s: float | None = None
    poll_interval_s: float | None = None

    def toml(self) -> str:
        keys = {k: v for k, v in vars(self).items() if v is not None}
        if not keys:
            return ""
        return "\n[idle]\n" + "".join(f"{key} = {value}\n" for key, value in keys.items())


def _quoted(value: str | Path) -> str:
    """A TOML basic string (JSON's escapes are valid TOML)."""
    return json.dumps(str(value))


def render(
    host: HostLayout,
    *,
    name: str,
    address: str,
    join_token: str,
    repository: Path,
    labels: dict[str, str],
    gpus: bool,
    idle: IdleOverrides,
) -> str:
    label_items = ", ".join(f"{key} = {_quoted(value)}" for key, value in labels.items())
    return (
        f"[agent]\nname = {_quoted(name)}\nstate_dir = {_quoted(host.state)}\n"
        f"labels = {{ {label_items} }}\n\n"
        f"[control_plane]\naddress = {_quoted(address)}\njoin_token = {_quoted(join_token)}\n"
        "reconnect_initial_s = 0.2\nreconnect_max_s = 2.0\n\n"
        f"[telemetry]\ndisk_path = {_quoted(host.workspace)}\n\n"
        f"[snapshot]\nworkspace = {_quoted(host.workspace)}\nrepository = {_quoted(repository)}\n\n"
        f"[gpu]\nenabled = {'true' if gpus else 'false'}\n" + idle.toml()
    )


def write_config(host: HostLayout, text: str) -> None:
    """0600: the file holds the join token."""
    atomic_write_text(host.config, text, mode=0o600)
