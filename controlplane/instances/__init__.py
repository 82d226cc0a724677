"""Instances: a user's logical GPU machine, its lifecycle, snapshots and operations."""
