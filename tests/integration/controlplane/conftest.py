from tests.support.controlplane import control_plane, grpc_channel, services, settings
from tests.support.http import api

__all__ = ["api", "control_plane", "grpc_channel", "services", "settings"]
