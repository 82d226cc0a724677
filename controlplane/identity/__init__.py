"""Secrets and who holds them: join tokens, host credentials, admin tokens."""
