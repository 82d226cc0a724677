from tests.support.controlplane import control_plane, grpc_channel, services, settings
from tests.support.http import api
from tests.support.instances import teams

__all__ = ["api", "control_plane", "grpc_channel", "services", "settings", "teams"]
