"""The main window: navigation (mouse and keyboard), placeholders, the status bar, the
window's size and position and the open chat across restarts, the theme, keyboard
access with accessible names, start-up cost, the About dialog.

The chat page's own tests are in test_chat_page.py, the Settings page's in
test_settings_page.py, translations in test_i18n.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QWidget
from pytestqt.qtbot import QtBot

import llmos_desktop
from llmos_desktop.app import build_window, close_window
from llmos_desktop.core.engine.contract import SamplingOptions
from llmos_desktop.core.paths import app_paths
from llmos_desktop.core.settings import Settings, load_settings
from llmos_desktop.ui.main_window import DEFAULT_SIZE, MainWindow
from llmos_desktop.ui.status_bar import EngineState, EngineStatusBar
from llmos_desktop.ui.theme import is_dark
from llmos_desktop.ui.widgets.chat_transcript import MessageAction
from tests.ui.conftest import focus_chain, run_on_loop, spoken_name

HEAVY_MODULES = (
    "llama_cpp",
    "fastapi",
    "uvicorn",
    "huggingface_hub",
    "numpy",
    "gguf",
    "httpx",
    "psutil",  # the status bar measures memory only once a model is loaded
    "llmos_desktop.ui.settings_page",  # built when first shown
)


def test_loop_runs_tasks_while_qtbot_waits(
    qtbot: QtBot, qasync_loop: asyncio.AbstractEventLoop
) -> None:
    """The test pattern itself: tasks, timers and executors progress inside qtbot waits."""
    steps: list[str] = []

    async def work() -> int:
        steps.append("started")
        await asyncio.sleep(0.05)
        steps.append("slept")
        value = await asyncio.get_running_loop().run_in_executor(None, sum, [1, 2, 3])
        steps.append("executor")
        return int(value)

    task = asyncio.ensure_future(work())
    qtbot.waitUntil(task.done, timeout=5_000)
    assert task.result() == 6
    assert steps == ["started", "slept", "executor"]


def test_window_opens_with_pages_and_no_engine(fresh_window: MainWindow, qtbot: QtBot) -> None:
    window = fresh_window
    labels = [window.navigation.item(i).text() for i in range(window.navigation.count())]
    assert labels == ["Chat", "Models", "Store", "Lab", "Developer", "Settings"]
    assert window.pages.currentWidget() is window.chat_page
    assert (window.width(), window.height()) == (1000, 700)  # nothing saved yet

    window.navigation.setCurrentRow(1)
    assert window.pages.currentWidget() is window.models_page
    assert window.models_page.isVisible()
    tabs = window.models_page.tabs
    assert [tabs.tabText(i).replace("&", "") for i in range(tabs.count())] == [
        "Library",
        "Discover",
        "Downloads",
    ]
    window.navigation.setCurrentRow(2)
    assert window.store_page.isVisible()
    tabs = window.store_page.tabs
    assert [tabs.tabText(i).replace("&", "") for i in range(tabs.count())] == [
        "Catalogue",
        "Installed",
        "Build an app",
    ]
    window.navigation.setCurrentRow(3)
    assert window.pages.currentWidget() is window.lab_page
    assert window.lab_page.isVisible()
    window.navigation.setCurrentRow(4)
    assert window.pages.currentWidget() is window.developer_page
    window.navigation.setCurrentRow(5)
    assert window.pages.currentWidget() is window.settings_page
    assert window.settings_page.isVisible()
    assert window.settings_page.title_label.text() == "Settings"
    window.navigation.setCurrentRow(0)

    page = window.chat_page
    assert window.engine.pid is None  # the engine starts on the first load
    bar = window.status_bar
    assert bar.state == EngineState.NO_MODEL
    assert bar.state_label.text() == "No model loaded"
    for label in (bar.backend_label, bar.context_label, bar.memory_label, bar.speed_label):
        assert not label.isVisible()
    assert not bar.polling_memory
    # With the starter installed, a first Send can load it: Send works before any load.
    qtbot.waitUntil(lambda: page.is_ready, timeout=10_000)
    assert page.model_picker.count() == 1  # the starter
    assert page.send_button.isEnabled()
    assert not page.stop_button.isEnabled()
    assert page.banner.text() == ""


def _activate(window: MainWindow, qtbot: QtBot) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)


def test_pages_by_keyboard(fresh_window: MainWindow, qtbot: QtBot) -> None:
    window = fresh_window
    _activate(window, qtbot)
    shortcuts = {a.text(): a.shortcut().toString() for a in window.page_actions}
    assert shortcuts == {
        "Chat": "Ctrl+1",
        "Models": "Ctrl+2",
        "Store": "Ctrl+3",
        "Lab": "Ctrl+4",
        "Developer": "Ctrl+5",
        "Settings": "Ctrl+6",
    }
    go_menu = [m for m in window.menuBar().actions() if m.text() == "&Go"]
    assert go_menu, "the Go menu lists the pages with their keys"
    expected = [window.chat_page, window.models_page, window.store_page]
    for number, page in ((6, None), (2, expected[1]), (3, expected[2]), (1, expected[0])):
        key = getattr(Qt.Key, f"Key_{number}")
        qtbot.keyClick(window.focusWidget() or window, key, Qt.KeyboardModifier.ControlModifier)
        shown = window.pages.currentWidget()
        assert shown is (page if page is not None else window.settings_page), number
        assert window.navigation.currentRow() == number - 1
    # In the navigation list, the arrow keys move between the pages.
    window.navigation.setFocus()
    qtbot.keyClick(window.navigation, Qt.Key.Key_Down)
    assert window.pages.currentWidget() is window.models_page
    qtbot.keyClick(window.navigation, Qt.Key.Key_End)
    assert window.pages.currentWidget() is window.settings_page


def test_every_control_is_reachable_by_tab_and_named(
    fresh_window: MainWindow, qtbot: QtBot
) -> None:
    """Tab walks every control of the window (the Chat page, then the Settings page),
    and each has a name a screen reader can say."""
    window = fresh_window
    page = window.chat_page
    qtbot.waitUntil(lambda: page.is_ready, timeout=10_000)
    store = page.store
    assert store is not None
    conversation = store.create_conversation()
    store.add_message(conversation.id, "user", "Hello")
    store.add_message(conversation.id, "assistant", "Hi! `code`", status="incomplete")
    task = page.open_chat(conversation.id)
    assert task is not None
    qtbot.waitUntil(task.done, timeout=5_000)
    _activate(window, qtbot)
    chat_chain = focus_chain(window.navigation)
    nameless = [w.objectName() for w in chat_chain if not spoken_name(w)]
    assert chat_chain[0] is window.navigation
    sidebar = page.sidebar
    in_order = [
        sidebar.new_button,
        sidebar.search_edit,
        sidebar.list,
        sidebar.rename_button,
        sidebar.delete_button,
        sidebar.export_button,
        sidebar.import_button,
        page.model_picker,
        page.open_button,
        page.load_button,
        page.options_button,
        page.input,
        page.send_button,
    ]
    positions = [chat_chain.index(control) for control in in_order]
    assert positions == sorted(positions), [c.objectName() for c in in_order]
    # Each message of the conversation: its text, then its actions (a reply that never
    # finished offers Continue), between the model row and the message box.
    cards = [page.transcript.card(m.id) for m in page.transcript.messages()]
    for card in cards:
        assert card is not None
        for control in card.focus_order():
            if control.isVisible():
                assert control in chat_chain, control.objectName()
                index = chat_chain.index(control)
                assert chat_chain.index(page.options_button) < index < chat_chain.index(page.input)
    assert cards[-1] is not None
    assert cards[-1].action_buttons[MessageAction.CONTINUE] in chat_chain

    window.show_page(window.SETTINGS_PAGE)
    settings_chain = focus_chain(window.navigation)
    nameless += [w.objectName() for w in settings_chain if not spoken_name(w)]
    settings = window.settings_page
    expected = [
        settings.language_combo,
        settings.theme_combo,
        settings.enter_sends_check,
        settings.temperature_spin,
        settings.top_p_spin,
        settings.top_k_spin,
        settings.min_p_spin,
        settings.repeat_penalty_spin,
        settings.max_tokens_spin,
        settings.context_spin,
        settings.gpu_layers_spin,
        settings.threads_spin,
        settings.reset_button,
        settings.kv_disk_spin,
        settings.data_folder_edit,
        settings.open_data_button,
        settings.models_folder_edit,
        settings.open_models_button,
        settings.choose_models_button,
        settings.endpoint_combo,
        settings.proxy_combo,
        settings.set_token_button,
        settings.catalogue_edit,
    ]
    assert settings.engines_section is not None
    expected += [settings.engines_section.tree, settings.engines_section.add_button]
    assert settings_chain == [window.navigation, *expected]  # in reading order

    assert nameless == []


def _mnemonics(window: MainWindow) -> list[str]:
    """The Alt+letter keys on screen: the menus', and each visible label's and button's."""
    found = [m.lower() for a in window.menuBar().actions() for m in re.findall(r"&(\w)", a.text())]
    widgets: list[QWidget] = list(window.findChildren(QWidget))
    for widget in widgets:
        if isinstance(widget, QLabel | QAbstractButton) and widget.isVisible():
            if isinstance(widget, QLabel) and widget.buddy() is None:
                continue
            found += [m.lower() for m in re.findall(r"&(?!&)(\w)", widget.text())]
    return found


