"""The engine's HTTP API: OpenAI-compatible routes plus control routes, with safe defaults.

Security defaults (see DESIGN.md): a bearer token on every route but /health, a Host
header that must name the loopback interface (against DNS rebinding), no CORS unless
origins are configured, a request body limit, bounded numbers and OpenAI-style errors.
``create_app`` builds an independent app around one EngineRuntime; there is no module
state, so tests can run several.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sse_starlette.sse import EventSourceResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from llmos_desktop import __version__
from llmos_desktop.core.engine.process.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    LoadRequest,
    SamplingFields,
    error_body,
)
from llmos_desktop.core.engine.process.runtime import (
    EngineRuntime,
    EngineRuntimeError,
    GenerationResult,
    LoadParams,
    Sampling,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
PUBLIC_PATHS = frozenset({"/health"})


@dataclass(frozen=True)
class ServerConfig:
    token: str | None
    allowed_hosts: frozenset[str] = LOOPBACK_HOSTS
    any_host: bool = False
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 8 * 1024 * 1024
    # Streamed text is sent at once when the last chunk is older than this, else gathered
    # into the next chunk: per-chunk work (about 1 ms of CPU here and 1 ms in the openai
    # client) then stops competing with llama.cpp for the CPU when tokens come faster than
    # a person reads. 100 ms: at most 10 updates a second; see README, "The engine API".
    stream_interval_s: float = 0.1


def _error_response(status: int, message: str, type_: str, code: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(message, type_=type_, code=code), status_code=status)


async def _send_error(send: Send, status: int, message: str, type_: str, code: str) -> None:
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
                    "host_not_allowed",
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
                    "bad_request",
                )
                return
            if too_big:
                await _send_error(
                    send,
                    413,
                    f"Request body is larger than {limit} bytes.",
                    "invalid_request_error",
                    "request_too_large",
                )
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
                    "invalid_api_key",
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
                await _send_error(
                    send,
                    413,
                    f"Request body is larger than {limit} bytes.",
                    "invalid_request_error",
                    "request_too_large",
                )
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


def _sampling(req: SamplingFields, extra_stops: tuple[str, ...] = ()) -> Sampling:
    return Sampling(
        temperature=req.temperature,
        top_p=req.top_p,
        top_k=req.top_k,
        min_p=req.min_p,
        repeat_penalty=req.repeat_penalty,
        presence_penalty=req.presence_penalty,
        frequency_penalty=req.frequency_penalty,
        max_tokens=req.token_limit(),
        stop=tuple(req.stop_list()) + extra_stops,
        seed=req.seed,
    )


def _usage(result: GenerationResult) -> dict[str, Any]:
    return {
        **_token_counts(result.prompt_tokens, result.completion_tokens),
        "prompt_tokens_details": {"cached_tokens": result.cached_tokens},
    }


def _token_counts(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _timings(result: GenerationResult) -> dict[str, Any]:
    return {
        "ttft_s": result.ttft_s,
        "prompt_tokens_per_s": result.prompt_tokens_per_s,
        "tokens_per_s": result.tokens_per_s,
        "cached_tokens": result.cached_tokens,
    }


def _choice(**fields: Any) -> dict[str, Any]:
    return {"index": 0, **fields, "logprobs": None}


@dataclass(frozen=True)
class _Envelope:
    """The fields every completion object and chunk of one request share."""

    ident: str
    created: int
    model: str

    def __call__(self, kind: str, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "id": self.ident,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "choices": choices,
            **extra,
        }


def _finish(reason: str) -> str:
    # OpenAI has no "cancelled"; a client that cancelled is gone anyway.
    return "stop" if reason == "cancelled" else reason


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class _Job:
    """One generation on the worker thread, its text delivered to the event loop in chunks.

    The first text goes out at once; later text is gathered while tokens arrive faster than
    one chunk per ``interval`` and sent with the next token after it, so no text waits
    longer than ``interval`` plus one token. The rest goes out before "done" or "error".
    """

    def __init__(
        self, runtime: EngineRuntime, loop: asyncio.AbstractEventLoop, interval: float
    ) -> None:
        self.runtime = runtime
        self.loop = loop
        self.interval = interval
        self.cancel = threading.Event()
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._parts: list[str] = []
        self._tokens = 0
        self._last_sent = -float("inf")

    def _put(self, kind: str, value: Any) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (kind, value))

    def _on_text(self, text: str, tokens: int) -> None:
        self._parts.append(text)
        self._tokens = tokens
        now = time.monotonic()
        if now - self._last_sent >= self.interval:
            self._last_sent = now
            self._flush()

    def _flush(self) -> None:
        if self._parts:
            self._put("text", ("".join(self._parts), self._tokens))
            self._parts.clear()

    def run(self, tokens: list[int], sampling: Sampling, stream: bool) -> GenerationResult:
        on_text = self._on_text if stream else None
        try:
            result = self.runtime.generate(tokens, sampling, self.cancel, on_text)
        except BaseException as exc:
            self._flush()
            self._put("error", exc)
            raise
        self._flush()
        self._put("done", result)
        # After the reply is out, so the client does not wait for the copy.
        self.runtime.save_to_cache()
        return result


def create_app(runtime: EngineRuntime, config: ServerConfig) -> ASGIApp:
    app = FastAPI(
        title="LLMOS engine",
        version=__version__,
        description="OpenAI-compatible API of the LLMOS Desktop engine, plus control routes.",
        docs_url=None,
        redoc_url=None,
    )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = "Unknown route." if exc.status_code == 404 else str(exc.detail)
        return _error_response(exc.status_code, message, "invalid_request_error", code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        location = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        if first.get("type") == "json_invalid":
            message = "The request body is not valid JSON."
        else:
            message = f"{location or 'body'}: {first.get('msg', 'invalid value')}"
        return JSONResponse(
            error_body(
                message, type_="invalid_request_error", code="invalid_value", param=location or None
            ),
            status_code=400,
        )

    @app.exception_handler(EngineRuntimeError)
    async def _runtime_error(_request: Request, exc: EngineRuntimeError) -> JSONResponse:
        type_ = "server_error" if exc.status >= 500 else "invalid_request_error"
        return _error_response(exc.status, exc.message, type_, exc.kind)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        return _error_response(
            500, f"Internal error: {type(exc).__name__}", "server_error", "internal_error"
        )

    async def on_worker(func: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(runtime.executor, func, *args)

    def check_model_name(requested: str | None) -> str:
        model_id = runtime.model_id
        if model_id is None:
            raise EngineRuntimeError(
                "model_not_loaded", "No model is loaded; load one first.", status=409
            )
        return model_id

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        model_id = runtime.model_id
        data = []
        if model_id is not None:
            data.append({"id": model_id, "object": "model", "created": 0, "owned_by": "local"})
        return {"object": "list", "data": data}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(body: ChatCompletionRequest) -> Any:
        model_id = check_model_name(body.model)
        messages = [{"role": m.role, "content": m.text()} for m in body.messages]
        tokens, template_stops = await on_worker(runtime.chat_prompt, messages)
        sampling = _sampling(body, template_stops)
        envelope = _Envelope(f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), model_id)
        job = _Job(runtime, asyncio.get_running_loop(), config.stream_interval_s)
        if not body.stream:
            result: GenerationResult = await on_worker(job.run, tokens, sampling, False)
            message = {"role": "assistant", "content": result.text}
            return envelope(
                "chat.completion",
                [_choice(message=message, finish_reason=_finish(result.finish_reason))],
                usage=_usage(result),
                timings=_timings(result),
            )

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
            choice = _choice(delta=delta, finish_reason=finish)
            return _dumps(envelope("chat.completion.chunk", [choice], **extra))

        async def events() -> AsyncIterator[str]:
            yield chunk({"role": "assistant", "content": ""})
            async for kind, value in _drain(job, tokens, sampling, on_worker, body):
                if kind == "text":
                    text, extra = value
                    yield chunk({"content": text}, **extra)
                elif kind == "done":
                    yield chunk({}, _finish(value.finish_reason), timings=_timings(value))
                    if body.include_usage():
                        yield _dumps(envelope("chat.completion.chunk", [], usage=_usage(value)))
                else:
                    yield _dumps(value)
            yield "[DONE]"

        return EventSourceResponse(events(), ping=15, send_timeout=30)

    @app.post("/v1/completions", response_model=None)
    async def completions(body: CompletionRequest) -> Any:
        model_id = check_model_name(body.model)
        prompt = body.prompt_value()

        def prepare() -> list[int]:
            return runtime.text_prompt(prompt)

        tokens = await on_worker(prepare)
        sampling = _sampling(body)
        envelope = _Envelope(f"cmpl-{uuid.uuid4().hex}", int(time.time()), model_id)
        job = _Job(runtime, asyncio.get_running_loop(), config.stream_interval_s)
        prefix = prompt if (body.echo and isinstance(prompt, str)) else ""
        if not body.stream:
            result: GenerationResult = await on_worker(job.run, tokens, sampling, False)
            return envelope(
                "text_completion",
                [_choice(text=prefix + result.text, finish_reason=_finish(result.finish_reason))],
                usage=_usage(result),
                timings=_timings(result),
            )

        def chunk(text: str, finish: str | None = None, **extra: Any) -> str:
            choice = _choice(text=text, finish_reason=finish)
            return _dumps(envelope("text_completion", [choice], **extra))

        async def events() -> AsyncIterator[str]:
            if prefix:
                yield chunk(prefix)
            async for kind, value in _drain(job, tokens, sampling, on_worker, body):
                if kind == "text":
                    text, extra = value
                    yield chunk(text, **extra)
                elif kind == "done":
                    extra: dict[str, Any] = {"timings": _timings(value)}
                    if body.include_usage():
                        extra["usage"] = _usage(value)
                    yield chunk("", _finish(value.finish_reason), **extra)
                else:
                    yield _dumps(value)
            yield "[DONE]"

        return EventSourceResponse(events(), ping=15, send_timeout=30)

    @app.post("/control/load", response_model=None)
    async def load(body: LoadRequest) -> Any:
        params = LoadParams(
            path=body.path,
            n_ctx=body.n_ctx,
            n_gpu_layers=body.n_gpu_layers,
            n_threads=body.n_threads,
            chat_template=body.chat_template,
            alias=body.alias,
        )
        if not body.stream:
            return await on_worker(runtime.load, params, None)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        last = [-1.0]

        def progress(value: float, stage: str) -> None:
            # llama.cpp calls back very often; a percent step is plenty for a progress bar.
            if value - last[0] >= 0.01 or value >= 1.0 or value == 0.0:
                last[0] = value
                loop.call_soon_threadsafe(
                    queue.put_nowait,
                    {"type": "progress", "progress": round(value, 4), "stage": stage},
                )

        def work() -> None:
            try:
                status = runtime.load(params, progress)
                event: dict[str, Any] = {"type": "loaded", "status": status}
            except EngineRuntimeError as exc:
                event = {
                    "type": "error",
                    **error_body(exc.message, type_="invalid_request_error", code=exc.kind),
                }
            except Exception as exc:
                event = {
                    "type": "error",
                    **error_body(f"load failed: {exc}", type_="server_error", code="load_failed"),
                }
            loop.call_soon_threadsafe(queue.put_nowait, event)

        future = loop.run_in_executor(runtime.executor, work)

        async def events() -> AsyncIterator[str]:
            while True:
                event = await queue.get()
                yield _dumps(event)
                if event["type"] in ("loaded", "error"):
                    break
            await future

        return EventSourceResponse(events(), ping=5)

    @app.post("/control/unload")
    async def unload() -> dict[str, Any]:
        await on_worker(runtime.unload)
        return {"unloaded": True}

    @app.get("/control/status")
    async def status() -> dict[str, Any]:
        data = runtime.status()
        data["version"] = __version__
        return data

    guarded: ASGIApp = app
    if config.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        guarded = CORSMiddleware(
            app,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["authorization", "content-type", "x-api-key"],
        )
    return GuardMiddleware(guarded, config)


async def _drain(
    job: _Job,
    tokens: list[int],
    sampling: Sampling,
    on_worker: Callable[..., Awaitable[Any]],
    request: SamplingFields,
) -> AsyncIterator[tuple[str, Any]]:
    """Run a generation and yield ("text", (text, extra chunk fields)), then ("done", result)
    or ("error", body). The extra fields carry the usage so far when the request asked for
    continuous usage stats.

    If the client goes away, sse-starlette cancels this generator; the ``finally`` sets the
    cancel event, which the worker checks after every token and llama.cpp's abort callback
    checks during prompt evaluation.
    """
    continuous = request.continuous_usage()
    future = asyncio.ensure_future(on_worker(job.run, tokens, sampling, True))
    future.add_done_callback(lambda f: f.exception() if not f.cancelled() else None)
    try:
        while True:
            kind, value = await job.queue.get()
            if kind == "text":
                text, generated = value
                extra = {"usage": _token_counts(len(tokens), generated)} if continuous else {}
                yield kind, (text, extra)
            elif kind == "done":
                yield kind, value
                return
            else:
                exc = value
                if isinstance(exc, EngineRuntimeError):
                    body = error_body(exc.message, type_="server_error", code=exc.kind)
                else:
                    body = error_body(
                        f"generation failed: {exc}", type_="server_error", code="generation_failed"
                    )
                yield "error", body
                return
    finally:
        job.cancel.set()
