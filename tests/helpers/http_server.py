"""A small HTTP(S) server on 127.0.0.1 in a thread, for tests that need a server the fake
Hub is not: a proxy, a server that ignores Range, a TLS server with a self-signed
certificate, a plain static server."""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LocalServer:
    """Serves ``handler`` on 127.0.0.1 (over TLS with ``context``) while the ``with``
    block runs; ``url`` is its address."""

    def __init__(
        self, handler: type[BaseHTTPRequestHandler] | Any, context: ssl.SSLContext | None = None
    ) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        scheme = "http"
        if context is not None:
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.port = int(self.server.server_address[1])
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
