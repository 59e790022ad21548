"""The server's outer layers: Host check, keys, body size and time limits, header timeout.

``GuardMiddleware`` is one plain ASGI class rather than Starlette middlewares, because it
runs for every request and costs next to nothing per streamed chunk. ``http_protocol``
is uvicorn's h11 protocol with a time limit on a request's line and headers, which
uvicorn does not have (its keep-alive timeout covers idle connections only).
``uvicorn_settings`` is what ``child.serve`` (and tests that run uvicorn themselves)
pass to uvicorn. Security defaults: see docs/architecture.md, "The engine process".
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from llmos_desktop.core.engine.contract import ErrorKind
from llmos_desktop.core.engine.process.protocol import error_body
from llmos_desktop.core.engine.process.server.config import (
    CONTROL_PREFIX,
    PUBLIC_PATHS,
    ServerConfig,
)
from llmos_desktop.core.engine.process.server.request_log import OpenEntry, RequestLog

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A request line and headers may be this large (uvicorn's h11 default is 16 KiB).
MAX_HEADER_BYTES = 64 * 1024
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
LOGGED_PREFIX = "/v1/"
# The status logged for a request whose client left before any answer was sent
# (nginx's "client closed request").
CLIENT_GONE = 499


def _error_json(message: str, type_: str, code: ErrorKind) -> bytes:
    return json.dumps(error_body(message, type_=type_, code=code)).encode()


async def _send_error(send: Send, status: int, message: str, type_: str, code: ErrorKind) -> None:
    body = _error_json(message, type_, code)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_too_large(send: Send, limit: int) -> None:
    await _send_error(
        send,
        413,
        f"Request body is larger than {limit} bytes.",
        "invalid_request_error",
        ErrorKind.REQUEST_TOO_LARGE,
    )


async def _send_too_slow(send: Send) -> None:
    await _send_error(
        send,
        408,
        "The request body arrived too slowly.",
        "invalid_request_error",
        ErrorKind.TIMEOUT,
    )


def _host_name(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _matches(supplied: bytes, key: bytes | None) -> bool:
    return key is not None and hmac.compare_digest(supplied, key)


class GuardMiddleware:
    """Host check, keys, body size and time limits, as one plain ASGI layer (cheap per token).

    Order: the Host check first (against DNS rebinding), then, when CORS origins are
    configured and the request comes from one of them, Starlette's CORS layer (which
    answers preflights itself, with no key, and adds its headers to every answer, errors
    included, so a page can read them), then the key and the body.

    With a ``request_log``, every ``/v1/*`` request is logged under ``listener``
    ("app" or "api"), refusals included: the entry opens before the Host check and
    closes when the answer has been sent (request_log.py).
    """

    def __init__(
        self,
        app: ASGIApp,
        config: ServerConfig,
        *,
        request_log: RequestLog | None = None,
        listener: str = "app",
    ) -> None:
        self.app = app
        self.config = config
        self.request_log = request_log
        self.listener = listener
        self._token = config.token.encode() if config.token else None
        self._control = config.control_token.encode() if config.control_token else None
        self._origins = frozenset(config.cors_origins)
        self._cors: ASGIApp | None = None
        if config.cors_origins:
            from starlette.middleware.cors import CORSMiddleware

            self._cors = CORSMiddleware(
                self._checked,
                allow_origins=list(config.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "content-type", "x-api-key"],
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        log = self.request_log
        if log is not None and str(scope.get("path", "")).startswith(LOGGED_PREFIX):
            opened = log.open(scope, self.listener)
            status = [CLIENT_GONE]
            try:
                await self._guarded(scope, receive, _logging_send(send, opened, status))
            finally:
                log.close(opened, status[0])
            return
        await self._guarded(scope, receive, send)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        if not self.config.any_host:
            host = _host_name(headers.get("host", ""))
            if host not in self.config.allowed_hosts:
                await _send_error(
                    send,
                    403,
                    "Host header not allowed (this server only answers to localhost).",
                    "permission_error",
                    ErrorKind.HOST_NOT_ALLOWED,
                )
                return
        if self._cors is not None:
            origin = headers.get("origin")
            if origin is not None and (origin in self._origins or "*" in self._origins):
                await self._cors(scope, receive, send)
                return
        await self._check(scope, receive, send, headers)

    async def _checked(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._check(scope, receive, send, _headers(scope))

    def _authorized(self, path: str, headers: dict[str, str]) -> bool:
        if path in PUBLIC_PATHS:
            return True
        control = path.startswith(CONTROL_PREFIX)
        if self._token is None and not control:
            return True
        auth = headers.get("authorization", "")
        supplied = (
            auth[7:].strip() if auth[:7].lower() == "bearer " else headers.get("x-api-key", "")
        ).encode()
        # Both comparisons always run: the time taken says nothing about which key matched.
        is_control = _matches(supplied, self._control)
        is_api = _matches(supplied, self._token)
        if control and self._control is not None:
            # The control routes exist: only the control key opens them.
            return is_control
        # /v1/* (and, with no control key, /control/*, which then answers 404 like any
        # unknown route, once the caller has shown a key).
        return is_api or is_control or (self._token is None and self._control is None)

    async def _check(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]
    ) -> None:
        limit = self.config.max_body_bytes
        length = headers.get("content-length")
        if length is not None:
            try:
                too_big = int(length) > limit
            except ValueError:
                await _send_error(
                    send,
                    400,
                    "Invalid Content-Length header.",
                    "invalid_request_error",
                    ErrorKind.BAD_REQUEST,
                )
                return
            if too_big:
                await _send_too_large(send, limit)
                return
        # No exception for OPTIONS: without a key it would tell which routes exist (405
        # for a route, 404 for none). A CORS preflight from an allowed origin never gets
        # here (the CORS layer answers it).
        if not self._authorized(scope.get("path", ""), headers):
            await _send_error(
                send,
                401,
                "Missing or invalid API key (send 'Authorization: Bearer <key>').",
                "authentication_error",
                ErrorKind.INVALID_API_KEY,
            )
            return

        # Read the whole body here, bounded in size and time, so chunked uploads and slow
        # clients are limited too; the app then gets it replayed, and later receive() calls
        # (disconnects) pass through.
        chunks: list[bytes] = []
        received = 0
        more = scope.get("method") in BODY_METHODS
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.body_timeout_s
        while more:
            wait = min(self.config.receive_timeout_s, deadline - loop.time())
            try:
                if wait <= 0:
                    raise TimeoutError
                message = await asyncio.wait_for(receive(), wait)
            except TimeoutError:
                await _send_too_slow(send)
                return
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            body = message.get("body", b"")
            received += len(body)
            if received > limit:
                await _send_too_large(send, limit)
                return
            chunks.append(body)
            more = bool(message.get("more_body", False))
        replay: list[Message] = [
            {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        ]

        async def replay_receive() -> Message:
            if replay:
                return replay.pop()
            return await receive()

        await self.app(scope, replay_receive, send)


def _logging_send(send: Send, opened: OpenEntry, status: list[int]) -> Send:
    """``send``, noting the answer's status in ``status[0]`` and, for an error answered
    as one JSON body, its code in the log entry (unless the route set one)."""
    failed = [False]

    async def logging_send(message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            status[0] = int(message["status"])
            failed[0] = status[0] >= 400
        elif failed[0] and kind == "http.response.body":
            failed[0] = False
            if opened.entry.error is None:
                with contextlib.suppress(Exception):
                    opened.set_error(json.loads(message.get("body", b""))["error"]["code"])
        await send(message)

    return logging_send


def http_protocol(config: ServerConfig) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol, plus time limits uvicorn does not have.

    - A request's line and headers: the timer starts when a connection opens, and again
      when a kept-alive connection waits for its next request; it stops once a request's
      headers are in. A client that has sent part of a request by then gets a 408 and
      the connection closes; one that sent nothing is just closed (as uvicorn's
      keep-alive timeout does).
    - The rest of a body the server answered without reading (413, 408): the client may
      go on sending for ``receive_timeout_s``, then the connection closes. Closing at
      once, with its data unread, would reset the connection and could lose the answer.
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    header_limit = config.header_timeout_s
    linger_limit = config.receive_timeout_s
    body = _error_json(
        "The request headers arrived too slowly.", "invalid_request_error", ErrorKind.TIMEOUT
    )
    too_slow = (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
    ) + body

    class LimitedH11Protocol(H11Protocol):
        _timer: asyncio.TimerHandle | None = None
        _timer_for: str = ""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._watch()

        def connection_lost(self, exc: Exception | None) -> None:
            self._arm("", 0.0)
            super().connection_lost(exc)

        def handle_events(self) -> None:
            super().handle_events()
            self._watch()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._watch()

        def _phase(self) -> str:
            if self.transport.is_closing():
                return ""
            if self.conn.their_state is h11.IDLE:
                return "headers"
            if self.conn.their_state is h11.SEND_BODY and self.conn.our_state is h11.DONE:
                return "linger"
            return ""

        def _watch(self) -> None:
            phase = self._phase()
            if phase != self._timer_for:
                self._arm(phase, header_limit if phase == "headers" else linger_limit)

        def _arm(self, phase: str, delay: float) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._timer_for = phase
            if phase:
                self._timer = self.loop.call_later(delay, self._expired)

        def _expired(self) -> None:
            self._timer = None
            phase, self._timer_for = self._timer_for, ""
            if phase != self._phase():
                return
            if phase == "headers" and self.conn.trailing_data[0]:
                # h11 cannot answer a request it has not parsed: the bytes go out as they are.
                self.transport.write(too_slow)
            self.transport.close()

    return LimitedH11Protocol


def uvicorn_settings(config: ServerConfig) -> dict[str, Any]:
    """``uvicorn.Config`` arguments that apply ``config``'s limits on the connection."""
    return {
        "http": http_protocol(config),
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "timeout_keep_alive": 5,
        # The peer's own address, not one an X-Forwarded-For header claims: it is what
        # the request log shows, and no proxy stands in front of the engine.
        "proxy_headers": False,
    }
