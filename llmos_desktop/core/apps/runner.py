"""``AppRunner``: an app and its inputs, run on the engine.

An app run is one chat request to the same engine the chat page uses (the Engine
service, core/engine/control/service.py), so it costs what a chat reply costs and an
engine crash is restarted the same way. What each mode does:

- **form**: the inputs are checked (``validate_inputs``) and rendered into the user
  message in the template sandbox (render.py; off the event loop, since a render may
  take up to its time bound), sent with the app's system prompt, sampling and stop
  strings; the reply streams back as text.
- **structured**: the same, with the app's output schema as OpenAI's
  ``response_format`` (``json_schema``): the engine turns it into a llama.cpp grammar,
  so the model can only write JSON of that shape. ``strict`` is off: the engine would
  refuse a schema with a keyword its grammar cannot enforce (``minimum``), which the
  app format allows; the grammar enforces the rest and the result is validated against
  the whole schema below. The text still streams (the
  pane shows progress), and at the end it is parsed and validated with jsonschema
  (``validate_output``) before anyone calls it a result: a reply cut at the token
  limit, or one the grammar let through but the schema refuses, is an
  ``AppError("output")``, with the raw text kept in ``AppRunResult.text``.
- **chat**: ``chat_preset`` gives the chat page what it needs to open a new chat (the
  system prompt, the sampling, the first user message rendered from the inputs), and
  ``run`` streams the reply to that first message, so the command line and the tests
  can run a chat app end to end.

The model: ``run(..., model_load=spec)`` loads ``spec`` first when the engine holds
something else; without it, the model that is loaded is used, and no model at all is
``AppError("engine")`` with a message that says to load one. The engine may be a remote
one (``RemoteEngine``, core/engines/remote.py, from ``AppsService.runner_on``): its
model is the one it was made for, nothing is loaded, and a structured app's schema goes
to the server as ``response_format`` (in the shape that server takes); the result is
validated here all the same, since a third-party server may not enforce the schema. Engine failures (a refused
request, a dead engine) come out as ``AppError("engine")``, the original exception as
its ``__cause__``; a cancelled run (Stop) stops the engine's generation as a chat does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from llmos_desktop.core.apps.manifest import AppError, AppManifest, Mode, RecommendedModel
from llmos_desktop.core.engine.contract import ModelLoad, SamplingOptions
from llmos_desktop.core.engine.control.client import ChatResult, TextDelta
from llmos_desktop.core.text import one_line

if TYPE_CHECKING:
    from llmos_desktop.core.chat.options import ChatOptions

__all__ = [
    "DEFAULT_APP_MAX_TOKENS",
    "AppEngine",
    "AppRunResult",
    "AppRunner",
    "ChatPreset",
    "PreparedRun",
    "prepare_run",
]

log = logging.getLogger(__name__)

DEFAULT_APP_MAX_TOKENS: Final = 1024
"""A reply's length when neither the app nor the caller sets one: an app's result is one
answer, and a small model left alone can ramble until the context is full."""


class AppEngine(Protocol):
    """What a runner needs of the Engine service (core/engine/control/service.py)."""

    @property
    def loaded(self) -> ModelLoad | None: ...

    def load(self, spec: ModelLoad) -> AsyncIterator[dict[str, Any]]: ...

    def stream_chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        result: ChatResult | None = None,
        *,
        sampling: SamplingOptions | None = None,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        truncate: bool = False,
        continue_final: bool = False,
        response_format: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[TextDelta]: ...


@dataclass(frozen=True)
class PreparedRun:
    """What one run sends: checked values, the rendered messages, sampling, the format."""

    app: AppManifest
    values: dict[str, object]
    user_message: str  # the rendered template ("" for a chat app that has none)
    messages: list[dict[str, str]]
    sampling: SamplingOptions
    response_format: dict[str, object] | None


@dataclass
class AppRunResult:
    """One run's outcome, filled in as it goes.

    ``text``: the reply as streamed (for a structured app the raw JSON text, kept also
    when it fails validation). ``data``: a structured app's parsed and validated value
    (None until then, and for other modes). ``chat``: the engine's numbers (usage,
    timings, why it stopped).
    """

    mode: Mode
    text: str = ""
    data: object = None
    chat: ChatResult = field(default_factory=ChatResult)


@dataclass(frozen=True)
class ChatPreset:
    """A chat-mode app as the chat page opens it: a new chat with these options, and
    the first user message (None: the user writes it)."""

    app_id: str
    title: str
    system_prompt: str
    sampling: SamplingOptions
    first_message: str | None
    recommended_models: tuple[RecommendedModel, ...] = ()

    def chat_options(self, model_path: str | None = None) -> ChatOptions:
        """The new chat's options (core/chat/options.py)."""
        from llmos_desktop.core.chat.options import ChatOptions

        return ChatOptions(
            model_path=model_path, system_prompt=self.system_prompt, sampling=self.sampling
        )

    def messages(self) -> list[dict[str, str]]:
        """The chat's opening messages (system prompt, first message)."""
        return _messages(self.system_prompt, self.first_message or "")


