"""qasync + pytest-qt: the qasync loop is the running asyncio loop while qtbot spins Qt.

qtbot.wait/waitUntil process Qt events; qasync's callbacks are Qt timer events and
socket notifiers, so asyncio tasks progress during those waits. The loop is marked as
the *running* loop (as qasync's own run_forever does) because httpx/anyio and
run_in_executor need asyncio.get_running_loop(); it is unmarked and closed at teardown
so later tests see no loop. asyncio's async-generator hooks are installed as the app
does (llmos_desktop.app.asyncgen_hooks; qasync omits them). Not qasync's ``already_running=True``: stopping such a loop
calls QApplication.exit(), which would make every later nested Qt event loop return at
once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import shiboken6
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QWidget
from pytestqt.qtbot import QtBot

from llmos_desktop.app import build_window, close_window
from llmos_desktop.core.engine.contract import LoadOptions, SamplingOptions
from llmos_desktop.core.paths import app_paths
from llmos_desktop.core.settings import Settings
from llmos_desktop.ui.main_window import MainWindow


@pytest.fixture(scope="module")
def qasync_loop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    import qasync

    from llmos_desktop.app import asyncgen_hooks

    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    asyncio.events._set_running_loop(loop)
    try:
        with asyncgen_hooks(loop):
            yield loop
            run_on_loop(loop.shutdown_asyncgens(), 10)
    finally:
        asyncio.events._set_running_loop(None)
        loop.close()
        asyncio.set_event_loop(None)


def spin_until(predicate: Callable[[], Any], timeout: float, what: str = "condition") -> None:
    """qtbot.waitUntil for module-scoped fixtures (which cannot use the function-scoped qtbot)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        QTest.qWait(10)


def run_on_loop(coro: Any, timeout: float) -> Any:
    """Run a coroutine on the (already marked running) qasync loop by spinning Qt."""
    task = asyncio.ensure_future(coro)
    spin_until(task.done, timeout, repr(coro))
    return task.result()


class StallWatch:
    """Longest gap between ticks of a 5 ms Qt timer: how long the GUI loop was blocked."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._last = time.monotonic()
        self._timer = QTimer()
        self._timer.setInterval(5)
        self._timer.timeout.connect(self._on_timer_timeout)

    def __enter__(self) -> StallWatch:
        # What is measured is the window, not the test process: after ~2,000 tests a full
        # garbage collection walks everything earlier tests left alive, which the app's own
        # process never holds. Those objects are frozen for the measure (gc.freeze: the
        # collector skips them); the window's own garbage is collected as usual.
        gc.collect()
        gc.freeze()
        self._last = time.monotonic()
        self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._timer.stop()
        gc.unfreeze()

    def _on_timer_timeout(self) -> None:
        now = time.monotonic()
        self.longest = max(self.longest, now - self._last)
        self._last = now


def engine_children() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "--engine-child" in child.cmdline():
                found.append(child)
        except psutil.Error:
            continue
    return found


@pytest.fixture
def platform_theme(qapp: QApplication) -> Iterator[None]:
    """Gives the application its platform style and palette back after the test, for a
    test that changes the theme (the palette is the application's, not the window's)."""
    style = qapp.style().name()
    yield
    from PySide6.QtGui import QPalette

    if qapp.style().name() != style:
        qapp.setStyle(style)
    qapp.setPalette(QPalette())


def focus_chain(start: QWidget, limit: int = 200) -> list[QWidget]:
    """The widgets Tab visits from ``start`` until it comes back, as a user presses Tab.

    ``start``'s window must be active (offscreen: activateWindow, then wait for it).
    """
    start.setFocus(Qt.FocusReason.TabFocusReason)
    QTest.qWait(5)
    first = QApplication.focusWidget()
    assert first is not None, "nothing has the keyboard focus"
    chain = [first]
    for _ in range(limit):
        current = QApplication.focusWidget()
        assert current is not None
        QTest.keyClick(current, Qt.Key.Key_Tab)
        following = QApplication.focusWidget()
        assert following is not None
        if following is first:
            return chain
        assert following not in chain, f"Tab is stuck in a loop at {following!r}"
        chain.append(following)
    raise AssertionError(f"Tab did not come back to {first!r} in {limit} presses")


def spoken_name(widget: QWidget) -> str:
    """What a screen reader calls ``widget``: its accessible name, else the text of a
    visible label whose buddy it is, else a button's own text (Qt's accessibility reads
    those two as the name too)."""
    if widget.accessibleName():
        return widget.accessibleName()
    if isinstance(widget, QAbstractButton) and widget.text().replace("&", "").strip():
        return widget.text().replace("&", "")
    window = widget.window()
    labels: list[QLabel] = list(window.findChildren(QLabel))
    for label in labels:
        if label.buddy() is widget and label.isVisible() and label.text():
            return str(label.text()).replace("&", "")
    return ""


@pytest.fixture
def fresh_window(qtbot: QtBot, qasync_loop: asyncio.AbstractEventLoop) -> Iterator[MainWindow]:
    """A window built the way the app builds it (paths and settings from LLMOS_HOME),
    closed as the app closes it: its tasks stopped while its widgets still exist, then
    deleted. (Not ``qtbot.addWidget``: pytest-qt deletes such widgets before fixtures
    end, and the pages' start-up tasks then ran into deleted widgets.)"""
    window = build_window()
    window.show()
    try:
        yield window
    finally:
        run_on_loop(close_window(window), 30)
        if shiboken6.isValid(window):
            window.close()
            window.deleteLater()


@pytest.fixture(scope="module")
def loaded_window(
    qasync_loop: asyncio.AbstractEventLoop,
    model_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MainWindow]:
    # Engines of other test modules (e.g. the session-wide API engine) are not ours to judge.
    engines_before = {p.pid for p in engine_children()}
    home = tmp_path_factory.mktemp("ui-home")
    paths = app_paths({"LLMOS_HOME": str(home)}).ensure()
    settings = Settings(load=LoadOptions(n_threads=2), prompt_cache_mb=256)
    window = build_window(paths=paths, settings=settings)
    window.show()
    with closed_at_the_end(window, engines_before):
        task = window.chat_page.load_model(model_path)
        assert task is not None
        spin_until(task.done, 120, "the model to load")
        task.result()
        assert window.chat_page.model_ready, window.chat_page.banner.text()
        assert window.focusWidget() is window.chat_page.input, (
            "after a load, typing goes to the input"
        )
        yield window


@contextlib.contextmanager
def closed_at_the_end(window: MainWindow, engines_before: set[int]) -> Iterator[None]:
    """Closes ``window`` as the app does after the block, then checks that its engine
    process is gone and that no engine child started since ``engines_before`` is left."""
    try:
        yield
    finally:
        pid = window.engine.pid
        run_on_loop(close_window(window), 30)
        window.close()
        window.deleteLater()
    assert (
        pid is None
        or not psutil.pid_exists(pid)
        or (psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    )
    assert [p for p in engine_children() if p.pid not in engines_before] == []


@pytest.fixture
def chat(loaded_window: MainWindow, qtbot: QtBot) -> MainWindow:
    """The shared loaded window with an empty conversation and default limits."""
    page = loaded_window.chat_page
    qtbot.waitUntil(lambda: not page.busy, timeout=30_000)
    qtbot.mouseClick(page.new_chat_button, Qt.MouseButton.LeftButton)
    page.session.sampling = SamplingOptions(max_tokens=48)
    return loaded_window
