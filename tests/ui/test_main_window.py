"""The main window: navigation, placeholders, start-up cost, the About dialog.

The chat page's own tests are in test_chat_page.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

import llmos_desktop
from llmos_desktop.ui.main_window import MainWindow

HEAVY_MODULES = ("llama_cpp", "fastapi", "uvicorn", "huggingface_hub", "numpy", "gguf", "httpx")


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
    assert labels == ["Chat", "Models", "Store"]
    assert window.pages.currentWidget() is window.chat_page
    assert (window.width(), window.height()) == (1000, 700)

    window.navigation.setCurrentRow(1)
    assert window.pages.currentWidget() is window.models_page
    assert window.models_page.isVisible()
    assert "Hugging Face Hub" in window.models_page.description_label.text()
    assert "coming soon" in window.models_page.description_label.text()
    window.navigation.setCurrentRow(2)
    assert window.store_page.isVisible()
    assert "coming soon" in window.store_page.description_label.text()
    window.navigation.setCurrentRow(0)

    page = window.chat_page
    assert window.engine.pid is None  # the engine starts on the first load
    assert "not started" in window.engine_label.text()
    assert not page.send_button.isEnabled()
    assert not page.stop_button.isEnabled()
    assert page.banner.text() == ""


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


def test_help_about_opens_without_starting_an_engine(
    fresh_window: MainWindow, qtbot: QtBot
) -> None:
    from PySide6.QtWidgets import QApplication

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
    from PySide6.QtCore import Qt, QUrl
    from PySide6.QtGui import QDesktopServices
    from PySide6.QtWidgets import QApplication

    from llmos_desktop.ui.about_dialog import AboutDialog

    opened: list[QUrl] = []

    def open_url(url: QUrl) -> bool:
        opened.append(url)
        return True

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
