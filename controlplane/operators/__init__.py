"""Operator actions over the fleet that span hosts and instances (draining)."""
