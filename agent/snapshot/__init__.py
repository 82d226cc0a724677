"""Incremental, deduplicated workspace snapshots in object storage (format: docs/design.md)."""
