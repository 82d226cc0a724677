"""The Litestar HTTP API: health, hosts, metrics, OpenAPI."""
