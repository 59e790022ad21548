"""What a reply does to a conversation, without Qt.

A scripted engine stands in for the Engine service here so that each failure happens
at a chosen point (before any text, half way, as a dead process); the same session
against the real engine and model is in tests/integration/test_chat_session.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from llmos_desktop.core.chat.session import ChatSession, Outcome, ReplyEnded, ReplyListener
from llmos_desktop.core.engine.contract import ErrorKind, SamplingOptions
from llmos_desktop.core.engine.control.client import ChatResult, EngineAPIError, TextDelta
from llmos_desktop.core.engine.control.service import EngineUnavailable
from llmos_desktop.core.engine.errors import EngineFailure


@dataclass
class ScriptedEngine:
    """Streams ``pieces``, then raises ``error`` (if any); records what it was sent."""

    pieces: list[str] = field(default_factory=list)
    error: Exception | None = None
    needs_restart: bool = False
    hang: bool = False
    sent: list[list[dict[str, Any]]] = field(default_factory=list)
    sampling: list[SamplingOptions | None] = field(default_factory=list)

    async def stream_chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        result: ChatResult | None = None,
        *,
        sampling: SamplingOptions | None = None,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> AsyncIterator[TextDelta]:
        self.sent.append([dict(m) for m in messages])
        self.sampling.append(sampling)
        if self.needs_restart and on_progress is not None:
            on_progress({"type": "progress", "progress": 0.5, "stage": "loading weights"})
            self.needs_restart = False
        for piece in self.pieces:
            yield TextDelta(piece)
        if self.hang:
            await asyncio.Event().wait()
        if self.error is not None:
            raise self.error
        if result is not None:
            result.finish_reason = "stop"
            result.timings = {"tokens_per_s": 42.0}


@dataclass
class Recorder:
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def listener(self) -> ReplyListener:
        return ReplyListener(
            on_restarting=lambda: self.calls.append(("restarting", None)),
            on_restart_progress=lambda f, s: self.calls.append(("progress", (f, s))),
            on_started=lambda: self.calls.append(("started", None)),
            on_text=lambda t: self.calls.append(("text", t)),
            on_ended=lambda e: self.calls.append(("ended", e)),
        )

    def ended(self) -> ReplyEnded:
        kinds = [kind for kind, _ in self.calls]
        assert kinds.count("ended") == 1 and kinds[-1] == "ended"
        value = self.calls[-1][1]
        assert isinstance(value, ReplyEnded)
        return value


def _reply(session: ChatSession, text: str, recorder: Recorder | None = None) -> ReplyEnded:
    rec = recorder or Recorder()
    return asyncio.run(session.reply(text, rec.listener()))


def test_a_conversation_keeps_both_sides_and_sends_the_whole_history() -> None:
    engine = ScriptedEngine(pieces=["Hel", "lo!"])
    session = ChatSession(engine, SamplingOptions(temperature=0.3, max_tokens=64))
    recorder = Recorder()
    ended = _reply(session, "Hi", recorder)
    assert ended.outcome == Outcome.DONE and ended.text == "Hello!"
    assert ended.result.timings == {"tokens_per_s": 42.0}
    assert [kind for kind, _ in recorder.calls] == ["started", "text", "text", "ended"]
    _reply(session, "And again?")
    assert engine.sent[1] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "And again?"},
    ]
    assert engine.sampling == [SamplingOptions(temperature=0.3, max_tokens=64)] * 2
    assert len(session.messages) == 4


def test_a_failure_after_some_text_keeps_that_text() -> None:
    engine = ScriptedEngine(pieces=["Half a"], error=EngineAPIError("boom", status=500))
    session = ChatSession(engine)
    ended = _reply(session, "Tell me")
    assert ended.outcome == Outcome.FAILED
    assert isinstance(ended.error, EngineAPIError)
    assert ended.retry_text is None, "the user saw a reply: nothing to hand back"
    assert session.messages[-1] == {"role": "assistant", "content": "Half a"}


def test_a_failure_before_any_text_drops_the_turn_and_hands_the_text_back() -> None:
    failure = EngineFailure(ErrorKind.KILLED, "The engine was killed.")
    engine = ScriptedEngine(error=EngineUnavailable(failure))
    session = ChatSession(engine)
    ended = _reply(session, "Are you there?")
    assert ended.outcome == Outcome.FAILED
    assert ended.retry_text == "Are you there?"
    assert isinstance(ended.error, EngineUnavailable)
    assert ended.error.failure.kind == ErrorKind.KILLED
    assert session.messages == [], "no user turn without an answer"
    # The next message is not preceded by an unanswered user turn.
    engine.error = None
    engine.pieces = ["Yes."]
    _reply(session, "Hello?")
    assert engine.sent[-1] == [{"role": "user", "content": "Hello?"}]


def test_an_unexpected_error_is_reported_not_raised() -> None:
    engine = ScriptedEngine(error=ValueError("surprise"))
    session = ChatSession(engine)
    ended = _reply(session, "x")
    assert ended.outcome == Outcome.FAILED and isinstance(ended.error, ValueError)
    assert not session.replying


def test_stop_keeps_what_was_written_and_reports_stopped() -> None:
    engine = ScriptedEngine(pieces=["Once upon"], hang=True)
    session = ChatSession(engine)
    recorder = Recorder()

    async def main() -> None:
        task = asyncio.ensure_future(session.reply("A story", recorder.listener()))
        while ("text", "Once upon") not in recorder.calls:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    ended = recorder.ended()
    assert ended.outcome == Outcome.STOPPED and ended.text == "Once upon"
    assert ended.retry_text is None
    assert session.messages[-1] == {"role": "assistant", "content": "Once upon"}
    assert not session.replying


def test_stop_before_any_text_drops_the_turn_without_handing_it_back() -> None:
    engine = ScriptedEngine(hang=True)
    session = ChatSession(engine)
    recorder = Recorder()

    async def main() -> None:
        task = asyncio.ensure_future(session.reply("Slow", recorder.listener()))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    ended = recorder.ended()
    assert ended.outcome == Outcome.STOPPED and ended.retry_text is None
    assert session.messages == []


def test_a_dead_engine_is_announced_with_restart_progress() -> None:
    engine = ScriptedEngine(pieces=["Back."], needs_restart=True)
    session = ChatSession(engine)
    recorder = Recorder()
    _reply(session, "Hi", recorder)
    kinds = [kind for kind, _ in recorder.calls]
    assert kinds[:3] == ["restarting", "progress", "started"]
    assert recorder.calls[1] == ("progress", (0.5, "loading weights"))


def test_clear_is_refused_while_replying_and_one_reply_runs_at_a_time() -> None:
    engine = ScriptedEngine(pieces=["a"], hang=True)
    session = ChatSession(engine)

    async def main() -> None:
        task = asyncio.ensure_future(session.reply("x"))
        await asyncio.sleep(0.01)
        assert session.replying
        assert not session.clear()
        with pytest.raises(RuntimeError):
            await session.reply("y")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert session.clear()
    assert session.messages == []
