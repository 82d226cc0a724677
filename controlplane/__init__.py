"""The torpor control plane: HTTP API, gRPC for agents and operators, and the fleet state."""
