"""The gRPC face of the control plane: AgentService for agents, AdminService for torporctl."""
