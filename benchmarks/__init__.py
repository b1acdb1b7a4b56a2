"""Benchmarks for the reference implementation (scripts run with ``python3 -m benchmarks.NAME``, not tests)."""
