"""The fleet's event log: stored in order, replayed and streamed to watchers."""
