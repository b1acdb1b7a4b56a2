"""Faults the harness injects into a testbed: path delay (more in the failure-injection issue)."""
