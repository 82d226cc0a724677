"""The torpor agent: a daemon on every GPU host.

It holds the control-plane stream and reports telemetry; idle detection and snapshots
arrive in later issues.
"""
