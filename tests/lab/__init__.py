"""Tests that need the real lab cluster (root, network namespaces)."""
