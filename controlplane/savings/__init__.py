"""Savings accounting: an append-only ledger of what each instance cost and saved, priced
at the provider's price at the time (design.md, "Savings accounting")."""
