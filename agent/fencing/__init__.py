"""Agent-side fencing: the held assignment, epoch refusals and self-fencing (docs/design.md,
"Failover and fencing")."""
