"""Repository keys: the per-instance secrets that open encrypted snapshot repositories.

Each instance's repository is encrypted (agent side) under a master key of its own, which
the repository stores only wrapped by key-encryption keys; one of those is a 32-byte
random secret that the control plane generates per instance and hands to the one agent
that must open that repository. Here it is generated, kept in the database only wrapped
(AES-256-GCM) by the control plane's master key file, and unwrapped when a host needs it.
docs/design.md, "Threat model", says what this protects and what it does not.
"""