class AppRunner:
    """Runs apps on ``engine`` (see the module docstring). ``base_sampling``: what an
    app's unset sampling options fall back to (default: the contract's defaults with
    ``DEFAULT_APP_MAX_TOKENS``)."""

    def __init__(self, engine: AppEngine, *, base_sampling: SamplingOptions | None = None) -> None:
        self.engine = engine
        self.base_sampling = base_sampling or SamplingOptions(max_tokens=DEFAULT_APP_MAX_TOKENS)

    # --- preparing (blocking: the template sandbox) --------------------------------------

    def prepare(
        self,
        app: AppManifest,
        values: Mapping[str, object],
        *,
        max_tokens: int | None = None,
    ) -> PreparedRun:
        """``prepare_run`` with this runner's base sampling."""
        return prepare_run(app, values, base_sampling=self.base_sampling, max_tokens=max_tokens)

    def chat_preset(
        self, app: AppManifest, values: Mapping[str, object] | None = None, *, locale: str = "en"
    ) -> ChatPreset:
        """A chat-mode app's preset for a new chat (blocking: renders the first message)."""
        if app.mode != "chat":
            raise AppError("invalid", "mode", f"{app.id} is a {app.mode} app, not a chat app")
        prepared = self.prepare(app, values or {})
        first = prepared.user_message
        return ChatPreset(
            app_id=app.id,
            title=app.display_name(locale),
            system_prompt=app.system_prompt,
            sampling=prepared.sampling,
            first_message=first if first.strip() else None,
            recommended_models=tuple(app.recommended_models),
        )

    # --- running -------------------------------------------------------------------------

    async def run(
        self,
        app: AppManifest,
        values: Mapping[str, object],
        *,
        model_load: ModelLoad | None = None,
        result: AppRunResult | None = None,
        max_tokens: int | None = None,
        on_load_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> AsyncIterator[str]:
        """The reply's text pieces as they come; ``result`` is filled in, and for a
        structured app its ``data`` set after the last piece (or AppError("output"))."""
        out = result if result is not None else AppRunResult(mode=app.mode)
        loop = asyncio.get_running_loop()
        prepared = await loop.run_in_executor(
            None, lambda: self.prepare(app, values, max_tokens=max_tokens)
        )
        if not prepared.user_message.strip():
            raise AppError(
                "input",
                "",
                f"{app.id} is a chat app that starts with your own message: open it as a chat",
            )
        await self._ensure_model(model_load, on_load_progress)
        async for piece in self._stream(prepared, out.chat, on_load_progress):
            out.text += piece
            yield piece
        if app.mode == "structured":
            out.data = await loop.run_in_executor(None, _checked_output, app, out.text, out.chat)

    async def run_to_end(
        self,
        app: AppManifest,
        values: Mapping[str, object],
        *,
        model_load: ModelLoad | None = None,
        max_tokens: int | None = None,
    ) -> AppRunResult:
        """``run`` without the pieces: the whole result."""
        result = AppRunResult(mode=app.mode)
        async for _ in self.run(
            app, values, model_load=model_load, result=result, max_tokens=max_tokens
        ):
            pass
        return result

    async def _ensure_model(
        self,
        spec: ModelLoad | None,
        on_progress: Callable[[dict[str, Any]], None] | None,
    ) -> None:
        from llmos_desktop.core.engine.control.client import EngineAPIError
        from llmos_desktop.core.engine.control.service import EngineUnavailable

        if spec is None:
            if self.engine.loaded is None:
                raise AppError(
                    "engine", "", "no model is loaded: load one on the Chat or Models page first"
                )
            return
        if self.engine.loaded == spec:
            return
        try:
            async for event in self.engine.load(spec):
                if on_progress is not None:
                    on_progress(event)
        except EngineAPIError as exc:
            raise AppError("engine", "", f"the model could not be loaded: {exc.message}") from exc
        except EngineUnavailable as exc:
            raise AppError("engine", "", exc.failure.message) from exc

    async def _stream(
        self,
        prepared: PreparedRun,
        chat: ChatResult,
        on_progress: Callable[[dict[str, Any]], None] | None,
    ) -> AsyncIterator[str]:
        from llmos_desktop.core.engine.control.client import EngineAPIError, EngineConnectionError
        from llmos_desktop.core.engine.control.service import EngineUnavailable

        # response_format only for structured apps: form and chat apps ask nothing of
        # the engine that a chat does not.
        extra: dict[str, Any] = {}
        if prepared.response_format is not None:
            extra["response_format"] = prepared.response_format
        try:
            async for delta in self.engine.stream_chat(
                prepared.messages,
                chat,
                sampling=prepared.sampling,
                on_progress=on_progress,
                **extra,
            ):
                yield delta.text
        except EngineAPIError as exc:
            raise AppError("engine", "", exc.message) from exc
        except EngineConnectionError as exc:  # a remote engine went away or stalled
            raise AppError("engine", "", one_line(str(exc), 400)) from exc
        except EngineUnavailable as exc:
            raise AppError("engine", "", exc.failure.message) from exc


def prepare_run(
    app: AppManifest,
    values: Mapping[str, object],
    *,
    base_sampling: SamplingOptions | None = None,
    max_tokens: int | None = None,
) -> PreparedRun:
    """Check ``values`` and render the prompt: what a run sends. AppError("input") for a
    value that does not fit, AppError("template") when the render fails. Blocking (a
    render may take up to the sandbox's time bound); needs no engine, so a command line
    checks its input before it starts one."""
    from llmos_desktop.core.apps.manifest import response_format, validate_inputs
    from llmos_desktop.core.apps.render import render_prompt

    checked = validate_inputs(app, values)
    text = render_prompt(app, checked) if app.prompt_template else ""
    if app.mode != "chat" and not text.strip():
        raise AppError("template", "prompt_template", "the prompt rendered empty")
    base = base_sampling or SamplingOptions(max_tokens=DEFAULT_APP_MAX_TOKENS)
    sampling = app.sampling_options(base)
    if max_tokens is not None:
        sampling = _with_max_tokens(sampling, max_tokens)
    return PreparedRun(
        app=app,
        values=checked,
        user_message=text,
        messages=_messages(app.system_prompt, text),
        sampling=sampling,
        response_format=_lenient(response_format(app)) if app.mode == "structured" else None,
    )


def _lenient(value: dict[str, object] | None) -> dict[str, object] | None:
    """The app's ``response_format`` with ``strict`` off. The engine's grammar then
    keeps the reply to every part of the schema it can enforce while generating (types,
    properties, lengths, enums) and leaves out what it cannot (``minimum``,
    ``uniqueItems``...), where strict would refuse the whole schema. Nothing is lost:
    the whole schema is checked on the result (``validate_output``) before anyone sees
    it."""
    if value is None:
        return None
    spec = value.get("json_schema")
    if isinstance(spec, dict):
        return {**value, "json_schema": {**spec, "strict": False}}
    return value


def _messages(system_prompt: str, user: str) -> list[dict[str, str]]:
    messages = []
    if system_prompt.strip():
        messages.append({"role": "system", "content": system_prompt})
    if user.strip():
        messages.append({"role": "user", "content": user})
    return messages


def _with_max_tokens(sampling: SamplingOptions, max_tokens: int) -> SamplingOptions:
    from pydantic import ValidationError

    try:
        return sampling.sampling(max_tokens=max_tokens)
    except ValidationError as exc:
        raise AppError("input", "max_tokens", exc.errors()[0]["msg"]) from None


def _checked_output(app: AppManifest, text: str, chat: ChatResult) -> object:
    """The structured reply, parsed and validated; a cut reply says so."""
    from llmos_desktop.core.apps.manifest import validate_output

    try:
        return validate_output(app, text)
    except AppError as exc:
        if chat.stopped_by in ("max_tokens", "context") or chat.finish_reason == "length":
            where = "token limit" if chat.stopped_by != "context" else "full context"
            raise AppError(
                "output",
                "",
                f"the reply was cut off at the {where} before the JSON was complete "
                f"({one_line(exc.message, 120)}); allow more tokens",
            ) from None
        raise
