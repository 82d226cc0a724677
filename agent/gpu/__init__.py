"""GPU telemetry: one `GpuProbe` interface and its NVML implementation."""
