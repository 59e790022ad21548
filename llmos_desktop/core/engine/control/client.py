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
    # What a reasoning model thought before it answered (``reasoning_content`` or
    # ``reasoning`` in the deltas): kept apart, never part of ``text``.
    reasoning: str = ""


@dataclass(frozen=True)
class TextDelta:
    text: str


def error_text(raw: str | bytes) -> str:
    """The message inside an error body of any common shape: OpenAI's ``error.message``
    (or ``error`` as a string), FastAPI's ``detail`` (llama_cpp.server's too), older
    vLLM's top-level ``message``; else the text itself. One line, bounded."""
    from llmos_desktop.core.text import one_line

    text = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw).strip()
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        detail = body.get("detail")
        for candidate in (
            error.get("message") if isinstance(error, dict) else error,
            detail,
            body.get("message"),
        ):
            if isinstance(candidate, str) and candidate:
                return one_line(candidate, 300)
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            return one_line(str(detail[0].get("msg") or detail[0]), 300)
    if text.startswith("<"):
        return "an HTML page, not an API answer"
    return one_line(text, 300)


def _error_code(body: object) -> str | None:
    if isinstance(body, dict):
        error = body.get("error")
        code = error.get("code") if isinstance(error, dict) else body.get("code")
        if isinstance(code, str | int) and not isinstance(code, bool):
            return str(code)
    return None


def _error_from(response: httpx.Response, body: bytes) -> EngineAPIError:
    try:
        parsed: object = json.loads(body)
    except ValueError:
        parsed = None
    message = error_text(body) if body else f"HTTP {response.status_code}"
    return EngineAPIError(message, status=response.status_code, code=_error_code(parsed))


def _event_error(data: Mapping[str, Any]) -> EngineAPIError | None:
    """An error sent as an event inside a stream: ours and OpenAI's (``{"error": ...}``),
    or vLLM's (``{"object": "error", "message": ...}``)."""
    if "error" in data or data.get("object") == "error":
        return EngineAPIError(error_text(json.dumps(dict(data))), code=_error_code(data))
    return None


def read_chat_chunk(chunk: Mapping[str, Any], out: ChatResult) -> str:
    """One streamed chat chunk of any OpenAI-compatible server into ``out``: usage,
    timings, our "llmos" object, the finish reason and reasoning (kept apart); returns
    the reply text it carries ("" for none). Servers send one token or several per
    chunk, with or without usage; values of the wrong type are skipped."""
    if isinstance(chunk.get("usage"), dict) and chunk["usage"]:
        out.usage = chunk["usage"]
    if isinstance(chunk.get("timings"), dict) and chunk["timings"]:
        out.timings = chunk["timings"]
    info = chunk.get("llmos")
    if isinstance(info, dict):
        _read_llmos(info, out)
    pieces: list[str] = []
    choices = chunk.get("choices")
    for choice in choices if isinstance(choices, list) else []:
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        if isinstance(delta, dict):
            thought = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(thought, str):
                out.reasoning += thought
            text = delta.get("content")
            if isinstance(text, str) and text:
                pieces.append(text)
        if isinstance(choice.get("finish_reason"), str):
            out.finish_reason = choice["finish_reason"]
    text = "".join(pieces)
    out.text += text
    return text


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
    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 600.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        """A client of ``base_url`` with ``token``; ``http``: a client made elsewhere (a
        remote engine's, with its own TLS, timeouts and redirect rules) instead of the
        loopback one made here."""
        self.base_url = base_url.rstrip("/")
        if http is not None:
            self._http = http
            return
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
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

    async def set_api_server(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Switch the engine's API listener on, off or over (``POST /control/api``).

        ``config`` is an ``ApiServerConfig`` as a dict (``model_dump()``). Returns
        ``{"enabled", "base_url", "host", "port", ...}``. A port in use is an
        EngineAPIError with status 409; a config the engine refuses (another address
        without a key, say) status 400, code ``invalid_value``.
        """
        result: dict[str, Any] = await self._json("POST", "/control/api", dict(config))
        return result

    async def api_server(self) -> dict[str, Any]:
        """The API listener's state (``GET /control/api``), as ``set_api_server`` returns."""
        result: dict[str, Any] = await self._json("GET", "/control/api")
        return result

    async def requests(self, after: int = 0) -> dict[str, Any]:
        """The request log's entries newer than id ``after`` (``GET /control/requests``):
        ``{"entries": [...], "last_id", "missed", "log_id", "capacity", "log_prompts"}``."""
        result: dict[str, Any] = await self._json("GET", f"/control/requests?after={int(after)}")
        return result

    async def embeddings(
        self, inputs: str | Sequence[str], *, model: str | None = None
    ) -> list[list[float]]:
        """Vectors for ``inputs`` (``POST /v1/embeddings``), one per input, in order."""
        body: dict[str, Any] = {"input": inputs if isinstance(inputs, str) else list(inputs)}
        if model is not None:
            body["model"] = model
        data = await self._json("POST", "/v1/embeddings", body)
        items = sorted(data.get("data", []), key=lambda item: int(item["index"]))
        return [[float(x) for x in item["embedding"]] for item in items]

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
                        if not isinstance(data, dict):
                            raise EngineAPIError(
                                f"an event that is not an object: {event.data!r:.80}"
                            )
                        error = _event_error(data)
                        if error is not None:
                            raise error
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
            text = read_chat_chunk(chunk, out)
            if text:
                yield TextDelta(text)
        if out.finish_reason is None:
            # The stream closed cleanly but the reply never said it was over: what came
            # is a part, not the whole (the session keeps it, marked incomplete).
            raise EngineConnectionError("The reply stream ended before the reply was complete")
