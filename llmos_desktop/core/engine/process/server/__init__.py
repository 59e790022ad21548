"""The engine's HTTP API: OpenAI-compatible routes plus control routes, with safe defaults.

``create_app`` builds an independent app around one EngineRuntime (there is no module
state, so tests can run several): ``config`` says who may call it, ``guard`` checks
every request before the app sees it, ``streaming`` carries generated text from the
worker thread to the event loop, ``app`` has the routes.
"""

from llmos_desktop.core.engine.process.server.app import create_app
from llmos_desktop.core.engine.process.server.config import LOOPBACK_HOSTS, ServerConfig

__all__ = ["LOOPBACK_HOSTS", "ServerConfig", "create_app"]