def test_no_two_controls_share_an_alt_key(fresh_window: MainWindow) -> None:
    for page in (
        fresh_window.CHAT_PAGE,
        fresh_window.SETTINGS_PAGE,
        fresh_window.DEVELOPER_PAGE,
        fresh_window.LAB_PAGE,
    ):
        fresh_window.show_page(page)
        keys = _mnemonics(fresh_window)
        assert len(keys) > 3
        assert sorted(keys) == sorted(set(keys)), f"page {page}: {sorted(keys)}"


def test_window_size_and_position_are_restored(qtbot: QtBot, qasync_loop: object) -> None:
    paths = app_paths().ensure()
    window = build_window(paths=paths, settings=load_settings(paths.settings_file))
    qtbot.addWidget(window)
    window.show()
    window.setGeometry(60, 70, 700, 500)
    qtbot.waitUntil(lambda: window.size() == QSize(700, 500), timeout=2_000)
    where = window.pos()
    window.close()  # as the user closes it
    run_on_loop(close_window(window), 30)
    saved = json.loads(paths.settings_file.read_text())["window_geometry"]
    assert base64.b64decode(saved)

    again = build_window(paths=paths, settings=load_settings(paths.settings_file))
    qtbot.addWidget(again)
    again.show()
    try:
        assert again.size() == QSize(700, 500)
        assert again.pos() == where
        again.showMaximized()
        qtbot.waitUntil(again.isMaximized, timeout=2_000)
        again.close()
    finally:
        run_on_loop(close_window(again), 30)

    maximized = build_window(paths=paths, settings=load_settings(paths.settings_file))
    qtbot.addWidget(maximized)
    maximized.show()
    try:
        qtbot.waitUntil(maximized.isMaximized, timeout=2_000)
        # Back to normal, it has the size it had before it was maximized.
        maximized.showNormal()
        qtbot.waitUntil(lambda: maximized.size() == QSize(700, 500), timeout=2_000)
    finally:
        run_on_loop(close_window(maximized), 30)


