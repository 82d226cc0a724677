"""Measurements the agent reports: host load via psutil (the NVML GPU probe comes later)."""
