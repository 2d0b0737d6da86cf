"""The real HA nginx cluster in network namespaces, for tests, demos and benchmarks."""