def test_a_damaged_saved_geometry_gives_the_default_size(qtbot: QtBot, qasync_loop: object) -> None:
    settings = Settings(window_geometry=base64.b64encode(b"not a geometry").decode())
    window = build_window(settings=settings)
    qtbot.addWidget(window)
    window.show()
    try:
        assert window.size() == DEFAULT_SIZE
    finally:
        run_on_loop(close_window(window), 30)


def test_the_open_chat_is_remembered(qtbot: QtBot, qasync_loop: object) -> None:
    paths = app_paths().ensure()
    window = build_window(paths=paths)
    qtbot.addWidget(window)
    assert window.last_open_chat_id is None
    with qtbot.waitSignal(window.open_chat_changed, timeout=2_000) as changed:
        window.remember_open_chat("chat-7")
    assert changed.args == ["chat-7"]
    window.settings_writer.flush(10)
    assert load_settings(paths.settings_file).last_chat_id == "chat-7"  # written at once
    run_on_loop(close_window(window), 30)

    again = build_window(paths=paths)
    qtbot.addWidget(again)
    try:
        assert again.last_open_chat_id == "chat-7"
    finally:
        run_on_loop(close_window(again), 30)


def test_the_theme_setting_is_applied_at_start(
    qtbot: QtBot, qasync_loop: object, platform_theme: None
) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    assert not is_dark(app.palette())  # the offscreen platform is light
    window = build_window(settings=Settings(theme="dark"))
    qtbot.addWidget(window)
    window.show()
    try:
        assert is_dark(app.palette())
        qtbot.waitUntil(lambda: is_dark(window.chat_page.palette()), timeout=2_000)
        assert app.style().name().lower() == "fusion"
    finally:
        run_on_loop(close_window(window), 30)


