"""Modules that run in the app's process (GUI or CLI) and control the engine process.

``supervisor`` starts and watches the process, ``client`` speaks its HTTP API (to our
engine or any OpenAI-compatible server), ``service`` is the ``Engine`` the UI uses.
None of them imports llama_cpp. See docs/architecture.md.
"""
