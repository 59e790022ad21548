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
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication


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
        self._last = time.monotonic()
        self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._timer.stop()

    def _on_timer_timeout(self) -> None:
        now = time.monotonic()
        self.longest = max(self.longest, now - self._last)
        self._last = now
