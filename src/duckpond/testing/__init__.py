"""Stand-ins for outside services, for tests, benchmarks and the demo (outside the layers)."""
