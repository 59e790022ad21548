"""Between the Models services (blocking, thread-safe, Qt-free) and the GUI thread.

Two directions:

- **GUI -> service.** Every service call may touch the disk or the network (a scan, a
  search, a header read), so none runs on the GUI thread: ``call`` runs it on the
  event loop's executor and the GUI awaits it (qasync, as ui/chat/page.py does). Work
  runs as asyncio tasks kept by ``start``, so ``shutdown`` can cancel and await them.
- **Service -> GUI.** ``DownloadManager`` calls its listeners on its worker threads.
  Qt must not be touched there, so the listener only records the newest snapshot of each
  download and emits a Qt signal; Qt queues it to the GUI thread (the bridge lives
  there), where the snapshots are handed out as ``download_changed``. A burst of
  progress from a fast transfer is one GUI update, never a growing queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Qt, Signal

from llmos_desktop.core.models.types import DownloadProgress
from llmos_desktop.ui.tasks import PageTasks

T = TypeVar("T")

Subscribe = Callable[[Callable[[DownloadProgress], None]], Callable[[], None]]


class ServiceBridge(QObject):
    """Runs blocking calls off the GUI thread and brings download news back to it."""

    download_changed = Signal(object)  # DownloadProgress, on the GUI thread
    # Emitted on a worker thread; connected queued, so its slot runs on the GUI thread.
    _progress_arrived = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks = PageTasks("models pane")
        self._lock = threading.Lock()
        self._pending: dict[str, DownloadProgress] = {}
        self._flush_posted = False
        self._unsubscribe: Callable[[], None] | None = None
        self._closed = False
        self._progress_arrived.connect(
            self._on_progress_arrived, Qt.ConnectionType.QueuedConnection
        )

    # --- GUI -> service -----------------------------------------------------------------

    @staticmethod
    async def call(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``func(*args, **kwargs)`` on the loop's executor (never the GUI thread)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(func, *args, **kwargs))

    def start(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run ``coro`` as a task that ``shutdown`` cancels; a failure is logged."""
        return self._tasks.start(coro)

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    # --- service -> GUI -----------------------------------------------------------------

    def listen(self, subscribe: Subscribe) -> None:
        """Subscribe to a DownloadManager (``manager.subscribe``); once."""
        if self._unsubscribe is None and not self._closed:
            unsubscribe = subscribe(self._on_worker_progress)
            self._unsubscribe = unsubscribe
            # Deleted without shutdown (its parent went first): stop hearing at once.
            self.destroyed.connect(lambda *_args: unsubscribe())

    @property
    def listening(self) -> bool:
        return self._unsubscribe is not None

    def _on_worker_progress(self, progress: DownloadProgress) -> None:
        # A worker thread: no Qt object is touched, only the lock and a signal emit.
        with self._lock:
            if self._closed:
                return
            self._pending[progress.id] = progress
            if self._flush_posted:
                return
            self._flush_posted = True
        with contextlib.suppress(RuntimeError):  # the bridge was deleted meanwhile
            self._progress_arrived.emit()

    def _on_progress_arrived(self) -> None:
        with self._lock:
            pending = list(self._pending.values())
            self._pending.clear()
            self._flush_posted = False
        for progress in pending:
            self.download_changed.emit(progress)

    # --- end ----------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Stop listening, cancel the tasks and wait for them."""
        with self._lock:
            self._closed = True
            self._pending.clear()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self._tasks.cancel()
