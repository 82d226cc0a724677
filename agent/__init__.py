"""The torpor agent: a daemon on every GPU host (telemetry, idle detection, snapshots, the control-plane stream)."""