# --- the status bar ---------------------------------------------------------------


def test_status_bar_words_each_state(qtbot: QtBot) -> None:
    bar = EngineStatusBar()
    qtbot.addWidget(bar)
    bar.show()
    bar.set_state(EngineState.LOADING, model="<b>tiny</b>.gguf", progress=0.42)
    assert bar.state_label.text() == "Loading <b>tiny</b>.gguf… 42%"
    assert bar.state_label.textFormat() == Qt.TextFormat.PlainText  # names come from files
    bar.set_progress(0.9)
    assert bar.state_label.text().endswith("90%")
    assert not bar.backend_label.isVisible()

    bar.show_engine_status(
        {"model": "gemma-3", "backend": "CUDA", "n_ctx": 8192, "memory_rss_bytes": 300 << 20}
    )
    bar.set_state(EngineState.READY)
    assert bar.state_label.text() == "Ready · gemma-3"
    assert (bar.backend_label.text(), bar.backend_label.isVisible()) == ("CUDA", True)
    assert bar.context_label.text() == "Context 8,192"
    assert bar.memory_label.text() == "Memory 300 MB"

    bar.set_state(EngineState.REPLYING)
    assert bar.state_label.text() == "Replying · gemma-3"
    bar.show_reply_timings({"tokens_per_s": 41.26, "ttft_s": 0.1234})
    assert bar.speed_label.text() == "41.3 tokens/s · first token 0.12 s"
    bar.show_reply_timings({})  # a stopped reply has no speed: the last one stays
    assert bar.speed_label.text() == "41.3 tokens/s · first token 0.12 s"

    bar.set_state(EngineState.STOPPED)
    assert bar.state_label.text() == "Engine stopped · it restarts with the next message"
    assert not bar.backend_label.isVisible()
    assert not bar.memory_label.isVisible()
    bar.set_state(EngineState.NO_MODEL)
    assert bar.state_label.text() == "No model loaded"
    assert bar.model is None
    assert bar.speed_label.isVisible()  # the last reply's speed is still worth seeing


