"""Benchmarks that check the performance targets in docs/architecture.md; see benchmarks/README.md.

A package so that each benchmark runs with ``python -m benchmarks.<name>`` from the
repository root. Not installed with the app.
"""
