"""Modules that run inside the engine process (never imported by the GUI process).

``child`` is the process's entry point, ``runtime`` owns llama.cpp on one worker
thread, ``server`` is the HTTP API around it, ``llama_api`` is the one place that
touches llama-cpp-python's private or low-level API. See docs/architecture.md.
"""
