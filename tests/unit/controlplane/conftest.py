from tests.support.controlplane import services

__all__ = ["services"]
