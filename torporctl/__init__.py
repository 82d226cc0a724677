"""torporctl: the operators' gRPC command-line client."""
