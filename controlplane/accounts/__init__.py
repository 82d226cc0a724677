"""Accounts: users, teams and roles, sessions, API keys, invitations (design.md, "Accounts")."""
