"""The chat on a remote engine, as a person uses it: the picker lists the local models and
then each remote engine's models ("name · model"); choosing one makes the chat use it;
a reply streams from that server; a stream that breaks keeps its text, marked
incomplete; an unknown model or an unreachable server is said in the banner and what was
typed is back in the box.

Real parts: the window built as the app builds it, the real ``EnginesService`` and
``RemoteEngine``, the chats file, and a real OpenAI-compatible HTTP server on loopback
that misbehaves on request (tests/helpers/openai_faults.py); no local model is loaded.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from llmos_desktop.core.engines.types import RemoteEngineConfig
from llmos_desktop.ui.chat.page import ChatPage, remote_choice
from llmos_desktop.ui.main_window import MainWindow
from llmos_desktop.ui.widgets.chat_transcript import MessageRole, MessageStatus
from tests.helpers.openai_faults import REPLY, FaultServer

KEY = "sk-fault-test"


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer(api_key=KEY, stall_s=5.0) as running:
        yield running


@pytest.fixture
def remote_window(fresh_window: MainWindow, qtbot: QtBot, server: FaultServer) -> MainWindow:
    engines = fresh_window.engines
    engines.add(RemoteEngineConfig(name="team", base_url=server.base_url(), timeout_s=3.0), KEY)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = int(sock.getsockname()[1])
    engines.add(
        RemoteEngineConfig(
            name="gone", base_url=f"http://127.0.0.1:{closed}/v1", connect_timeout_s=2.0
        )
    )
    page = fresh_window.chat_page
    qtbot.waitUntil(lambda: page.is_ready, timeout=10_000)
    task = page.refresh_remote_models()
    assert task is not None
    qtbot.waitUntil(task.done, timeout=30_000)
    return fresh_window


def choose(qtbot: QtBot, page: ChatPage, engine: str, model: str) -> None:
    """Pick ``engine · model`` in the picker with the keyboard, as a user does."""
    picker = page.model_picker
    index = picker.findData(remote_choice(engine, model))
    assert index >= 0, [picker.itemText(i) for i in range(picker.count())]
    picker.setFocus()
    picker.setCurrentIndex(index)
    picker.activated.emit(index)  # what a choice in the open list sends
    qtbot.waitUntil(lambda: page.session.options.engine == engine and not page.busy, timeout=5000)


def send(qtbot: QtBot, page: ChatPage, text: str) -> None:
    page.input.setPlainText(text)
    qtbot.mouseClick(page.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.replying, timeout=5000)
    qtbot.waitUntil(lambda: not page.busy, timeout=30_000)


def replies(page: ChatPage) -> list[tuple[str, MessageStatus]]:
    return [
        (m.text, m.status) for m in page.transcript.messages() if m.role is MessageRole.ASSISTANT
    ]


def test_the_picker_lists_remote_models_and_a_chat_runs_on_one(
    remote_window: MainWindow, qtbot: QtBot, server: FaultServer
) -> None:
    page = remote_window.chat_page
    labels = [page.model_picker.itemText(i) for i in range(page.model_picker.count())]
    assert "team · one" in labels and "team · reasoning" in labels
    assert not any(label.startswith("gone ·") for label in labels)
    assert "gone" in page.remote_problems

    choose(qtbot, page, "team", "many")
    assert page.session.options.model_path == "many"
    assert remote_window.status_bar.state_label.text() == "Ready · team · many"
    send(qtbot, page, "Hello there")
    assert replies(page) == [(REPLY, MessageStatus.COMPLETE)], page.banner.text()
    assert page.banner.text() == ""
    # The chat keeps its remote model in the store: reopened, it still uses it.
    chat_id = page.open_chat_id
    assert chat_id is not None
    qtbot.mouseClick(page.new_chat_button, Qt.MouseButton.LeftButton)
    task = page.open_chat(chat_id)
    assert task is not None
    qtbot.waitUntil(task.done, timeout=10_000)
    assert (page.session.options.engine, page.session.options.model_path) == ("team", "many")
    assert page.model_picker.currentData() == remote_choice("team", "many")
    # The key went to that server only, as the Authorization header.
    chats = [r for r in server.requests if r.path.endswith("/chat/completions")]
    assert chats and all(r.headers.get("authorization") == f"Bearer {KEY}" for r in chats)
    assert chats[-1].body["model"] == "many"


def test_a_broken_stream_keeps_its_text_marked_incomplete(
    remote_window: MainWindow, qtbot: QtBot
) -> None:
    page = remote_window.chat_page
    choose(qtbot, page, "team", "drop")
    send(qtbot, page, "Tell me something")
    [(text, status)] = replies(page)
    assert text and REPLY.startswith(text.strip()[:10]), text
    assert status is MessageStatus.INCOMPLETE
    assert "ngine team" in page.banner.text(), page.banner.text()


@pytest.mark.parametrize(
    ("engine", "model", "said"),
    [
        ("team", "no-such-model", "does not serve the model 'no-such-model'"),  # a 404
        ("gone", "any", "could not connect"),  # nothing listens there
    ],
)
def test_a_failing_remote_is_said_and_the_typed_text_stays(
    remote_window: MainWindow, qtbot: QtBot, engine: str, model: str, said: str
) -> None:
    page = remote_window.chat_page
    task = page.use_remote_model(engine, model)
    assert task is not None
    qtbot.waitUntil(task.done, timeout=5000)
    page.input.setPlainText("My carefully typed question")
    qtbot.mouseClick(page.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.banner.text() != "" and not page.busy, timeout=30_000)
    assert f"ngine {engine}" in page.banner.text(), page.banner.text()
    assert page.input.toPlainText() == "My carefully typed question"
    assert said in page.banner.text()
    assert replies(page) == []
