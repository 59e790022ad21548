"""A remote OpenAI-compatible engine as the chat session and the app runner use one.

``RemoteEngine`` implements ``ChatEngine`` (core/chat/session.py) and ``AppEngine``
(core/apps/runner.py) for one model of one remote server, so a chat, a store app and
``llmos chat --engine`` run there exactly as on the local engine. The wire is
``EngineClient``'s (core/engine/control/client.py): ``RemoteClient`` subclasses it and
streams through its one SSE parser (``_events``), with its own HTTP client:

- **The key goes only to the engine's origin.** Redirects within the origin are
  followed; a request to any other scheme, host or port (a redirect to another host, or
  from https to http) is refused before it is sent, so neither the key nor the prompt
  leaves for a place the person did not name. The error says where it pointed.
- **TLS** is checked (certifi's roots, or the engine's CA file); it can be turned off
  per engine, and ``check`` then warns. No system proxy: ``trust_env`` is off, as for
  the local engine, so a key never passes through a proxy the person did not choose.
- **Timeouts** are the engine's settings: the connect timeout, and the read timeout as
  "no byte for this long" (a stalled server), not as a bound on the whole reply.
- **What is sent depends on the server** (``ServerKind``, guessed once per connection
  from its OpenAPI title and ``/models``): only OpenAI's sampling fields to an unknown
  server (some refuse unknown fields), llama.cpp's ``top_k``/``min_p``/
  ``repeat_penalty`` to llama.cpp servers and LLMOS, vLLM's ``repetition_penalty`` to
  vLLM. LLMOS's extensions (``truncate``, ``continue_final_message``) go only to an
  LLMOS engine (or when the configuration says so); vLLM continues a reply with its own
  ``continue_final_message``; another server cannot continue one (a clear error).
- **Streams** may carry one token or several per chunk, a usage chunk or none,
  ``reasoning_content`` (kept apart from the reply: ``RemoteChatResult.reasoning``).
  A stream that ends without a finish reason counts as broken. Time to first token and
  tokens/s are measured here when the server does not send timings.
- **Every failure is a ``RemoteAPIError`` or ``RemoteConnectionError``** (subclasses of
  the local client's errors, so every caller's handling holds) with a ``kind`` and a
  message that says what to do: unreachable, TLS, refused key, unknown model (with the
  models it does serve), server error, stalled, broken mid-reply, redirected elsewhere,
  not an OpenAI API.

httpx is imported when a client is made (on the executor: ``EnginesService.engine_for``
is blocking), not at import.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from llmos_desktop.core.engine.contract import ModelLoad, SamplingOptions
from llmos_desktop.core.engine.control.client import (
    ChatResult,
    EngineAPIError,
    EngineClient,
    EngineConnectionError,
    TextDelta,
    error_text,
    read_chat_chunk,
)
from llmos_desktop.core.engines.types import (
    EngineCheck,
    RemoteAPIError,
    RemoteConnectionError,
    RemoteEngineConfig,
    RemoteErrorKind,
    RemoteProblem,
    ServerKind,
    origin_of,
)
from llmos_desktop.core.text import one_line

if TYPE_CHECKING:
    import httpx

__all__ = ["RemoteChatResult", "RemoteClient", "RemoteEngine", "server_kind_of"]

log = logging.getLogger(__name__)

MAX_MODELS: Final = 10_000
MAX_JSON_BYTES: Final = 8 * 1024 * 1024
OPENAI_SAMPLING: Final = (
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "max_tokens",
    "stop",
    "seed",
)
LLAMA_SAMPLING: Final = ("top_k", "min_p", "repeat_penalty")
KIND_SAMPLING: Final[dict[ServerKind, dict[str, str]]] = {
    # our field -> the server's name for it, beyond OpenAI's
    ServerKind.LLMOS: {name: name for name in LLAMA_SAMPLING},
    ServerKind.LLAMA_CPP: {name: name for name in LLAMA_SAMPLING},
    ServerKind.LLAMA_CPP_PYTHON: {name: name for name in LLAMA_SAMPLING},
    ServerKind.VLLM: {"top_k": "top_k", "min_p": "min_p", "repeat_penalty": "repetition_penalty"},
}


RemoteChatResult = ChatResult  # the reasoning is ChatResult.reasoning now


class _CrossOrigin(Exception):
    """A request to another origin than the engine's (a redirect): refused unsent."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


