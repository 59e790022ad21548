"""Async client of the engine API (ours, or any remote OpenAI-compatible server).

The GUI, the CLI and the tests all speak to the engine through HTTP, so the public API
is exercised by every click. Uses httpx (async, HTTP/1.1 keep-alive) and httpx-sse,
imported when the first client is made: the window imports this module at start-up
for its result types, and httpx costs ~60 ms that a window without a model can spare.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmos_desktop.core.engine.contract import ModelLoad, SamplingOptions

if TYPE_CHECKING:
    import httpx


class EngineAPIError(Exception):
    """The engine answered with an error (OpenAI-style body)."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class EngineConnectionError(Exception):
    """The engine could not be reached or went away in the middle of a request."""


@dataclass
class ChatResult:
    text: str = ""
    finish_reason: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    # From our engine's "llmos" extension (None/0 from other OpenAI-compatible servers).
    n_ctx: int | None = None
    dropped_messages: int = 0  # left out of the prompt so that it fits (truncate)
    stopped_by: str | None = None  # "stop", "max_tokens" or "context"


@dataclass(frozen=True)
class TextDelta:
    text: str


def _error_from(response: httpx.Response, body: bytes) -> EngineAPIError:
    message = f"HTTP {response.status_code}"
    code = None
    try:
        error = json.loads(body)["error"]
        message = str(error.get("message") or message)
        code = error.get("code")
    except Exception:
        if body:
            message = body[:300].decode("utf-8", "replace")
    return EngineAPIError(message, status=response.status_code, code=code)


def _read_llmos(info: Mapping[str, Any], out: ChatResult) -> None:
    """Fill ``out`` from the engine's "llmos" object (values of the wrong type are skipped)."""
    n_ctx = info.get("n_ctx")
    if isinstance(n_ctx, int) and not isinstance(n_ctx, bool):
        out.n_ctx = n_ctx
    dropped = info.get("dropped_messages")
    if isinstance(dropped, int) and not isinstance(dropped, bool):
        out.dropped_messages = dropped
    stopped_by = info.get("stopped_by")
    if isinstance(stopped_by, str):
        out.stopped_by = stopped_by


class EngineClient:
    def __init__(self, base_url: str, token: str | None, *, timeout: float = 600.0) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=5.0),
            trust_env=False,  # a system proxy must never see loopback traffic or the token
            # Plain http needs no TLS context; building one from certifi costs ~50-100 ms,
            # which would stall the GUI loop at every engine (re)start.
            verify=self.base_url.startswith("https:"),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _json(self, method: str, path: str, body: Any = None) -> Any:
        import httpx

        try:
            response = await self._http.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise EngineConnectionError(f"The engine is not reachable: {exc}") from exc
        if response.status_code >= 400:
            raise _error_from(response, response.content)
        return response.json()

    async def status(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("GET", "/control/status")
        return result

    async def models(self) -> list[str]:
        data = await self._json("GET", "/v1/models")
        return [str(item["id"]) for item in data.get("data", [])]

    async def unload(self) -> None:
        await self._json("POST", "/control/unload")

    async def _events(self, path: str, body: Mapping[str, Any]) -> AsyncIterator[dict[str, Any]]:
        import httpx
        from httpx_sse import aconnect_sse

        try:
            async with aconnect_sse(self._http, "POST", path, json=dict(body)) as source:
                response = source.response
                if response.status_code >= 400:
                    raise _error_from(response, await response.aread())
                # aclosing: leaving at [DONE] must close the generator chain now, not
                # whenever the garbage collector finds it (qasync has no asyncgen hooks).
                async with contextlib.aclosing(source.aiter_sse()) as events:
                    async for event in events:
                        if event.data == "[DONE]":
                            return
                        data = json.loads(event.data)
                        if "error" in data:
                            error = data["error"]
                            raise EngineAPIError(str(error.get("message")), code=error.get("code"))
                        yield data
        except httpx.TransportError as exc:
            raise EngineConnectionError(f"The engine connection was lost: {exc}") from exc

    async def load(self, spec: ModelLoad) -> AsyncIterator[dict[str, Any]]:
        """Progress events ({"type": "progress", ...}) then one {"type": "loaded", "status": ...}."""
        body = {**spec.model_dump(exclude_none=True), "stream": True}
        async for event in self._events("/control/load", body):
            yield event

    async def stream_chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        result: ChatResult | None = None,
        sampling: SamplingOptions | None = None,
        *,
        truncate: bool = False,
        continue_final: bool = False,
        response_format: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[TextDelta]:
        """Yields text pieces; fills ``result`` (finish reason, usage, timings) at the end.

        ``truncate``: the engine drops the oldest turns when the conversation outgrows
        the context (``result.dropped_messages`` says how many) instead of refusing it.
        ``continue_final``: the last message is the assistant's unfinished reply, which
        the model continues; the pieces are only the continuation. Both are LLMOS
        extensions, sent only when set.
        ``response_format``: OpenAI's, sent as given: ``{"type": "json_object"}`` or
        ``{"type": "json_schema", "json_schema": {"name": ..., "schema": {...},
        "strict": ...}}`` (a grammar holds the reply to it). A schema the engine cannot
        follow is an EngineAPIError with status 400 and code ``invalid_value``. The reply
        may still be cut short (``finish_reason`` "length"): parse it before using it.
        """
        out = result if result is not None else ChatResult()
        body: dict[str, Any] = {
            "messages": [dict(m) for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if sampling is not None:
            body.update(sampling.request_fields())
        if truncate:
            body["truncate"] = "oldest"
        if continue_final:
            body["continue_final_message"] = True
        if response_format is not None:
            body["response_format"] = dict(response_format)
        async for chunk in self._events("/v1/chat/completions", body):
            if chunk.get("usage"):
                out.usage = chunk["usage"]
            if chunk.get("timings"):
                out.timings = chunk["timings"]
            info = chunk.get("llmos")
            if isinstance(info, dict):
                _read_llmos(info, out)
            for choice in chunk.get("choices", []):
                text = (choice.get("delta") or {}).get("content")
                if text:
                    out.text += text
                    yield TextDelta(text)
                if choice.get("finish_reason"):
                    out.finish_reason = choice["finish_reason"]
