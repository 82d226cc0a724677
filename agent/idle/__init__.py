"""Idle detection that never guesses, inhibitors, and the agent side of hibernation.

See docs/design.md, "Idle policy".
"""
