"""Failover and fencing: placements with epochs, moving a running instance off a lost host."""
