"""The torpor control plane: HTTP API for users, gRPC for agents and operators, and the fleet state."""
