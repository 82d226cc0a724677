from tests.support.controlplane import control_plane, grpc_channel, services, settings

__all__ = ["control_plane", "grpc_channel", "services", "settings"]
