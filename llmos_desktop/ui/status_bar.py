"""The window's status bar: what the engine is doing, with what, and how fast.

It is driven by state, not by text: the page that loads models and streams replies
calls ``set_state(EngineState.LOADING, model=..., progress=...)`` and the bar words it
(translated) and decides what else to show. ``show_engine_status`` takes the engine's
own status (``/control/status``: model, backend, n_ctx, memory_rss_bytes) after a load,
and ``show_reply_timings`` a reply's timings.

While a model is loaded the engine process's memory is measured every few seconds
(psutil on its pid, imported on first use, read on the loop's executor so the GUI thread
never waits for /proc). No model, no polling: an idle window costs nothing.

While the API server is on (the Developer page), other programs share the engine with
the window: ``start_api_polling`` asks the engine how many API requests it serves
(``Engine.busy()``) every ``API_POLL_MS`` and the bar says "Busy with an API request"
while there are any, so a reply that waits its turn is not a mystery. Off, no polling.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QLocale, Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

if TYPE_CHECKING:
    import asyncio

log = logging.getLogger(__name__)

MEMORY_POLL_MS = 3000
API_POLL_MS = 1500


class EngineState(enum.StrEnum):
    NO_MODEL = "no_model"  # no engine yet, or one with nothing loaded
    LOADING = "loading"  # a model is being loaded (or reloaded after a restart)
    READY = "ready"
    REPLYING = "replying"
    STOPPED = "stopped"  # the engine process died; the next message restarts it


LOADED_STATES = frozenset({EngineState.READY, EngineState.REPLYING})


def process_rss(pid: int) -> int | None:
    """Resident memory of process ``pid`` in bytes; None when it is gone (blocking)."""
    import psutil

    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return None


class EngineStatusBar(QStatusBar):
    """State, model, backend, context size, engine memory and the last reply's speed."""

    memory_measured = Signal(object)  # bytes (int), or None when the process was gone
    api_busy_measured = Signal(int)  # API requests in flight, at each poll

    def __init__(
        self,
        *,
        engine_pid: Callable[[], int | None] = lambda: None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("engineStatusBar")
        self.setSizeGripEnabled(True)
        self._engine_pid = engine_pid
        self._state = EngineState.NO_MODEL
        self._model: str | None = None
        self._progress: float | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._api_busy = 0
        self._api_fetch: Callable[[], Awaitable[Mapping[str, Any]]] | None = None
        self._api_task: asyncio.Task[None] | None = None

        self.state_label = self._label("engineState", self.tr("Engine state"))
        self.backend_label = self._label("engineBackend", self.tr("Backend"))
        self.backend_label.setToolTip(self.tr("Where the model runs (CPU, CUDA, Metal, Vulkan)"))
        self.context_label = self._label("engineContext", self.tr("Context size"))
        self.context_label.setToolTip(self.tr("Context size: tokens the model can see at once"))
        self.memory_label = self._label("engineMemory", self.tr("Engine memory"))
        self.memory_label.setToolTip(self.tr("Memory the engine process uses"))
        self.speed_label = self._label("replySpeed", self.tr("Last reply speed"))
        self.api_busy_label = self._label("engineApiBusy", self.tr("API requests"))
        self.api_busy_label.setToolTip(
            self.tr("Other programs' requests are served in turn with this window's replies")
        )
        self.api_busy_label.setContentsMargins(6, 0, 6, 0)
        self.state_label.setContentsMargins(8, 0, 0, 0)
        for label in (self.backend_label, self.context_label, self.memory_label):
            label.setContentsMargins(6, 0, 6, 0)
        self.speed_label.setContentsMargins(6, 0, 8, 0)
        self.addWidget(self.state_label, 1)
        self.addPermanentWidget(self.api_busy_label)
        for label in (self.backend_label, self.context_label, self.memory_label):
            self.addPermanentWidget(label)
        self.addPermanentWidget(self.speed_label)

        self._api_timer = QTimer(self)
        self._api_timer.setInterval(API_POLL_MS)
        self._api_timer.timeout.connect(self._on_api_timer_timeout)
        self._memory_timer = QTimer(self)
        self._memory_timer.setInterval(MEMORY_POLL_MS)
        self._memory_timer.timeout.connect(self._on_memory_timer_timeout)
        self._render()

    def _label(self, name: str, accessible: str) -> QLabel:
        label = QLabel(self)
        label.setObjectName(name)
        label.setTextFormat(Qt.TextFormat.PlainText)  # model names come from files
        label.setAccessibleName(accessible)
        return label

    # --- the API the pages drive --------------------------------------------------------

    @property
    def state(self) -> EngineState:
        return self._state

    @property
    def model(self) -> str | None:
        return self._model

    @property
    def polling_memory(self) -> bool:
        return self._memory_timer.isActive()

    def set_state(
        self, state: EngineState, *, model: str | None = None, progress: float | None = None
    ) -> None:
        """What the engine does now. ``model``: the model's name (kept when None);
        ``progress``: 0..1 while loading, None when unknown."""
        self._state = state
        if model:
            self._model = model
        self._progress = None if progress is None else max(0.0, min(1.0, float(progress)))
        if state == EngineState.NO_MODEL:
            self._model = None
            self.show_engine_status({})
        if state in LOADED_STATES:
            if not self._memory_timer.isActive():
                self._memory_timer.start()
        else:
            self._memory_timer.stop()
        self._render()

    def set_progress(self, progress: float | None) -> None:
        """The load's progress (0..1), while LOADING."""
        if self._state == EngineState.LOADING:
            self._progress = None if progress is None else max(0.0, min(1.0, float(progress)))
            self._render()

    def show_engine_status(self, status: Mapping[str, Any]) -> None:
        """The engine's status after a load: backend, context size, memory, model name."""
        model = status.get("model")
        if isinstance(model, str) and model:
            self._model = model
        backend = status.get("backend")
        self.backend_label.setText(str(backend) if backend else "")
        n_ctx = status.get("n_ctx")
        self.context_label.setText(
            self.tr("Context {tokens}").format(tokens=QLocale().toString(n_ctx))
            if isinstance(n_ctx, int) and n_ctx > 0
            else ""
        )
        rss = status.get("memory_rss_bytes")
        self.set_memory(rss if isinstance(rss, int) else None)

    def set_memory(self, rss_bytes: int | None) -> None:
        """The engine process's resident memory (None: unknown, hidden)."""
        if rss_bytes is None or rss_bytes <= 0:
            self.memory_label.clear()
        else:
            size = QLocale().formattedDataSize(
                rss_bytes, 0, QLocale.DataSizeFormat.DataSizeTraditionalFormat
            )
            self.memory_label.setText(self.tr("Memory {size}").format(size=size))
        self._render()

    def show_reply_timings(self, timings: Mapping[str, Any]) -> None:
        """A finished reply's speed (``tokens_per_s``, ``ttft_s``); kept when it has none
        (a stopped reply), so the last real measure stays visible."""
        speed = timings.get("tokens_per_s")
        if not isinstance(speed, int | float):
            return
        text = self.tr("{speed} tokens/s").format(
            speed=QLocale().toString(float(speed), ord("f"), 1)
        )
        ttft = timings.get("ttft_s")
        if isinstance(ttft, int | float):
            text += " · " + self.tr("first token {seconds} s").format(
                seconds=QLocale().toString(float(ttft), ord("f"), 2)
            )
        self.speed_label.setText(text)
        self._render()

    def set_api_busy(self, requests: int) -> None:
        """API requests the engine serves now (0: none, the label is hidden)."""
        self._api_busy = max(0, int(requests))
        self._render()

    @property
    def api_busy(self) -> int:
        return self._api_busy

    @property
    def polling_api(self) -> bool:
        return self._api_timer.isActive()

    def start_api_polling(self, fetch: Callable[[], Awaitable[Mapping[str, Any]]]) -> None:
        """Ask ``fetch()`` (``Engine.busy()``: {"api": n, ...}) every API_POLL_MS how many
        API requests are in flight, until ``stop_api_polling``."""
        self._api_fetch = fetch
        if not self._api_timer.isActive():
            self._api_timer.start()

    def stop_api_polling(self) -> None:
        self._api_timer.stop()
        self._api_fetch = None
        if self._api_task is not None:
            self._api_task.cancel()
        self.set_api_busy(0)

    def stop(self) -> None:
        """Stop polling (the window is closing)."""
        self._memory_timer.stop()
        if self._poll_task is not None:
            self._poll_task.cancel()
        self._api_timer.stop()
        if self._api_task is not None:
            self._api_task.cancel()

    # --- rendering ----------------------------------------------------------------------

    def state_text(self) -> str:
        model = self._model or self.tr("the model")
        if self._state == EngineState.LOADING:
            if self._progress is None:
                return self.tr("Loading {model}…").format(model=model)
            return self.tr("Loading {model}… {percent}%").format(
                model=model, percent=round(self._progress * 100)
            )
        if self._state == EngineState.READY:
            return self.tr("Ready · {model}").format(model=model)
        if self._state == EngineState.REPLYING:
            return self.tr("Replying · {model}").format(model=model)
        if self._state == EngineState.STOPPED:
            return self.tr("Engine stopped · it restarts with the next message")
        return self.tr("No model loaded")

    def _render(self) -> None:
        self.state_label.setText(self.state_text())
        loaded = self._state in LOADED_STATES
        for label in (self.backend_label, self.context_label, self.memory_label):
            label.setVisible(loaded and bool(label.text()))
        self.speed_label.setVisible(bool(self.speed_label.text()))
        if self._api_busy > 0:
            self.api_busy_label.setText(
                self.tr("Busy with an API request")
                if self._api_busy == 1
                else self.tr("Busy with {count} API requests").format(count=self._api_busy)
            )
        else:
            self.api_busy_label.clear()
        self.api_busy_label.setVisible(self._api_busy > 0)

    # --- memory polling -----------------------------------------------------------------

    def _on_memory_timer_timeout(self) -> None:
        if self._poll_task is not None and not self._poll_task.done():
            return  # the last measure has not come back yet
        pid = self._engine_pid()
        if pid is None:
            return
        import asyncio  # here, not at import: the window's frame paints before asyncio loads

        self._poll_task = asyncio.ensure_future(self._measure_memory(pid))

    async def _measure_memory(self, pid: int) -> None:
        import asyncio

        try:
            rss = await asyncio.get_running_loop().run_in_executor(None, process_rss, pid)
        except Exception:  # a failed measure must not end the polling
            log.exception("measuring the engine's memory failed")
            return
        if self._state in LOADED_STATES and pid == self._engine_pid():
            self.set_memory(rss)
        self.memory_measured.emit(rss)

    # --- API requests in flight ---------------------------------------------------------

    def _on_api_timer_timeout(self) -> None:
        if self._api_task is not None and not self._api_task.done():
            return  # the last answer has not come back yet
        if self._api_fetch is None:
            return
        import asyncio

        self._api_task = asyncio.ensure_future(self._measure_api(self._api_fetch))

    async def _measure_api(self, fetch: Callable[[], Awaitable[Mapping[str, Any]]]) -> None:
        import asyncio

        try:
            busy = await fetch()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the engine went away between two polls: say nothing
            log.info("engine busy: %s", exc)
            busy = {}
        if self._api_fetch is not fetch:
            return  # stopped meanwhile
        count = busy.get("api") if isinstance(busy, Mapping) else None
        self.set_api_busy(count if isinstance(count, int) else 0)
        self.api_busy_measured.emit(self._api_busy)
