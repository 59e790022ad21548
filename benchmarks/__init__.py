"""Benchmarks that check the numbers in DESIGN.md; see benchmarks/README.md.

A package so that each benchmark runs with ``python -m benchmarks.<name>`` from the
repository root. Not installed with the app.
"""
