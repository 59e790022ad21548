"""The routes: OpenAI-compatible completions and models, and the control routes.

Security defaults (a key on every route but /health and /openapi.json, a separate key
for the control routes, a Host header that must name the loopback interface, no CORS
unless origins are configured, body size and time limits) are applied around this app
by ``guard``; request bounds come from the contract; every error is an OpenAI-style body
(docs/architecture.md, "The engine process").

The OpenAPI document (``/openapi.json``, served without a key) describes what programs
may call: ``/health`` and ``/v1/*``, with the errors each answers, the streamed
``text/event-stream`` replies and the key as an HTTP bearer scheme. The control routes
are the app's and stay out of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from sse_starlette.sse import EventSourceResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from llmos_desktop import __version__
from llmos_desktop.core.engine.api_server import ApiServerConfig
from llmos_desktop.core.engine.contract import ErrorKind, ModelLoad, SamplingOptions
from llmos_desktop.core.engine.process.protocol import (
    SCHEMA_PARAM,
    ChatCompletion,
    ChatCompletionRequest,
    Completion,
    CompletionFields,
    CompletionRequest,
    EmbeddingList,
    EmbeddingRequest,
    ErrorResponse,
    HealthResponse,
    LoadRequest,
    ModelList,
    error_body,
)
from llmos_desktop.core.engine.process.runtime import (
    ChatPrompt,
    ConstrainedSampling,
    EngineRuntime,
    EngineRuntimeError,
    GenerationResult,
)
from llmos_desktop.core.engine.process.server.config import ServerConfig
from llmos_desktop.core.engine.process.server.guard import ASGIApp, GuardMiddleware
from llmos_desktop.core.engine.process.server.listener import ApiListener, ListenerError
from llmos_desktop.core.engine.process.server.request_log import (
    OpenEntry,
    RequestLog,
    entry_of,
)
from llmos_desktop.core.engine.process.server.streaming import Job, drain, finish, token_counts


def _error_response(status: int, message: str, type_: str, code: ErrorKind) -> JSONResponse:
    return JSONResponse(error_body(message, type_=type_, code=code), status_code=status)


def _sampling(
    req: CompletionFields, extra_stops: tuple[str, ...] = (), grammar: str | None = None
) -> SamplingOptions:
    sampling = req.sampling(max_tokens=req.token_limit(), stop=req.stop_list() + list(extra_stops))
    if grammar is None:
        return sampling
    return ConstrainedSampling(**sampling.model_dump(), grammar=grammar)


def _response_grammar(runtime: EngineRuntime, req: CompletionFields) -> str | None:
    """The grammar ``response_format`` asks for (None: none); on the worker thread."""
    response_format = req.response_format
    if response_format is None or not response_format.constrains():
        return None
    return runtime.response_grammar(
        response_format.schema_value(), strict=response_format.is_strict(), param=SCHEMA_PARAM
    )


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


def _llmos(result: GenerationResult, prompt: ChatPrompt) -> dict[str, Any]:
    """Our extension on chat replies (protocol.LlmosInfo)."""
    return {
        "n_ctx": result.n_ctx,
        "prompt_tokens": result.prompt_tokens,
        "dropped_messages": prompt.dropped_messages,
        "stopped_by": result.stopped_by,
    }


def _log_result(entry: OpenEntry | None, result: GenerationResult) -> None:
    if entry is not None:
        entry.set_usage(
            result.prompt_tokens, result.completion_tokens, result.ttft_s, result.tokens_per_s
        )


def _log_request(entry: OpenEntry | None, model: str, stream: bool, prompt: str) -> None:
    if entry is not None:
        entry.entry.model = model
        entry.entry.stream = stream
        entry.set_prompt(prompt)


def _log_stream_error(entry: OpenEntry | None, body: Any) -> None:
    if entry is not None:
        with contextlib.suppress(Exception):
            entry.set_error(body["error"]["code"])


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


LOAD_REFUSED = (
    "this server loads models only from its models folder and the files it was started with"
)


def _allowed_path(path: str, roots: tuple[Path, ...]) -> str | None:
    """The real path of ``path`` if it is one of ``roots`` or inside one, else None.

    Only the path is looked at (symlinks resolved), never the file: a refusal must not
    tell whether it exists or what it is.
    """
    try:
        real = Path(os.path.realpath(path))
    except (OSError, ValueError):
        return None
    for root in roots:
        if real == root or real.is_relative_to(root):
            return str(real)
    return None


@contextlib.asynccontextmanager
async def _cancel_on_disconnect(request: Request, cancel: threading.Event) -> AsyncIterator[None]:
    """While the block runs, a client that goes away sets ``cancel``.

    For replies that are not streamed (sse-starlette watches the streamed ones): without
    this, a client that left would hold the one worker until its generation ended. The
    body has been read (the guard read it, FastAPI parsed it), so the next ASGI message
    is ``http.disconnect``, which uvicorn sends when the connection closes.
    """

    async def watch() -> None:
        with contextlib.suppress(Exception):
            while (await request.receive())["type"] != "http.disconnect":
                pass
            cancel.set()

    watcher = asyncio.ensure_future(watch())
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


def _errors(**described: str) -> dict[int | str, dict[str, Any]]:
    return {
        int(status[1:]): {"model": ErrorResponse, "description": text}
        for status, text in described.items()
    }


# The errors of the HTTP layer (guard and validation), for the OpenAPI document.
_HOST_ERROR = _errors(e403="The Host header does not name this machine (`host_not_allowed`).")
_KEY_ERROR = _errors(e401="Missing or wrong key (`invalid_api_key`).")
_BODY_ERRORS = _errors(
    e400="A value the API does not accept (`invalid_value`, with `param` naming it), or a "
    "body that is not JSON.",
    e408="The body arrived too slowly (`timeout`).",
    e413="The body is larger than the server's limit (`request_too_large`).",
)
# One server-sent event (OpenAPI before 3.2 describes a stream by its events).
_SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "title": "ServerSentEvent",
    "properties": {
        "data": {
            "type": "string",
            "description": 'A chunk as JSON, an `{"error": …}` object, or `[DONE]`.',
        },
        "event": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
    "required": ["data"],
}
_SSE_NOTE = (
    " With `stream: true` the reply is `text/event-stream`: each `data:` line holds one "
    "chunk (JSON), an error after the stream began comes as a `data:` line with an "
    "`error` object, and the last line is `data: [DONE]`."
)


def _tidy_openapi(schema: dict[str, Any], keyed: bool) -> dict[str, Any]:
    """FastAPI's document, made to match the server: validation errors are 400 (FastAPI
    adds a 422 to every route with a body), and the key is an HTTP bearer scheme (the
    guard checks it, so FastAPI does not know of it)."""
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.get("responses", {})
            validation = responses.get("422", {})
            if "HTTPValidationError" in json.dumps(validation):
                del responses["422"]
            operation["responses"] = dict(sorted(responses.items()))
            if keyed and path != "/health":
                operation["security"] = [{"bearer": []}, {"apiKey": []}]
    schemas = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    if keyed:
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "The server's API key, as `Authorization: Bearer <key>`.",
            },
            "apiKey": {
                "type": "apiKey",
                "in": "header",
                "name": "X-API-Key",
                "description": "The same key, for clients that cannot send a bearer token.",
            },
        }
    return schema


def create_app(
    runtime: EngineRuntime,
    config: ServerConfig,
    *,
    request_log: RequestLog | None = None,
    listener: str = "app",
) -> ASGIApp:
    """The guarded app of one listener around ``runtime``.

    ``request_log``: where ``/v1/*`` requests are logged (a new log when None);
    ``listener``: the name its entries carry ("app" or "api"). With a control key the
    control routes are mounted, and with them the window's API listener
    (``/control/api``), which serves the same runtime into the same log.
    """
    log = request_log if request_log is not None else RequestLog()
    # The document covers /health and /v1/*, which the API key opens (or, with none, anyone).
    keyed = config.token is not None
    description = "OpenAI-compatible API of the LLMOS Desktop engine."
    if keyed:
        description += (
            " Every route but `/health` (and this document) needs the server's key, as "
            "`Authorization: Bearer <key>` or `X-API-Key: <key>`."
        )
    app = FastAPI(
        title="LLMOS engine",
        version=__version__,
        description=description,
        docs_url=None,
        redoc_url=None,
    )
    guarded_errors = {**_HOST_ERROR, **(_KEY_ERROR if keyed else {})}
    body_errors = {**guarded_errors, **_BODY_ERRORS}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = _tidy_openapi(schema, keyed)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: ErrorKind.NOT_FOUND, 405: ErrorKind.METHOD_NOT_ALLOWED}.get(
            exc.status_code, ErrorKind.HTTP_ERROR
        )
        message = "Unknown route." if exc.status_code == 404 else str(exc.detail)
        response = _error_response(exc.status_code, message, "invalid_request_error", code)
        if exc.headers:
            response.headers.update(exc.headers)  # 405's Allow
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        location = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        if first.get("type") == "json_invalid":
            message = "The request body is not valid JSON."
            location = ""  # FastAPI's location is the offset of the error in the body
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
        return JSONResponse(
            error_body(exc.message, type_=type_, code=exc.kind, param=exc.param),
            status_code=exc.status,
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        return _error_response(
            500, f"Internal error: {type(exc).__name__}", "server_error", ErrorKind.INTERNAL_ERROR
        )

    async def on_worker(func: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(runtime.executor, func, *args)

    async def off_loop(func: Callable[..., Any], *args: Any) -> Any:
        # Blocking work that waits for the llama thread itself (run_on_model).
        return await asyncio.get_running_loop().run_in_executor(None, func, *args)

    def check_model_name(requested: str | None) -> str:
        model_id = runtime.model_id
        if model_id is None:
            raise EngineRuntimeError(
                ErrorKind.MODEL_NOT_LOADED, "No model is loaded; load one first.", status=409
            )
        return model_id

    @app.get(
        "/health",
        response_model=None,
        responses={200: {"model": HealthResponse}, **_HOST_ERROR},
        summary="Is the server up (no key needed)",
    )
    async def health() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get(
        "/v1/models",
        response_model=None,
        responses={200: {"model": ModelList}, **guarded_errors},
        summary="The loaded model, if any",
    )
    async def list_models() -> dict[str, Any]:
        model_id = runtime.model_id
        data = []
        if model_id is not None:
            data.append({"id": model_id, "object": "model", "created": 0, "owned_by": "local"})
        return {"object": "list", "data": data}

    def completion_responses(model: type[Any], more: dict[int | str, Any]) -> dict[int | str, Any]:
        return {
            200: {
                "model": model,
                "description": "The reply." + _SSE_NOTE,
                "content": {"text/event-stream": {"schema": _SSE_EVENT}},
            },
            **body_errors,
            400: {
                "model": ErrorResponse,
                "description": _BODY_ERRORS[400]["description"]
                + " Also a prompt the context cannot hold (`context_length_exceeded`), "
                "a prompt that cannot be built (`invalid_prompt`): token ids outside the "
                "vocabulary, `continue_final_message` without an assistant message last; "
                "and a `response_format` schema that is not valid JSON Schema or that no "
                "grammar can be built from (`invalid_value`, `param` "
                "`response_format.json_schema.schema`).",
            },
            409: {
                "model": ErrorResponse,
                "description": "No model is loaded (`model_not_loaded`).",
            },
            500: {
                "model": ErrorResponse,
                "description": "llama.cpp failed (`generation_failed`).",
            },
            **more,
        }

    @app.post(
        "/v1/chat/completions",
        response_model=None,
        responses=completion_responses(
            ChatCompletion,
            _errors(e422="The model's chat template refused the messages (`chat_template_error`)."),
        ),
        summary="A chat reply",
    )
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Any:
        model_id = check_model_name(body.model)
        messages = [{"role": m.role, "content": m.text()} for m in body.messages]
        entry = entry_of(request.scope)
        if entry is not None:
            _log_request(
                entry,
                model_id,
                body.stream,
                "\n".join(f"{m['role']}: {m['content']}" for m in messages)
                if entry.log.log_prompts
                else "",
            )
        envelope = _Envelope(f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), model_id)
        job = Job(runtime, asyncio.get_running_loop(), config.stream_interval_s)

        def prepare() -> tuple[ChatPrompt, str | None]:
            grammar = _response_grammar(runtime, body)
            prompt = runtime.chat_prompt(
                messages,
                truncate=body.truncates(),
                continue_final=body.continue_final_message,
                max_tokens=body.token_limit(),
            )
            return prompt, grammar

        if not body.stream:
            async with _cancel_on_disconnect(request, job.cancel):
                prompt, grammar = await on_worker(prepare)
                sampling = _sampling(body, prompt.stops, grammar)
                result = await finish(job, prompt.tokens, sampling, on_worker)
            _log_result(entry, result)
            message = {"role": "assistant", "content": result.text}
            return envelope(
                "chat.completion",
                [_choice(message=message, finish_reason=_finish(result.finish_reason))],
                usage=_usage(result),
                timings=_timings(result),
                llmos=_llmos(result, prompt),
            )

        prompt, grammar = await on_worker(prepare)
        tokens = prompt.tokens
        sampling = _sampling(body, prompt.stops, grammar)

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
                    _log_result(entry, value)
                    # The extension rides on the last chunk before [DONE] (and on the
                    # finishing one, for clients that stop reading there).
                    info = _llmos(value, prompt)
                    last = chunk(
                        {}, _finish(value.finish_reason), timings=_timings(value), llmos=info
                    )
                    yield last
                    if body.include_usage():
                        yield _dumps(
                            envelope("chat.completion.chunk", [], usage=_usage(value), llmos=info)
                        )
                else:
                    _log_stream_error(entry, value)
                    yield _dumps(value)
            yield "[DONE]"

        return EventSourceResponse(events(), ping=15, send_timeout=30)

    @app.post(
        "/v1/completions",
        response_model=None,
        responses=completion_responses(Completion, {}),
        summary="A text completion",
    )
    async def completions(body: CompletionRequest, request: Request) -> Any:
        model_id = check_model_name(body.model)
        prompt = body.prompt_value()
        entry = entry_of(request.scope)
        _log_request(entry, model_id, body.stream, prompt if isinstance(prompt, str) else "")

        def prepare() -> tuple[list[int], str | None]:
            grammar = _response_grammar(runtime, body)
            return runtime.text_prompt(prompt), grammar

        envelope = _Envelope(f"cmpl-{uuid.uuid4().hex}", int(time.time()), model_id)
        job = Job(runtime, asyncio.get_running_loop(), config.stream_interval_s)
        prefix = prompt if (body.echo and isinstance(prompt, str)) else ""
        if not body.stream:
            async with _cancel_on_disconnect(request, job.cancel):
                tokens, grammar = await on_worker(prepare)
                sampling = _sampling(body, grammar=grammar)
                result = await finish(job, tokens, sampling, on_worker)
            _log_result(entry, result)
            return envelope(
                "text_completion",
                [_choice(text=prefix + result.text, finish_reason=_finish(result.finish_reason))],
                usage=_usage(result),
                timings=_timings(result),
            )

        tokens, grammar = await on_worker(prepare)
        sampling = _sampling(body, grammar=grammar)

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
                    _log_result(entry, value)
                    last: dict[str, Any] = {"timings": _timings(value)}
                    if body.include_usage():
                        last["usage"] = _usage(value)
                    yield chunk("", _finish(value.finish_reason), **last)
                else:
                    _log_stream_error(entry, value)
                    yield _dumps(value)
            yield "[DONE]"

        return EventSourceResponse(events(), ping=15, send_timeout=30)

    @app.post(
        "/v1/embeddings",
        response_model=None,
        responses={
            200: {"model": EmbeddingList, "description": "One vector per input, in order."},
            **body_errors,
            400: {
                "model": ErrorResponse,
                "description": _BODY_ERRORS[400]["description"]
                + " Also a model that cannot make embeddings (`invalid_value`, `param` "
                "`model`: an encoder-decoder model or a reranker), `dimensions` other than "
                "the model's (`invalid_value`), an input longer than the model embeds "
                "(`context_length_exceeded`), token ids outside the vocabulary "
                "(`invalid_prompt`), more than 2,048 inputs or 300,000 tokens.",
            },
            409: {
                "model": ErrorResponse,
                "description": "No model is loaded (`model_not_loaded`).",
            },
            500: {"model": ErrorResponse, "description": "llama.cpp failed (`generation_failed`)."},
        },
        summary="Embeddings: one L2-normalised vector per input",
    )
    async def embeddings(body: EmbeddingRequest, request: Request) -> Any:
        from llmos_desktop.core.engine.process import embeddings as embedding
        from llmos_desktop.core.engine.process.llama_api import EmbeddingCancelled

        model_id = check_model_name(body.model)
        items = body.items()
        entry = entry_of(request.scope)
        if entry is not None:
            _log_request(
                entry,
                model_id,
                False,
                "\n".join(item for item in items if isinstance(item, str))
                if entry.log.log_prompts
                else "",
            )
        cancel = threading.Event()
        try:
            async with _cancel_on_disconnect(request, cancel):
                result = await off_loop(
                    lambda: embedding.embed(runtime, items, cancel, dimensions=body.dimensions)
                )
        except EmbeddingCancelled:
            return _error_response(
                499, "The client went away.", "invalid_request_error", ErrorKind.BAD_REQUEST
            )
        if entry is not None:
            entry.set_usage(result.prompt_tokens)
        as_base64 = body.encoding_format == "base64"
        return {
            "object": "list",
            "data": [
                {
                    "object": "embedding",
                    "index": index,
                    "embedding": embedding.encode_base64(vector) if as_base64 else vector,
                }
                for index, vector in enumerate(result.vectors)
            ],
            "model": model_id,
            "usage": {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens},
        }

    if config.control_token is not None:
        api_listener = ApiListener(
            lambda api_config: create_app(runtime, api_config, request_log=log, listener="api"),
            config,
            log,
        )
        _add_control_routes(app, runtime, config, on_worker, log, api_listener)

    return GuardMiddleware(app, config, request_log=log, listener=listener)


def _add_control_routes(
    app: FastAPI,
    runtime: EngineRuntime,
    config: ServerConfig,
    on_worker: Callable[..., Any],
    log: RequestLog,
    api_listener: ApiListener,
) -> None:
    """``/control/*``: for the app that runs the engine, behind the control key; not in
    the OpenAPI document."""
    roots = (
        None
        if config.load_roots is None
        else tuple(Path(os.path.realpath(root)) for root in config.load_roots)
    )

    @app.post("/control/load", response_model=None, include_in_schema=False)
    async def load(body: LoadRequest) -> Any:
        spec = ModelLoad(**body.model_dump(exclude={"stream"}))
        if roots is not None:
            real = _allowed_path(spec.path, roots)
            if real is None:
                return JSONResponse(
                    error_body(
                        LOAD_REFUSED,
                        type_="permission_error",
                        code=ErrorKind.INVALID_VALUE,
                        param="path",
                    ),
                    status_code=403,
                )
            # The checked path is the one opened, so a symlink swapped in after the check is
            # not followed; the model keeps the id its own name gives it.
            spec = spec.model_copy(
                update={"path": real, "alias": spec.alias or Path(spec.path).stem}
            )
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

    @app.post("/control/unload", include_in_schema=False)
    async def unload() -> dict[str, Any]:
        await on_worker(runtime.unload)
        return {"unloaded": True}

    @app.get("/control/status", include_in_schema=False)
    async def status() -> dict[str, Any]:
        data = runtime.status()
        data["version"] = __version__
        # Requests in flight: per listener (from the log) and as the runtime counts them.
        busy = dict(data.get("busy") or {})
        with contextlib.suppress(Exception):
            busy.update(runtime.activity())
        busy.setdefault("active", 0)
        busy.setdefault("queued", 0)
        busy.update(log.busy())
        data["busy"] = busy
        data["api_server"] = api_listener.state()
        return data

    @app.get("/control/requests", include_in_schema=False)
    async def requests(after: Annotated[int, Query(ge=0, le=2**62)] = 0) -> Any:
        return log.since(after)

    @app.get("/control/api", include_in_schema=False)
    async def api_state() -> dict[str, Any]:
        return api_listener.state()

    @app.post("/control/api", include_in_schema=False)
    async def api_apply(body: ApiServerConfig) -> Any:
        try:
            return await api_listener.apply(body)
        except ListenerError as exc:
            return JSONResponse(
                error_body(
                    exc.message, type_="invalid_request_error", code=exc.kind, param=exc.param
                ),
                status_code=exc.status,
            )
