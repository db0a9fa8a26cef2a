"""Benchmarks (see bench/README.md and docs/PERFORMANCE.md)."""
