"""Settings → Remote engines, as a person uses it: add a server with its key, see the
check (reachable, key accepted, its models), a refused key and an unreachable server in
words, a bad URL refused in the dialog with what was typed kept, remove one.

Real parts: the window built as the app builds it, the real ``EnginesService`` (its
file in the test's LLMOS_HOME; keys in a 0600 file, as on a machine without a keyring),
and a real OpenAI-compatible HTTP server (tests/helpers/openai_faults.py) on loopback.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox
from pytestqt.qtbot import QtBot

from llmos_desktop.ui.main_window import MainWindow
from llmos_desktop.ui.settings_engines import AddEngineDialog, EnginesSection
from tests.helpers.openai_faults import MODELS, FaultServer


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer(api_key="sk-fault-test") as running:
        yield running


def section_of(window: MainWindow, qtbot: QtBot) -> EnginesSection:
    window.show_page(window.SETTINGS_PAGE)
    section = window.settings_page.engines_section
    assert section is not None
    qtbot.waitUntil(lambda: not section.busy, timeout=10_000)
    return section


def add(qtbot: QtBot, section: EnginesSection, name: str, url: str, key: str) -> AddEngineDialog:
    qtbot.mouseClick(section.add_button, Qt.MouseButton.LeftButton)
    [dialog] = [d for d in section.dialogs if isinstance(d, AddEngineDialog)]
    qtbot.keyClicks(dialog.name_edit, name)
    qtbot.keyClicks(dialog.url_edit, url)
    if key:
        qtbot.keyClicks(dialog.key_edit, key)
    save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
    assert save is not None
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    return dialog


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_add_check_and_remove_a_remote_engine(
    fresh_window: MainWindow, qtbot: QtBot, server: FaultServer
) -> None:
    section = section_of(fresh_window, qtbot)
    assert section.names() == [] and section.empty_label.isVisible()
    with qtbot.waitSignal(section.checked, timeout=20_000) as checked:
        add(qtbot, section, "team", server.base_url(), "sk-fault-test")
    name, found = checked.args
    assert name == "team" and found.ok and set(found.models) == set(MODELS)
    assert section.names() == ["team"]
    assert section.state_text("team") == f"Reachable, key accepted, {len(MODELS)} models"
    assert "Models: one, many" in section.details_label.text()
    assert section.dialogs == [], "the dialog closed once the engine was added"
    # The key reached the server, and only as the Authorization header.
    assert any(r.headers.get("authorization") == "Bearer sk-fault-test" for r in server.requests)
    # The chat's picker lists its models now.
    chat = fresh_window.chat_page
    qtbot.waitUntil(lambda: chat.remote_models.get("team") is not None, timeout=20_000)
    labels = [chat.model_picker.itemText(i) for i in range(chat.model_picker.count())]
    assert "team · one" in labels and "team · many" in labels

    # Check again, by the button: the same answer.
    section.select("team")
    with qtbot.waitSignal(section.checked, timeout=20_000):
        qtbot.mouseClick(section.check_button, Qt.MouseButton.LeftButton)

    # Remove asks first; Cancel keeps it, Yes removes it (and its key).
    qtbot.mouseClick(section.remove_button, Qt.MouseButton.LeftButton)
    [question] = [d for d in section.dialogs if isinstance(d, QMessageBox)]
    question.button(QMessageBox.StandardButton.Cancel).click()
    assert section.names() == ["team"]
    qtbot.mouseClick(section.remove_button, Qt.MouseButton.LeftButton)
    [question] = [d for d in section.dialogs if isinstance(d, QMessageBox)]
    with qtbot.waitSignal(section.engines_changed, timeout=10_000):
        question.button(QMessageBox.StandardButton.Yes).click()
    assert section.names() == []
    assert fresh_window.engines.list() == []
    assert fresh_window.engines.key_place("team") is None
    qtbot.waitUntil(lambda: "team" not in chat.remote_models, timeout=20_000)
    labels = [chat.model_picker.itemText(i) for i in range(chat.model_picker.count())]
    assert not any(label.startswith("team ·") for label in labels)


def test_a_refused_key_and_an_unreachable_server_are_said(
    fresh_window: MainWindow, qtbot: QtBot, server: FaultServer
) -> None:
    section = section_of(fresh_window, qtbot)
    with qtbot.waitSignal(section.checked, timeout=20_000) as checked:
        add(qtbot, section, "wrong-key", server.base_url(), "sk-not-the-key")
    found = checked.args[1]
    assert not found.ok and found.authorised is False
    assert section.state_text("wrong-key") == found.error.message
    assert "key" in found.error.message.lower()

    with qtbot.waitSignal(section.checked, timeout=30_000) as checked:
        add(qtbot, section, "gone", f"http://127.0.0.1:{closed_port()}/v1", "")
    found = checked.args[1]
    assert not found.ok and not found.reachable
    assert section.state_text("gone") == found.error.message


def test_the_dialog_refuses_a_bad_url_and_keeps_what_was_typed(
    fresh_window: MainWindow, qtbot: QtBot
) -> None:
    section = section_of(fresh_window, qtbot)
    dialog = add(qtbot, section, "lab", "ftp://example.org/v1", "sk-123")
    assert dialog.isVisible() and dialog.error_label.isVisible()
    assert "Base URL" in dialog.error_label.text()
    assert dialog.name_edit.text() == "lab" and dialog.url_edit.text() == "ftp://example.org/v1"
    assert dialog.key_edit.text() == "sk-123"
    assert section.names() == []
    # A name already taken: said by the service, in the dialog.
    dialog.url_edit.setText("http://127.0.0.1:9/v1")
    save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
    assert save is not None
    with qtbot.waitSignal(section.engines_changed, timeout=10_000):
        qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not section.busy, timeout=30_000)
    again = add(qtbot, section, "lab", "http://127.0.0.1:9/v1", "")
    qtbot.waitUntil(lambda: again.error_label.isVisible(), timeout=10_000)
    assert "exists" in again.error_label.text()
    assert again.isVisible()
    again.reject()
