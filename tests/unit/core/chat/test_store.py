"""The chat store on a real SQLite file: what a user would check of their saved chats.

Processes that write the same file, die half way, or leave a damaged file are real
processes and real files here (no mocks): a child Python process runs the store.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from llmos_desktop.core.chat import store as store_module
from llmos_desktop.core.chat.options import ChatOptions
from llmos_desktop.core.chat.store import (
    AUTO_TITLE_CHARS,
    CHATS_FILE_NAME,
    SCHEMA_VERSION,
    ChatNotFound,
    ChatStore,
    ChatStoreBusy,
    ChatStoreError,
    ImportRejected,
    NewerSchemaError,
    auto_title,
)
from llmos_desktop.core.engine.contract import SamplingOptions


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / CHATS_FILE_NAME


@pytest.fixture
def store(db: Path) -> Any:
    opened = ChatStore(db)
    yield opened
    opened.close()


def _raw(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(db, timeout=10)


def _chat(store: ChatStore, *turns: str) -> int:
    """A conversation with alternating user/assistant messages."""
    conversation = store.create_conversation()
    for i, text in enumerate(turns):
        store.add_message(conversation.id, "user" if i % 2 == 0 else "assistant", text)
    return conversation.id


# --- the file --------------------------------------------------------------------------


def test_a_new_store_is_a_wal_database_with_the_current_schema(store: ChatStore, db: Path) -> None:
    assert store.recovered_from is None
    with _raw(db) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {
            row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    assert {"conversations", "messages", "presets"} <= tables
    assert store.integrity_check() == ["ok"]


def test_what_was_written_is_there_after_reopening(db: Path) -> None:
    with ChatStore(db) as first:
        chat = _chat(first, "Hello", "Hi! How can I help?")
    with ChatStore(db) as again:
        assert [(m.role, m.content) for m in again.thread(chat)] == [
            ("user", "Hello"),
            ("assistant", "Hi! How can I help?"),
        ]


# --- conversations ---------------------------------------------------------------------


def test_a_new_chat_is_titled_by_its_first_user_message(store: ChatStore) -> None:
    chat = store.create_conversation()
    assert store.conversation(chat.id).title == ""
    store.add_message(chat.id, "user", "  What is\nthe capital   of France?  ")
    store.add_message(chat.id, "assistant", "Paris.")
    store.add_message(chat.id, "user", "And of Spain?")
    found = store.conversation(chat.id)
    assert found.title == "What is the capital of France?"
    assert found.title_auto
    long = "word " * 40
    assert len(auto_title(long)) <= AUTO_TITLE_CHARS and auto_title(long).endswith("…")
    assert auto_title("今天天气很好" * 20).endswith("…")
    assert auto_title("a\x1b[31mred") == "a[31mred", "no control characters in a title"


def test_rename_keeps_the_given_title(store: ChatStore) -> None:
    chat = store.create_conversation()
    renamed = store.rename(chat.id, "Trip   planning")
    assert renamed.title == "Trip planning" and not renamed.title_auto
    store.add_message(chat.id, "user", "first message")
    assert store.conversation(chat.id).title == "Trip planning"
    with pytest.raises(ChatStoreError, match="at most"):
        store.rename(chat.id, "x" * 500)
    with pytest.raises(ChatNotFound):
        store.rename(12345, "x")


def test_chats_are_listed_by_last_activity(store: ChatStore) -> None:
    old = _chat(store, "old chat")
    time.sleep(0.01)
    new = _chat(store, "new chat")
    assert [c.id for c in store.conversations()] == [new, old]
    time.sleep(0.01)
    store.add_message(old, "assistant", "a late reply")
    listed = store.conversations()
    assert [c.id for c in listed] == [old, new]
    assert listed[0].message_count == 2
    assert store.most_recent() is not None and store.most_recent().id == old  # type: ignore[union-attr]


def test_search_finds_titles_and_message_text_in_any_branch(store: ChatStore) -> None:
    weather = _chat(store, "今天天气很好吗？", "是的，天气很好。")
    code = _chat(store, "Write a python function", "def f(): return 100% _sure_")
    store.rename(code, "Coding help")
    hidden = store.conversation(weather).current_leaf
    assert hidden is not None
    # A second version of the reply; the first one is no longer on the branch shown.
    first_user = store.thread(weather)[0].id
    store.add_message(weather, "assistant", "另一个版本", parent=first_user)

    def ids(text: str) -> list[int]:
        return [c.id for c in store.conversations(text)]

    assert ids("天气") == [weather], "a two-character Chinese word inside a sentence"
    assert ids("是的") == [weather], "text of a version not shown"
    assert ids("coding") == [code], "titles, ASCII case folded"
    assert ids("100%") == [code] and ids("%") == [code], "% is a character, not a wildcard"
    assert ids("_sure_") == [code] and ids("__") == []
    assert ids("nowhere") == []
    assert len(store.conversations(None)) == 2


def test_delete_undo_and_purge(store: ChatStore, db: Path) -> None:
    chat = _chat(store, "keep me?", "maybe")
    other = _chat(store, "other")
    store.delete_conversation(chat)
    assert [c.id for c in store.conversations()] == [other]
    assert [c.id for c in store.conversations(deleted=True)] == [chat]
    assert store.conversations("keep me") == [], "the trash is not searched"
    restored = store.restore_conversation(chat)
    assert restored.deleted_at is None
    assert {c.id for c in store.conversations()} == {chat, other}
    assert [m.content for m in store.thread(chat)] == ["keep me?", "maybe"]

    with pytest.raises(ChatStoreError, match="not in the trash"):
        store.purge_conversation(chat)
    store.delete_conversation(chat)
    store.purge_conversation(chat)
    with pytest.raises(ChatNotFound):
        store.conversation(chat)
    with _raw(db) as raw:
        assert (
            raw.execute(
                "SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (chat,)
            ).fetchone()[0]
            == 0
        )

    store.delete_conversation(other)
    assert store.purge_deleted(older_than_s=3600) == 0, "deleted just now"
    assert store.purge_deleted() == 1
    assert store.conversations(deleted=True) == []


# --- the message tree ---------------------------------------------------------------------


def test_versions_are_siblings_and_a_branch_can_be_selected(store: ChatStore) -> None:
    chat = store.create_conversation().id
    question = store.add_message(chat, "user", "Q")
    first = store.add_message(chat, "assistant", "answer 1")
    follow = store.add_message(chat, "user", "thanks")
    second = store.add_message(chat, "assistant", "answer 2", parent=question.id)
    assert [m.content for m in store.thread(chat)] == ["Q", "answer 2"]
    assert [m.id for m in store.siblings(first.id)] == [first.id, second.id]
    assert [m.id for m in store.siblings(question.id)] == [question.id]
    # Back to the first version: its continuation comes back with it.
    assert store.select(first.id) == follow.id
    assert [m.content for m in store.thread(chat)] == ["Q", "answer 1", "thanks"]
    assert [m.id for m in store.children(question.id)] == [first.id, second.id]
    assert [m.content for m in store.path_to(first.id)] == ["Q", "answer 1"]
    edited = store.add_message(chat, "user", "Q, edited", parent=None)
    assert [m.id for m in store.siblings(question.id)] == [question.id, edited.id]
    assert [m.content for m in store.thread(chat)] == ["Q, edited"]
    assert store.versions(chat) == {
        question.id: (1, 2),
        edited.id: (2, 2),
        first.id: (1, 2),
        second.id: (2, 2),
    }, "only messages with other versions; follow has none"
    assert store.versions(_chat(store, "no versions", "here")) == {}


def test_deleting_a_message_moves_its_replies_up(store: ChatStore) -> None:
    chat = store.create_conversation().id
    a = store.add_message(chat, "user", "a")
    b = store.add_message(chat, "assistant", "b")
    c = store.add_message(chat, "user", "c")
    store.delete_message(b.id)
    assert [m.content for m in store.thread(chat)] == ["a", "c"]
    assert store.message(c.id).parent_id == a.id
    # Deleting the leaf: the leaf becomes the newest branch from its parent.
    v1 = store.add_message(chat, "assistant", "v1")
    v2 = store.add_message(chat, "assistant", "v2", parent=c.id)
    assert store.delete_message(v2.id) == v1.id
    assert [m.content for m in store.thread(chat)] == ["a", "c", "v1"]
    store.delete_message(a.id)
    assert [m.content for m in store.thread(chat)] == ["c", "v1"]
    assert store.message(c.id).parent_id is None


def test_a_parent_from_another_chat_is_refused(store: ChatStore) -> None:
    one = _chat(store, "one")
    two = _chat(store, "two")
    other = store.thread(two)[0].id
    with pytest.raises(ChatStoreError, match="another chat"):
        store.add_message(one, "user", "x", parent=other)
    with pytest.raises(ChatStoreError, match="unknown role"):
        store.add_message(one, "robot", "x")  # type: ignore[arg-type]
    assert [m.content for m in store.thread(one)] == ["one"]


def test_removing_every_message_gives_up_the_automatic_title(store: ChatStore) -> None:
    chat = _chat(store, "a title from me")
    message = store.thread(chat)[0]
    store.remove_messages(chat, [message.id], leaf=None)
    found = store.conversation(chat)
    assert found.title == "" and found.current_leaf is None and found.message_count == 0


# --- options and presets --------------------------------------------------------------------


def test_each_chat_keeps_its_options(store: ChatStore, db: Path) -> None:
    options = ChatOptions(
        model_path="/models/a.gguf",
        system_prompt="You are terse.",
        sampling=SamplingOptions(temperature=0.2, max_tokens=64, seed=7),
        n_ctx=2048,
    )
    chat = store.create_conversation(options=options).id
    other = store.create_conversation().id
    assert store.options(chat) == options
    assert store.options(other) == ChatOptions()
    store.set_options(other, options.with_sampling(top_k=5))
    assert store.options(other).sampling.top_k == 5
    # A value that no longer validates (hand-edited file) falls back alone.
    with _raw(db) as raw:
        bad = {
            **options.stored(),
            "n_ctx": 5,
            "sampling": {**options.stored()["sampling"], "temperature": 99},
        }
        raw.execute("UPDATE conversations SET options = ? WHERE id = ?", (json.dumps(bad), chat))
    read = store.options(chat)
    assert read.n_ctx is None and read.sampling.temperature == ChatOptions().sampling.temperature
    assert read.system_prompt == "You are terse." and read.sampling.seed == 7
    with _raw(db) as raw:
        raw.execute("UPDATE conversations SET options = 'not json' WHERE id = ?", (chat,))
    assert store.options(chat) == ChatOptions()


def test_presets_are_saved_listed_replaced_and_deleted(store: ChatStore) -> None:
    precise = ChatOptions(sampling=SamplingOptions(temperature=0.0))
    store.save_preset("Precise", precise)
    store.save_preset("Creative", ChatOptions(sampling=SamplingOptions(temperature=1.2)))
    assert list(store.presets()) == ["Creative", "Precise"]
    assert store.presets()["Precise"] == precise
    store.save_preset("Precise", precise.with_sampling(top_k=1))
    assert store.presets()["Precise"].sampling.top_k == 1
    assert store.delete_preset("Creative") and not store.delete_preset("Creative")
    assert list(store.presets()) == ["Precise"]
    for bad in ("", "   ", "x" * 101, "a\x00b"):
        with pytest.raises(ChatStoreError, match="preset name"):
            store.save_preset(bad, precise)


# --- export and import ---------------------------------------------------------------------


def _branching_chat(store: ChatStore) -> int:
    options = ChatOptions(system_prompt="Be brief.", sampling=SamplingOptions(temperature=0.3))
    chat = store.create_conversation(options=options).id
    question = store.add_message(chat, "user", "你好 — **hello**")
    store.add_message(chat, "assistant", "first answer", meta={"tokens_per_s": 12.5})
    store.add_message(chat, "assistant", "second answer", parent=question.id, status="incomplete")
    return chat


def test_markdown_export_shows_the_branch_and_what_is_unfinished(store: ChatStore) -> None:
    chat = _branching_chat(store)
    text = store.export_markdown(chat)
    assert text.startswith("# 你好 — **hello**\n")
    assert "## System\n\nBe brief." in text
    assert "## User\n\n你好 — **hello**" in text
    assert "## Assistant\n\nsecond answer\n\n*(incomplete reply)*" in text
    assert "first answer" not in text, "only the branch shown"


def test_json_export_imports_back_with_the_whole_tree(store: ChatStore) -> None:
    chat = _branching_chat(store)
    exported = store.export_json(chat)
    data = json.loads(exported)
    assert data["format"] == "llmos-chat" and data["version"] == 1
    assert len(data["conversation"]["messages"]) == 3
    imported = store.import_json(exported)
    assert imported.id != chat
    assert imported.title == store.conversation(chat).title
    assert store.options(imported.id) == store.options(chat)

    def shape(conversation: int) -> list[tuple[str, str, str, int | None, dict[str, Any]]]:
        messages = store.thread(conversation)
        root = messages[0]
        everything = [root, *store.children(root.id)]
        index = {m.id: i for i, m in enumerate(everything)}
        return [
            (
                m.role,
                m.content,
                m.status,
                index.get(m.parent_id) if m.parent_id else None,
                dict(m.meta),
            )
            for m in everything
        ]

    assert shape(imported.id) == shape(chat)
    assert [m.content for m in store.thread(imported.id)] == ["你好 — **hello**", "second answer"]
    assert store.conversations()[0].id == imported.id, "an imported chat shows at the top"
    assert json.loads(store.export_json(imported.id))["conversation"]["messages"][1]["meta"] == {
        "tokens_per_s": 12.5
    }


def _export(store: ChatStore) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(store.export_json(_branching_chat(store)))
    return data


HOSTILE: list[tuple[str, Any, str]] = [
    ("not json", b"\xff\xfe{", "not JSON"),
    ("a list", [], "not an LLMOS chat export"),
    ("no format", {"version": 1}, "not an LLMOS chat export"),
    ("a newer version", {"format": "llmos-chat", "version": 2}, "newer LLMOS Desktop"),
    ("unknown top field", lambda d: d.update(extra=1), "extra"),
    (
        "unknown conversation field",
        lambda d: d["conversation"].update(evil=True),
        "conversation.evil",
    ),
    (
        "unknown message field",
        lambda d: d["conversation"]["messages"][0].update(x=1),
        "messages.0.x",
    ),
    (
        "a bad role",
        lambda d: d["conversation"]["messages"][1].update(role="root"),
        "messages.1.role",
    ),
    (
        "streaming status",
        lambda d: d["conversation"]["messages"][1].update(status="streaming"),
        "status",
    ),
    ("a string id", lambda d: d["conversation"]["messages"][0].update(id="1"), "messages.0.id"),
    ("a bool title_auto", lambda d: d["conversation"].update(title_auto=1), "title_auto"),
    ("a negative id", lambda d: d["conversation"]["messages"][0].update(id=-5), "messages.0.id"),
    (
        "a parent that comes later",
        lambda d: d["conversation"]["messages"][0].update(parent=10**6),
        "earlier message",
    ),
    (
        "a duplicate id",
        lambda d: d["conversation"]["messages"][2].update(
            id=d["conversation"]["messages"][1]["id"]
        ),
        "twice",
    ),
    (
        "a missing current",
        lambda d: d["conversation"].update(current=424242),
        "conversation.current",
    ),
    (
        "a bad time",
        lambda d: d["conversation"]["messages"][0].update(created_at="yesterday"),
        "ISO 8601",
    ),
    (
        "a time without zone",
        lambda d: d["conversation"].update(created_at="2024-01-01T00:00:00"),
        "UTC offset",
    ),
    ("a long title", lambda d: d["conversation"].update(title="t" * 1000), "conversation.title"),
    (
        "big meta",
        lambda d: d["conversation"]["messages"][1].update(meta={"x": "y" * 20000}),
        "meta",
    ),
    (
        "unknown option",
        lambda d: d["conversation"]["options"].update(run="rm -rf"),
        "conversation.options.run",
    ),
    (
        "unknown sampling field",
        lambda d: d["conversation"]["options"]["sampling"].update(logit_bias={}),
        "unknown sampling",
    ),
    (
        "an out of bounds temperature",
        lambda d: d["conversation"]["options"]["sampling"].update(temperature=1e9),
        "temperature",
    ),
    (
        "a huge system prompt",
        lambda d: d["conversation"]["options"].update(system_prompt="s" * 100_000),
        "system_prompt",
    ),
    ("deep nesting", "[" * 100_000 + "]" * 100_000, "not JSON"),
    ("a huge number", '{"format": "llmos-chat", "version": ' + "9" * 5000 + "}", "not JSON"),
]


@pytest.mark.parametrize(("case", "change", "words"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_a_bad_import_says_why_and_writes_nothing(
    store: ChatStore, db: Path, case: str, change: Any, words: str
) -> None:
    data = _export(store)
    if callable(change):
        change(data)
        payload: str | bytes = json.dumps(data)
    elif isinstance(change, str | bytes):
        payload = change
    else:
        payload = json.dumps(change)
    before = [(c.id, c.message_count) for c in store.conversations()]
    with _raw(db) as raw:
        messages_before = raw.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    with pytest.raises(ImportRejected) as caught:
        store.import_json(payload)
    assert words in str(caught.value), str(caught.value)
    assert len(str(caught.value)) < 400
    assert [(c.id, c.message_count) for c in store.conversations()] == before
    with _raw(db) as raw:
        assert raw.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == messages_before


def test_imports_are_bounded_in_size_and_count(
    store: ChatStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _export(store)
    monkeypatch.setattr(store_module, "MAX_IMPORT_BYTES", 1000)
    with pytest.raises(ImportRejected, match="at most 1,000"):
        store.import_json(json.dumps({**data, "pad": "x" * 2000}))
    monkeypatch.undo()
    messages = data["conversation"]["messages"]
    data["conversation"]["messages"] = [
        {**messages[0], "id": i, "parent": None}
        for i in range(store_module.MAX_IMPORT_MESSAGES + 1)
    ]
    data["conversation"]["current"] = None
    with pytest.raises(ImportRejected, match=r"conversation\.messages"):
        store.import_json(json.dumps(data))


# --- streaming replies ---------------------------------------------------------------------


def test_a_streaming_reply_is_saved_as_it_grows_and_at_its_end(store: ChatStore, db: Path) -> None:
    chat = _chat(store, "Tell me a story")
    writer = store.start_reply(chat, meta={"model": "m.gguf"}, interval_s=0.2)
    row = store.message(writer.message_id)
    assert row.status == "streaming" and row.content == "" and row.role == "assistant"
    assert store.conversation(chat).current_leaf == writer.message_id

    def stored() -> str:
        with _raw(db) as raw:
            return str(
                raw.execute(
                    "SELECT content FROM messages WHERE id = ?", (writer.message_id,)
                ).fetchone()[0]
            )

    writer.append("Once ")
    assert stored() == "", "not a write per token"
    deadline = time.monotonic() + 5
    while stored() != "Once " and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stored() == "Once ", "written within about the interval, without another token"
    writer.append("upon a time")
    final = writer.finish("complete", {"tokens_per_s": 50.0})
    assert final is not None and final.content == "Once upon a time" and final.status == "complete"
    assert final.meta == {"model": "m.gguf", "tokens_per_s": 50.0}
    assert stored() == "Once upon a time"


def test_a_reply_is_written_about_once_a_second_not_per_token(store: ChatStore, db: Path) -> None:
    chat = _chat(store, "Count")
    writer = store.start_reply(chat, interval_s=0.25)
    seen: list[str] = []
    with _raw(db) as raw:
        for i in range(60):
            writer.append(f"{i} ")
            time.sleep(0.02)
            content = raw.execute(
                "SELECT content FROM messages WHERE id = ?", (writer.message_id,)
            ).fetchone()[0]
            if not seen or seen[-1] != content:
                seen.append(content)
    writer.finish("complete")
    # 1.2 s at 0.25 s: about five writes, not sixty.
    assert 3 <= len(seen) <= 8, seen
    assert all(b.startswith(a) for a, b in itertools.pairwise(seen))


def test_a_writer_this_process_dropped_reads_as_incomplete(store: ChatStore) -> None:
    chat = _chat(store, "hi")
    writer = store.start_reply(chat)
    writer.append("partial")
    assert store.message(writer.message_id).status == "streaming"
    writer.abandon(flush=True)
    message = store.message(writer.message_id)
    assert message.status == "incomplete" and message.content == "partial"


def test_continue_appends_to_the_same_message(store: ChatStore) -> None:
    chat = _chat(store, "hi")
    first = store.start_reply(chat)
    first.append("Hello")
    stored = first.finish("incomplete", {"stopped_by": "max_tokens"})
    assert stored is not None
    writer = store.resume_reply(stored.id)
    assert store.message(stored.id).status == "streaming"
    with pytest.raises(ChatStoreError, match="being written"):
        store.resume_reply(stored.id)
    writer.append(", world")
    done = writer.finish("complete", {"stopped_by": "stop"})
    assert done is not None and done.content == "Hello, world" and done.meta["stopped_by"] == "stop"
    with pytest.raises(ChatStoreError, match="assistant"):
        store.resume_reply(store.thread(chat)[0].id)


def _child(db: Path, code: str) -> subprocess.Popen[str]:
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from llmos_desktop.core.chat.store import ChatStore
        store = ChatStore(Path({str(db)!r}))
        """
    ) + textwrap.dedent(code)
    return subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_a_reply_of_a_live_process_is_streaming_and_of_a_killed_one_incomplete(
    store: ChatStore, db: Path
) -> None:
    chat = _chat(store, "hi")
    with _child(
        db,
        f"""
        writer = store.start_reply({chat}, interval_s=0.05)
        writer.append("half a repl")
        writer.flush()
        print(writer.message_id, flush=True)
        sys.stdin.readline()
        """,
    ) as child:
        try:
            assert child.stdout is not None
            message_id = int(child.stdout.readline())
            live = store.message(message_id)
            assert live.status == "streaming", "another live process is writing it"
            with ChatStore(db) as reopened:  # an open while it writes must not cut it off
                assert reopened.message(message_id).status == "streaming"
        finally:
            child.send_signal(signal.SIGKILL)
    dead = store.message(message_id)
    assert dead.status == "incomplete" and dead.content == "half a repl"
    with _raw(db) as raw:
        assert (
            raw.execute("SELECT status FROM messages WHERE id = ?", (message_id,)).fetchone()[0]
            == "streaming"
        )
    with ChatStore(db):  # the next open writes it down
        pass
    with _raw(db) as raw:
        assert raw.execute(
            "SELECT status, writer FROM messages WHERE id = ?", (message_id,)
        ).fetchone() == (
            "incomplete",
            None,
        )


