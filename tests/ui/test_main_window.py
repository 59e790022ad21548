"""The minimal window: navigation, placeholders, loading, streaming, stop, engine death.

Tests marked ``model`` share one window with the real engine and Gemma 3 270M loaded
(module scope), so the engine starts and loads once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

import llmos_desktop
from llmos_desktop.app import build_window, close_window
from llmos_desktop.core.engine.contract import LoadOptions, SamplingOptions
from llmos_desktop.core.paths import app_paths
from llmos_desktop.core.settings import Settings, load_settings
from llmos_desktop.ui.main_window import MainWindow
from tests.ui.conftest import StallWatch, run_on_loop, spin_until

HEAVY_MODULES = ("llama_cpp", "fastapi", "uvicorn", "huggingface_hub", "numpy", "gguf")


def _engine_children() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "--engine-child" in child.cmdline():
                found.append(child)
        except psutil.Error:
            continue
    return found


@pytest.fixture
def fresh_window(qtbot: QtBot, qasync_loop: asyncio.AbstractEventLoop) -> Iterator[MainWindow]:
    """A window built the way the app builds it (paths and settings from LLMOS_HOME)."""
    window = build_window()
    qtbot.addWidget(window)
    window.show()
    yield window
    run_on_loop(close_window(window), 30)


@pytest.fixture(scope="module")
def loaded_window(
    qasync_loop: asyncio.AbstractEventLoop,
    model_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MainWindow]:
    # Engines of other test modules (e.g. the session-wide API engine) are not ours to judge.
    engines_before = {p.pid for p in _engine_children()}
    home = tmp_path_factory.mktemp("ui-home")
    paths = app_paths({"LLMOS_HOME": str(home)}).ensure()
    settings = Settings(load=LoadOptions(n_threads=2), prompt_cache_mb=256)
    window = build_window(paths=paths, settings=settings)
    window.show()
    pids: set[int] = set()
    try:
        task = window.chat_page.load_model(model_path)
        assert task is not None
        spin_until(task.done, 120, "the model to load")
        task.result()
        assert window.chat_page.model_ready, window.chat_page.banner.text()
        assert window.focusWidget() is window.chat_page.input, (
            "after a load, typing goes to the input"
        )
        yield window
    finally:
        if window.engine.pid is not None:
            pids.add(window.engine.pid)
        run_on_loop(close_window(window), 30)
        window.close()
        window.deleteLater()
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert [p for p in _engine_children() if p.pid not in engines_before] == []


@pytest.fixture
def chat(loaded_window: MainWindow, qtbot: QtBot) -> MainWindow:
    """The shared loaded window with an empty conversation and default limits."""
    page = loaded_window.chat_page
    qtbot.waitUntil(lambda: not page.busy, timeout=30_000)
    qtbot.mouseClick(page.new_chat_button, Qt.MouseButton.LeftButton)
    page.session.sampling = SamplingOptions(max_tokens=48)
    return loaded_window


def _reply_text(window: MainWindow) -> str:
    history = window.chat_page.session.messages
    return history[-1]["content"] if history and history[-1]["role"] == "assistant" else ""


# --- no engine needed ---------------------------------------------------------------


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


def test_enter_sends_and_shift_enter_adds_a_line(fresh_window: MainWindow, qtbot: QtBot) -> None:
    page = fresh_window.chat_page
    submitted: list[bool] = []
    page.input.submitted.connect(lambda: submitted.append(True))
    qtbot.keyClicks(page.input, "one")
    qtbot.keyClick(page.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(page.input, "two")
    assert page.input.toPlainText() == "one\ntwo"
    qtbot.keyClick(page.input, Qt.Key.Key_Return)
    assert submitted == [True]
    # No model loaded: nothing is sent and the text stays where it was.
    assert page.input.toPlainText() == "one\ntwo"
    assert page.session.messages == []


def test_bad_file_shows_a_readable_banner(
    fresh_window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    bad = tmp_path / "<b>x<img src=y>.gguf"
    bad.write_bytes(os.urandom(100))
    page = fresh_window.chat_page
    task = page.load_model(bad)
    assert task is not None
    qtbot.waitUntil(task.done, timeout=10_000)
    message = page.banner.text()
    assert message, "no error banner"
    assert "Traceback" not in message
    assert page.banner.label.textFormat() == Qt.TextFormat.PlainText
    assert not page.model_ready
    assert not page.send_button.isEnabled()
    assert page.load_button.isEnabled()
    assert fresh_window.engine.pid is None  # rejected before the engine started
    assert fresh_window.isVisible()


# --- the real engine ------------------------------------------------------------------


@pytest.mark.model
def test_load_then_streamed_reply(chat: MainWindow, qtbot: QtBot, model_path: Path) -> None:
    page = chat.chat_page
    assert page.progress_bar.value() == 100
    assert "Ready" in chat.engine_label.text()
    assert chat.engine.pid is not None
    assert str(model_path) in load_settings(chat.paths.settings_file).recent_models
    assert chat.focusWidget() is page.input, "after New chat, typing goes to the input"

    page.session.sampling = SamplingOptions(max_tokens=24)
    task = page.send_message("Hello")
    assert task is not None
    assert page.stop_button.isEnabled()
    assert not page.send_button.isEnabled()
    lengths: list[int] = []
    with StallWatch() as stalls:
        while not task.done():
            lengths.append(len(page.transcript.toPlainText()))
            qtbot.wait(30)
    print(f"longest GUI loop stall while streaming: {stalls.longest * 1000:.0f} ms")
    assert stalls.longest < 0.25  # the design's bound is 50 ms; shared CI cores are noisy
    assert task.exception() is None
    reply = _reply_text(chat)
    assert reply, page.banner.text()
    assert reply in page.transcript.toPlainText()
    growth = sorted(set(lengths))
    assert len(growth) >= 3, f"transcript did not grow while streaming: {growth}"
    assert "tokens/s" in chat.speed_label.text()
    assert page.send_button.isEnabled()
    assert page.session.messages[0] == {"role": "user", "content": "Hello"}


@pytest.mark.model
def test_stop_ends_the_reply_and_keeps_it(chat: MainWindow, qtbot: QtBot) -> None:
    page = chat.chat_page
    page.session.sampling = SamplingOptions(max_tokens=2000, temperature=1.0)
    before = len(page.transcript.toPlainText())
    task = page.send_message("Write a very long story about a dragon who learns to cook.")
    assert task is not None
    # The task's first step writes the prompt and the reply header; then text streams.
    qtbot.waitUntil(lambda: len(page.transcript.toPlainText()) > before, timeout=5_000)
    start = len(page.transcript.toPlainText())
    qtbot.waitUntil(lambda: len(page.transcript.toPlainText()) > start + 60, timeout=30_000)
    clicked = time.monotonic()
    qtbot.mouseClick(page.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(page.send_button.isEnabled, timeout=2_000)
    assert time.monotonic() - clicked < 2.0
    assert task.cancelled()
    stopped_at = len(page.transcript.toPlainText())
    qtbot.wait(1000)
    assert len(page.transcript.toPlainText()) == stopped_at
    assert "[stopped]" in page.transcript.toPlainText()
    partial = _reply_text(chat)
    assert partial, "the partial reply was not kept in the history"

    page.session.sampling = SamplingOptions(max_tokens=16)
    task = page.send_message("And then?")
    assert task is not None
    qtbot.waitUntil(task.done, timeout=30_000)
    assert task.exception() is None
    assert page.banner.text() == ""
    assert [m["role"] for m in page.session.messages] == ["user", "assistant", "user", "assistant"]


@pytest.mark.model
def test_engine_killed_then_next_send_restarts(chat: MainWindow, qtbot: QtBot) -> None:
    page = chat.chat_page
    pid = chat.engine.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: "killed" in page.banner.text(), timeout=10_000)
    assert "stopped" in chat.engine_label.text().lower()
    assert page.send_button.isEnabled()

    restarting: list[str] = []
    page.engine_state_changed.connect(restarting.append)
    page.session.sampling = SamplingOptions(max_tokens=16)
    task = page.send_message("Hello again")
    assert task is not None
    with StallWatch() as stalls:
        qtbot.waitUntil(task.done, timeout=90_000)
    print(f"longest GUI loop stall while restarting: {stalls.longest * 1000:.0f} ms")
    assert stalls.longest < 0.25
    assert task.exception() is None
    assert page.banner.text() == "", page.banner.text()
    assert _reply_text(chat), "no reply after the restart"
    new_pid = chat.engine.pid
    assert new_pid is not None and new_pid != pid
    assert any("Restarting" in line for line in restarting)


@pytest.mark.model
def test_quick_stream_stop_cycles_keep_the_loop_alive(chat: MainWindow, qtbot: QtBot) -> None:
    page = chat.chat_page
    page.session.sampling = SamplingOptions(max_tokens=8)
    for cycle in range(10):
        qtbot.mouseClick(page.new_chat_button, Qt.MouseButton.LeftButton)
        task = page.send_message(f"Count to {cycle + 3}.")
        assert task is not None
        if cycle:  # the first is stopped before its task ever ran
            qtbot.wait(20 + 30 * (cycle % 4))  # stop during prompt evaluation and output
        page.stop_reply()
        qtbot.waitUntil(task.done, timeout=10_000)
        assert page.send_button.isEnabled()
        assert "[no reply]" not in page.transcript.toPlainText(), page.banner.text()
    task = page.send_message("Say hi.")
    assert task is not None
    qtbot.waitUntil(task.done, timeout=30_000)
    assert task.exception() is None
    assert page.banner.text() == ""
    assert chat.engine.running


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
    text = " ".join(label.text() for label in about.findChildren(QLabel))
    assert llmos_desktop.__version__ in text
    assert "engine not started" in text
    assert not fresh_window.engine.running
    about.close()
