"""Providers: where hosts come from and where they go back (design.md, "Providers")."""
