"""Pure helpers shared by the agent, the control plane and torporctl (no I/O of their own)."""
