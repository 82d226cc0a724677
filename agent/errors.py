"""The agent's error kinds that end the process (docs/design.md, "The identity scheme").

A `PermanentError` is one that retrying cannot fix: the operator has to act (a refused
token, an unusable state directory). Its message is the one line the operator reads.
"""

from __future__ import annotations

EX_CONFIG = 78
"""sysexits.h EX_CONFIG: systemd's `RestartPreventExitStatus=78` stops the restart loop."""


class PermanentError(Exception):
    """Stops the agent with EX_CONFIG; `str()` is one line saying what to fix."""
