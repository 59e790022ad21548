"""The Developer page, as a developer uses it: switch the API server on, copy the base
URL and the key, call it with the official ``openai`` client, and see the request in the
log with its timings; the local network refused without a key.

Real parts: the window built as the app builds it, the real engine process with Gemma
(``model_path``), the real API listener, the ``openai`` package as the other program,
and the system clipboard (offscreen Qt keeps a real one in the process).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QCheckBox,
    QLabel,
    QRadioButton,
    QWidget,
)
from pytestqt.qtbot import QtBot

from llmos_desktop.app import build_window, close_window
from llmos_desktop.core.engine.contract import LoadOptions
from llmos_desktop.core.paths import app_paths
from llmos_desktop.core.settings import Settings, load_settings
from llmos_desktop.ui.developer import request_log_view as columns
from llmos_desktop.ui.main_window import MainWindow
from tests.ui.conftest import (
    closed_at_the_end,
    engine_children,
    focus_chain,
    run_on_loop,
    spin_until,
    spoken_name,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def click(qtbot: QtBot, widget: QWidget) -> None:
    """A click where a user clicks: a check box or radio button on its box (a click in
    the empty space right of its text does nothing), a button in its middle."""
    if isinstance(widget, QCheckBox | QRadioButton):
        qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=QPoint(8, widget.height() // 2))
    else:
        qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def developer(window: MainWindow, qtbot: QtBot) -> Any:
    QTest.keyClick(window, Qt.Key.Key_5, Qt.KeyboardModifier.ControlModifier)  # the fifth
    qtbot.waitUntil(lambda: window.pages.currentIndex() == window.DEVELOPER_PAGE, timeout=5000)
    page = window.developer_page
    assert window.pages.currentWidget() is page
    return page


def test_the_local_network_is_refused_without_a_key(fresh_window: MainWindow, qtbot: QtBot) -> None:
    page = developer(fresh_window, qtbot)
    settings = fresh_window.settings
    assert settings.api_server.host == "127.0.0.1" and settings.api_server.api_key is None
    assert page.loopback_radio.isChecked()
    assert page.url_edit.text() == "http://127.0.0.1:1234/v1"

    click(qtbot, page.network_radio)
    assert page.loopback_radio.isChecked() and not page.network_radio.isChecked()
    assert "needs an API key" in page.banner.text()
    assert settings.api_server.host == "127.0.0.1"
    assert not fresh_window.engine.running, "a refused choice starts nothing"

    # With a key it is allowed, and the page says where other devices connect.
    click(qtbot, page.require_key_check)
    key = settings.api_server.api_key
    assert key is not None and len(key) >= 32 and page.key_edit.text() == key
    click(qtbot, page.network_radio)
    assert settings.api_server.host == "0.0.0.0"
    assert page.network_url_label.isVisible()
    assert "From other devices" in page.network_url_label.text()
    # ... and the key cannot be dropped while the network can reach the server.
    click(qtbot, page.require_key_check)
    assert page.require_key_check.isChecked() and settings.api_server.api_key == key
    assert "stays required" in page.banner.text()
    # Back to this computer only: the key may go.
    click(qtbot, page.loopback_radio)
    click(qtbot, page.require_key_check)
    assert settings.api_server.api_key is None and settings.api_server.host == "127.0.0.1"
    assert not fresh_window.engine.running

    # Remembered: written to the settings file a moment later.
    qtbot.waitUntil(lambda: not page.save_pending, timeout=5000)
    fresh_window.settings_writer.flush(5)
    saved = load_settings(fresh_window.paths.settings_file)
    assert saved.api_server == settings.api_server


def test_the_page_is_the_fifth_before_settings(fresh_window: MainWindow, qtbot: QtBot) -> None:
    labels = [
        fresh_window.navigation.item(i).text() for i in range(fresh_window.navigation.count())
    ]
    assert labels[3:] == ["Lab", "Developer", "Settings"]
    QTest.keyClick(fresh_window, Qt.Key.Key_6, Qt.KeyboardModifier.ControlModifier)
    assert fresh_window.pages.currentIndex() == fresh_window.SETTINGS_PAGE
    page = developer(fresh_window, qtbot)
    assert page.title_label.text() == "Developer"
    # Every control is named for a screen reader.
    for widget in (
        page.enabled_check,
        page.port_spin,
        page.loopback_radio,
        page.network_radio,
        page.url_edit,
        page.copy_url_button,
        page.key_edit,
        page.copy_key_button,
        page.regenerate_button,
        page.log_prompts_check,
        page.log_view,
        page.context_spin,
        page.parallel_spin,
        page.keep_alive_spin,
        page.origins_edit,
        *page.snippets.copy_buttons.values(),
    ):
        assert widget.accessibleName(), widget.objectName()


def test_tab_walks_the_page_in_reading_order_and_names_each_control(
    fresh_window: MainWindow, qtbot: QtBot
) -> None:
    page = developer(fresh_window, qtbot)
    click(qtbot, page.require_key_check)  # the key's buttons are enabled with a key
    fresh_window.activateWindow()
    qtbot.waitUntil(lambda: fresh_window.isActiveWindow(), timeout=5000)
    chain = focus_chain(fresh_window.navigation)
    assert [w.objectName() for w in chain if not spoken_name(w)] == []
    in_order = [
        page.enabled_check,
        page.port_spin,
        page.loopback_radio,  # the chosen one of the two (arrows move between them)
        page.url_edit,
        page.copy_url_button,
        page.require_key_check,
        page.key_edit,
        page.copy_key_button,
        page.regenerate_button,
        page.snippets.editors["curl"],
        page.snippets.copy_buttons["curl"],
        page.log_prompts_check,
        page.clear_log_button,
        page.log_view,
        page.context_spin,
        page.parallel_spin,
        page.keep_alive_spin,
        page.origins_edit,
    ]
    positions = [chain.index(control) for control in in_order]
    assert positions == sorted(positions), [c.objectName() for c in in_order]


def test_no_two_controls_share_an_alt_key(fresh_window: MainWindow, qtbot: QtBot) -> None:
    developer(fresh_window, qtbot)
    found = [
        m.lower() for a in fresh_window.menuBar().actions() for m in re.findall(r"&(\w)", a.text())
    ]
    widgets: list[QWidget] = list(fresh_window.developer_page.findChildren(QWidget))
    for widget in widgets:
        if isinstance(widget, QLabel | QAbstractButton) and widget.isVisible():
            if isinstance(widget, QLabel) and widget.buddy() is None:
                continue
            found += [m.lower() for m in re.findall(r"&(?!&)(\w)", widget.text())]
    assert len(found) > 8
    assert sorted(found) == sorted(set(found)), sorted(found)


def test_engine_settings_are_bounded_and_remembered(fresh_window: MainWindow, qtbot: QtBot) -> None:
    page = developer(fresh_window, qtbot)
    settings = fresh_window.settings
    assert page.parallel_spin.maximum() == 16 and page.parallel_spin.minimum() == 1
    page.parallel_spin.setValue(4)
    page.context_spin.setValue(8192)
    page.keep_alive_spin.setValue(5)
    assert settings.load.n_parallel == 4 and settings.load.n_ctx == 8192
    assert settings.engine_keep_alive_s == 300
    page.origins_edit.setText("http://localhost:5173, not an origin")
    page.origins_edit.editingFinished.emit()
    assert "not an origin" in page.banner.text()
    assert not settings.api_server.cors_origins
    page.origins_edit.setText("http://localhost:5173  https://app.example:8443")
    page.origins_edit.editingFinished.emit()
    assert settings.api_server.cors_origins == (
        "http://localhost:5173",
        "https://app.example:8443",
    )
    assert not fresh_window.engine.running
    qtbot.waitUntil(lambda: not page.save_pending, timeout=5000)
    fresh_window.settings_writer.flush(5)
    saved = load_settings(fresh_window.paths.settings_file)
    assert (saved.load.n_parallel, saved.load.n_ctx, saved.engine_keep_alive_s) == (4, 8192, 300)
    assert saved.api_server.cors_origins == settings.api_server.cors_origins


def test_the_context_shown_on_both_pages_is_the_same_setting(
    fresh_window: MainWindow, qtbot: QtBot
) -> None:
    """The Developer page and the Settings page both show the context size: a change
    on one is shown on the other at once (it was shown only once the page was rebuilt)."""
    settings_page = fresh_window.settings_page
    page = developer(fresh_window, qtbot)
    page.context_spin.setValue(6144)
    assert settings_page.context_spin.value() == 6144
    settings_page.context_spin.setValue(3072)
    assert fresh_window.settings.load.n_ctx == 3072
    assert page.context_spin.value() == 3072


def test_the_log_table_shows_an_entry_as_a_developer_reads_it(qtbot: QtBot) -> None:
    view = columns.RequestLogView()
    qtbot.addWidget(view)
    model = view.log_model
    entry = {
        "id": 7,
        "time": "2025-01-01T12:00:00Z",
        "route": "/v1/chat/completions",
        "method": "POST",
        "client": "127.0.0.1",
        "listener": "api",
        "status": 200,
        "prompt_tokens": 12,
        "completion_tokens": 40,
        "ttft_s": 0.05,
        "tokens_per_s": 88.25,
        "duration_s": 0.5,
        "error": None,
        "prompt": "<b>never rich text</b>",
    }
    assert model.add_entries([entry]) == 1
    assert model.add_entries([entry]) == 0, "an entry already shown is not added again"
    cells = [model.index(0, c).data() for c in range(columns.COLUMN_COUNT)]
    assert cells[columns.ROUTE] == "POST /v1/chat/completions"
    assert cells[columns.CLIENT] == "127.0.0.1"
    assert cells[columns.STATUS] == "200"
    assert cells[columns.TOKENS_IN] == "12" and cells[columns.TOKENS_OUT] == "40"
    assert cells[columns.TTFT] == "0.05 s" and cells[columns.SPEED] == "88.3"
    assert cells[columns.PROMPT] == "<b>never rich text</b>"
    assert view.isColumnHidden(columns.PROMPT)
    # Newest first; the ring keeps at most MAX_ROWS.
    many = [dict(entry, id=100 + i, status=401, error="invalid_api_key") for i in range(600)]
    model.add_entries(many)
    assert model.rowCount() == columns.MAX_ROWS
    assert model.index(0, columns.STATUS).data() == "401 invalid_api_key"
    assert model.last_id == 699


@pytest.fixture(scope="module")
def model_window(
    qasync_loop: asyncio.AbstractEventLoop,
    model_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MainWindow]:
    """A window with Gemma loaded (its own engine, closed at the end)."""
    engines_before = {p.pid for p in engine_children()}
    home = tmp_path_factory.mktemp("dev-home")
    paths = app_paths({"LLMOS_HOME": str(home)}).ensure()
    settings = Settings(load=LoadOptions(n_threads=2, n_ctx=1024), prompt_cache_mb=64)
    window = build_window(paths=paths, settings=settings)
    window.show()
    with closed_at_the_end(window, engines_before):
        task = window.chat_page.load_model(model_path)
        assert task is not None
        spin_until(task.done, 120, "the model to load")
        task.result()
        assert window.chat_page.model_ready, window.chat_page.banner.text()
        yield window


def _chat(base_url: str, key: str, model: str, max_tokens: int, prompt: str) -> str:
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=60)
    text = []
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        temperature=0,
        stream=True,
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
    return "".join(text)


def _in_thread(func: Any, *args: Any) -> asyncio.Future[Any]:
    return asyncio.get_running_loop().run_in_executor(None, func, *args)


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.timeout(600)  # a few short replies; slow when the machine's two cores are shared
def test_switch_on_copy_and_an_openai_request_appears_in_the_log(
    model_window: MainWindow, qtbot: QtBot
) -> None:
    window = model_window
    page = developer(window, qtbot)
    port = free_port()
    page.port_spin.setValue(port)
    click(qtbot, page.require_key_check)
    click(qtbot, page.enabled_check)
    qtbot.waitUntil(lambda: (page.state or {}).get("enabled") is True, timeout=30_000)
    assert "Serving at" in page.state_label.text(), page.state_label.text()
    assert page.banner.kind != "error", page.banner.text()

    # Copy the URL and the key, as a developer does, into their program.
    clipboard = QGuiApplication.clipboard()
    click(qtbot, page.copy_url_button)
    base_url = clipboard.text()
    assert base_url == f"http://127.0.0.1:{port}/v1"
    click(qtbot, page.copy_key_button)
    key = clipboard.text()
    assert key == window.settings.api_server.api_key and key.startswith("llmos-")
    # The Python example holds the same URL, key and the loaded model's id.
    click(qtbot, page.snippets.copy_buttons["python"])
    example = clipboard.text()
    assert json.dumps(base_url) in example and json.dumps(key) in example
    model_id = Path(window.engine.loaded.path).stem if window.engine.loaded else ""
    assert json.dumps(model_id) in example

    # Another program (the official openai client) calls it.
    reply = run_on_loop(
        _in_thread(_chat, base_url, key, model_id, 12, "The capital of France"), 120
    )
    assert reply.strip()
    qtbot.waitUntil(
        lambda: any(
            e.get("listener") == "api" and e.get("status") == 200
            for e in page.log_view.log_model.entries()
        ),
        timeout=15_000,
    )
    model = page.log_view.log_model
    row = next(i for i, e in enumerate(model.entries()) if e.get("listener") == "api")

    def cell(column: int) -> str:
        return str(model.index(row, column).data())

    assert cell(columns.ROUTE) == "POST /v1/chat/completions"
    assert cell(columns.CLIENT) == "127.0.0.1"
    assert cell(columns.STATUS) == "200"
    assert int(cell(columns.TOKENS_IN)) > 0 and 0 < int(cell(columns.TOKENS_OUT)) <= 12
    assert cell(columns.TTFT).endswith(" s") and float(cell(columns.TTFT)[:-2]) > 0
    assert float(cell(columns.SPEED)) > 0
    # No prompt text unless asked for.
    assert page.log_view.isColumnHidden(columns.PROMPT)
    assert all(not e.get("prompt") for e in model.entries())

    # A wrong key is refused, and the refusal is in the log too.
    from openai import AuthenticationError

    with pytest.raises(AuthenticationError):
        run_on_loop(_in_thread(_chat, base_url, "llmos-wrong-key-0123456789", model_id, 4, "x"), 60)
    qtbot.waitUntil(lambda: any(e.get("status") == 401 for e in model.entries()), timeout=15_000)

    # Prompts are logged once the user turns that on.
    click(qtbot, page.log_prompts_check)
    qtbot.waitUntil(
        lambda: (page.state or {}).get("enabled") is True and not page.busy, timeout=30_000
    )
    assert not page.log_view.isColumnHidden(columns.PROMPT)
    run_on_loop(_in_thread(_chat, base_url, key, model_id, 4, "Remember the word pelican"), 120)
    qtbot.waitUntil(
        lambda: any("pelican" in (e.get("prompt") or "") for e in model.entries()),
        timeout=15_000,
    )

    # While another program's reply streams, the status bar says the engine is busy.
    bar = window.status_bar
    assert bar.polling_api
    stop = threading.Event()
    done = threading.Event()
    outcome: list[object] = []

    def long_request() -> None:
        """Streams until the test has seen the bar say so, then hangs up (the engine
        stops generating when its client goes)."""
        from openai import OpenAI

        client = OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=120)
        try:
            stream = client.chat.completions.create(
                model=model_id,
                messages=[{"role": "user", "content": "Write a long story about a lighthouse"}],
                max_tokens=1000,
                stream=True,
            )
            pieces = 0
            for _chunk in stream:
                pieces += 1
                if stop.is_set():
                    break
            stream.close()
            outcome.append(pieces)
        except Exception as exc:  # reported below, on the test's thread
            outcome.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=long_request, daemon=True)
    worker.start()
    try:
        qtbot.waitUntil(lambda: bar.api_busy_label.isVisible() or done.is_set(), timeout=60_000)
        assert bar.api_busy_label.text() == "Busy with an API request"
    finally:
        stop.set()
    qtbot.waitUntil(done.is_set, timeout=60_000)
    assert isinstance(outcome[0], int) and outcome[0] > 0, outcome
    qtbot.waitUntil(lambda: not bar.api_busy_label.isVisible(), timeout=15_000)

    # Off: the port no longer answers.
    click(qtbot, page.enabled_check)
    qtbot.waitUntil(lambda: page.state is None and not page.busy, timeout=30_000)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/models", timeout=5)
    assert not bar.polling_api


def test_the_page_speaks_chinese(qapp: QApplication, qtbot: QtBot, qasync_loop: object) -> None:
    from llmos_desktop.ui.i18n import install_translators, remove_translators

    translators = install_translators(qapp, "zh_CN")
    window = build_window(settings=Settings())
    qtbot.addWidget(window)
    window.show()
    try:
        assert window.navigation.item(window.DEVELOPER_PAGE).text() == "开发者"
        window.show_page(window.DEVELOPER_PAGE)
        page = window.developer_page
        assert page.title_label.text() == "开发者"
        assert page.loopback_radio.text() == "仅本机(&C) (127.0.0.1)"
        assert (
            page.log_view.log_model.headerData(columns.TTFT, Qt.Orientation.Horizontal)
            == "首个词元"
        )
        assert page.state_label.text() == "已关闭。只有本窗口使用引擎。"
        window.show_page(window.SETTINGS_PAGE)
        section = window.settings_page.engines_section
        assert section is not None and section.title() == "远程引擎"
        window.status_bar.set_api_busy(2)
        assert window.status_bar.api_busy_label.text() == "正在处理 2 个 API 请求"
        window.status_bar.set_api_busy(0)
    finally:
        run_on_loop(close_window(window), 30)
        remove_translators(qapp, translators)
