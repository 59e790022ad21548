"""The window's API listener: a second uvicorn server in the engine process.

``POST /control/api`` (the app's control route) switches it on, off or over. It runs in
the same event loop as the app's own server and wraps the same runtime, so requests
from other programs and the window's replies share the loaded model and queue on the
one llama.cpp worker in arrival order; both listeners write to the one request log.

What differs is who may call it: its own ``ServerConfig`` (the API key, or none on
loopback; CORS origins; the Host check on loopback, none on another address, where the
key protects it) and no control routes at all: ``create_app`` mounts them only with a
control key, and this server has none, so the app's control key opens nothing here.

A change of key, CORS origins or prompt logging on the same address swaps the app in
place (open connections finish on the old one); a new address binds the new socket
first, so a port in use is a 409 and the running listener stays as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import socket
from collections.abc import Callable
from typing import Any

from llmos_desktop.core.engine.api_server import ApiServerConfig, base_url, is_loopback
from llmos_desktop.core.engine.contract import ErrorKind
from llmos_desktop.core.engine.process.server.config import ServerConfig
from llmos_desktop.core.engine.process.server.guard import (
    ASGIApp,
    Receive,
    Scope,
    Send,
    uvicorn_settings,
)
from llmos_desktop.core.engine.process.server.request_log import RequestLog

STOP_TIMEOUT_S = 5.0


class ListenerError(Exception):
    """The listener could not start: ``status`` 409 (port in use) or 400 (address)."""

    def __init__(self, message: str, *, status: int, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.kind = ErrorKind.INVALID_VALUE
        self.param = param


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if hasattr(socket, "SO_REUSEADDR") and not hasattr(socket, "SO_EXCLUSIVEADDRUSE"):
            # POSIX: a port left in TIME_WAIT by the previous listener can be bound again;
            # a port another socket listens on still cannot. (On Windows the same option
            # would let two servers share a port, so it stays off there.)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and host == "::":
            # "::" serves IPv4 too where the system allows it.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, port))
        sock.listen(128)
        sock.set_inheritable(False)
    except OSError:
        sock.close()
        raise
    return sock


def _bind_error(host: str, port: int, exc: OSError) -> ListenerError:
    where = f"{host}:{port}"
    if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
        return ListenerError(
            f"port {port} is already in use on {host} (another program, or another "
            "server, listens there); choose another port or stop that program",
            status=409,
            param="port",
        )
    if exc.errno in (errno.EACCES, getattr(errno, "WSAEACCES", -1)):
        return ListenerError(
            f"not allowed to listen on {where}: ports below 1024 need administrator "
            "rights; choose a port from 1024 to 65535",
            status=400,
            param="port",
        )
    if exc.errno in (errno.EADDRNOTAVAIL, getattr(errno, "WSAEADDRNOTAVAIL", -1)):
        return ListenerError(f"{host} is not an address of this machine", status=400, param="host")
    return ListenerError(
        f"cannot listen on {where}: {exc.strerror or exc}", status=400, param="host"
    )


def lan_urls(port: int) -> list[str]:
    """Base URLs other machines may use for a server on every interface (IPv4)."""
    urls: list[str] = []
    with contextlib.suppress(Exception):
        import psutil

        for addresses in psutil.net_if_addrs().values():
            for address in addresses:
                if address.family == socket.AF_INET and not is_loopback(address.address):
                    urls.append(base_url(address.address, port))
    return sorted(set(urls))


class ApiListener:
    """The second server: on, off or moved by ``apply``; runs in the caller's event loop."""

    def __init__(
        self,
        make_app: Callable[[ServerConfig], ASGIApp],
        base: ServerConfig,
        request_log: RequestLog,
    ) -> None:
        self._make_app = make_app
        self._base = base
        self.request_log = request_log
        self.config: ApiServerConfig | None = None  # what runs (None: off)
        self._port = 0
        self._app: ASGIApp | None = None
        self._server: Any = None  # uvicorn.Server
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app
        if app is None:
            return
        await app(scope, receive, send)

    def state(self) -> dict[str, Any]:
        """``{"enabled", "base_url", "host", "port", ...}`` of what runs now."""
        config = self.config
        running = config is not None and self._task is not None and not self._task.done()
        if config is None or not running:
            return {
                "enabled": False,
                "base_url": None,
                "host": None,
                "port": None,
                "log_prompts": self.request_log.log_prompts,
            }
        return {
            "enabled": True,
            "base_url": base_url(config.host, self._port),
            "host": config.host,
            "port": self._port,
            "loopback": config.loopback,
            "keyed": config.api_key is not None,
            "cors_origins": list(config.cors_origins),
            "log_prompts": self.request_log.log_prompts,
            # How other machines reach it (none on loopback).
            "lan_urls": [] if config.loopback else lan_urls(self._port),
        }

    def _server_config(self, config: ApiServerConfig) -> ServerConfig:
        return dataclasses.replace(
            self._base,
            token=config.api_key,
            control_token=None,
            any_host=not config.loopback,
            cors_origins=tuple(config.cors_origins),
            load_roots=None,
        )

    async def apply(self, config: ApiServerConfig) -> dict[str, Any]:
        """Switch on, off, or over to ``config``; the state afterwards.

        Raises ListenerError (nothing changed) when the address cannot be bound.
        """
        async with self._lock:
            self.request_log.log_prompts = config.log_prompts
            if not config.enabled:
                await self._stop()
                self.config = None
                self._app = None
                return self.state()
            app = self._make_app(self._server_config(config))
            current = self.config
            if (
                current is not None
                and self._task is not None
                and not self._task.done()
                and current.host == config.host
                and (config.port == self._port or config.port == 0)
            ):
                self._app = app  # same address: swapped in place
                self.config = config
                return self.state()
            try:
                sock = _bind(config.host, config.port)
            except OSError as exc:
                raise _bind_error(config.host, config.port, exc) from None
            await self._stop()
            self._app = app
            self.config = config
            self._port = int(sock.getsockname()[1])
            await self._start(sock)
            return self.state()

    async def _start(self, sock: socket.socket) -> None:
        import uvicorn

        class _Server(uvicorn.Server):
            # The engine's own server owns the process's signals; this one must not
            # take SIGINT/SIGTERM from it (and raise them again when it stops).
            @contextlib.contextmanager
            def capture_signals(self) -> Any:
                yield

        limits = self._server_config(self.config) if self.config else self._base
        server = _Server(
            uvicorn.Config(
                self._dispatch,
                interface="asgi3",
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=2,
                **uvicorn_settings(limits),
            )
        )
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if task.done():
            sock.close()
            exc = task.exception()
            raise ListenerError(
                f"the API server did not start: {exc or 'it stopped at once'}",
                status=400,
                param="host",
            )
        self._server, self._task = server, task

    async def _stop(self) -> None:
        server, task = self._server, self._task
        self._server = self._task = None
        if server is None or task is None:
            return
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT_S)
        except (TimeoutError, Exception):
            server.force_exit = True
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    async def close(self) -> None:
        async with self._lock:
            await self._stop()
            self.config = None
