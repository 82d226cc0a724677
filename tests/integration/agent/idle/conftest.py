"""The NVML double's fixtures, shared with the GPU tests."""

from tests.integration.agent.gpu.conftest import nvml_library, scenario

__all__ = ["nvml_library", "scenario"]