def server_kind_of(openapi_title: str | None, owners: Sequence[str]) -> ServerKind:
    """The server's kind from its OpenAPI title and the ``owned_by`` of its models."""
    title = (openapi_title or "").lower()
    if title == "llmos engine":
        return ServerKind.LLMOS
    if "llama.cpp python" in title:
        return ServerKind.LLAMA_CPP_PYTHON
    if "vllm" in title:
        return ServerKind.VLLM
    if "triton" in title:
        return ServerKind.TRITON
    if "text generation inference" in title or "text-generation-inference" in title:
        return ServerKind.TGI
    joined = " ".join(owner.lower() for owner in owners)
    if "llamacpp" in joined:
        return ServerKind.LLAMA_CPP
    if "vllm" in joined:
        return ServerKind.VLLM
    if "triton" in joined:
        return ServerKind.TRITON
    if "library" in joined or "ollama" in joined:
        return ServerKind.OLLAMA
    if "text-generation-inference" in joined or "tgi" in joined.split():
        return ServerKind.TGI
    if owners and all(owner == "me" for owner in owners):
        return ServerKind.LLAMA_CPP_PYTHON
    return ServerKind.UNKNOWN


class RemoteClient(EngineClient):
    """``EngineClient`` for a remote server: paths relative to the OpenAI base URL, the
    engine's TLS and timeouts, same-origin requests only, errors in words.

    It does not call ``EngineClient.__init__``, which makes a loopback client (no TLS
    context, a short connect timeout); it sets the same two attributes the parser uses,
    ``base_url`` and ``_http``. Blocking to make (a TLS context reads its roots).
    """

    def __init__(self, config: RemoteEngineConfig, api_key: str | None) -> None:
        import httpx

        self.config = config
        self.has_key = bool(api_key)
        self._origin = config.origin
        self._kind: ServerKind | None = None
        self._kind_lock = asyncio.Lock()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        http = httpx.AsyncClient(
            base_url=config.base_url + "/",
            headers=headers,
            timeout=httpx.Timeout(config.timeout_s, connect=config.connect_timeout_s),
            trust_env=False,  # no proxy, netrc or CA bundle the person did not choose here
            verify=self._verify(config),
            follow_redirects=True,  # within the origin only: see _same_origin
            max_redirects=5,
            event_hooks={"request": [self._same_origin]},
        )
        super().__init__(config.base_url, None, http=http)

    @staticmethod
    def _verify(config: RemoteEngineConfig) -> Any:
        import ssl

        if not config.is_https:
            return False  # no TLS context to build for plain http
        if not config.verify_tls:
            return False
        if config.ca_file:
            try:
                return ssl.create_default_context(cafile=config.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise RemoteConnectionError(
                    RemoteErrorKind.TLS,
                    f"the CA file {config.ca_file} of engine {config.name} cannot be used: "
                    f"{one_line(str(exc), 200)}",
                ) from exc
        return True

    async def _same_origin(self, request: httpx.Request) -> None:
        if origin_of(str(request.url)) != self._origin:
            raise _CrossOrigin(str(request.url))

    @property
    def name(self) -> str:
        return self.config.name

    # --- errors in words -------------------------------------------------------------------

    def _api_error(
        self, exc: EngineAPIError, *, model: str | None = None, path: str = "chat/completions"
    ) -> RemoteAPIError:
        """A refusal of the server, as something a person can act on."""
        if isinstance(exc, RemoteAPIError):
            return exc
        status = exc.status
        text = error_text(exc.message)
        name = self.name
        if status in (401, 403):
            if self.has_key:
                hint = (
                    f"the key was refused: check it in Settings → Engines, or run "
                    f"'llmos engines key {name} --api-key-env VAR'"
                )
            else:
                hint = (
                    "it asks for an API key and none is set for it: add one in Settings → "
                    f"Engines, or run 'llmos engines key {name} --api-key-env VAR'"
                )
            message = f"engine {name} answered HTTP {status} ({text}): {hint}"
            return RemoteAPIError(
                RemoteErrorKind.UNAUTHORIZED, message, status=status, code=exc.code
            )
        if status == 404:
            if model is not None:
                message = f"engine {name} does not serve the model {model!r} (HTTP 404: {text})"
            else:
                message = f"engine {name} has no {self.base_url}/{path} (HTTP 404: {text})"
                if not self.base_url.endswith("/v1"):
                    message += f"; is the OpenAI base URL {self.base_url}/v1?"
            return RemoteAPIError(RemoteErrorKind.NOT_FOUND, message, status=status, code=exc.code)
        if status == 429:
            message = (
                f"engine {name} is busy or limits requests (HTTP 429: {text}); try again later"
            )
            return RemoteAPIError(RemoteErrorKind.REFUSED, message, status=status, code=exc.code)
        if status is not None and status >= 500:
            message = (
                f"engine {name} failed with a server error (HTTP {status}: {text}); try again, "
                "or see the server's log"
            )
            return RemoteAPIError(
                RemoteErrorKind.SERVER_ERROR, message, status=status, code=exc.code
            )
        if status is None:  # an error event inside the stream
            message = f"engine {name} reported an error during the reply: {text}"
            return RemoteAPIError(RemoteErrorKind.SERVER_ERROR, message, code=exc.code)
        message = f"engine {name} refused the request (HTTP {status}: {text})"
        return RemoteAPIError(RemoteErrorKind.REFUSED, message, status=status, code=exc.code)

    def _connection_error(self, exc: BaseException, *, replying: bool) -> RemoteConnectionError:
        """A transport failure (the cause of ``EngineClient``'s connection error), in words."""
        import ssl

        import httpx

        if isinstance(exc, RemoteConnectionError):
            return exc
        cause: BaseException = exc
        if isinstance(exc, EngineConnectionError) and exc.__cause__ is not None:
            cause = exc.__cause__
        name = self.name
        scheme, host, port = self._origin
        where = f"{host}:{port}"
        detail = one_line(str(cause) or type(cause).__name__, 200)
        chain: list[BaseException] = []
        link: BaseException | None = cause
        while link is not None and len(chain) < 10:
            chain.append(link)
            link = link.__cause__ or link.__context__
        if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain) or (
            "CERTIFICATE_VERIFY_FAILED" in str(cause)
        ):
            return RemoteConnectionError(
                RemoteErrorKind.TLS,
                f"engine {name}: the certificate of {where} is not trusted ({detail}); give "
                "your organisation's CA file in the engine's settings (--ca-file), or fix the "
                "server's certificate",
            )
        if any(isinstance(e, ssl.SSLError) for e in chain):
            return RemoteConnectionError(
                RemoteErrorKind.TLS,
                f"engine {name}: the TLS connection to {where} failed ({detail}); is it an "
                f"{'http' if scheme == 'https' else 'https'} server?",
            )
        if isinstance(cause, httpx.ConnectTimeout):
            return RemoteConnectionError(
                RemoteErrorKind.UNREACHABLE,
                f"engine {name}: no answer from {where} within "
                f"{self.config.connect_timeout_s:g} s; is the server up and the address "
                "right, or is a firewall in the way?",
            )
        if isinstance(cause, httpx.ConnectError):
            return RemoteConnectionError(
                RemoteErrorKind.UNREACHABLE,
                f"engine {name}: could not connect to {where} ({detail}); is the server "
                "running, and is the URL right?",
            )
        if isinstance(cause, httpx.TimeoutException):
            return RemoteConnectionError(
                RemoteErrorKind.TIMEOUT,
                f"engine {name} sent nothing for {self.config.timeout_s:g} s and was given up "
                "(the server stalled or is overloaded); the timeout is a setting of the "
                "engine",
            )
        if replying:
            return RemoteConnectionError(
                RemoteErrorKind.BROKEN,
                f"the connection to engine {name} broke in the middle of the reply ({detail})",
            )
        return RemoteConnectionError(
            RemoteErrorKind.UNREACHABLE,
            f"engine {name}: the connection to {where} failed ({detail})",
        )

    def _redirect_error(self, exc: _CrossOrigin | None = None) -> RemoteAPIError:
        if exc is None:
            return RemoteAPIError(
                RemoteErrorKind.REDIRECT,
                f"engine {self.name} redirects in a loop; check its URL ({self.base_url})",
            )
        scheme, host, port = origin_of(exc.url)
        return RemoteAPIError(
            RemoteErrorKind.REDIRECT,
            f"engine {self.name} redirected to {scheme}://{host}:{port}, another address than "
            f"its own; it was not followed (the key and the prompt go only to "
            f"{self.base_url}). If you trust that address, make it the engine's URL",
        )

    # --- plain requests ------------------------------------------------------------------

    async def _get_json(self, path: str, *, origin_root: bool = False) -> Any:
        """GET a JSON document (bounded); errors as RemoteAPIError/RemoteConnectionError."""
        import httpx

        url = path
        if origin_root:
            scheme, host, port = self._origin
            netloc = f"[{host}]" if ":" in host else host
            url = f"{scheme}://{netloc}:{port}{path}"
        try:
            async with self._http.stream("GET", url) as response:
                body = bytearray()
                async for part in response.aiter_bytes():
                    body += part
                    if len(body) > MAX_JSON_BYTES:
                        raise RemoteAPIError(
                            RemoteErrorKind.BAD_RESPONSE,
                            f"engine {self.name} sent more than {MAX_JSON_BYTES >> 20} MiB for {path}",
                        )
        except _CrossOrigin as exc:
            raise self._redirect_error(exc) from None
        except httpx.TooManyRedirects:
            raise self._redirect_error() from None
        except httpx.TransportError as exc:
            raise self._connection_error(exc, replying=False) from exc
        if response.status_code >= 400:
            error = EngineAPIError(
                bytes(body[:2000]).decode("utf-8", "replace") or f"HTTP {response.status_code}",
                status=response.status_code,
            )
            raise self._api_error(error, path=path.lstrip("/"))
        try:
            return json.loads(bytes(body))
        except ValueError:
            raise RemoteAPIError(
                RemoteErrorKind.BAD_RESPONSE,
                f"engine {self.name} did not answer {path} with JSON "
                f"({error_text(bytes(body[:300]).decode('utf-8', 'replace'))}); is "
                f"{self.base_url} an OpenAI base URL?",
            ) from None

    async def model_entries(self) -> list[dict[str, Any]]:
        """``GET /models``: the entries (id, owned_by, ...) the server lists."""
        data = await self._get_json("models")
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise RemoteAPIError(
                RemoteErrorKind.BAD_RESPONSE,
                f"engine {self.name} answered /models without a model list; is {self.base_url} "
                "an OpenAI base URL?",
            )
        entries = []
        for item in items[:MAX_MODELS]:
            if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]:
                entries.append(item)
        return entries

    async def models(self) -> list[str]:
        return [str(entry["id"]) for entry in await self.model_entries()]

    async def server_kind(self, entries: Sequence[Mapping[str, Any]] | None = None) -> ServerKind:
        """The server's kind, asked once per client (``check`` and the first reply)."""
        if self._kind is not None:
            return self._kind
        async with self._kind_lock:
            if self._kind is None:
                self._kind = await self._detect_kind(entries)
            return self._kind

    async def _detect_kind(self, entries: Sequence[Mapping[str, Any]] | None) -> ServerKind:
        title: str | None = None
        try:
            document = await self._get_json("/openapi.json", origin_root=True)
            info = document.get("info") if isinstance(document, dict) else None
            if isinstance(info, dict) and isinstance(info.get("title"), str):
                title = info["title"]
        except (RemoteAPIError, RemoteConnectionError) as exc:
            log.info("engine %s: no OpenAPI document (%s)", self.name, exc)
        kind = server_kind_of(title, [])
        if kind != ServerKind.UNKNOWN:
            return kind
        if entries is None:
            try:
                entries = await self.model_entries()
            except (RemoteAPIError, RemoteConnectionError):
                entries = []
        owners = [str(entry.get("owned_by") or "") for entry in entries]
        return server_kind_of(title, owners)

    # --- the reply ---------------------------------------------------------------------

    def _sampling_fields(
        self, sampling: SamplingOptions | None, kind: ServerKind
    ) -> dict[str, Any]:
        if sampling is None:
            return {}
        fields = sampling.request_fields()
        body: dict[str, Any] = {name: fields[name] for name in OPENAI_SAMPLING if name in fields}
        for ours, theirs in KIND_SAMPLING.get(kind, {}).items():
            if ours in fields:
                body[theirs] = fields[ours]
        return body

    async def remote_chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        result: ChatResult | None = None,
        sampling: SamplingOptions | None = None,
        *,
        truncate: bool = False,
        continue_final: bool = False,
        response_format: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[TextDelta]:
        """The reply of ``model`` to ``messages``, streamed; ``result`` is filled as it goes
        (see the module docstring for what is sent to which server)."""
        import httpx
        from httpx_sse import SSEError

        out = result if result is not None else RemoteChatResult()
        kind = await self.server_kind()
        extensions = self.config.extensions
        if extensions is None:
            extensions = kind == ServerKind.LLMOS
        body: dict[str, Any] = {
            "model": model,
            "messages": [dict(m) for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        body.update(self._sampling_fields(sampling, kind))
        if truncate and extensions:
            body["truncate"] = "oldest"
        if continue_final:
            if extensions:
                body["continue_final_message"] = True
            elif kind == ServerKind.VLLM:
                body["continue_final_message"] = True
                body["add_generation_prompt"] = False
            else:
                raise RemoteAPIError(
                    RemoteErrorKind.UNSUPPORTED,
                    f"engine {self.name} ({kind.value}) cannot continue a reply (only LLMOS "
                    "and vLLM servers can); regenerate it instead",
                )
        if response_format is not None:
            body["response_format"] = _response_format_for(kind, response_format)

        started = time.monotonic()
        first: float | None = None
        pieces = 0
        try:
            async for chunk in self._events("chat/completions", body):
                text = read_chat_chunk(chunk, out)
                if text:
                    if first is None:
                        first = time.monotonic()
                    pieces += 1
                    yield TextDelta(text)
        except EngineAPIError as exc:
            error = self._api_error(exc, model=model)
            if error.kind == RemoteErrorKind.NOT_FOUND:
                error = await self._with_served_models(error)
            raise error from None
        except _CrossOrigin as exc:
            raise self._redirect_error(exc) from None
        except httpx.TooManyRedirects:
            raise self._redirect_error() from None
        except (EngineConnectionError, httpx.TransportError) as exc:
            cause = exc.__cause__ if isinstance(exc, EngineConnectionError) else exc
            if isinstance(cause, SSEError):  # httpx-sse's is a TransportError
                raise RemoteAPIError(
                    RemoteErrorKind.BAD_RESPONSE,
                    f"engine {self.name} did not answer with an event stream "
                    f"({one_line(str(cause), 160)}); is {self.base_url} an OpenAI base URL?",
                ) from None
            raise self._connection_error(exc, replying=True) from exc
        except json.JSONDecodeError as exc:
            raise RemoteAPIError(
                RemoteErrorKind.BAD_RESPONSE,
                f"engine {self.name} sent an event that is not JSON ({exc.msg})",
            ) from None
        finally:
            _fill_timings(out, started, first, pieces)
        if out.finish_reason is None:
            raise RemoteConnectionError(
                RemoteErrorKind.BROKEN,
                f"the reply of engine {self.name} ended before it was complete (the stream "
                "closed without a finish reason)",
            )

    async def _with_served_models(self, error: RemoteAPIError) -> RemoteAPIError:
        """A 404 for a model: say which models the engine does serve (or that its URL is
        not an OpenAI base URL)."""
        try:
            served = await self.models()
        except (RemoteAPIError, RemoteConnectionError) as exc:
            extra = f"; its model list cannot be read either: {exc}"
        else:
            shown = ", ".join(served[:8]) + (
                f" and {len(served) - 8} more" if len(served) > 8 else ""
            )
            extra = f"; it serves: {shown}" if served else "; it serves no model now"
        return RemoteAPIError(
            error.kind, error.message + extra, status=error.status, code=error.code
        )


def _fill_timings(out: ChatResult, started: float, first: float | None, pieces: int) -> None:
    """Time to first token and tokens/s measured here, unless the server sent its own."""
    if first is None:
        return
    timings = dict(out.timings)
    timings.setdefault("ttft_s", first - started)
    if "tokens_per_s" not in timings:
        elapsed = time.monotonic() - first
        tokens = out.usage.get("completion_tokens") if out.usage else None
        count = tokens if isinstance(tokens, int) and tokens > 0 else pieces
        if elapsed > 0 and count > 1:
            timings["tokens_per_s"] = (count - 1) / elapsed  # the first token ended the wait
        timings["measured_by"] = "client"
    out.timings = timings


def _response_format_for(kind: ServerKind, value: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI's ``response_format`` in the shape the server takes: llama-cpp-python's
    server knows ``json_object`` with a ``schema``, not ``json_schema``."""
    spec = value.get("json_schema")
    if (
        kind == ServerKind.LLAMA_CPP_PYTHON
        and value.get("type") == "json_schema"
        and isinstance(spec, Mapping)
        and isinstance(spec.get("schema"), Mapping)
    ):
        return {"type": "json_object", "schema": dict(spec["schema"])}
    return dict(value)


class RemoteEngine:
    """One model of one remote engine, as a chat session and the app runner use it.

    ``loaded`` is a ``ModelLoad`` whose ``path`` is the model id and whose ``alias``
    is "engine · model" (what a chat's reply records as its model); there is nothing to
    restart (``needs_restart`` False) and nothing to load (``load`` refuses).
    """

    def __init__(self, client: RemoteClient, model: str) -> None:
        self.client = client
        self.model = model
        self._loaded = ModelLoad(path=model, alias=f"{client.name} · {model}")

    @property
    def name(self) -> str:
        return self.client.name

    @property
    def engine_name(self) -> str:
        return self.client.name

    @property
    def needs_restart(self) -> bool:
        return False

    @property
    def loaded(self) -> ModelLoad:
        return self._loaded

    async def load(self, spec: ModelLoad) -> AsyncIterator[dict[str, Any]]:
        """A remote engine serves its own models: nothing is loaded from here."""
        raise RemoteAPIError(
            RemoteErrorKind.UNSUPPORTED,
            f"engine {self.name} serves its own models; a model file cannot be loaded there "
            f"(asked for {one_line(spec.path, 80)})",
        )
        yield {}  # pragma: no cover  (an async generator, as Engine.load is)

    async def stream_chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        result: ChatResult | None = None,
        *,
        sampling: SamplingOptions | None = None,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        truncate: bool = False,
        continue_final: bool = False,
        response_format: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[TextDelta]:
        """As ``Engine.stream_chat``; ``on_progress`` is never called (nothing restarts)."""
        del on_progress
        async for delta in self.client.remote_chat(
            self.model,
            messages,
            result,
            sampling,
            truncate=truncate,
            continue_final=continue_final,
            response_format=response_format,
        ):
            yield delta

    async def models(self) -> list[str]:
        return await self.client.models()

    async def check(self) -> EngineCheck:
        return await check_client(self.client)


async def check_client(client: RemoteClient) -> EngineCheck:
    """Reachable, authorised, which models, which server: one /models request (and the
    OpenAPI title). Never raises for a failure of the server: it is in ``error``."""
    config = client.config
    warnings: list[str] = []
    if client.has_key and not config.is_https and not config.is_loopback:
        warnings.append(
            "the key is sent unencrypted (http) to another machine: anyone on the network "
            "path can read it and the prompts; use https"
        )
    elif not config.is_https and not config.is_loopback:
        warnings.append("prompts and replies travel unencrypted (http); use https if you can")
    if config.is_https and not config.verify_tls:
        warnings.append(
            "TLS certificate checks are off for this engine: anyone in between can read the key"
        )
    started = time.monotonic()
    try:
        entries = await client.model_entries()
    except RemoteAPIError as exc:
        latency = time.monotonic() - started
        authorised = False if exc.kind == RemoteErrorKind.UNAUTHORIZED else None
        return EngineCheck(
            name=config.name,
            base_url=config.base_url,
            reachable=True,
            authorised=authorised,
            error=RemoteProblem(exc.kind, exc.message),
            warnings=tuple(warnings),
            latency_s=latency,
        )
    except RemoteConnectionError as exc:
        return EngineCheck(
            name=config.name,
            base_url=config.base_url,
            reachable=False,
            authorised=None,
            error=RemoteProblem(exc.kind, exc.message),
            warnings=tuple(warnings),
        )
    latency = time.monotonic() - started
    kind = await client.server_kind(entries)
    models = tuple(str(entry["id"]) for entry in entries)
    error = None
    if not models:
        error = RemoteProblem(
            RemoteErrorKind.NOT_FOUND,
            f"engine {config.name} answers, but serves no model now (load one on the server)",
        )
    return EngineCheck(
        name=config.name,
        base_url=config.base_url,
        reachable=True,
        authorised=True,
        models=models,
        server_kind=kind,
        error=error,
        warnings=tuple(warnings),
        latency_s=latency,
    )
