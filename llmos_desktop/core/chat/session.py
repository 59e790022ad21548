"""One stored conversation and the engine, without Qt: what each chat action does to it.

The chat pane and ``llmos chat`` render what happens here and forward the user's
actions; the rules live here and are tested without a window
(tests/unit/core/chat/test_session.py):

- **Send** adds the user's message after the current leaf and streams a reply under it.
  **Regenerate** streams a new version of a reply (a sibling: the old one is kept), and
  **edit and resend** adds a new version of a user message (a sibling) and replies to
  it. **Continue** asks the engine to go on with an unfinished reply
  (``continue_final``); the text is appended to the same message.
- The reply is a row in the store from its first moment (status streaming) and is saved
  as it grows (``ReplyWriter``: about once a second), so a kill loses at most about a
  second of it; it ends ``complete``, or ``incomplete`` when it was stopped, failed, or
  cut by the token limit or a full context (meta ``stopped_by`` says which; Continue
  picks up from there).
- A reply that streamed some text is kept, also when it was stopped or failed half way:
  the user saw it, and the model should see it in the next turn.
- A reply that produced nothing takes its rows back (the empty reply, and the user's new
  message for Send and edit), so the next message does not put two user turns in a row;
  after a failure (not a Stop) the user's text is handed back so it can be sent again.
  A Continue that produced nothing leaves the message as it was.
- Every prompt is sent with ``truncate``: when the conversation outgrows the context the
  engine leaves out the oldest turns (the system prompt stays), and the listener hears
  how many (``on_truncated``), so the pane can say so.
- A dead engine is restarted (with its model) by the Engine service before the reply;
  the listener hears about it, with progress, so the pane can say so.
- The engine may be a remote one (``RemoteEngine``, core/engines/remote.py, chosen by
  ``ChatOptions.engine``): the same rules hold. A remote failure (refused key, unknown
  model, a stream that breaks half way, a stalled server) is one of the engine errors
  with a message a person can act on; the text that arrived is kept, marked incomplete,
  and the user's message is handed back when nothing arrived.

Store calls run on the loop's default executor, never on the event loop's thread: the
window's loop must not wait for a disk or for another process's write lock. A cancelled
reply (Stop) still waits for its store writes to finish before it reports its end.

The chat page of today uses the first API of this class (``ChatSession(engine,
sampling)``, ``reply``, ``messages``, ``clear``); it still works, on an in-memory store
when no store is given.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from llmos_desktop.core.chat.options import ChatOptions
from llmos_desktop.core.chat.store import (
    FLUSH_INTERVAL_S,
    ChatStore,
    ChatStoreError,
    Message,
    ReplyWriter,
)
from llmos_desktop.core.engine.contract import ModelLoad, SamplingOptions
from llmos_desktop.core.engine.control.client import (
    ChatResult,
    EngineAPIError,
    EngineConnectionError,
    TextDelta,
)
from llmos_desktop.core.engine.control.service import EngineUnavailable
from llmos_desktop.core.text import one_line

log = logging.getLogger(__name__)

T = TypeVar("T")


class Outcome(enum.StrEnum):
    DONE = "done"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True)
class ReplyEnded:
    """How a reply ended, and what the pane should show."""

    outcome: Outcome
    text: str  # what the assistant wrote this time (for Continue: only the continuation)
    result: ChatResult  # finish reason, usage, timings, dropped_messages, stopped_by
    error: Exception | None = None  # EngineUnavailable, EngineAPIError, ChatStoreError, ...
    retry_text: str | None = None  # the user's message, handed back for another try
    message: Message | None = None  # the reply as stored at its end; None when taken back
    removed_ids: tuple[int, ...] = ()  # rows taken back because the reply produced nothing

    @property
    def dropped_messages(self) -> int:
        """Oldest messages the engine left out of the prompt so that it fit the context."""
        return self.result.dropped_messages

    @property
    def stopped_by(self) -> str | None:
        """ "stop", "max_tokens" or "context" (our engine says; None from others)."""
        return self.result.stopped_by


def _nothing(*_args: object) -> None:
    return None


@dataclass(frozen=True)
class ReplyListener:
    """What a reply reports while it runs, on the event loop's thread; all optional."""

    on_restarting: Callable[[], None] = _nothing  # the engine process is restarted first
    on_restart_progress: Callable[[float | None, str], None] = _nothing  # (fraction, stage)
    on_started: Callable[[], None] = _nothing  # the first text arrived
    on_text: Callable[[str], None] = _nothing
    on_ended: Callable[[ReplyEnded], None] = _nothing  # also when the reply was cancelled
    on_stored: Callable[[Message], None] = _nothing  # a row was created: the user's, the reply's
    on_truncated: Callable[[int], None] = _nothing  # n oldest messages left out of the prompt