def test_status_bar_measures_memory_only_while_a_model_is_loaded(
    qtbot: QtBot, qasync_loop: asyncio.AbstractEventLoop
) -> None:
    # The process measured is this test's own: a real process, as the engine is one.
    pid: list[int | None] = [os.getpid()]
    bar = EngineStatusBar(engine_pid=lambda: pid[0])
    qtbot.addWidget(bar)
    bar.show()
    assert not bar.polling_memory
    bar.set_state(EngineState.LOADING, model="m")
    assert not bar.polling_memory
    bar.set_state(EngineState.READY, model="m")
    assert bar.polling_memory
    with qtbot.waitSignal(bar.memory_measured, timeout=10_000) as measured:
        pass
    assert isinstance(measured.args[0], int) and measured.args[0] > 10 << 20
    assert bar.memory_label.isVisible()
    assert bar.memory_label.text().startswith("Memory ")
    assert bar.memory_label.text().endswith("MB")
    bar.set_state(EngineState.NO_MODEL)
    assert not bar.polling_memory
    assert not bar.memory_label.isVisible()

    # A process that is gone reads as unknown, and the bar keeps polling.
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    pid[0] = gone.pid
    bar.set_state(EngineState.READY, model="m")
    with qtbot.waitSignal(bar.memory_measured, timeout=10_000) as measured:
        pass
    assert measured.args == [None]
    assert bar.polling_memory
    bar.stop()


@pytest.mark.model
def test_status_bar_follows_a_real_load_and_reply(chat: MainWindow, qtbot: QtBot) -> None:
    bar = chat.status_bar
    status = chat.chat_page.model_status or {}
    assert bar.state == EngineState.READY
    assert bar.state_label.text() == f"Ready · {status['model']}"
    assert bar.backend_label.text() == "CPU"
    assert bar.context_label.text() == "Context 4,096"
    assert bar.polling_memory
    with qtbot.waitSignal(bar.memory_measured, timeout=10_000) as measured:
        pass
    # The engine's memory: the model's weights (~250 MB file) and llama.cpp's buffers.
    assert measured.args[0] > 150 << 20
    assert bar.memory_label.text().startswith("Memory ")

    states: list[EngineState] = []
    chat.chat_page.session.sampling = SamplingOptions(max_tokens=16)
    task = chat.chat_page.send_message("Hello")
    assert task is not None
    while not task.done():
        states.append(bar.state)
        qtbot.wait(20)
    assert EngineState.REPLYING in states
    assert bar.state == EngineState.READY
    assert bar.speed_label.text().endswith("s")
    assert "tokens/s" in bar.speed_label.text()


def test_the_engine_gets_the_disk_budget_for_conversation_states() -> None:
    from llmos_desktop.app import build_engine

    paths = app_paths().ensure()
    for budget in (300, 0):
        engine = build_engine(paths, Settings(kv_state_disk_mb=budget, prompt_cache_mb=64))
        # What the engine process is started with (the supervisor is the engine's own).
        supervisor = engine._supervisor
        assert supervisor.options.state_dir == str(paths.cache / "kv-states")
        assert supervisor.options.state_budget_mb == budget  # 0: the engine keeps none
        assert supervisor.cache_bytes == 64 << 20
        assert not engine.running


# --- start-up, About ------------------------------------------------------------------


def test_start_up_imports_nothing_heavy(tmp_path: Path) -> None:
    script = (
        "import sys, json\n"
        "from PySide6.QtWidgets import QApplication\n"
        "import llmos_desktop.app as app\n"
        "qapp = QApplication([])\n"
        "window = app.build_window()\n"
        "window.show()\n"
        "qapp.processEvents()\n"
        f"heavy = [m for m in {HEAVY_MODULES!r} if m in sys.modules]\n"
        "print(json.dumps({'heavy': heavy, 'pid': window.engine.pid}))\n"
    )
    env = dict(os.environ, LLMOS_HOME=str(tmp_path / "home"), QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"heavy": [], "pid": None}


