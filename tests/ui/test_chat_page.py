"""The chat page as a user drives it: the conversation list, sending and streaming, Stop,
Continue, Regenerate, edit and resend, versions, per-chat settings, presets, exports,
the keyboard, a dead engine and bad model files.

Everything is real: the window, a real ``chats.db`` in LLMOS_HOME, and for the tests
marked ``model`` the real engine process. Those share one window per module that
starts as a fresh install (no settings, no chats): its first Send loads the starter
model (SmolLM2-135M-Instruct, ``chat_model_path``) by itself. Gemma (``model_path``) is
the second model a chat switches to.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QFileDialog
from pytestqt.qtbot import QtBot

from llmos_desktop.app import build_window, close_window
from llmos_desktop.core.chat.options import ChatOptions
from llmos_desktop.core.chat.store import CHATS_FILE_NAME, ChatStore
from llmos_desktop.core.engine.contract import LoadOptions, SamplingOptions
from llmos_desktop.core.models.starter import STARTER_LABEL
from llmos_desktop.core.paths import app_paths
from llmos_desktop.core.settings import Settings, load_settings, save_settings
from llmos_desktop.ui.chat.page import ChatPage
from llmos_desktop.ui.chat_page import STARTER_CHOICE
from llmos_desktop.ui.main_window import MainWindow
from llmos_desktop.ui.status_bar import EngineState
from llmos_desktop.ui.widgets.chat_transcript import (
    MessageAction,
    MessageRole,
    MessageStatus,
    StopReason,
    TranscriptMessage,
)
from tests.ui.conftest import (
    StallWatch,
    closed_at_the_end,
    engine_children,
    run_on_loop,
    spin_until,
)

# --- helpers ---------------------------------------------------------------------------


def wait_ready(qtbot: QtBot, page: ChatPage) -> None:
    qtbot.waitUntil(lambda: page.is_ready, timeout=10_000)


def shown(page: ChatPage) -> list[tuple[str, str]]:
    return [(m.role.value, m.text) for m in page.transcript.messages()]


def last(page: ChatPage, role: MessageRole) -> TranscriptMessage:
    found = [m for m in page.transcript.messages() if m.role is role]
    assert found, f"no {role.value} message is shown"
    return found[-1]


def send(qtbot: QtBot, page: ChatPage, text: str, timeout: int = 90_000) -> None:
    """Type ``text`` and press Enter, as a user does; wait for the reply to end."""
    page.input.setFocus()
    page.input.setPlainText(text)
    qtbot.keyClick(page.input, Qt.Key.Key_Return)
    assert page.replying, page.banner.text()
    qtbot.waitUntil(lambda: not page.busy, timeout=timeout)


def click_action(qtbot: QtBot, page: ChatPage, message_id: str, action: MessageAction) -> None:
    page.transcript.scroll_to_bottom()
    qtbot.waitUntil(lambda: page.transcript.card(message_id) is not None, timeout=5_000)
    card = page.transcript.card(message_id)
    assert card is not None
    button = card.action_buttons.get(action) or (
        card.previous_button if action is MessageAction.PREVIOUS_VERSION else card.next_button
    )
    assert button is not None and button.isVisible() and button.isEnabled(), action
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def state_of(window: MainWindow) -> EngineState:
    return window.status_bar.state


def store_of(window: MainWindow) -> ChatStore:
    store = window.chat_page.store
    assert store is not None
    return store


def file_dialog(qtbot: QtBot, page: ChatPage) -> QFileDialog:
    def visible() -> list[QFileDialog]:
        dialogs: list[QFileDialog] = list(page.findChildren(QFileDialog))
        return [dialog for dialog in dialogs if dialog.isVisible()]

    qtbot.waitUntil(lambda: bool(visible()))
    return visible()[0]


@pytest.fixture
def window(qtbot: QtBot, qasync_loop: asyncio.AbstractEventLoop) -> Iterator[MainWindow]:
    """A window as the app builds it (LLMOS_HOME's folders), its chats open."""
    made = build_window()
    made.show()
    try:
        wait_ready(qtbot, made.chat_page)
        yield made
    finally:
        # Closed here, not by qtbot, which deletes its widgets before fixtures end.
        run_on_loop(close_window(made), 30)
        made.close()
        made.deleteLater()


def prefilled_store(home: Path) -> tuple[Path, dict[str, int]]:
    """A chats.db with three conversations of different ages, as a user would have."""
    path = app_paths({"LLMOS_HOME": str(home)}).ensure().data / CHATS_FILE_NAME
    ids: dict[str, int] = {}
    with ChatStore(path) as store:
        for name, user, reply in (
            ("soup", "How do I make tomato soup?", "Simmer tomatoes with onion."),
            ("rust", "What is a borrow checker?", "It checks references in Rust."),
            ("trip", "Plan a trip to Lisbon", "Day 1: Alfama. Day 2: Belém."),
        ):
            conversation = store.create_conversation()
            store.add_message(conversation.id, "user", user)
            store.add_message(
                conversation.id,
                "assistant",
                reply,
                meta={
                    "model": "tiny.gguf",
                    "prompt_tokens": 300,
                    "completion_tokens": 100,
                    "n_ctx": 2048,
                    "ttft_s": 0.25,
                    "tokens_per_s": 42.0,
                    "outcome": "done",
                },
            )
            ids[name] = conversation.id
            time.sleep(0.01)  # distinct activity times: "trip" is the newest
    return path, ids


# --- the conversation list, without an engine ----------------------------------------------


def test_the_list_opens_searches_renames_and_deletes_with_undo(
    qtbot: QtBot, qasync_loop: asyncio.AbstractEventLoop, llmos_home: Path
) -> None:
    path, ids = prefilled_store(llmos_home)
    window = build_window()
    qtbot.addWidget(window)
    window.show()
    page = window.chat_page
    sidebar = page.sidebar
    try:
        wait_ready(qtbot, page)
        # Newest activity first; a chat gets its title from its first message.
        assert sidebar.titles() == [
            "Plan a trip to Lisbon",
            "What is a borrow checker?",
            "How do I make tomato soup?",
        ]
        assert page.open_chat_id is None  # nothing was open at the last close
        assert page.transcript.messages() == []
        assert page.empty_label.isVisible()

        # A click opens a chat: its thread, its reply's figures, the context meter.
        sidebar.list.setCurrentRow(1)
        qtbot.waitUntil(lambda: page.open_chat_id == ids["rust"], timeout=5_000)
        assert shown(page) == [
            ("user", "What is a borrow checker?"),
            ("assistant", "It checks references in Rust."),
        ]
        reply = last(page, MessageRole.ASSISTANT)
        assert (reply.author, reply.tokens_per_second, reply.token_count) == ("tiny", 42, 100)
        card = page.transcript.card(reply.id)
        assert card is not None and "42.0 tokens/s" in card.meta_label.text()
        assert "0.25 s to first token" in card.meta_label.text()
        assert page.context_label.text() == "Context: 400 of 2,048 tokens (20%)"
        assert page.context_meter.value() == 400 and page.context_meter.maximum() == 2048
        assert window.settings.last_chat_id == str(ids["rust"])

        # Ctrl+F searches titles and message text (here: a reply's word).
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow)
        qtbot.keyClick(page.input, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
        assert QGuiApplication.focusObject() is sidebar.search_edit
        qtbot.keyClicks(sidebar.search_edit, "alfama")  # in a reply, not a title
        qtbot.waitUntil(lambda: sidebar.titles() == ["Plan a trip to Lisbon"], timeout=5_000)
        sidebar.search_edit.clear()
        qtbot.waitUntil(lambda: len(sidebar.titles()) == 3, timeout=5_000)

        # F2 renames in place; the store keeps the new title.
        sidebar.list.setFocus()
        sidebar.list.setCurrentRow(sidebar.conversation_ids().index(ids["rust"]))
        qtbot.keyClick(sidebar.list, Qt.Key.Key_F2)
        editor = QApplication.focusWidget()
        assert editor is not None and editor is not sidebar.list
        qtbot.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
        qtbot.keyClicks(editor, "Rust notes")
        qtbot.keyClick(editor, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: "Rust notes" in sidebar.titles(), timeout=5_000)
        with ChatStore(path) as other:  # what another process (llmos chat) reads
            assert other.conversation(ids["rust"]).title == "Rust notes"

        # Delete (the open chat) asks nothing, and offers Undo for a while.
        sidebar.list.setFocus()
        qtbot.keyClick(sidebar.list, Qt.Key.Key_Delete)
        qtbot.waitUntil(lambda: "Rust notes" not in sidebar.titles(), timeout=5_000)
        assert sidebar.undo_strip.isVisible()
        assert "Rust notes" in sidebar.undo_strip.label.text()
        assert page.open_chat_id is None and page.transcript.messages() == []
        qtbot.mouseClick(sidebar.undo_strip.undo_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: page.open_chat_id == ids["rust"], timeout=5_000)
        assert "Rust notes" in sidebar.titles()
        assert not sidebar.undo_strip.isVisible()

        # Ctrl+N: a new, empty chat (stored at its first message).
        qtbot.keyClick(page.input, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
        assert page.open_chat_id is None and page.transcript.messages() == []
        assert sidebar.current_id is None
        assert window.settings.last_chat_id is None
    finally:
        run_on_loop(close_window(window), 30)


def test_the_last_open_chat_and_its_incomplete_reply_come_back_after_a_restart(
    qtbot: QtBot, qasync_loop: asyncio.AbstractEventLoop, llmos_home: Path
) -> None:
    path, ids = prefilled_store(llmos_home)
    with ChatStore(path) as store:
        # A reply that never finished (the app was killed while it streamed).
        writer = store.start_reply(ids["soup"])
        writer.append("Chop the tomatoes and")
        writer.abandon(flush=True)
    settings = Settings(last_chat_id=str(ids["soup"]))
    save_settings(app_paths().ensure().settings_file, settings)
    window = build_window()
    qtbot.addWidget(window)
    window.show()
    page = window.chat_page
    try:
        wait_ready(qtbot, page)
        assert page.open_chat_id == ids["soup"]
        assert page.sidebar.current_id == ids["soup"]
        reply = last(page, MessageRole.ASSISTANT)
        assert reply.text == "Chop the tomatoes and"
        assert reply.status is MessageStatus.INCOMPLETE
        card = page.transcript.card(reply.id)
        assert card is not None
        for action in (MessageAction.CONTINUE, MessageAction.REGENERATE):
            assert card.action_buttons[action].isVisible(), action
        assert "incomplete" in card.meta_label.text()
        # The complete reply before it offers no Continue.
        first_reply = next(m for m in page.transcript.messages() if m.role is MessageRole.ASSISTANT)
        first_card = page.transcript.card(first_reply.id)
        assert first_card is not None
        assert not first_card.action_buttons[MessageAction.CONTINUE].isVisible()
    finally:
        run_on_loop(close_window(window), 30)


def test_versions_delete_notes_and_cut_replies_from_the_store(
    window: MainWindow, qtbot: QtBot
) -> None:
    """What the transcript shows of stored branches and of how replies ended."""
    page = window.chat_page
    store = store_of(window)
    conversation = store.create_conversation()
    user = store.add_message(conversation.id, "user", "Name a colour")
    first = store.add_message(conversation.id, "assistant", "Red")
    second = store.add_message(
        conversation.id,
        "assistant",
        "Blue, and",
        parent=user.id,
        status="incomplete",
        meta={"stopped_by": "max_tokens", "dropped_messages": 3, "n_ctx": 256},
    )
    task = page.open_chat(conversation.id)
    assert task is not None
    qtbot.waitUntil(task.done, timeout=5_000)
    reply = last(page, MessageRole.ASSISTANT)
    assert (reply.id, reply.version, reply.versions) == (str(second.id), 2, 2)
    assert reply.stop_reason is StopReason.MAX_TOKENS
    card = page.transcript.card(reply.id)
    assert card is not None and "stopped at max tokens" in card.meta_label.text()
    # Dropped turns are said, after the reply whose prompt left them out.
    assert shown(page)[-1][0] == "note"
    assert "3 oldest message(s) were left out" in shown(page)[-1][1]
    assert "256 tokens" in shown(page)[-1][1]

    click_action(qtbot, page, reply.id, MessageAction.PREVIOUS_VERSION)
    qtbot.waitUntil(lambda: last(page, MessageRole.ASSISTANT).text == "Red", timeout=5_000)
    assert last(page, MessageRole.ASSISTANT).version == 1
    assert store.conversation(conversation.id).current_leaf == first.id
    click_action(qtbot, page, str(first.id), MessageAction.NEXT_VERSION)
    qtbot.waitUntil(lambda: last(page, MessageRole.ASSISTANT).text == "Blue, and", timeout=5_000)

    click_action(qtbot, page, str(second.id), MessageAction.DELETE)
    qtbot.waitUntil(lambda: last(page, MessageRole.ASSISTANT).text == "Red", timeout=5_000)
    assert last(page, MessageRole.ASSISTANT).versions == 1
    assert [m.id for m in store.thread(conversation.id)] == [user.id, first.id]


def test_export_markdown_and_json_then_import_it_back(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    page = window.chat_page
    store = store_of(window)
    conversation = store.create_conversation()
    store.add_message(conversation.id, "user", "Say 你好 in code")
    store.add_message(conversation.id, "assistant", "```python\nprint('你好')\n```")
    run_on_loop(page._refresh_list(), 10)
    task = page.open_chat(conversation.id)
    assert task is not None
    qtbot.waitUntil(task.done, timeout=5_000)

    page.sidebar.export_markdown_action.trigger()
    dialog = file_dialog(qtbot, page)
    assert dialog.acceptMode() == QFileDialog.AcceptMode.AcceptSave
    markdown = tmp_path / "chat.md"
    dialog.fileSelected.emit(str(markdown))
    dialog.close()
    # The banner says where it went once the write is done (the file exists a moment
    # before the page hears back from its worker thread).
    qtbot.waitUntil(lambda: "chat.md" in page.banner.text(), timeout=5_000)
    text = markdown.read_text("utf-8")
    assert "# Say 你好 in code" in text and "print('你好')" in text

    page.sidebar.export_json_action.trigger()
    dialog = file_dialog(qtbot, page)
    exported = tmp_path / "chat.json"
    dialog.fileSelected.emit(str(exported))
    dialog.close()
    qtbot.waitUntil(exported.exists, timeout=5_000)
    assert json.loads(exported.read_text("utf-8"))["format"] == "llmos-chat"

    before = len(page.sidebar.titles())
    qtbot.mouseClick(page.sidebar.import_button, Qt.MouseButton.LeftButton)
    dialog = file_dialog(qtbot, page)
    dialog.fileSelected.emit(str(exported))
    dialog.close()
    qtbot.waitUntil(lambda: len(page.sidebar.titles()) == before + 1, timeout=5_000)
    qtbot.waitUntil(lambda: page.open_chat_id not in (None, conversation.id), timeout=5_000)
    assert shown(page) == [
        ("user", "Say 你好 in code"),
        ("assistant", "```python\nprint('你好')\n```"),
    ]

    # A file that is not an export is refused with a reason; nothing is added.
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    qtbot.mouseClick(page.sidebar.import_button, Qt.MouseButton.LeftButton)
    dialog = file_dialog(qtbot, page)
    dialog.fileSelected.emit(str(bad))
    dialog.close()
    qtbot.waitUntil(lambda: "bad.json could not be imported" in page.banner.text())
    assert "not an LLMOS chat export" in page.banner.text()
    assert len(page.sidebar.titles()) == before + 1


def test_a_two_thousand_message_chat_opens_fast_without_stalling(
    window: MainWindow, qtbot: QtBot
) -> None:
    page = window.chat_page
    store = store_of(window)
    conversation = store.create_conversation(title="Long")
    for i in range(1000):
        store.add_message(conversation.id, "user", f"question {i}")
        store.add_message(
            conversation.id, "assistant", f"Answer **{i}**:\n\n```python\nprint({i})\n```"
        )
    started = time.perf_counter()
    with StallWatch() as stalls:
        task = page.open_chat(conversation.id)
        assert task is not None
        qtbot.waitUntil(task.done, timeout=10_000)
        opened = time.perf_counter() - started
        qtbot.waitUntil(lambda: not page.transcript.opening, timeout=10_000)
    print(f"2,000 messages: open {opened * 1000:.0f} ms, stall {stalls.longest * 1000:.0f} ms")
    assert len(page.transcript.messages()) == 2000
    assert page.transcript.card_count < 200  # the rest get widgets when scrolled to
    assert opened < 1.5  # the target is 500 ms; shared CI cores get room
    assert stalls.longest < 0.25  # the target is 50 ms (benchmarks/ui_chat.py)


# --- keys, without an engine ----------------------------------------------------------------


def test_enter_sends_or_adds_a_line_as_the_settings_say(window: MainWindow, qtbot: QtBot) -> None:
    page = window.chat_page
    submitted: list[bool] = []
    page.input.submitted.connect(lambda: submitted.append(True))
    qtbot.keyClicks(page.input, "one")
    qtbot.keyClick(page.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(page.input, "two")
    assert page.input.toPlainText() == "one\ntwo"
    assert submitted == []
    # Switched on the Settings page: Enter adds a line, Ctrl+Enter sends, at once.
    window.show_page(window.SETTINGS_PAGE)
    window.settings_page.enter_sends_check.setChecked(False)
    window.show_page(window.CHAT_PAGE)
    assert not page.input.enter_sends
    assert "Ctrl+Enter sends" in page.input.placeholderText()
    qtbot.keyClick(page.input, Qt.Key.Key_Return)
    assert page.input.toPlainText() == "one\ntwo\n"
    assert submitted == []
    page.input.clear()  # nothing to send: nothing is sent
    qtbot.keyClick(page.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert submitted == [True]
    window.settings_page.enter_sends_check.setChecked(True)
    assert page.input.enter_sends


def test_up_in_an_empty_box_edits_the_last_message_and_esc_cancels(
    window: MainWindow, qtbot: QtBot
) -> None:
    page = window.chat_page
    store = store_of(window)
    conversation = store.create_conversation()
    store.add_message(conversation.id, "user", "first question")
    store.add_message(conversation.id, "assistant", "an answer")
    task = page.open_chat(conversation.id)
    assert task is not None
    qtbot.waitUntil(task.done)
    page.input.setFocus()
    qtbot.keyClick(page.input, Qt.Key.Key_Up)
    assert page.input.toPlainText() == "first question"
    assert page.editing_id is not None and page.edit_label.isVisible()
    qtbot.keyClick(page.input, Qt.Key.Key_Escape)
    assert page.editing_id is None and page.input.toPlainText() == ""
    assert not page.edit_label.isVisible()


def test_bad_file_shows_a_readable_banner(window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    bad = tmp_path / "<b>x<img src=y>.gguf"
    bad.write_bytes(os.urandom(100))
    page = window.chat_page
    task = page.load_model(bad)
    assert task is not None
    qtbot.waitUntil(task.done, timeout=10_000)
    message = page.banner.text()
    assert "x<img src=y>.gguf" in message or "not a GGUF" in message, message
    assert "Choose another model" in message  # what to do next
    assert "Traceback" not in message
    assert page.banner.label.textFormat() == Qt.TextFormat.PlainText
    assert not page.model_ready
    assert page.load_button.isEnabled()
    assert window.engine.pid is None  # rejected before the engine started
    assert window.status_bar.state == EngineState.NO_MODEL


def test_the_last_model_is_offered_at_the_next_start(
    qtbot: QtBot, qasync_loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    paths = app_paths().ensure()
    first, last_one = tmp_path / "first.gguf", tmp_path / "last.gguf"
    settings = Settings()
    settings.remember_model(str(first))
    settings.remember_model(str(last_one))
    save_settings(paths.settings_file, settings)
    window = build_window()  # settings read from the file, as at a start
    qtbot.addWidget(window)
    try:
        picker = window.chat_page.model_picker
        assert picker.currentData() == str(last_one)
        assert str(first) in [picker.itemData(i) for i in range(picker.count())]
    finally:
        run_on_loop(close_window(window), 30)


def test_damaged_settings_entries_do_not_stop_the_window(
    qtbot: QtBot, qasync_loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    paths = app_paths().ensure()
    good = str(tmp_path / "good.gguf")
    paths.settings_file.write_text(
        json.dumps({"schema_version": 2, "recent_models": [7, None, good], "last_model": 3})
    )
    window = build_window()
    qtbot.addWidget(window)
    try:
        picker = window.chat_page.model_picker
        assert good in [picker.itemData(i) for i in range(picker.count())]
    finally:
        run_on_loop(close_window(window), 30)


def test_a_damaged_starter_is_refused_with_a_message(
    qtbot: QtBot,
    qasync_loop: asyncio.AbstractEventLoop,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The page says what is wrong with a damaged starter file, and loads nothing.

    The installed file must stay intact, so the installation's starter is pointed at a
    damaged file in tmp_path (the one place this test stands in for the real part).
    """
    from llmos_desktop.core.models import starter
    from llmos_desktop.ui.chat import page as page_module

    damaged = tmp_path / "install" / starter.STARTER_FILE_NAME
    damaged.parent.mkdir()
    damaged.write_bytes(b"GGUF" + b"\0" * 1000)
    monkeypatch.setattr(starter, "starter_location", lambda: damaged)
    monkeypatch.setattr(page_module, "starter_location", lambda: damaged)
    window = build_window()
    qtbot.addWidget(window)
    window.show()
    try:
        page = window.chat_page
        wait_ready(qtbot, page)
        assert page.model_picker.currentData() == STARTER_CHOICE
        # A first Send tries the starter, says why it cannot, and gives the text back.
        page.input.setPlainText("Hello")
        qtbot.mouseClick(page.send_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not page.busy, timeout=30_000)
        assert "The starter model was not loaded" in page.banner.text()
        assert str(damaged) in page.banner.text()
        assert page.input.toPlainText() == "Hello"
        assert page.transcript.messages() == []
        assert not page.model_ready
        assert not page.starter_note.isVisible()
        assert window.engine.pid is None  # refused before any engine started
    finally:
        run_on_loop(close_window(window), 30)


# --- the real engine: one fresh-install window for the module --------------------------------


@pytest.fixture(scope="module")
def starter_window(
    qasync_loop: asyncio.AbstractEventLoop, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MainWindow]:
    """A fresh install: no settings file, no chats, nothing loaded (the first test's Send
    loads the starter); two threads, as the test machine has two cores."""
    engines_before = {p.pid for p in engine_children()}
    home = tmp_path_factory.mktemp("chat-home")
    paths = app_paths({"LLMOS_HOME": str(home)}).ensure()
    window = build_window(paths=paths, settings=Settings(load=LoadOptions(n_threads=2)))
    window.show()
    with closed_at_the_end(window, engines_before):
        spin_until(lambda: window.chat_page.is_ready, 10, "the chats to open")
        yield window


@pytest.fixture
def chat(starter_window: MainWindow, qtbot: QtBot) -> MainWindow:
    """The shared window with a new chat whose replies are short and repeatable."""
    page = starter_window.chat_page
    qtbot.waitUntil(lambda: not page.busy, timeout=30_000)
    assert page.new_chat()
    page.banner.clear()
    page.session.sampling = SamplingOptions(max_tokens=24, temperature=0.0, seed=1)
    return starter_window


@pytest.mark.model
def test_a_fresh_install_chats_at_the_first_send(
    chat: MainWindow, qtbot: QtBot, chat_model_path: Path
) -> None:
    """No settings, no chats, no model: Send loads the starter (with progress) and replies."""
    page = chat.chat_page
    assert chat.engine.loaded is None
    assert page.model_picker.currentData() == STARTER_CHOICE
    assert page.model_picker.currentText() == STARTER_LABEL
    assert page.send_button.isEnabled()
    states: list[tuple[EngineState, str]] = []
    page.engine_state_changed.connect(
        lambda s, _m, _p: states.append((s, chat.engine_label.text()))
    )
    progress: list[int] = []
    page.progress_bar.valueChanged.connect(progress.append)

    page.input.setPlainText("Which city is the capital of France?")
    with StallWatch() as stalls:
        qtbot.mouseClick(page.send_button, Qt.MouseButton.LeftButton)
        assert not page.findChildren(QFileDialog), "no file dialog on a fresh install"
        qtbot.waitUntil(lambda: not page.busy, timeout=120_000)
    print(f"longest stall while loading and replying: {stalls.longest * 1000:.0f} ms")
    assert stalls.longest < 0.25  # the design's bound is 50 ms; shared CI cores are noisy
    assert page.banner.text() == ""
    assert chat.engine.loaded is not None
    assert Path(chat.engine.loaded.path).resolve() == chat_model_path.resolve()
    # The load was visible: progress, and the status bar's loading state with a percent.
    assert progress and max(progress) == 100
    loading = [text for state, text in states if state == EngineState.LOADING]
    assert any(text.endswith("%") for text in loading), loading
    assert [s for s, _ in states].index(EngineState.LOADING) < [s for s, _ in states].index(
        EngineState.REPLYING
    )
    assert chat.status_bar.state == EngineState.READY
    assert chat.status_bar.backend_label.text() == "CPU"
    assert chat.status_bar.context_label.text() == "Context 4,096"
    assert "tokens/s" in chat.speed_label.text()
    # Honest about what the starter is, and where a better model comes from.
    assert page.starter_note.isVisible()
    assert "very small model" in page.starter_note.text()
    assert "Models page" in page.starter_note.text()

    reply = last(page, MessageRole.ASSISTANT)
    assert "Paris" in reply.text
    assert reply.status is MessageStatus.COMPLETE
    assert reply.time_to_first_token is not None and reply.tokens_per_second
    assert reply.token_count
    card = page.transcript.card(reply.id)
    assert card is not None and "tokens/s" in card.meta_label.text()
    assert shown(page)[0] == ("user", "Which city is the capital of France?")
    assert page.input.toPlainText() == ""
    # Stored as it happened; titled by its first message; remembered for the next start.
    conversation_id = page.open_chat_id
    assert conversation_id is not None
    assert page.sidebar.titles()[0] == "Which city is the capital of France?"
    stored = store_of(chat).thread(conversation_id)
    assert [(m.role, m.content) for m in stored] == [
        ("user", "Which city is the capital of France?"),
        ("assistant", reply.text),
    ]
    assert chat.settings.last_chat_id == str(conversation_id)
    assert store_of(chat).options(conversation_id).model_path == str(chat_model_path)
    used = (stored[1].meta["prompt_tokens"] or 0) + stored[1].meta["completion_tokens"]
    assert page.context_label.text().startswith(f"Context: {used} of 4,096 tokens")
    # Used in place: nothing copied into the user's folders.
    assert sorted(chat.paths.data.rglob("*.gguf")) == []
    assert load_settings(chat.paths.settings_file).last_model == str(chat_model_path)


@pytest.mark.model
def test_stop_continue_regenerate_and_versions(chat: MainWindow, qtbot: QtBot) -> None:
    page = chat.chat_page
    page.session.sampling = SamplingOptions(max_tokens=400, temperature=0.0, seed=1)
    page.input.setPlainText("Write a long story about a dragon who learns to cook.")
    qtbot.keyClick(page.input, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: (
            page.transcript.streaming_id is not None
            and len(page.transcript.messages()[-1].text) > 40
        ),
        timeout=60_000,
    )
    assert state_of(chat) == EngineState.REPLYING
    pressed = time.monotonic()
    qtbot.keyClick(page.input, Qt.Key.Key_Escape)  # Esc stops, as the Stop button does
    qtbot.waitUntil(lambda: not page.busy, timeout=3_000)
    assert time.monotonic() - pressed < 2.0
    partial = last(page, MessageRole.ASSISTANT)
    qtbot.wait(500)
    assert last(page, MessageRole.ASSISTANT).text == partial.text  # nothing more arrived
    assert partial.status is MessageStatus.INCOMPLETE
    assert partial.stop_reason is StopReason.STOPPED
    assert len(partial.text) > 40
    assert store_of(chat).message(int(partial.id)).content == partial.text
    assert state_of(chat) == EngineState.READY

    # Continue goes on in the same message.
    page.session.sampling = SamplingOptions(max_tokens=16, temperature=0.0, seed=1)
    click_action(qtbot, page, partial.id, MessageAction.CONTINUE)
    qtbot.waitUntil(lambda: not page.busy, timeout=60_000)
    continued = last(page, MessageRole.ASSISTANT)
    assert continued.id == partial.id
    assert continued.text.startswith(partial.text) and len(continued.text) > len(partial.text)
    assert continued.stop_reason is StopReason.MAX_TOKENS  # 16 tokens: cut, and it says so
    assert continued.status is MessageStatus.INCOMPLETE

    # Regenerate: a second version; the first is kept and can be shown again.
    click_action(qtbot, page, continued.id, MessageAction.REGENERATE)
    qtbot.waitUntil(lambda: not page.busy, timeout=60_000)
    second = last(page, MessageRole.ASSISTANT)
    assert second.id != continued.id and (second.version, second.versions) == (2, 2)
    assert len([m for m in page.transcript.messages() if m.role is MessageRole.ASSISTANT]) == 1
    click_action(qtbot, page, second.id, MessageAction.PREVIOUS_VERSION)
    qtbot.waitUntil(lambda: last(page, MessageRole.ASSISTANT).id == continued.id, timeout=5_000)
    assert last(page, MessageRole.ASSISTANT).text == continued.text

    # Ctrl+Shift+C copies the last reply.
    QGuiApplication.clipboard().clear()
    qtbot.keyClick(
        page.input,
        Qt.Key.Key_C,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert QGuiApplication.clipboard().text() == continued.text


@pytest.mark.model
def test_edit_and_resend_keeps_the_old_branch(chat: MainWindow, qtbot: QtBot) -> None:
    page = chat.chat_page
    send(qtbot, page, "Name a fruit.")
    old_reply = last(page, MessageRole.ASSISTANT)
    qtbot.keyClick(page.input, Qt.Key.Key_Up)  # edits the last message
    assert page.input.toPlainText() == "Name a fruit."
    page.input.setPlainText("Name a vegetable.")
    qtbot.keyClick(page.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not page.busy, timeout=60_000)
    assert page.editing_id is None
    user = last(page, MessageRole.USER)
    assert (user.text, user.version, user.versions) == ("Name a vegetable.", 2, 2)
    assert last(page, MessageRole.ASSISTANT).id != old_reply.id
    assert len(page.transcript.messages()) == 2
    click_action(qtbot, page, user.id, MessageAction.PREVIOUS_VERSION)
    qtbot.waitUntil(lambda: last(page, MessageRole.USER).text == "Name a fruit.", timeout=5_000)
    assert last(page, MessageRole.ASSISTANT).text == old_reply.text

    # Resend: another reply to the same message; the first stays as version 1.
    click_action(qtbot, page, last(page, MessageRole.USER).id, MessageAction.RESEND)
    qtbot.waitUntil(lambda: not page.busy, timeout=60_000)
    assert (
        last(page, MessageRole.ASSISTANT).version,
        last(page, MessageRole.ASSISTANT).versions,
    ) == (
        2,
        2,
    )


@pytest.mark.model
def test_old_turns_dropped_from_a_full_context_are_told(chat: MainWindow, qtbot: QtBot) -> None:
    """A small context (the chat's own setting, from its settings panel): old turns are
    left out of the prompt, and the transcript says so."""
    page = chat.chat_page
    qtbot.mouseClick(page.options_button, Qt.MouseButton.LeftButton)
    panel = page.options_panel
    assert panel is not None and panel.isVisible()
    panel.context_spin.setValue(256)
    panel.max_tokens_spin.setValue(24)
    panel.flush()
    qtbot.waitUntil(lambda: page.session.options.n_ctx == 256, timeout=5_000)
    filler = "Here is a note about gardens, rivers, mountains and old roads. " * 6
    notes: list[TranscriptMessage] = []
    for turn in range(6):
        send(qtbot, page, f"{turn}. {filler} Reply with one word.")
        assert page.banner.text() == "", page.banner.text()
        notes = [m for m in page.transcript.messages() if m.role is MessageRole.NOTE]
        if notes:
            break
    assert chat.engine.loaded is not None and chat.engine.loaded.n_ctx == 256
    assert chat.status_bar.context_label.text() == "Context 256"
    assert notes, "no note after the context overflowed"
    assert "left out of the prompt" in notes[-1].text
    assert "of 256 tokens" in page.context_label.text()
    qtbot.mouseClick(panel.close_button, Qt.MouseButton.LeftButton)
    assert not panel.isVisible()


@pytest.mark.model
def test_chat_settings_presets_and_switching_models(
    chat: MainWindow, qtbot: QtBot, model_path: Path, chat_model_path: Path
) -> None:
    """A chat keeps its own settings and model; presets move settings between chats;
    switching a chat's model loads it, with progress."""
    page = chat.chat_page
    store = store_of(chat)
    send(qtbot, page, "Hi")
    first = page.open_chat_id
    assert first is not None
    page.options_button.setChecked(True)
    panel = page.options_panel
    assert panel is not None
    panel.system_prompt_edit.setPlainText("You answer in one short sentence.")
    panel.temperature_spin.setValue(0.3)
    panel.seed_spin.setValue(7)
    panel.flush()
    qtbot.waitUntil(lambda: store.options(first).sampling.temperature == 0.3, timeout=5_000)
    saved = store.options(first)
    assert saved.system_prompt == "You answer in one short sentence."
    assert saved.sampling.seed == 7
    # A preset from this chat.
    panel.preset_name_edit.setText("Terse")
    qtbot.mouseClick(panel.save_preset_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.preset_combo.findText("Terse") >= 0, timeout=5_000)
    assert store.presets()["Terse"].system_prompt == "You answer in one short sentence."

    # A new chat switches to Gemma with the picker: it loads with progress, and the
    # chat keeps it as its model.
    assert page.new_chat()
    assert panel.system_prompt_edit.toPlainText() == ""  # a new chat starts from defaults
    progress: list[int] = []
    page.progress_bar.valueChanged.connect(progress.append)
    task = page.load_model(model_path)
    assert task is not None
    qtbot.waitUntil(lambda: not page.busy, timeout=120_000)
    assert page.banner.text() == ""
    assert progress and max(progress) == 100
    assert not page.starter_note.isVisible()
    assert chat.status_bar.state == EngineState.READY
    assert page.session.options.model_path == str(model_path)
    # The preset, applied to it.
    panel.preset_combo.setCurrentIndex(panel.preset_combo.findText("Terse"))
    qtbot.mouseClick(panel.apply_preset_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: page.session.options.system_prompt == "You answer in one short sentence.",
        timeout=5_000,
    )
    page.session.sampling = page.session.sampling.sampling(max_tokens=8)
    send(qtbot, page, "Hello")
    second = page.open_chat_id
    assert second is not None and second != first
    assert store.options(second).system_prompt == "You answer in one short sentence."
    assert store.options(second).model_path == str(model_path)
    assert store.options(first).model_path == str(chat_model_path)  # unchanged

    # Back to the first chat: its next message loads its model, the starter, again.
    page.sidebar.list.setCurrentRow(page.sidebar.conversation_ids().index(first))
    qtbot.waitUntil(lambda: page.open_chat_id == first, timeout=5_000)
    assert panel.system_prompt_edit.toPlainText() == "You answer in one short sentence."
    assert page.model_picker.currentData() == STARTER_CHOICE
    progress.clear()
    send(qtbot, page, "Again")
    assert progress and max(progress) == 100
    assert chat.engine.loaded is not None
    assert Path(chat.engine.loaded.path).resolve() == chat_model_path.resolve()
    assert page.starter_note.isVisible()

    qtbot.mouseClick(panel.delete_preset_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.preset_combo.count() == 0, timeout=5_000)
    assert store.presets() == {}
    page.options_button.setChecked(False)


@pytest.mark.model
def test_a_refused_file_leaves_the_loaded_model_answering(
    chat: MainWindow, qtbot: QtBot, tmp_path: Path, chat_model_path: Path
) -> None:
    page = chat.chat_page
    send(qtbot, page, "Hi")  # the starter is loaded for this chat
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(200))
    qtbot.mouseClick(page.open_button, Qt.MouseButton.LeftButton)
    dialog = file_dialog(qtbot, page)
    dialog.fileSelected.emit(str(bad))
    dialog.close()
    qtbot.waitUntil(lambda: not page.busy and bool(page.banner.text()), timeout=10_000)
    assert "broken.gguf" in page.banner.text()
    assert "Choose another model" in page.banner.text()
    assert page.model_picker.currentData() == STARTER_CHOICE  # what the engine holds
    assert chat.status_bar.state == EngineState.READY
    send(qtbot, page, "Hello")
    assert page.banner.text() == ""
    assert last(page, MessageRole.ASSISTANT).text


@pytest.mark.model
def test_engine_killed_then_next_send_restarts(chat: MainWindow, qtbot: QtBot) -> None:
    page = chat.chat_page
    send(qtbot, page, "Hi")
    pid = chat.engine.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: "killed" in page.banner.text(), timeout=10_000)
    assert chat.status_bar.state == EngineState.STOPPED
    assert "restarts with the next message" in chat.engine_label.text()
    assert page.send_button.isEnabled()

    states: list[EngineState] = []
    page.engine_state_changed.connect(lambda state, _m, _p: states.append(state))
    page.input.setPlainText("Hello again")
    with StallWatch() as stalls:
        qtbot.keyClick(page.input, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: not page.busy, timeout=90_000)
    print(f"longest GUI loop stall while restarting: {stalls.longest * 1000:.0f} ms")
    assert stalls.longest < 0.25
    assert page.banner.text() == "", page.banner.text()
    assert last(page, MessageRole.ASSISTANT).text, "no reply after the restart"
    assert last(page, MessageRole.USER).text == "Hello again"
    assert chat.engine.pid not in (None, pid)
    assert EngineState.LOADING in states and states[-1] == EngineState.READY


@pytest.mark.model
def test_quick_stream_stop_cycles_keep_the_loop_alive(chat: MainWindow, qtbot: QtBot) -> None:
    page = chat.chat_page
    send(qtbot, page, "Hi")  # loaded
    page.session.sampling = SamplingOptions(max_tokens=8)
    for cycle in range(10):
        page.new_chat()
        task = page.send_message(f"Count to {cycle + 3}.")
        assert task is not None
        if cycle:  # the first is stopped before its task ever ran
            qtbot.wait(20 + 30 * (cycle % 4))  # stop during prompt evaluation and output
        page.stop_reply()
        qtbot.waitUntil(task.done, timeout=10_000)
        # Enabled once the page has heard the reply ended (a loop turn later under load).
        qtbot.waitUntil(page.send_button.isEnabled, timeout=5_000)
        assert page.transcript.streaming_id is None
        assert page.banner.text() == "", page.banner.text()
    task = page.send_message("Say hi.")
    assert task is not None
    qtbot.waitUntil(task.done, timeout=30_000)
    assert task.exception() is None
    assert page.banner.text() == ""
    assert last(page, MessageRole.ASSISTANT).text
    assert chat.engine.running
    # Every stored chat is consistent: a user turn is followed by its reply, or was taken back.
    store = store_of(chat)
    for conversation in store.conversations():
        roles = [m.role for m in store.thread(conversation.id)]
        assert roles[::2] == ["user"] * len(roles[::2]), roles
    assert store.integrity_check() == ["ok"]
    assert isinstance(page.session.options, ChatOptions)
