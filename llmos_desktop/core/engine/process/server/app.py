"""The routes: OpenAI-compatible completions and models, and the control routes.

Security defaults (a bearer token on every route but /health, a Host header that must
name the loopback interface, no CORS unless origins are configured, a body limit) are
applied around this app by ``guard``; request bounds come from the contract; every
error is an OpenAI-style body (docs/architecture.md, "The engine process").
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sse_starlette.sse import EventSourceResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from llmos_desktop import __version__
from llmos_desktop.core.engine.contract import ErrorKind, ModelLoad, SamplingOptions
from llmos_desktop.core.engine.process.protocol import (
    ChatCompletionRequest,
    CompletionFields,
    CompletionRequest,
    LoadRequest,
    error_body,
)
from llmos_desktop.core.engine.process.runtime import (
    EngineRuntime,
    EngineRuntimeError,
    GenerationResult,
)
from llmos_desktop.core.engine.process.server.config import ServerConfig
from llmos_desktop.core.engine.process.server.guard import ASGIApp, GuardMiddleware
from llmos_desktop.core.engine.process.server.streaming import Job, drain, token_counts


def _error_response(status: int, message: str, type_: str, code: ErrorKind) -> JSONResponse:
    return JSONResponse(error_body(message, type_=type_, code=code), status_code=status)


def _sampling(req: CompletionFields, extra_stops: tuple[str, ...] = ()) -> SamplingOptions:
    return req.sampling(max_tokens=req.token_limit(), stop=req.stop_list() + list(extra_stops))


def _usage(result: GenerationResult) -> dict[str, Any]:
    return {
        **token_counts(result.prompt_tokens, result.completion_tokens),
        "prompt_tokens_details": {"cached_tokens": result.cached_tokens},
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
        code = {404: ErrorKind.NOT_FOUND, 405: ErrorKind.METHOD_NOT_ALLOWED}.get(
            exc.status_code, ErrorKind.HTTP_ERROR
        )
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
                message,
                type_="invalid_request_error",
                code=ErrorKind.INVALID_VALUE,
                param=location or None,
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
            500, f"Internal error: {type(exc).__name__}", "server_error", ErrorKind.INTERNAL_ERROR
        )

    async def on_worker(func: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(runtime.executor, func, *args)

    def check_model_name(requested: str | None) -> str:
        model_id = runtime.model_id
        if model_id is None:
            raise EngineRuntimeError(
                ErrorKind.MODEL_NOT_LOADED, "No model is loaded; load one first.", status=409
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
        job = Job(runtime, asyncio.get_running_loop(), config.stream_interval_s)
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
            async for kind, value in drain(
                job, tokens, sampling, on_worker, body.continuous_usage()
            ):
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
        job = Job(runtime, asyncio.get_running_loop(), config.stream_interval_s)
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
            async for kind, value in drain(
                job, tokens, sampling, on_worker, body.continuous_usage()
            ):
                if kind == "text":
                    text, extra = value
                    yield chunk(text, **extra)
                elif kind == "done":
                    last: dict[str, Any] = {"timings": _timings(value)}
                    if body.include_usage():
                        last["usage"] = _usage(value)
                    yield chunk("", _finish(value.finish_reason), **last)
                else:
                    yield _dumps(value)
            yield "[DONE]"

        return EventSourceResponse(events(), ping=15, send_timeout=30)

    @app.post("/control/load", response_model=None)
    async def load(body: LoadRequest) -> Any:
        spec = ModelLoad(**body.model_dump(exclude={"stream"}))
        if not body.stream:
            return await on_worker(runtime.load, spec, None)
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
                status = runtime.load(spec, progress)
                event: dict[str, Any] = {"type": "loaded", "status": status}
            except EngineRuntimeError as exc:
                event = {
                    "type": "error",
                    **error_body(exc.message, type_="invalid_request_error", code=exc.kind),
                }
            except Exception as exc:
                event = {
                    "type": "error",
                    **error_body(
                        f"load failed: {exc}", type_="server_error", code=ErrorKind.LOAD_FAILED
                    ),
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
