"""The server's outer ASGI layer: Host check, body size limit, token check.

One plain ASGI class rather than Starlette middlewares, because it runs for every
request and costs next to nothing per streamed chunk. Security defaults: see
docs/architecture.md, "The engine process".
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from llmos_desktop.core.engine.contract import ErrorKind
from llmos_desktop.core.engine.process.protocol import error_body
from llmos_desktop.core.engine.process.server.config import PUBLIC_PATHS, ServerConfig

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _send_error(send: Send, status: int, message: str, type_: str, code: ErrorKind) -> None:
    body = json.dumps(error_body(message, type_=type_, code=code)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_too_large(send: Send, limit: int) -> None:
    await _send_error(
        send,
        413,
        f"Request body is larger than {limit} bytes.",
        "invalid_request_error",
        ErrorKind.REQUEST_TOO_LARGE,
    )


def _host_name(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class GuardMiddleware:
    """Host check, body size limit and token check, as one plain ASGI layer (cheap per token)."""

    def __init__(self, app: ASGIApp, config: ServerConfig) -> None:
        self.app = app
        self.config = config
        self._token = config.token.encode() if config.token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
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
        if (
            self._token is not None
            and scope.get("method") != "OPTIONS"
            and scope.get("path") not in PUBLIC_PATHS
        ):
            auth = headers.get("authorization", "")
            supplied = (
                auth[7:].strip() if auth[:7].lower() == "bearer " else headers.get("x-api-key", "")
            )
            if not hmac.compare_digest(supplied.encode(), self._token):
                await _send_error(
                    send,
                    401,
                    "Missing or invalid API key (send 'Authorization: Bearer <key>').",
                    "authentication_error",
                    ErrorKind.INVALID_API_KEY,
                )
                return

        # Read the whole body here, bounded, so chunked uploads are limited too; the app
        # then gets it replayed, and later receive() calls (disconnects) pass through.
        chunks: list[bytes] = []
        received = 0
        more = scope.get("method") in ("POST", "PUT", "PATCH")
        while more:
            message = await receive()
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
