"""What a worker tells the world: structured logs, Prometheus metrics, OpenTelemetry traces."""