class ChatEngine(Protocol):
    """What a session needs of the Engine service (core/engine/control/service.py)."""

    @property
    def needs_restart(self) -> bool: ...

    @property
    def loaded(self) -> ModelLoad | None: ...

    def stream_chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        result: ChatResult | None = None,
        *,
        sampling: SamplingOptions | None = None,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        truncate: bool = False,
        continue_final: bool = False,
    ) -> AsyncIterator[TextDelta]: ...


@dataclass
class _Reply:
    """One reply's moving parts, filled in by store calls (also ones that finish after a
    cancel), so that its end can take back exactly what was written."""

    conversation_id: int | None = None
    user: Message | None = None  # a user message this action added (Send, edit)
    writer: ReplyWriter | None = None
    continuing: bool = False
    restore_leaf: int | None = None
    retry_text: str | None = None
    pending: asyncio.Future[Any] | None = None
    pieces: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.monotonic)
    first_text_s: float | None = None


class ChatSession:
    """One conversation of a ``ChatStore`` and the engine that replies in it.

    ``conversation_id`` None: a new chat, created in the store at its first message
    (with ``defaults`` as its options). Only one action runs at a time (``replying``);
    each reply action returns a ``ReplyEnded`` and reports to a ``ReplyListener``.
    Cancelling the task that awaits an action stops the reply (the engine stops too, as
    the stream closes); ``on_ended`` is still called, with Outcome.STOPPED.
    """

    def __init__(
        self,
        engine: ChatEngine,
        sampling: SamplingOptions | None = None,
        *,
        store: ChatStore | None = None,
        conversation_id: int | None = None,
        defaults: ChatOptions | None = None,
        flush_interval_s: float = FLUSH_INTERVAL_S,
    ) -> None:
        self.engine = engine
        self.store = store if store is not None else ChatStore.in_memory()
        base = defaults if defaults is not None else ChatOptions(sampling=SamplingOptions())
        if sampling is not None:
            base = base.model_copy(update={"sampling": sampling})
        self.defaults = base
        """The options a new chat starts with."""
        self.sampling_override: SamplingOptions | None = None
        """Sampling for the replies of this session instead of the chat's (not saved)."""
        self.flush_interval_s = flush_interval_s
        self._conversation_id: int | None = None
        self._options = base
        self._options_dirty = False
        self._thread: list[Message] = []
        self._replying = False
        if conversation_id is not None:  # blocking: in a GUI, use ``await open(id)``
            self._options, self._thread = self._read_state(conversation_id)
            self._conversation_id = conversation_id

    # --- state --------------------------------------------------------------------------

    @property
    def conversation_id(self) -> int | None:
        """The stored conversation (None: a new chat not stored yet)."""
        return self._conversation_id

    @property
    def options(self) -> ChatOptions:
        return self._options

    @property
    def sampling(self) -> SamplingOptions:
        """The chat's sampling. Setting it changes this chat's options (saved with its next
        message; ``set_options`` saves at once) and those of new chats of this session,
        as the chat page's one sampling setting did before chats had their own."""
        return self._options.sampling

    @sampling.setter
    def sampling(self, value: SamplingOptions) -> None:
        self._options = self._options.model_copy(update={"sampling": value})
        self._options_dirty = True
        self.defaults = self.defaults.model_copy(update={"sampling": value})

    @property
    def thread(self) -> list[Message]:
        """The branch shown, root first, as the store had it after the last action."""
        return list(self._thread)

    @property
    def messages(self) -> list[dict[str, str]]:
        """The branch shown as {"role", "content"} dicts (a copy)."""
        return [{"role": m.role, "content": m.content} for m in self._thread]

    @property
    def replying(self) -> bool:
        return self._replying

    def _read_state(self, conversation_id: int) -> tuple[ChatOptions, list[Message]]:
        self.store.conversation(conversation_id)  # ChatNotFound
        return self.store.options(conversation_id), self.store.thread(conversation_id)

    async def _io(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        result: T = await loop.run_in_executor(None, functools.partial(func, *args, **kwargs))
        return result

    async def open(self, conversation_id: int) -> None:
        """Switch to a stored conversation (ChatNotFound when there is none)."""
        self._refuse_while_replying()
        options, thread = await self._io(self._read_state, conversation_id)
        self._conversation_id = conversation_id
        self._options, self._thread = options, thread
        self._options_dirty = False

    async def refresh(self) -> None:
        """Read the conversation again (another process may have added to it)."""
        if self._conversation_id is not None:
            options, thread = await self._io(self._read_state, self._conversation_id)
            self._thread = thread
            if not self._options_dirty:
                self._options = options

    def new_chat(self) -> bool:
        """Start a new chat (stored at its first message); refused (False) while replying."""
        if self._replying:
            return False
        self._conversation_id = None
        self._options = self.defaults
        self._options_dirty = False
        self._thread = []
        return True

    def clear(self) -> bool:
        """The chat page's "new chat": ``new_chat``."""
        return self.new_chat()

    async def set_options(self, options: ChatOptions) -> None:
        """Change this chat's options and save them now."""
        self._options = options
        if self._conversation_id is not None:
            await self._io(self.store.set_options, self._conversation_id, options)
            self._options_dirty = False
        else:
            self._options_dirty = True

    async def siblings(self, message_id: int) -> list[Message]:
        """The versions of a message (the message included), oldest first."""
        return await self._io(self.store.siblings, message_id)

    async def select(self, message_id: int) -> None:
        """Show the branch through ``message_id`` (another version of a message)."""
        self._refuse_while_replying()
        message = await self._io(self.store.message, message_id)
        self._check_ours(message)
        await self._io(self.store.select, message_id)
        await self.refresh()

    async def delete_message(self, message_id: int) -> None:
        """Delete a message; its replies move up to its parent."""
        self._refuse_while_replying()
        message = await self._io(self.store.message, message_id)
        self._check_ours(message)
        await self._io(self.store.delete_message, message_id)
        await self.refresh()

    def use_engine(self, engine: ChatEngine) -> None:
        """Reply with ``engine`` from now on (the local Engine, or a ``RemoteEngine`` of
        core/engines when the chat's options name a remote engine); refused while a
        reply runs."""
        self._refuse_while_replying()
        self.engine = engine

    def _refuse_while_replying(self) -> None:
        if self._replying:
            raise RuntimeError("a reply is running")

    def _check_ours(self, message: Message) -> None:
        if message.conversation_id != self._conversation_id:
            raise ChatStoreError(f"message {message.id} is not in this chat")

    # --- the actions that reply ---------------------------------------------------------

    async def send(self, text: str, listener: ReplyListener | None = None) -> ReplyEnded:
        """Add the user's ``text`` after the current leaf and stream the reply to it."""

        async def setup(reply: _Reply) -> list[Message]:
            conversation_id = await self._step(reply, self._conversation_for_reply)
            reply.conversation_id = conversation_id

            def add() -> Message:
                reply.user = self.store.add_message(conversation_id, "user", text)
                return reply.user

            user = await self._step(reply, add)
            reply.restore_leaf = user.parent_id
            self._emit(listener, "on_stored", user)
            return await self._step(reply, self.store.path_to, user.id)

        return await self._run(listener, setup, retry_text=text)

    async def reply(self, text: str, listener: ReplyListener | None = None) -> ReplyEnded:
        """``send``, under the name the chat page uses."""
        return await self.send(text, listener)

    async def regenerate(
        self, message_id: int, listener: ReplyListener | None = None
    ) -> ReplyEnded:
        """A new version of the reply ``message_id`` (the old one is kept as a sibling).

        Given a user message, a new reply to it (for a turn left without one).
        """

        async def setup(reply: _Reply) -> list[Message]:
            target = await self._step(reply, self.store.message, message_id)
            self._check_ours(target)
            reply.conversation_id = target.conversation_id
            if target.role == "assistant":
                parent = target.parent_id
            elif target.role == "user":
                parent = target.id
            else:
                raise ChatStoreError("a system message has no reply to regenerate")
            await self._step(reply, self._save_dirty_options)
            conversation = await self._step(reply, self.store.conversation, target.conversation_id)
            reply.restore_leaf = conversation.current_leaf
            if parent is None:
                return []
            return await self._step(reply, self.store.path_to, parent)

        return await self._run(listener, setup)

    async def edit_and_resend(
        self, message_id: int, text: str, listener: ReplyListener | None = None
    ) -> ReplyEnded:
        """A new version of the user message ``message_id`` with ``text`` (a sibling: the
        old branch is kept) and a reply to it."""

        async def setup(reply: _Reply) -> list[Message]:
            target = await self._step(reply, self.store.message, message_id)
            self._check_ours(target)
            if target.role != "user":
                raise ChatStoreError("only a message of the user can be edited and resent")
            conversation_id = target.conversation_id
            reply.conversation_id = conversation_id
            await self._step(reply, self._save_dirty_options)
            conversation = await self._step(reply, self.store.conversation, conversation_id)
            reply.restore_leaf = conversation.current_leaf

            def add() -> Message:
                reply.user = self.store.add_message(
                    conversation_id, "user", text, parent=target.parent_id
                )
                return reply.user

            user = await self._step(reply, add)
            self._emit(listener, "on_stored", user)
            return await self._step(reply, self.store.path_to, user.id)

        return await self._run(listener, setup, retry_text=text)

    async def continue_reply(
        self, message_id: int, listener: ReplyListener | None = None
    ) -> ReplyEnded:
        """Let the model go on with an unfinished reply; the text is appended to it."""

        async def setup(reply: _Reply) -> list[Message]:
            target = await self._step(reply, self.store.message, message_id)
            self._check_ours(target)
            if target.role != "assistant":
                raise ChatStoreError("only a reply of the assistant can be continued")
            reply.conversation_id = target.conversation_id
            await self._step(reply, self._save_dirty_options)
            if all(m.id != message_id for m in self._thread):
                await self._step(reply, self.store.select, message_id)
            reply.continuing = True
            return await self._step(reply, self.store.path_to, message_id)

        return await self._run(listener, setup)

    # --- how a reply runs -----------------------------------------------------------------

    async def _step(self, reply: _Reply, func: Callable[..., T], *args: Any) -> T:
        """A store call on the executor. When the task is cancelled meanwhile, the call
        still finishes (its thread runs on), and the reply's end waits for it."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, functools.partial(func, *args))
        reply.pending = future
        result: T = await asyncio.shield(future)
        reply.pending = None
        return result

    def _conversation_for_reply(self) -> int:
        """The conversation to write in: created now for a new chat. Blocking."""
        if self._conversation_id is None:
            options = self._options
            loaded = self.engine.loaded
            if options.model_path is None and loaded is not None:
                remote = getattr(self.engine, "engine_name", None)
                if isinstance(remote, str):
                    options = options.on_remote(remote, loaded.path)
                else:
                    options = options.model_copy(update={"model_path": loaded.path})
            created = self.store.create_conversation(options=options)
            self._conversation_id = created.id
            self._options = options
            self._options_dirty = False
            return created.id
        self._save_dirty_options()
        return self._conversation_id

    def _save_dirty_options(self) -> None:
        if self._options_dirty and self._conversation_id is not None:
            self.store.set_options(self._conversation_id, self._options)
            self._options_dirty = False

    def _emit(self, listener: ReplyListener | None, name: str, *args: Any) -> None:
        if listener is None:
            return
        try:
            getattr(listener, name)(*args)
        except Exception:
            log.exception("chat listener %s failed", name)

    def _prompt(self, history: Sequence[Message], *, continuing: bool) -> list[dict[str, str]]:
        """The messages sent: the system prompt, then the branch (empty replies left out,
        but for the one being continued)."""
        out: list[dict[str, str]] = []
        if self._options.system_prompt:
            out.append({"role": "system", "content": self._options.system_prompt})
        last = len(history) - 1
        for i, message in enumerate(history):
            empty_reply = message.role == "assistant" and not message.content
            if empty_reply and not (continuing and i == last):
                continue
            out.append({"role": message.role, "content": message.content})
        return out

    def _model_name(self) -> str | None:
        loaded = self.engine.loaded
        if loaded is None:
            return None
        return loaded.alias or Path(loaded.path).name

    async def _run(
        self,
        listener: ReplyListener | None,
        setup: Callable[[_Reply], Any],
        *,
        retry_text: str | None = None,
    ) -> ReplyEnded:
        if self._replying:
            raise RuntimeError("a reply is already running")
        self._replying = True
        listen = listener or ReplyListener()
        reply = _Reply(retry_text=retry_text)
        result = ChatResult()
        outcome = Outcome.FAILED
        error: Exception | None = None
        try:
            history: list[Message] = await setup(reply)
            conversation_id = reply.conversation_id
            assert conversation_id is not None
            if reply.continuing:
                reply.writer = await self._step(reply, self._resume, reply, history[-1].id)
            else:
                parent = history[-1].id if history else None
                reply.writer = await self._step(reply, self._start, reply, conversation_id, parent)
            self._emit(listen, "on_stored", reply.writer.message)
            if self.engine.needs_restart:
                self._emit(listen, "on_restarting")

            def on_progress(event: dict[str, Any]) -> None:
                if event.get("type") == "progress":
                    fraction = event.get("progress")
                    self._emit(
                        listen,
                        "on_restart_progress",
                        float(fraction) if isinstance(fraction, int | float) else None,
                        str(event.get("stage", "")),
                    )

            writer = reply.writer
            stream = self.engine.stream_chat(
                self._prompt(history, continuing=reply.continuing),
                result,
                sampling=self.sampling_override or self._options.sampling,
                on_progress=on_progress,
                truncate=True,
                continue_final=reply.continuing,
            )
            async for delta in stream:
                if not delta.text:
                    continue
                if not reply.pieces:
                    reply.first_text_s = time.monotonic() - reply.started_at
                    self._emit(listen, "on_started")
                reply.pieces.append(delta.text)
                writer.append(delta.text)
                self._emit(listen, "on_text", delta.text)
            outcome = Outcome.DONE
        except asyncio.CancelledError:
            outcome = Outcome.STOPPED
            raise
        except Exception as exc:  # the conversation must outlive any failure
            known = EngineAPIError | EngineConnectionError | EngineUnavailable | ChatStoreError
            if not isinstance(exc, known):
                log.exception("chat reply failed")
            error = exc
        finally:
            ended = await self._end(reply, outcome, result, error)
            self._replying = False
            if ended.dropped_messages > 0:
                self._emit(listen, "on_truncated", ended.dropped_messages)
            self._emit(listen, "on_ended", ended)
        return ended

    def _start(self, reply: _Reply, conversation_id: int, parent: int | None) -> ReplyWriter:
        reply.writer = self.store.start_reply(
            conversation_id,
            parent,
            meta={"model": self._model_name()},
            interval_s=self.flush_interval_s,
        )
        return reply.writer

    def _resume(self, reply: _Reply, message_id: int) -> ReplyWriter:
        reply.writer = self.store.resume_reply(message_id, interval_s=self.flush_interval_s)
        return reply.writer

    async def _end(
        self, reply: _Reply, outcome: Outcome, result: ChatResult, error: Exception | None
    ) -> ReplyEnded:
        """Save the reply's end (or take its rows back) and say how it ended."""
        text = "".join(reply.pieces)
        retry = reply.retry_text if outcome == Outcome.FAILED and not text else None
        try:
            if reply.pending is not None and not reply.pending.done():
                # A store call of the setup still runs (the task was cancelled): what it
                # writes must be known before it can be taken back.
                await asyncio.wait([reply.pending])
            message, removed, thread = await self._io(
                self._settle, reply, outcome, text, result, error
            )
        except asyncio.CancelledError:  # cancelled again while saving: the thread finishes it
            return ReplyEnded(outcome, text, result, error, retry)
        except Exception as exc:
            log.exception("chat: the end of a reply could not be saved")
            return ReplyEnded(outcome, text, result, error or exc, retry)
        if thread is not None:
            self._thread = thread
        return ReplyEnded(outcome, text, result, error, retry, message, removed)

    def _settle(
        self,
        reply: _Reply,
        outcome: Outcome,
        text: str,
        result: ChatResult,
        error: Exception | None,
    ) -> tuple[Message | None, tuple[int, ...], list[Message] | None]:
        """Blocking: the stored end of a reply; returns (message, removed ids, thread)."""
        message: Message | None = None
        removed: list[int] = []
        writer = reply.writer
        if writer is not None and (text or reply.continuing):
            cut = result.finish_reason == "length" or result.stopped_by in ("max_tokens", "context")
            done = outcome == Outcome.DONE and not cut
            message = writer.finish(
                "complete" if done else "incomplete", self._meta(reply, outcome, result, error)
            )
        else:
            if writer is not None:
                writer.abandon()
                removed.append(writer.message_id)
            if reply.user is not None:
                removed.append(reply.user.id)
            if removed and reply.conversation_id is not None:
                self.store.remove_messages(reply.conversation_id, removed, leaf=reply.restore_leaf)
        thread = None
        if reply.conversation_id is not None and reply.conversation_id == self._conversation_id:
            thread = self.store.thread(reply.conversation_id)
        return message, tuple(removed), thread

    def _meta(
        self, reply: _Reply, outcome: Outcome, result: ChatResult, error: Exception | None
    ) -> dict[str, Any]:
        """What the pane shows under a reply: speed, tokens, why it ended."""
        meta: dict[str, Any] = {"outcome": outcome.value}
        timings = result.timings
        ttft = timings.get("ttft_s")
        if not isinstance(ttft, int | float):
            ttft = reply.first_text_s  # measured here (the engine's comes at the end only)
        if ttft is not None:
            meta["ttft_s"] = round(float(ttft), 4)
        speed = timings.get("tokens_per_s")
        if isinstance(speed, int | float):
            meta["tokens_per_s"] = round(float(speed), 2)
        for key in ("completion_tokens", "prompt_tokens"):
            value = result.usage.get(key)
            if isinstance(value, int):
                meta[key] = value
        if result.finish_reason is not None:
            meta["finish_reason"] = result.finish_reason
        if result.stopped_by is not None:
            meta["stopped_by"] = result.stopped_by
        if result.n_ctx is not None:
            meta["n_ctx"] = result.n_ctx
        if result.dropped_messages:
            meta["dropped_messages"] = result.dropped_messages
        if reply.continuing:
            meta["continued"] = True
        if error is not None:
            meta["error"] = one_line(str(error) or type(error).__name__)
        return meta


__all__ = [
    "ChatEngine",
    "ChatSession",
    "Outcome",
    "ReplyEnded",
    "ReplyListener",
]
