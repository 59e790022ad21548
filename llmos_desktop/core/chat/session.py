"""One conversation with the engine, without Qt: its messages and what a reply does to them.

The chat pane renders what happens here and forwards the user's actions; the rules
live here and are tested without a window (tests/unit/core/chat/test_session.py):

- a reply that streamed some text is kept, also when it was stopped or failed half
  way: the user saw it, and the model should see it in the next turn;
- a reply that produced nothing removes the user's turn again, so the next message
  does not put two user turns in a row; after a failure (not a Stop) the user's text
  is handed back so it can be sent again;
- a dead engine is restarted (with its model) by the Engine service before the reply;
  the listener hears about it, with progress, so the pane can say so.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from llmos_desktop.core.engine.contract import SamplingOptions
from llmos_desktop.core.engine.control.client import ChatResult, EngineAPIError, TextDelta
from llmos_desktop.core.engine.control.service import EngineUnavailable

log = logging.getLogger(__name__)


class Outcome(enum.StrEnum):
    DONE = "done"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True)
class ReplyEnded:
    """How a reply ended, and what the pane should show."""

    outcome: Outcome
    text: str  # what the assistant wrote; kept in the conversation when not empty
    result: ChatResult  # finish reason, usage and timings, as far as they came
    error: Exception | None = None  # EngineUnavailable, EngineAPIError, or a surprise
    retry_text: str | None = None  # the user's message, handed back for another try


def _nothing(*_args: object) -> None:
    return None


@dataclass(frozen=True)
class ReplyListener:
    """What a reply reports while it runs; every callback is optional."""

    on_restarting: Callable[[], None] = _nothing  # the engine process is restarted first
    on_restart_progress: Callable[[float | None, str], None] = _nothing  # (fraction, stage)
    on_started: Callable[[], None] = _nothing  # the first text arrived
    on_text: Callable[[str], None] = _nothing
    on_ended: Callable[[ReplyEnded], None] = _nothing  # also when the reply was cancelled


class ChatEngine(Protocol):
    """What a session needs of the Engine service (core/engine/control/service.py)."""

    @property
    def needs_restart(self) -> bool: ...

    def stream_chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        result: ChatResult | None = None,
        *,
        sampling: SamplingOptions | None = None,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> AsyncIterator[TextDelta]: ...


@dataclass
class ChatSession:
    engine: ChatEngine
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    _messages: list[dict[str, str]] = field(default_factory=list)
    _replying: bool = False

    @property
    def messages(self) -> list[dict[str, str]]:
        """The conversation so far ({"role", "content"} dicts; a copy)."""
        return [dict(m) for m in self._messages]

    @property
    def replying(self) -> bool:
        return self._replying

    def clear(self) -> bool:
        """Start over; refused (False) while a reply is running."""
        if self._replying:
            return False
        self._messages.clear()
        return True

    async def reply(self, text: str, listener: ReplyListener | None = None) -> ReplyEnded:
        """Send the user's ``text`` and stream the assistant's reply to ``listener``.

        Cancelling the task that awaits this stops the reply (the engine stops too, as
        the stream closes); ``on_ended`` is still called, with Outcome.STOPPED.
        """
        if self._replying:
            raise RuntimeError("a reply is already running")
        listen = listener or ReplyListener()
        self._replying = True
        self._messages.append({"role": "user", "content": text})
        if self.engine.needs_restart:
            listen.on_restarting()

        def on_progress(event: dict[str, Any]) -> None:
            if event.get("type") == "progress":
                fraction = event.get("progress")
                listen.on_restart_progress(
                    float(fraction) if isinstance(fraction, int | float) else None,
                    str(event.get("stage", "")),
                )

        result = ChatResult()
        pieces: list[str] = []
        outcome = Outcome.FAILED
        error: Exception | None = None
        try:
            stream = self.engine.stream_chat(
                self.messages, result, sampling=self.sampling, on_progress=on_progress
            )
            async for delta in stream:
                if not pieces:
                    listen.on_started()
                pieces.append(delta.text)
                listen.on_text(delta.text)
            outcome = Outcome.DONE
        except asyncio.CancelledError:
            outcome = Outcome.STOPPED
            raise
        except Exception as exc:  # the conversation must outlive any failure
            if not isinstance(exc, EngineAPIError | EngineUnavailable):
                log.exception("chat reply failed")
            error = exc
        finally:
            ended = self._end(text, "".join(pieces), outcome, result, error)
            self._replying = False
            listen.on_ended(ended)
        return ended

    def _end(
        self, prompt: str, reply: str, outcome: Outcome, result: ChatResult, error: Exception | None
    ) -> ReplyEnded:
        retry_text = None
        if reply:
            self._messages.append({"role": "assistant", "content": reply})
        elif self._messages and self._messages[-1] == {"role": "user", "content": prompt}:
            self._messages.pop()
            if outcome == Outcome.FAILED:
                retry_text = prompt
        return ReplyEnded(outcome, reply, result, error, retry_text)
