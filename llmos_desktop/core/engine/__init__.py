"""The engine: a separate process running llama.cpp behind an OpenAI-compatible HTTP API.

Only ``runtime`` and ``server`` (and ``child``) run inside the engine process; the GUI
process uses ``supervisor``, ``client`` and ``service`` and never imports llama_cpp.
"""