def test_start_up_paints_the_frame_before_the_settings_and_builds_the_pages_after(
    tmp_path: Path,
) -> None:
    """What app.main does, in its order: the frame (in the saved theme and language)
    paints before pydantic, the engine contract or asyncio are imported; the loop's first
    turn reads the settings and builds the pages, which then work."""
    home = tmp_path / "home"
    paths = app_paths({"LLMOS_HOME": str(home)}).ensure()
    paths.settings_file.write_text(
        json.dumps(
            {"schema_version": 4, "theme": "dark", "language": "zh_CN", "enter_sends": False}
        )
    )
    script = (
        "import sys, json\n"
        "from PySide6.QtWidgets import QApplication\n"
        "import llmos_desktop.app as app\n"
        "from llmos_desktop.core.paths import app_paths\n"
        "from llmos_desktop.core.appearance import peek_appearance\n"
        "from llmos_desktop.ui.i18n import choose_language, install_translators\n"
        "qapp = app.make_application(['llmos-desktop'])\n"
        "paths = app_paths().ensure()\n"
        "look = peek_appearance(paths.settings_file)\n"
        "install_translators(qapp, choose_language(look.language))\n"
        "window = app.start_window(paths, look)\n"
        "painted = app.show_until_painted(window)\n"
        "before = [m for m in ('pydantic', 'asyncio', 'llmos_desktop.core.settings',"
        " 'llmos_desktop.core.engine.contract', 'llmos_desktop.ui.chat_page')"
        " if m in sys.modules]\n"
        "frame = {'theme': window.theme.choice, 'title': window.navigation.item(0).text(),"
        " 'ready': window.pages_ready}\n"
        "loop = app.make_loop(qapp)\n"
        "loop.call_soon(app.finish_window, window)\n"
        "loop.call_soon(loop.stop)\n"
        "loop.run_forever()\n"
        "after = {'ready': window.pages_ready, 'enter_sends': window.settings.enter_sends,"
        " 'chat_shown': window.pages.currentWidget() is window.chat_page,"
        " 'pid': window.engine.pid}\n"
        "loop.run_until_complete(app.close_window(window))\n"
        "loop.close()\n"
        "print(json.dumps({'painted': painted, 'before': before, 'frame': frame,"
        " 'after': after}))\n"
    )
    env = dict(os.environ, LLMOS_HOME=str(home), QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["painted"] is True
    assert report["before"] == []
    assert report["frame"] == {"theme": "dark", "title": "聊天", "ready": False}
    assert report["after"] == {"ready": True, "enter_sends": False, "chat_shown": True, "pid": None}


def test_a_window_closed_before_its_pages_were_built_closes_cleanly(
    qtbot: QtBot, qasync_loop: object
) -> None:
    from llmos_desktop.app import finish_window, start_window

    paths = app_paths().ensure()
    window = start_window(paths)
    qtbot.addWidget(window)
    window.show()
    window.close()
    run_on_loop(close_window(window), 30)
    finish_window(window)  # the loop's first turn, after the close: builds nothing
    assert not window.pages_ready
    assert not paths.settings_file.exists()  # nothing was read, so nothing is written


def test_help_about_opens_without_starting_an_engine(
    fresh_window: MainWindow, qtbot: QtBot
) -> None:
    from llmos_desktop.ui.about_dialog import AboutDialog

    fresh_window.about_action.trigger()

    def dialog() -> AboutDialog | None:
        found = [
            w
            for w in QApplication.topLevelWidgets()
            if isinstance(w, AboutDialog) and w.isVisible() and w.parent() is fresh_window
        ]
        return found[0] if found else None

    qtbot.waitUntil(lambda: dialog() is not None, timeout=5000)
    about = dialog()
    assert about is not None
    labels: list[QLabel] = list(about.findChildren(QLabel))
    text = " ".join(label.text() for label in labels)
    assert llmos_desktop.__version__ in text
    assert "engine not started" in text
    assert not fresh_window.engine.running
    about.close()


def test_about_shows_the_logs_folder_and_opens_it(
    fresh_window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QDesktopServices

    from llmos_desktop.ui.about_dialog import AboutDialog

    opened: list[QUrl] = []

    def open_url(url: QUrl) -> bool:
        opened.append(url)
        return True

    # No desktop to open a folder in offscreen: the one stand-in of this file.
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(open_url))
    fresh_window.about_action.trigger()

    def dialog() -> AboutDialog | None:
        found = [
            w
            for w in QApplication.topLevelWidgets()
            if isinstance(w, AboutDialog) and w.isVisible() and w.parent() is fresh_window
        ]
        return found[0] if found else None

    qtbot.waitUntil(lambda: dialog() is not None, timeout=5000)
    about = dialog()
    assert about is not None
    folder = fresh_window.paths.logs  # LLMOS_HOME's, as app.log's would be
    assert about.logs_folder == folder
    assert str(folder) in about.logs_label.text()
    assert about.logs_label.textFormat() == Qt.TextFormat.PlainText
    assert about.logs_label.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    assert about.open_logs_button.isEnabled()
    qtbot.mouseClick(about.open_logs_button, Qt.MouseButton.LeftButton)
    assert opened == [QUrl.fromLocalFile(str(folder))]
    about.close()


# --- the pages together ------------------------------------------------------------------


def test_save_chat_as_app_opens_the_builder_with_the_chat_s_settings(
    fresh_window: MainWindow, qtbot: QtBot
) -> None:
    window = fresh_window
    page = window.chat_page
    qtbot.waitUntil(lambda: page.is_ready, timeout=10_000)  # the chats are open
    options = page.session.options.model_copy(
        update={
            "system_prompt": "You answer in haiku.",
            "sampling": SamplingOptions(temperature=0.3, top_k=12, max_tokens=200),
        }
    )
    run_on_loop(page.session.set_options(options), 10)

    window.save_chat_as_app_action.trigger()

    builder = window.store_page.builder
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.store_page, timeout=10_000)
    draft = builder.draft()
    assert draft["mode"] == "chat"
    assert draft["system_prompt"] == "You answer in haiku."
    assert (draft["sampling"]["temperature"], draft["sampling"]["top_k"]) == (0.3, 12)
    assert draft["sampling"]["max_tokens"] == 200
    assert draft["inputs"] == []


