"""The chat page: pick and load a model, then chat with it, streamed.

All engine work runs as asyncio tasks on the qasync loop, started from slots and kept
in ``self._tasks``; blocking work (file checks, verifying the starter model, writing
settings) goes to the loop's executor. Engine failures become a banner: the window
never dies with the engine, and the next message restarts it (Engine does that).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QCoreApplication, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.chat.session import ChatSession, Outcome, ReplyEnded, ReplyListener
from llmos_desktop.core.engine.contract import ModelLoad
from llmos_desktop.core.engine.control.client import EngineAPIError
from llmos_desktop.core.engine.control.service import Engine, EngineUnavailable
from llmos_desktop.core.engine.errors import EngineFailure
from llmos_desktop.core.models.starter import (
    STARTER_DESCRIPTION,
    STARTER_LABEL,
    TRANSLATION_CONTEXT,
    StarterModelError,
    starter_location,
    starter_model_path,
)
from llmos_desktop.core.paths import AppPaths
from llmos_desktop.core.settings import Settings, save_settings
from llmos_desktop.ui.widgets.banner import MessageBanner
from llmos_desktop.ui.widgets.message_input import MessageInput
from llmos_desktop.ui.widgets.transcript import TranscriptView

log = logging.getLogger(__name__)

T = TypeVar("T")

STARTER_CHOICE = "llmos:starter"
"""Picker data of the starter model, whose file is checked on first use (used in place)."""


def check_model_file_message(path: str, n_ctx: int) -> str | None:
    """Run the GGUF check (in a worker thread); the human line of a ModelFileError, or None.

    Imported when first used: nothing a window does not need at once is imported at
    start-up.
    """
    from llmos_desktop.core.models.gguf import ModelFileError, check_model_file

    try:
        check_model_file(path, n_ctx=n_ctx)
    except ModelFileError as exc:
        return exc.message
    return None


class ChatPage(QWidget):
    """Model picker, load progress, transcript and message box for one chat."""

    model_loaded = Signal(dict)  # the engine's status after the load
    reply_finished = Signal(object)  # ReplyEnded (its result's timings empty when stopped)
    engine_state_changed = Signal(str)  # one translated line for the status bar

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        paths: AppPaths,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._engine = engine
        self._settings = settings
        self._paths = paths
        self.session = ChatSession(engine, settings.sampling)
        self.model_status: dict[str, Any] | None = None
        self._model_ready = False
        self._restarting = False  # Engine is restarting a dead engine before a reply
        self._load_task: asyncio.Task[None] | None = None
        self._reply_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._file_dialog: QFileDialog | None = None
        # Where the installation keeps the starter (a stat, not a read); None without one.
        # Its names as paths are stored (settings keep the path the engine loaded); other
        # paths are compared as strings, never resolved: a stale network path could hang.
        self._starter = starter_location()
        self._starter_names = (
            frozenset({str(self._starter), str(self._starter.resolve())})
            if self._starter is not None
            else frozenset()
        )

        self._build_widgets()
        self._build_layout()
        self._refresh_model_picker()
        self._update_actions()

    # --- construction -----------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.model_label = QLabel(self.tr("&Model:"), self)
        self.model_picker = QComboBox(self)
        self.model_picker.setObjectName("modelPicker")
        self.model_picker.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model_picker.setMinimumContentsLength(24)
        self.model_picker.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.model_picker.setPlaceholderText(self.tr("No model yet — open a GGUF file"))
        self.model_label.setBuddy(self.model_picker)
        self.open_button = QPushButton(self.tr("&Open GGUF…"), self)
        self.open_button.setObjectName("openButton")
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.load_button = QPushButton(self.tr("&Load"), self)
        self.load_button.setObjectName("loadButton")
        self.load_button.clicked.connect(self._on_load_button_clicked)
        self.new_chat_button = QPushButton(self.tr("&New chat"), self)
        self.new_chat_button.setObjectName("newChatButton")
        self.new_chat_button.setToolTip(self.tr("Clear the conversation (the model stays loaded)"))
        self.new_chat_button.clicked.connect(self._on_new_chat_button_clicked)

        self.progress_bar = QProgressBar(self)
        self.progress_bar.setObjectName("loadProgress")
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setMaximumWidth(260)
        self.stage_label = QLabel(self)
        self.stage_label.setObjectName("stageLabel")
        self.stage_label.setTextFormat(Qt.TextFormat.PlainText)
        self._progress_hide_timer = QTimer(self)
        self._progress_hide_timer.setSingleShot(True)
        self._progress_hide_timer.setInterval(2500)
        self._progress_hide_timer.timeout.connect(self._on_progress_hide_timer_timeout)

        self.banner = MessageBanner(self)
        # Shown while the starter is the loaded model: what a 135M model can and cannot do.
        self.starter_note = QLabel(
            QCoreApplication.translate(TRANSLATION_CONTEXT, STARTER_DESCRIPTION), self
        )
        self.starter_note.setObjectName("starterNote")
        self.starter_note.setTextFormat(Qt.TextFormat.PlainText)
        self.starter_note.setWordWrap(True)
        self.starter_note.setVisible(False)

        self.transcript = TranscriptView(self)
        self.transcript.setPlaceholderText(
            self.tr(
                "Load a model, then type a message below. Replies appear here as they are written."
            )
        )

        self.input = MessageInput(self)
        self.input.setPlaceholderText(
            self.tr("Type a message — Enter sends, Shift+Enter starts a new line")
        )
        line_height = self.input.fontMetrics().lineSpacing()
        self.input.setFixedHeight(line_height * 4 + 16)
        self.input.submitted.connect(self._on_input_submitted)
        self.send_button = QPushButton(self.tr("Send"), self)
        self.send_button.setObjectName("sendButton")
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self._on_send_button_clicked)
        self.stop_button = QPushButton(self.tr("Stop"), self)
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip(self.tr("Stop the reply (what was written so far is kept)"))
        self.stop_button.clicked.connect(self._on_stop_button_clicked)

    def _build_layout(self) -> None:
        model_row = QHBoxLayout()
        model_row.setSpacing(8)
        model_row.addWidget(self.model_label)
        model_row.addWidget(self.model_picker, 1)
        model_row.addWidget(self.open_button)
        model_row.addWidget(self.load_button)
        model_row.addSpacing(16)
        model_row.addWidget(self.new_chat_button)
        for button in (self.open_button, self.load_button, self.new_chat_button):
            button.setMinimumWidth(button.sizeHint().width() + 12)

        progress_row = QHBoxLayout()
        progress_row.setSpacing(8)
        progress_row.addWidget(self.progress_bar, 1)
        progress_row.addWidget(self.stage_label, 2)
        self._progress_widgets: tuple[QWidget, ...] = (self.progress_bar, self.stage_label)
        self._set_progress_visible(False)

        buttons = QVBoxLayout()
        buttons.setSpacing(6)
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        input_row = QHBoxLayout()
        input_row.setSpacing(8)
        input_row.addWidget(self.input, 1)
        input_row.addLayout(buttons)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        layout.addLayout(model_row)
        layout.addLayout(progress_row)
        layout.addWidget(self.banner)
        layout.addWidget(self.starter_note)
        layout.addWidget(self.transcript, 1)
        layout.addLayout(input_row)

    # --- public API (used by the window and by tests) ---------------------------------

    @property
    def busy(self) -> bool:
        return self._load_task is not None or self._reply_task is not None

    @property
    def model_ready(self) -> bool:
        return self._model_ready

    def load_model(self, choice: str | Path) -> asyncio.Task[None] | None:
        """Check, then load a model file (or STARTER_CHOICE); None when busy."""
        if self.busy:
            return None
        self._load_task = self._start(self._load(str(choice)))
        self._update_actions()
        return self._load_task

    def send_message(self, text: str | None = None) -> asyncio.Task[None] | None:
        """Send ``text`` (default: the message box) and stream the reply; None if not possible."""
        if self.busy or not self._model_ready:
            return None
        if text is None:
            text = self.input.toPlainText()
            if not text.strip():
                return None
            self.input.clear()
        elif not text.strip():
            return None
        self._reply_task = self._start(self._reply(text))
        self._update_actions()
        return self._reply_task

    def stop_reply(self) -> None:
        """Cancel the task reading the stream; closing the stream stops the engine too."""
        if self._reply_task is not None:
            self._reply_task.cancel()

    def show_engine_failure(self, failure: EngineFailure) -> None:
        """The engine process went away (reported by its supervisor)."""
        message = failure.message
        if self._engine.needs_restart:
            message += " " + self.tr("It restarts with your next message.")
        self.banner.show_error(message)
        self.engine_state_changed.emit(self.tr("Engine stopped"))

    async def shutdown(self) -> None:
        """Cancel this page's work and wait for it, before the engine is closed."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._file_dialog is not None:
            self._file_dialog.close()

    # --- slots --------------------------------------------------------------------------

    def _on_open_button_clicked(self) -> None:
        # A non-modal dialog: a modal exec() would run a nested loop inside a slot.
        if self._file_dialog is None:
            dialog = QFileDialog(self, self.tr("Open a GGUF model"), str(self._paths.models))
            dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
            dialog.setNameFilters([self.tr("GGUF models (*.gguf)"), self.tr("All files (*)")])
            dialog.fileSelected.connect(self._on_file_dialog_file_selected)
            self._file_dialog = dialog
        self._file_dialog.open()

    def _on_file_dialog_file_selected(self, path: str) -> None:
        if not path:
            return
        self._select_in_picker(path, add=True)
        self.load_model(path)

    def _on_load_button_clicked(self) -> None:
        choice = self.model_picker.currentData()
        if not choice:
            self.banner.show_error(self.tr("Choose a model first, or open a GGUF file."))
            return
        self.load_model(str(choice))

    def _on_new_chat_button_clicked(self) -> None:
        if not self.session.clear():
            return
        self.transcript.clear_transcript()
        self.banner.clear()
        self.input.setFocus()

    def _on_input_submitted(self) -> None:
        self.send_message()

    def _on_send_button_clicked(self) -> None:
        self.send_message()

    def _on_stop_button_clicked(self) -> None:
        self.stop_reply()

    def _on_progress_hide_timer_timeout(self) -> None:
        if self._load_task is None and not self._restarting:
            self._set_progress_visible(False)

    def _on_engine_progress(self, event: dict[str, Any]) -> None:
        """Reload progress while Engine restarts a dead engine before a reply."""
        if event.get("type") == "progress":
            stage = self.tr("Restarting the engine: {stage}").format(stage=event.get("stage", ""))
            self._show_progress(event.get("progress"), stage)

    # --- tasks ----------------------------------------------------------------------

    def _start(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._on_task_done)
        return task

    def _on_task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("chat task failed", exc_info=task.exception())
        # A task cancelled before its first step never ran its ``finally``: release it here.
        if task is self._reply_task:
            self._reply_task = None
            self._update_actions()
        elif task is self._load_task:
            self._load_task = None
            self._update_actions()

    @staticmethod
    async def _in_thread(func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, func, *args)

    # --- loading --------------------------------------------------------------------

    async def _load(self, choice: str) -> None:
        self.banner.clear()
        self._progress_hide_timer.stop()
        self._show_progress(0.0, self.tr("Preparing…"))
        name = Path(choice).name
        try:
            if choice == STARTER_CHOICE:
                name = STARTER_LABEL
                self._show_progress(0.0, self.tr("Checking the starter model (first time only)…"))
                try:
                    starter = await self._in_thread(starter_model_path, self._paths.cache)
                except StarterModelError as exc:
                    self._load_failed(exc.message)
                    return
                if starter is None:
                    self._load_failed(self.tr("This installation has no starter model."))
                    return
                path = str(starter)
            else:
                path = choice
            self.engine_state_changed.emit(self.tr("Loading {name}…").format(name=name))
            self._show_progress(0.0, self.tr("Checking the model file…"))
            problem = await self._in_thread(
                check_model_file_message, path, self._settings.load.n_ctx
            )
            if problem is not None:
                self._load_failed(problem)
                return
            if not self._engine.running:
                self._show_progress(0.0, self.tr("Starting the engine…"))
            spec = ModelLoad(path=path, **self._settings.load.model_dump())
            status: dict[str, Any] | None = None
            async for event in self._engine.load(spec):
                kind = event.get("type")
                if kind == "progress":
                    self._show_progress(event.get("progress"), str(event.get("stage", "")))
                elif kind == "loaded":
                    status = dict(event.get("status") or {})
            if status is None:
                raise EngineAPIError("the engine ended the load without saying it was done")
        except EngineUnavailable as exc:
            self._load_failed(exc.failure.message)
        except EngineAPIError as exc:
            self._load_failed(
                self.tr("The model could not be loaded: {reason}").format(reason=exc.message)
            )
        except asyncio.CancelledError:
            self._show_progress(None, self.tr("Loading cancelled"))
            raise
        except Exception as exc:  # the window must outlive any surprise
            log.exception("loading %s failed", choice)
            self._load_failed(self.tr("Unexpected error while loading: {error}").format(error=exc))
        else:
            await self._load_succeeded(choice, path, status)
        finally:
            self._load_task = None
            self._update_actions()
            self._progress_hide_timer.start()

    async def _load_succeeded(self, choice: str, path: str, status: dict[str, Any]) -> None:
        self.model_status = status
        self._model_ready = True
        self._show_progress(1.0, self.tr("Loaded"))
        self._settings.remember_model(path)
        self._refresh_model_picker(select=choice)
        self._update_starter_note()
        self.input.setFocus()  # ready to type
        self.engine_state_changed.emit(self._ready_text())
        self.model_loaded.emit(status)
        try:
            await self._in_thread(save_settings, self._paths.settings_file, self._settings)
        except OSError as exc:
            self.banner.show_info(
                self.tr("The model is loaded, but settings could not be saved: {error}").format(
                    error=exc
                )
            )

    def _load_failed(self, message: str) -> None:
        self.banner.show_error(message)
        self._show_progress(None, self.tr("Not loaded"))
        self._show_loaded_model()

    def _show_loaded_model(self) -> None:
        """The picker and the status line show what the engine holds (it may be nothing)."""
        loaded = self._engine.loaded
        self._model_ready = loaded is not None
        if loaded is None:
            self.model_status = None
            self.engine_state_changed.emit(self.tr("No model loaded"))
        else:
            self._select_in_picker(loaded.path, add=True)
            self.engine_state_changed.emit(
                self.tr("Engine stopped") if self._engine.needs_restart else self._ready_text()
            )
        self._update_starter_note()
        self._update_actions()

    # --- chatting ---------------------------------------------------------------------

    async def _reply(self, text: str) -> None:
        self.banner.clear()
        self.transcript.begin_message(self.tr("You"))
        self.transcript.append_text(text)
        self.transcript.begin_message(self._assistant_name())
        listener = ReplyListener(
            on_restarting=self._on_session_restarting,
            on_restart_progress=self._on_session_restart_progress,
            on_started=self._on_session_reply_started,
            on_text=self.transcript.append_text,
            on_ended=self._on_session_reply_ended,
        )
        await self.session.reply(text, listener)

    def _on_session_restarting(self) -> None:
        self._restarting = True
        self._progress_hide_timer.stop()
        self._show_progress(0.0, self.tr("Restarting the engine…"))
        self.engine_state_changed.emit(self.tr("Restarting the engine…"))

    def _on_session_restart_progress(self, fraction: float | None, stage: str) -> None:
        self._show_progress(fraction, self.tr("Restarting the engine: {stage}").format(stage=stage))

    def _on_session_reply_started(self) -> None:
        if self._restarting:
            self._restarting = False
            self._show_progress(1.0, self.tr("Engine restarted"))
            self._progress_hide_timer.start()
        self.engine_state_changed.emit(self._ready_text())

    def _on_session_reply_ended(self, ended: ReplyEnded) -> None:
        error = ended.error
        if isinstance(error, EngineUnavailable):
            self.banner.show_error(
                error.failure.message + " " + self.tr("Send again to restart it.")
            )
            self.engine_state_changed.emit(self.tr("Engine stopped"))
        elif isinstance(error, EngineAPIError):
            self.banner.show_error(error.message)
        elif error is not None:
            self.banner.show_error(self.tr("Unexpected error: {error}").format(error=error))
        if ended.retry_text is not None and not self.input.toPlainText():
            self.input.setPlainText(ended.retry_text)
        if ended.outcome == Outcome.STOPPED:
            self.transcript.append_note(self.tr("[stopped]"))
        elif ended.outcome == Outcome.FAILED:
            self.transcript.append_note(self.tr("[no reply]"))
        elif not ended.text:
            self.transcript.append_note(self.tr("[empty reply]"))
        if self._restarting:
            self._restarting = False
            self._progress_hide_timer.start()
        self._reply_task = None
        self._update_actions()
        self.reply_finished.emit(ended)

    # --- helpers ----------------------------------------------------------------------

    def _assistant_name(self) -> str:
        model = (self.model_status or {}).get("model")
        return str(model) if model else self.tr("Assistant")

    def _ready_text(self) -> str:
        status = self.model_status or {}
        model = str(status.get("model") or self.tr("model"))
        backend = status.get("backend")
        if backend:
            return self.tr("Ready: {model} ({backend})").format(model=model, backend=backend)
        return self.tr("Ready: {model}").format(model=model)

    def _show_progress(self, fraction: Any, stage: str) -> None:
        if isinstance(fraction, int | float):
            self.progress_bar.setValue(max(0, min(100, round(float(fraction) * 100))))
        self.stage_label.setText(stage)
        self._set_progress_visible(True)

    def _set_progress_visible(self, visible: bool) -> None:
        for widget in self._progress_widgets:
            widget.setVisible(visible)

    def _refresh_model_picker(self, select: str | None = None) -> None:
        current = select if select is not None else self.model_picker.currentData()
        self.model_picker.clear()
        if self._starter is not None:
            self.model_picker.addItem(STARTER_LABEL, STARTER_CHOICE)
            self.model_picker.setItemData(
                0,
                QCoreApplication.translate(TRANSLATION_CONTEXT, STARTER_DESCRIPTION),
                Qt.ItemDataRole.ToolTipRole,
            )
        for path in self._settings.recent_models:
            if self._is_starter(path):
                continue  # shown as the starter entry above
            self._add_picker_item(path)
        if current:
            self._select_in_picker(str(current), add=True)
        elif self._settings.last_model:
            self._select_in_picker(self._settings.last_model, add=False)
        if self.model_picker.currentIndex() < 0 and self.model_picker.count() > 0:
            self.model_picker.setCurrentIndex(0)  # the starter, for a first start
        self._update_actions()

    def _add_picker_item(self, path: str, index: int | None = None) -> None:
        at = self.model_picker.count() if index is None else index
        self.model_picker.insertItem(at, Path(path).name, path)
        self.model_picker.setItemData(at, path, Qt.ItemDataRole.ToolTipRole)

    def _select_in_picker(self, choice: str, *, add: bool) -> None:
        index = self.model_picker.findData(choice)
        if index < 0 and self._is_starter(choice):
            index = self.model_picker.findData(STARTER_CHOICE)
        if index < 0 and add:
            index = 1 if self.model_picker.itemData(0) == STARTER_CHOICE else 0
            self._add_picker_item(choice, index)
        if index >= 0:
            self.model_picker.setCurrentIndex(index)

    def _is_starter(self, path: str) -> bool:
        """Whether ``path`` (picker data or a file path) is this installation's starter."""
        if self._starter is None:
            return False
        return path == STARTER_CHOICE or path in self._starter_names

    def _update_starter_note(self) -> None:
        loaded = self._engine.loaded
        self.starter_note.setVisible(loaded is not None and self._is_starter(loaded.path))

    def _update_actions(self) -> None:
        loading = self._load_task is not None
        replying = self._reply_task is not None
        busy = loading or replying
        self.model_picker.setEnabled(not busy)
        self.open_button.setEnabled(not busy)
        self.load_button.setEnabled(not busy and self.model_picker.count() > 0)
        self.send_button.setEnabled(self._model_ready and not busy)
        self.stop_button.setEnabled(replying)
        self.new_chat_button.setEnabled(not replying)
