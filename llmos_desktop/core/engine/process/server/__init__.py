"""The engine's HTTP API: OpenAI-compatible routes plus control routes, with safe defaults.

``create_app`` builds an independent app around one EngineRuntime (there is no module
state, so tests can run several): ``config`` says who may call it, ``guard`` checks
every request before the app sees it, ``streaming`` carries generated text from the
worker thread to the event loop, ``app`` has the routes.

Import ``create_app`` from ``.app``: this package's own import stays light (FastAPI is
not loaded), so ``llmos`` can read ServerConfig's defaults for its help at once.
"""