def test_a_chat_app_opens_a_new_chat_with_its_preset(
    fresh_window: MainWindow, qtbot: QtBot
) -> None:
    from llmos_desktop.core.apps.runner import ChatPreset

    window = fresh_window
    page = window.chat_page
    qtbot.waitUntil(lambda: page.is_ready, timeout=10_000)  # the chats are open
    window.show_page(window.STORE_PAGE)
    preset = ChatPreset(
        app_id="org.example.tutor",
        title="Tutor",
        system_prompt="You are a patient tutor.",
        sampling=SamplingOptions(temperature=0.2),
        first_message="Explain fractions.",
    )
    window.store_page.chat_requested.emit(preset)

    assert window.pages.currentWidget() is page
    assert page.input.toPlainText() == "Explain fractions."
    qtbot.waitUntil(
        lambda: page.session.options.system_prompt == "You are a patient tutor.", timeout=5_000
    )
    assert page.session.options.sampling.temperature == 0.2
    assert page.open_chat_id is None  # a new chat, stored at its first message


def test_a_window_closed_while_its_frame_first_paints_ends_the_app(tmp_path: Path) -> None:
    """app.main: a close that comes before the event loop exists (the user is quick, or
    the machine slow) still ends the app, with nothing left running."""
    script = (
        "import json\n"
        "from PySide6.QtCore import QTimer\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from llmos_desktop import app\n"
        "from llmos_desktop.ui.main_window import MainWindow\n"
        "qapp = QApplication(['llmos-desktop'])\n"
        "def close():\n"
        "    for w in qapp.topLevelWidgets():\n"
        "        if isinstance(w, MainWindow):\n"
        "            w.close()\n"
        "QTimer.singleShot(0, close)\n"
        "print(json.dumps({'status': app.main(['llmos-desktop'])}))\n"
    )
    env = dict(os.environ, LLMOS_HOME=str(tmp_path / "home"), QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"status": 0}