def test_a_writer_with_a_reused_pid_is_not_taken_for_alive(store: ChatStore, db: Path) -> None:
    chat = _chat(store, "hi")
    writer = store.start_reply(chat)
    writer.abandon(flush=True)
    me = json.loads(store_module._this_writer())
    for who in (
        [me[0], os.getpid(), me[2] - 1000.0],  # this pid, but another process's start time
        [me[0], 2**22 + 12345, me[2]],  # no such process
        "not json",
    ):
        with _raw(db) as raw:
            raw.execute(
                "UPDATE messages SET status = 'streaming', writer = ? WHERE id = ?",
                (who if isinstance(who, str) else json.dumps(who), writer.message_id),
            )
        assert store.message(writer.message_id).status == "incomplete", who


# --- two writers -----------------------------------------------------------------------------


def test_two_processes_writing_at_once_lose_nothing(store: ChatStore, db: Path) -> None:
    chats = [store.create_conversation().id, store.create_conversation().id]
    code = """
        chat = int(sys.argv[1])
        sys.stdin.readline()
        for i in range(150):
            store.add_message(chat, "user", f"message {i}")
            if i % 25 == 0:
                writer = store.start_reply(chat, interval_s=0.01)
                for j in range(20):
                    writer.append(f"{j},")
                    time.sleep(0.001)
                writer.finish("complete")
        print("done", flush=True)
        """
    children = []
    for chat in chats:
        script = textwrap.dedent(
            f"""
            import sys, time
            from pathlib import Path
            from llmos_desktop.core.chat.store import ChatStore
            store = ChatStore(Path({str(db)!r}))
            """
        ) + textwrap.dedent(code)
        children.append(
            subprocess.Popen(
                [sys.executable, "-c", script, str(chat)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    time.sleep(1.0)  # both have opened the store
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    # This process writes at the same time, from two threads.
    extra = store.create_conversation().id

    def write(n: int) -> None:
        for i in range(40):
            store.add_message(extra, "user", f"thread {n} {i}")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        assert out.strip() == "done"
    for chat in chats:
        thread_ = store.thread(chat)
        users = [m.content for m in thread_ if m.role == "user"]
        assert users == [f"message {i}" for i in range(150)]
        replies = [m for m in thread_ if m.role == "assistant"]
        assert len(replies) == 6
        assert all(r.content == "".join(f"{j}," for j in range(20)) for r in replies)
        assert all(r.status == "complete" for r in replies)
    assert store.conversation(extra).message_count == 80
    assert store.integrity_check() == ["ok"]


def test_a_writer_waits_for_another_process_s_lock(db: Path) -> None:
    with ChatStore(db) as store:
        chat = _chat(store, "hi")
        holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        timer = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
        timer.start()
        started = time.monotonic()
        store.add_message(chat, "assistant", "waited")
        assert time.monotonic() - started >= 0.4
        timer.join()
        holder.close()
        assert store.thread(chat)[-1].content == "waited"


def test_a_lock_held_too_long_is_a_clear_busy_error(db: Path) -> None:
    with ChatStore(db, busy_timeout_s=0.2) as store:
        chat = _chat(store, "hi")
        holder = _raw(db)
        holder.isolation_level = None
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(ChatStoreBusy, match="another program kept the chats locked"):
                store.add_message(chat, "assistant", "no")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert [m.content for m in store.thread(chat)] == ["hi"]


# --- schema versions ---------------------------------------------------------------------

# Schema version 1, as it shipped (a frozen copy: MIGRATIONS[0] must never change).
SCHEMA_V1 = [
    """CREATE TABLE conversations (
        id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL DEFAULT '',
        title_auto INTEGER NOT NULL DEFAULT 1, created_at REAL NOT NULL,
        updated_at REAL NOT NULL, deleted_at REAL, current_leaf INTEGER,
        options TEXT NOT NULL DEFAULT '{}')""",
    "CREATE INDEX conversations_by_activity ON conversations (updated_at)",
    """CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        parent_id INTEGER REFERENCES messages (id),
        role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'complete'
            CHECK (status IN ('streaming', 'complete', 'incomplete')),
        created_at REAL NOT NULL, updated_at REAL NOT NULL, meta TEXT NOT NULL DEFAULT '{}')""",
    "CREATE INDEX messages_by_conversation ON messages (conversation_id)",
    "CREATE INDEX messages_by_parent ON messages (parent_id)",
]


def test_a_version_1_file_is_migrated_and_keeps_its_chats(db: Path) -> None:
    db.parent.mkdir(parents=True)
    with _raw(db) as raw:
        raw.execute("PRAGMA journal_mode = WAL")
        for statement in SCHEMA_V1:
            raw.execute(statement)
        raw.execute(
            "INSERT INTO conversations (title, title_auto, created_at, updated_at, current_leaf, "
            "options) VALUES ('Old chat', 0, 1.0, 2.0, 2, '{\"system_prompt\": \"old\"}')"
        )
        raw.execute(
            "INSERT INTO messages (conversation_id, parent_id, role, content, created_at, updated_at) "
            "VALUES (1, NULL, 'user', 'old question', 1.0, 1.0), (1, 1, 'assistant', 'old answer', 2.0, 2.0)"
        )
        # A reply version 1 left streaming (it had no writer column): incomplete now.
        raw.execute(
            "INSERT INTO messages (conversation_id, parent_id, role, content, status, created_at, "
            "updated_at) VALUES (1, 1, 'assistant', 'cut', 'streaming', 3.0, 3.0)"
        )
        raw.execute("PRAGMA user_version = 1")
    with ChatStore(db) as store:
        old = store.conversation(1)
        assert old.title == "Old chat" and not old.title_auto
        assert [m.content for m in store.thread(1)] == ["old question", "old answer"]
        assert store.options(1).system_prompt == "old"
        assert store.message(3).status == "incomplete"
        store.save_preset("new in version 2", ChatOptions())
        writer = store.start_reply(1)
        writer.finish("complete")
    with _raw(db) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        columns = [row[1] for row in raw.execute("PRAGMA table_info(messages)")]
    assert "writer" in columns


def test_a_file_from_a_newer_version_is_refused_and_left_alone(db: Path) -> None:
    with ChatStore(db) as store:
        _chat(store, "keep")
    with _raw(db) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    before = db.read_bytes()
    with pytest.raises(NewerSchemaError, match="newer version of LLMOS Desktop"):
        ChatStore(db)
    assert db.read_bytes() == before
    assert [p.name for p in db.parent.iterdir() if "damaged" in p.name] == []


# --- damaged files ---------------------------------------------------------------------------


def _filled(db: Path, chats: int = 40) -> None:
    with ChatStore(db) as store:
        for i in range(chats):
            _chat(store, f"question {i} " + "x" * 500, f"answer {i} " + "y" * 2000)


def _page_size(db: Path) -> int:
    with _raw(db) as raw:
        return int(raw.execute("PRAGMA page_size").fetchone()[0])


def _truncate(db: Path) -> None:
    size = db.stat().st_size
    with db.open("r+b") as handle:
        handle.truncate(size // 2)


def _garbage_page(db: Path, page: int) -> None:
    size = _page_size(db)
    with db.open("r+b") as handle:
        handle.seek(size * (page - 1))
        handle.write(os.urandom(size))


def _middle_page(db: Path) -> None:
    _garbage_page(db, db.stat().st_size // _page_size(db) // 2)


def _not_a_database(db: Path) -> None:
    db.write_bytes(b"<html>this is a saved web page, not SQLite</html>" * 100)


def _foreign_database(db: Path) -> None:
    db.unlink()
    with _raw(db) as raw:
        raw.execute("CREATE TABLE photos (id INTEGER, blob BLOB)")


@pytest.mark.parametrize(
    "damage",
    [_truncate, _middle_page, lambda db: _garbage_page(db, 1), _not_a_database, _foreign_database],
    ids=[
        "truncated",
        "garbage-page",
        "garbage-first-page",
        "not-a-database",
        "another-app-s-database",
    ],
)
def test_a_damaged_file_is_moved_aside_reported_and_a_new_one_works(db: Path, damage: Any) -> None:
    _filled(db)
    damage(db)
    damaged_bytes = db.read_bytes()
    Path(f"{db}-wal").write_bytes(b"old wal frames")  # must go aside with it
    store = ChatStore(db)
    try:
        assert store.recovered_from is not None, "the damage was noticed"
        assert store.damage
        aside = store.recovered_from
        assert aside.parent == db.parent and "damaged" in aside.name and aside.name.endswith(".db")
        assert aside.read_bytes() == damaged_bytes, "kept as it was, never emptied"
        assert Path(f"{aside}-wal").read_bytes() == b"old wal frames"
        # The new file works.
        assert store.conversations() == []
        chat = _chat(store, "a fresh start")
        assert [m.content for m in store.thread(chat)] == ["a fresh start"]
        assert store.integrity_check() == ["ok"]
    finally:
        store.close()
    with ChatStore(db) as again:
        assert again.recovered_from is None, "reported once"
        assert len(again.conversations()) == 1


def test_two_processes_opening_a_damaged_file_at_once_move_it_aside_once(db: Path) -> None:
    _filled(db, chats=5)
    _not_a_database(db)
    code = """
        chat = store.create_conversation().id
        store.add_message(chat, "user", "from " + sys.argv[1])
        print(store.recovered_from is not None, flush=True)
        """
    children = []
    for name in ("a", "b"):
        script = textwrap.dedent(
            f"""
            import sys
            from pathlib import Path
            from llmos_desktop.core.chat.store import ChatStore
            store = ChatStore(Path({str(db)!r}))
            """
        ) + textwrap.dedent(code)
        children.append(
            subprocess.Popen(
                [sys.executable, "-c", script, name], stdout=subprocess.PIPE, text=True
            )
        )
    reports = [child.communicate(timeout=60)[0].strip() for child in children]
    assert sorted(reports) == ["False", "True"], "one moved it aside, the other used the new file"
    assert (
        len([p for p in db.parent.iterdir() if p.name.endswith(".db") and "damaged" in p.name]) == 1
    )
    with ChatStore(db) as store:
        texts = sorted(store.thread(c.id)[0].content for c in store.conversations())
    assert texts == ["from a", "from b"], "neither wrote into a file that was moved away"


def test_a_closed_store_says_so(db: Path) -> None:
    store = ChatStore(db)
    store.close()
    with pytest.raises(ChatStoreError, match="closed"):
        store.conversations()


def test_an_in_memory_store_works_like_a_file(tmp_path: Path) -> None:
    with ChatStore.in_memory() as store:
        chat = _chat(store, "hi", "hello")
        assert [m.content for m in store.thread(chat)] == ["hi", "hello"]
        assert store.path is None
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_cannot_hold_the_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data folder should be", encoding="utf-8")
    with pytest.raises(ChatStoreError, match="cannot be opened"):
        ChatStore(blocker / CHATS_FILE_NAME)
    assert blocker.read_text(encoding="utf-8") == "a file where the data folder should be"
