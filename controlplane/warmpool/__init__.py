"""Warm pools: standby hosts per (GPU type, region), kept ready so wake and failover take
seconds (design.md, "Warm pools")."""
