"""The chat page: the conversation list, the model, the transcript, the message box.

It puts together the Qt-free chat core (core/chat: ``ChatStore`` keeps every
conversation in ``chats.db``, ``ChatSession`` holds what each action does to one) and
the widgets that show it (``ChatSidebar``, ``ChatTranscript``, ``ChatOptionsPanel``).
The rules live in the core; this page renders and forwards.

Threads: every store call runs on the loop's executor (``_in_thread``), never on the
GUI thread: the disk may be slow, and ``llmos chat`` may hold the write lock for a
moment. Work runs as asyncio tasks started from slots and kept in ``self._tasks``, so
``shutdown`` can cancel and await them before the store and the engine are closed.

What happens when:

- **Start.** The store is opened (and checked) off the GUI thread; a damaged file was
  moved aside by the store, and the page says so once, with where it was kept. The
  chat that was open at the last close is opened again (``settings.last_chat_id``),
  or a new chat starts.
- **Send.** A chat needs its model: the one it used (``ChatOptions.model_path``, at
  its context size) or, for a new chat, what is loaded or else the picker's choice
  (on a fresh install: the starter). A model that is not loaded yet is loaded first,
  with progress, so the first Send of a fresh install just works. The reply streams
  into the transcript; the session saves it as it grows.
- **After a reply** (or an edit, a delete, a version switch), the branch shown is read
  again from the store and the transcript is brought in line with it: only changed
  messages are touched, or the whole thread is set again when its shape changed.
- **The status bar** is the window's; the page tells it what the engine does through
  ``engine_state_changed(state, model, progress)``, ``model_loaded`` (the engine's
  status) and ``reply_finished`` (a reply's timings).

- **Remote models.** With an ``EnginesService``, the picker lists, after the local
  models, each remote engine's models ("name · model", asked for off the GUI thread at
  start and when Settings → Remote engines changes). Choosing one makes the chat use it
  (``ChatOptions.engine`` names the engine, ``model_path`` holds its model id): nothing
  is loaded, the session streams from that server. Its failures (unreachable, refused
  key, unknown model, a stream that breaks) are said in the banner, the typed text is
  handed back, and a reply that broke half way is kept, marked incomplete, by the session.

Test hook: ``LLMOS_TEST_SEND_AT_START=TEXT`` in the environment makes the page send
TEXT once the last chat is open (tests/ui/test_chat_kill.py starts the real app this
way and kills it mid-reply). It does nothing a user could not do with the keyboard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QCoreApplication, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence, QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.atomic import write_text_atomic
from llmos_desktop.core.chat.options import ChatOptions
from llmos_desktop.core.chat.session import (
    ChatSession,
    Outcome,
    ReplyEnded,
    ReplyListener,
)
from llmos_desktop.core.chat.store import (
    CHATS_FILE_NAME,
    MAX_IMPORT_BYTES,
    ChatNotFound,
    ChatStore,
    ChatStoreError,
    Message,
)
from llmos_desktop.core.engine.contract import LoadOptions, ModelLoad
from llmos_desktop.core.engine.control.client import EngineAPIError, EngineConnectionError
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
from llmos_desktop.core.settings import Settings, SettingsWriter, save_settings
from llmos_desktop.ui.chat.options_panel import ChatOptionsPanel
from llmos_desktop.ui.chat.sidebar import ChatSidebar
from llmos_desktop.ui.status_bar import EngineState
from llmos_desktop.ui.tasks import PageTasks
from llmos_desktop.ui.widgets.banner import MessageBanner
from llmos_desktop.ui.widgets.chat_transcript import (
    ChatTranscript,
    MessageAction,
    MessageRole,
    MessageStatus,
    StopReason,
    TranscriptMessage,
)
from llmos_desktop.ui.widgets.message_input import MessageInput

if TYPE_CHECKING:
    from llmos_desktop.core.engines.service import EnginesService

log = logging.getLogger(__name__)

T = TypeVar("T")

REMOTE_CHOICE = "llmos:remote:"
"""Picker data of a remote model: this prefix, the engine's name, "/", the model's id
(an engine's name has no "/"; a model id may)."""
REMOTE_MODELS_TIMEOUT_S = 15.0
STARTER_CHOICE = "llmos:starter"
"""Picker data of the starter model, whose file is checked on first use (used in place)."""
SEND_AT_START_ENV = "LLMOS_TEST_SEND_AT_START"
TRASH_KEPT_S = 7 * 24 * 3600.0
"""Deleted chats stay restorable in the store this long, then the next start purges them."""
MANY_REMOVALS = 20

_STATUS = {
    "streaming": MessageStatus.STREAMING,
    "complete": MessageStatus.COMPLETE,
    "incomplete": MessageStatus.INCOMPLETE,
}


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


def warm_up_renderer() -> None:
    """Import and exercise what the first reply needs (blocking; a worker thread, while
    a model loads), so that none of it runs on the GUI thread.

    An import on the GUI thread is slow once PySide6 is loaded (shiboken's import hook
    reads each new module's source): the Markdown renderer and Pygments, and the HTTP
    stack the engine client imports at its first request (httpcore, anyio, h11).
    """
    import importlib

    for name in ("httpcore", "h11", "anyio", "anyio._backends._asyncio"):
        # Another version of the HTTP stack may lack one: it is imported when used.
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    from llmos_desktop.core.chat.markdown import MarkdownRenderer

    renderer = MarkdownRenderer()
    renderer.parse("# A\n\n- *b* `c`\n\n| d | e |\n|---|---|\n| f | g |\n")
    renderer.highlight("def f(x):\n    return [x * 2 for x in range(3)]\n", "python")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _safe_file_name(title: str, fallback: str) -> str:
    name = re.sub(r"[^\w\- ]+", "", title, flags=re.UNICODE).strip()[:60]
    return name or fallback


def remote_choice(engine: str, model: str) -> str:
    """The picker's data for ``model`` on the remote engine ``engine``."""
    return f"{REMOTE_CHOICE}{engine}/{model}"


def parse_remote_choice(choice: object) -> tuple[str, str] | None:
    """(engine, model) of a remote choice; None for a local one."""
    if not isinstance(choice, str) or not choice.startswith(REMOTE_CHOICE):
        return None
    engine, _, model = choice[len(REMOTE_CHOICE) :].partition("/")
    return (engine, model) if engine and model else None


def _starter_label() -> str:
    """The starter's name in the picker, in the UI's language."""
    return QCoreApplication.translate(TRANSLATION_CONTEXT, STARTER_LABEL)


class ChatPage(QWidget):
    """The conversation list, model picker, transcript and message box; see the module
    docstring."""

    model_loaded = Signal(dict)  # the engine's status after a load
    reply_finished = Signal(object)  # ReplyEnded (its result's timings empty when stopped)
    engine_state_changed = Signal(object, object, object)  # (EngineState, model, progress)
    chat_opened = Signal(object)  # str | None: the chat shown now (None: a new, unsaved one)
    ready = Signal()  # the chats are open: the page takes messages

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        paths: AppPaths,
        settings_writer: SettingsWriter | None = None,
        load_options: Callable[[str, LoadOptions], LoadOptions] | None = None,
        engines: Callable[[], EnginesService] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        """``load_options(path, settings.load)``: how a file is loaded (the Models
        library's per-model defaults); blocking, so it runs on a worker thread. Without
        it every model loads with the Settings' load options. ``engines()``: the remote
        engines' service, whose models the picker lists (None: local models only); called
        on a worker thread, as making it the first time imports its modules."""
        super().__init__(parent)
        self.setObjectName("chatPage")
        self._engine = engine
        self._settings = settings
        self._paths = paths
        self._writer = settings_writer
        self._load_options = load_options
        self._engines = engines
        # The remote engines' models as last asked (name -> model ids), and why an
        # engine could not say (name -> message).
        self._remote_models: dict[str, list[str]] = {}
        self._remote_problems: dict[str, str] = {}
        self._remote_task: asyncio.Task[None] | None = None
        # path -> (the Settings' load options then, the options a load of it used): a
        # chat without a context of its own keeps the one its model was loaded with.
        self._loaded_with: dict[str, tuple[LoadOptions, LoadOptions]] = {}
        self.store: ChatStore | None = None
        # Until the chats file is open (a few milliseconds after start), a session on an
        # in-memory store holds what the user sets; nothing can be sent before it opens.
        self._session: ChatSession | None = ChatSession(
            engine, defaults=ChatOptions.from_settings(settings)
        )
        self.model_status: dict[str, Any] | None = None
        self._model_ready = False
        self._ready = False
        self._restarting = False  # Engine is restarting a dead engine before a reply
        self._load_task: asyncio.Task[Any] | None = None
        self._reply_task: asyncio.Task[Any] | None = None
        self._open_task: asyncio.Task[Any] | None = None
        self._options_task: asyncio.Task[Any] | None = None
        self._tasks = PageTasks("chat", self._on_task_done)
        self._dialogs: list[QFileDialog] = []
        self._editing_id: int | None = None
        self._open_id: int | None = None
        self._engine_state = EngineState.NO_MODEL
        self._renderer_warmed = False
        self.options_panel: ChatOptionsPanel | None = None
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
        self._build_actions()
        self._refresh_model_picker()
        self.set_enter_sends(settings.enter_sends)
        self._update_actions()
        # The store opens once the event loop runs (app.main runs it after show()).
        QTimer.singleShot(0, self._on_start_timer_timeout)

    # --- construction -----------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.sidebar = ChatSidebar(self)
        self.new_chat_button = self.sidebar.new_button

        self.model_label = QLabel(self.tr("&Model:"), self)
        self.model_picker = QComboBox(self)
        self.model_picker.setObjectName("modelPicker")
        self.model_picker.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model_picker.setMinimumContentsLength(20)
        self.model_picker.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.model_picker.setPlaceholderText(self.tr("No model yet — open a GGUF file"))
        self.model_label.setBuddy(self.model_picker)
        self.open_button = QPushButton(self.tr("&Open GGUF…"), self)
        self.open_button.setObjectName("openButton")
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.load_button = QPushButton(self.tr("&Load"), self)
        self.load_button.setObjectName("loadButton")
        self.load_button.setToolTip(self.tr("Load the model for this chat"))
        self.load_button.clicked.connect(self._on_load_button_clicked)
        self.model_picker.activated.connect(self._on_model_picker_activated)
        self.options_button = QPushButton(self.tr("Chat se&ttings"), self)
        self.options_button.setObjectName("chatSettingsButton")
        self.options_button.setCheckable(True)
        self.options_button.setToolTip(
            self.tr("System prompt, sampling, reply length and context size of this chat")
        )
        self.options_button.toggled.connect(self._on_options_button_toggled)

        self.progress_bar = QProgressBar(self)
        self.progress_bar.setObjectName("loadProgress")
        self.progress_bar.setAccessibleName(self.tr("Loading progress"))
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

        self.transcript = ChatTranscript(self)
        self.transcript.setAccessibleName(self.tr("Conversation"))
        self.transcript.scroll_area().setAccessibleName(self.tr("Conversation"))
        self.transcript.action_requested.connect(self._on_transcript_action_requested)
        self.empty_label = QLabel(
            self.tr(
                "Type a message below to start. Replies appear here as they are written; "
                "every chat is saved as you go."
            ),
            self,
        )
        self.empty_label.setObjectName("emptyChatLabel")
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setTextFormat(Qt.TextFormat.PlainText)

        self.edit_label = QLabel(self)
        self.edit_label.setObjectName("editLabel")
        self.edit_label.setTextFormat(Qt.TextFormat.PlainText)
        self.edit_label.setText(
            self.tr("Editing your message: sending keeps the old version. Esc cancels.")
        )
        self.cancel_edit_button = QPushButton(self.tr("Cancel editing"), self)
        self.cancel_edit_button.setObjectName("cancelEditButton")
        self.cancel_edit_button.clicked.connect(self._on_cancel_edit_button_clicked)

        self.input = MessageInput(self)
        self.input.setAccessibleName(self.tr("Message"))
        line_height = self.input.fontMetrics().lineSpacing()
        self.input.setFixedHeight(line_height * 4 + 16)
        self.input.submitted.connect(self._on_input_submitted)
        self.input.edit_last_requested.connect(self._on_input_edit_last_requested)
        self.input.cancel_requested.connect(self._on_input_cancel_requested)
        self.send_button = QPushButton(self.tr("Send"), self)
        self.send_button.setObjectName("sendButton")
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self._on_send_button_clicked)
        self.stop_button = QPushButton(self.tr("Stop"), self)
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip(self.tr("Stop the reply (Esc); what was written is kept"))
        self.stop_button.clicked.connect(self._on_stop_button_clicked)

        self.context_label = QLabel(self)
        self.context_label.setObjectName("contextLabel")
        self.context_label.setTextFormat(Qt.TextFormat.PlainText)
        self.context_meter = QProgressBar(self)
        self.context_meter.setObjectName("contextMeter")
        self.context_meter.setAccessibleName(self.tr("Context used"))
        self.context_meter.setTextVisible(False)
        self.context_meter.setFixedHeight(6)
        self.context_meter.setMaximumWidth(220)
        self.context_meter.setToolTip(
            self.tr(
                "Tokens of this conversation in the model's context after the last reply; "
                "when it is full, the oldest turns are left out of the prompt"
            )
        )

        self.sidebar.new_requested.connect(self._on_sidebar_new_requested)
        self.sidebar.chat_activated.connect(self._on_sidebar_chat_activated)
        self.sidebar.rename_requested.connect(self._on_sidebar_rename_requested)
        self.sidebar.delete_requested.connect(self._on_sidebar_delete_requested)
        self.sidebar.undo_requested.connect(self._on_sidebar_undo_requested)
        self.sidebar.search_changed.connect(self._on_sidebar_search_changed)
        self.sidebar.export_requested.connect(self._on_sidebar_export_requested)
        self.sidebar.import_requested.connect(self._on_sidebar_import_requested)

    def _build_layout(self) -> None:
        model_row = QHBoxLayout()
        model_row.setSpacing(8)
        model_row.addWidget(self.model_label)
        model_row.addWidget(self.model_picker, 1)
        model_row.addWidget(self.open_button)
        model_row.addWidget(self.load_button)
        model_row.addSpacing(12)
        model_row.addWidget(self.options_button)
        for button in (self.open_button, self.load_button, self.options_button):
            button.setMinimumWidth(button.sizeHint().width() + 12)

        progress_row = QHBoxLayout()
        progress_row.setSpacing(8)
        progress_row.addWidget(self.progress_bar, 1)
        progress_row.addWidget(self.stage_label, 2)
        self._progress_widgets: tuple[QWidget, ...] = (self.progress_bar, self.stage_label)
        self._set_progress_visible(False)

        self._middle = QHBoxLayout()
        self._middle.setSpacing(8)
        conversation = QVBoxLayout()
        conversation.setSpacing(0)
        conversation.addWidget(self.empty_label)
        conversation.addWidget(self.transcript, 1)
        self._middle.addLayout(conversation, 1)

        edit_row = QHBoxLayout()
        edit_row.addWidget(self.edit_label, 1)
        edit_row.addWidget(self.cancel_edit_button)
        self._edit_widgets = (self.edit_label, self.cancel_edit_button)
        for widget in self._edit_widgets:
            widget.hide()

        buttons = QVBoxLayout()
        buttons.setSpacing(6)
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        input_row = QHBoxLayout()
        input_row.setSpacing(8)
        input_row.addWidget(self.input, 1)
        input_row.addLayout(buttons)

        meter_row = QHBoxLayout()
        meter_row.setSpacing(8)
        meter_row.addWidget(self.context_label)
        meter_row.addWidget(self.context_meter, 1, Qt.AlignmentFlag.AlignVCenter)
        meter_row.addStretch(1)

        main = QWidget(self)
        main.setObjectName("chatMain")
        column = QVBoxLayout(main)
        column.setContentsMargins(8, 12, 12, 8)
        column.setSpacing(8)
        column.addLayout(model_row)
        column.addLayout(progress_row)
        column.addWidget(self.banner)
        column.addWidget(self.starter_note)
        column.addLayout(self._middle, 1)
        column.addLayout(edit_row)
        column.addLayout(input_row)
        column.addLayout(meter_row)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("chatSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(main)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([220, 780])
        self.sidebar.setMinimumWidth(170)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        self._show_context(None, None)

    def _build_actions(self) -> None:
        """The page's keys; active while the page is shown (a window shortcut whose
        widget, this page, is hidden does not fire)."""

        def action(text: str, keys: QKeySequence, slot: Callable[[], None]) -> QAction:
            made = QAction(text, self)
            made.setShortcut(keys)
            made.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            made.triggered.connect(slot)
            self.addAction(made)
            return made

        self.new_chat_action = action(
            self.tr("New chat"), QKeySequence("Ctrl+N"), self._on_sidebar_new_requested
        )
        self.search_action = action(
            self.tr("Search chats"), QKeySequence("Ctrl+F"), self.sidebar.focus_search
        )
        self.stop_action = action(self.tr("Stop the reply"), QKeySequence("Esc"), self.stop_reply)
        self.copy_reply_action = action(
            self.tr("Copy the last reply"),
            QKeySequence("Ctrl+Shift+C"),
            self._on_copy_reply_action_triggered,
        )

    # --- public API (the window, the self-test and tests use it) ---------------------------

    @property
    def session(self) -> ChatSession:
        """The conversation shown (stored once the chats are open: ``is_ready``)."""
        assert self._session is not None
        return self._session

    @property
    def is_ready(self) -> bool:
        return self._ready

    @property
    def busy(self) -> bool:
        return self._load_task is not None or self._reply_task is not None

    @property
    def replying(self) -> bool:
        return self._reply_task is not None

    @property
    def model_ready(self) -> bool:
        return self._model_ready

    @property
    def engine_state(self) -> EngineState:
        return self._engine_state

    @property
    def open_chat_id(self) -> int | None:
        """The stored conversation shown (None: a new chat, stored at its first message)."""
        return self._open_id

    @property
    def editing_id(self) -> int | None:
        return self._editing_id

    def set_enter_sends(self, enter_sends: bool) -> None:
        """Follow the Settings page: which key sends."""
        self.input.set_enter_sends(enter_sends)
        self.input.setPlaceholderText(
            self.tr("Type a message — Enter sends, Shift+Enter starts a new line")
            if enter_sends
            else self.tr("Type a message — Ctrl+Enter sends, Enter starts a new line")
        )

    def set_default_sampling(self, options: ChatOptions) -> None:
        """The options new chats start with (the Settings page changed its defaults); a
        new chat that has no message yet takes the new sampling too."""
        session = self._session
        if session is None:
            return
        session.defaults = options.model_copy(update={"model_path": session.defaults.model_path})
        if session.conversation_id is None and not session.replying:
            session.sampling = options.sampling
            self._show_options()

    def load_model(self, choice: str | Path) -> asyncio.Task[None] | None:
        """Check, then load a model file (or STARTER_CHOICE) for this chat; None when busy."""
        if self.busy:
            return None
        self._load_task = self._start(self._load_chosen(str(choice)))
        self._update_actions()
        return self._load_task

    def send_message(self, text: str | None = None) -> asyncio.Task[None] | None:
        """Send ``text`` (default: the message box) and stream the reply; None if not
        possible now. While a message is being edited, it is sent as its new version."""
        if self.busy or not self._ready:
            return None
        if text is None:
            text = self.input.toPlainText()
            if not text.strip():
                return None
            self.input.clear()
        elif not text.strip():
            return None
        editing = self._editing_id
        self._set_editing(None)
        if editing is not None:
            return self._start_reply(
                lambda listener: self.session.edit_and_resend(editing, text, listener),
                truncate_from=editing,
                retry_text=text,
            )
        return self._start_reply(
            lambda listener: self.session.send(text, listener), retry_text=text
        )

    def regenerate(self, message_id: int) -> asyncio.Task[None] | None:
        """A new version of reply ``message_id`` (the old one is kept)."""
        if self.busy or not self._ready:
            return None
        return self._start_reply(
            lambda listener: self.session.regenerate(message_id, listener),
            truncate_from=message_id,
        )

    def resend(self, message_id: int) -> asyncio.Task[None] | None:
        """A new reply to user message ``message_id`` (the earlier reply is kept)."""
        if self.busy or not self._ready:
            return None
        return self._start_reply(
            lambda listener: self.session.regenerate(message_id, listener),
            truncate_after=message_id,
        )

    def continue_reply(self, message_id: int) -> asyncio.Task[None] | None:
        """Let the model go on with the unfinished reply ``message_id``."""
        if self.busy or not self._ready:
            return None
        return self._start_reply(
            lambda listener: self.session.continue_reply(message_id, listener),
            truncate_after=message_id,
        )

    def edit_message(self, message_id: int) -> bool:
        """Put user message ``message_id`` into the box; the next Send makes a new version."""
        shown = self.transcript.message(str(message_id))
        if self.busy or shown is None or shown.role is not MessageRole.USER:
            return False
        self._set_editing(message_id)
        self.input.setPlainText(shown.text)
        self.input.moveCursor(QTextCursor.MoveOperation.End)
        self.input.setFocus()
        return True

    def stop_reply(self) -> None:
        """Cancel the task reading the stream; closing the stream stops the engine too."""
        if self._reply_task is not None:
            self._reply_task.cancel()

    def open_chat(self, conversation_id: int) -> asyncio.Task[None] | None:
        """Show a stored conversation; None when a reply runs (it must end first)."""
        if self.replying or not self._ready:
            return None
        if self._open_task is not None:
            self._open_task.cancel()
        self._open_task = self._start(self._open(conversation_id))
        return self._open_task

    def new_chat(self, *, clear_banner: bool = True) -> bool:
        """Start a new chat (stored at its first message); False while a reply runs."""
        if self.replying or self._session is None:
            return False
        if self.options_panel is not None:
            self.options_panel.flush()
        if not self._session.new_chat():
            return False
        if self._open_task is not None:
            self._open_task.cancel()
        self._set_editing(None)
        self._open_id = None
        self.transcript.clear()
        if clear_banner:
            self.banner.clear()
        self.sidebar.set_current(None)
        self._show_options()
        self._show_context(None, None)
        self._update_empty_label()
        self.chat_opened.emit(None)
        self.input.setFocus()
        return True

    def new_chat_with(self, options: ChatOptions, first_message: str | None = None) -> bool:
        """A new chat with ``options`` (a chat-mode app's system prompt and sampling; the
        model stays the one chosen now), its first message ready in the box to send or
        change; False while a reply runs."""
        if not self.new_chat():
            return False
        model_path = self.session.options.model_path
        self._start(self._apply_options(options.model_copy(update={"model_path": model_path})))
        if first_message:
            self.input.setPlainText(first_message)
            self.input.moveCursor(QTextCursor.MoveOperation.End)
        return True

    async def _apply_options(self, options: ChatOptions) -> None:
        await self._save_options(options)
        self._show_options()

    def show_engine_failure(self, failure: EngineFailure) -> None:
        """The engine process went away (reported by its supervisor)."""
        message = failure.message
        if self._engine.needs_restart:
            message += " " + self.tr("It restarts with your next message.")
        self.banner.show_error(message)
        self._emit_state(EngineState.STOPPED)

    async def shutdown(self) -> None:
        """Cancel this page's work and wait for it, then close the store."""
        if self.options_panel is not None:
            self.options_panel.flush()
        pending = self._options_task
        if pending is not None and not pending.done():
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(pending), 5)
        await self._tasks.cancel()
        for dialog in self._dialogs:
            dialog.close()
        store = self.store
        if store is not None:
            try:
                await self._in_thread(store.close)
            except Exception:
                log.exception("the chat store did not close cleanly")

    # --- start-up ----------------------------------------------------------------------

    def _on_start_timer_timeout(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # built without a running loop yet (a test, a script): wait
            QTimer.singleShot(50, self._on_start_timer_timeout)
            return
        self._start(self._open_store())

    async def _open_store(self) -> None:
        path = self._paths.data / CHATS_FILE_NAME
        try:
            store = await self._in_thread(ChatStore, path)
        except ChatStoreError as exc:
            log.error("chats: %s cannot be opened: %s", path, exc)
            store = await self._in_thread(ChatStore.in_memory)
            self.banner.show_error(
                self.tr(
                    "Your saved chats cannot be opened, so chats are not saved this time: {error}"
                ).format(error=exc)
            )
        else:
            if store.recovered_from is not None:
                self.banner.show_error(
                    self.tr(
                        "The chats file was damaged ({damage}) and could not be used. It was "
                        "kept, unchanged, as {path}; a new, empty chats file was started."
                    ).format(damage=store.damage or "?", path=store.recovered_from)
                )
        self.store = store
        early = self._session
        self._session = ChatSession(
            self._engine,
            store=store,
            defaults=early.defaults
            if early is not None
            else ChatOptions.from_settings(self._settings),
        )
        if early is not None and early.options != early.defaults:
            await self._session.set_options(early.options)  # a new chat: kept in memory
        try:
            await self._in_thread(store.purge_deleted, TRASH_KEPT_S)
        except ChatStoreError as exc:
            log.warning("chats: the trash could not be emptied: %s", exc)
        opened = False
        last = self._settings.last_chat_id
        if last is not None and last.isdigit():
            try:
                found = await self._in_thread(store.conversation, int(last))
            except ChatStoreError:
                found = None
            if found is not None and found.deleted_at is None:
                opened = await self._open(found.id, remember=False)
        if not opened:
            self.new_chat(clear_banner=False)  # keep what the start had to say
        await self._refresh_list()
        self._ready = True
        self._update_actions()
        self._update_empty_label()
        self.ready.emit()
        from llmos_desktop.core.engines import any_configured

        if any_configured(self._paths.data):
            self.refresh_remote_models()
        text = os.environ.get(SEND_AT_START_ENV)
        if text:
            self.send_message(text)

    # --- slots ----------------------------------------------------------------------------

    def _on_open_button_clicked(self) -> None:
        # A non-modal dialog: a modal exec() would run a nested loop inside a slot.
        dialog = QFileDialog(self, self.tr("Open a GGUF model"), str(self._paths.models))
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilters([self.tr("GGUF models (*.gguf)"), self.tr("All files (*)")])
        dialog.fileSelected.connect(self._on_file_dialog_file_selected)
        self._open_dialog(dialog)

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
        remote = parse_remote_choice(choice)
        if remote is not None:
            self.use_remote_model(*remote)
            return
        self.load_model(str(choice))

    def _on_model_picker_activated(self, index: int) -> None:
        # A remote model needs no load: choosing it is using it, for this chat.
        remote = parse_remote_choice(self.model_picker.itemData(index))
        if remote is not None:
            self.use_remote_model(*remote)

    def _on_options_button_toggled(self, checked: bool) -> None:
        if checked:
            panel = self._ensure_options_panel()
            panel.show()
            self._show_options()
            self._start(self._refresh_presets())
            panel.system_prompt_edit.setFocus()
        elif self.options_panel is not None:
            self.options_panel.flush()
            self.options_panel.hide()

    def _on_options_panel_close_requested(self) -> None:
        self.options_button.setChecked(False)
        self.options_button.setFocus()

    def _on_options_panel_options_changed(self, options: ChatOptions) -> None:
        if self._session is None:
            return
        self._options_task = self._start(self._save_options(options))

    def _on_options_panel_preset_saved(self, name: str, options: ChatOptions) -> None:
        store = self.store
        if store is not None:
            self._start(self._store_call(store.save_preset, name, options, then=self._presets))

    def _on_options_panel_preset_deleted(self, name: str) -> None:
        store = self.store
        if store is not None:
            self._start(self._store_call(store.delete_preset, name, then=self._presets))

    def _on_input_submitted(self) -> None:
        self.send_message()

    def _on_send_button_clicked(self) -> None:
        self.send_message()

    def _on_stop_button_clicked(self) -> None:
        self.stop_reply()

    def _on_input_edit_last_requested(self) -> None:
        for message in reversed(self.transcript.messages()):
            if message.role is MessageRole.USER and message.id.isdigit():
                self.edit_message(int(message.id))
                return

    def _on_input_cancel_requested(self) -> None:
        if self._editing_id is not None:
            self._set_editing(None)
            self.input.clear()

    def _on_cancel_edit_button_clicked(self) -> None:
        self._on_input_cancel_requested()
        self.input.setFocus()

    def _on_copy_reply_action_triggered(self) -> None:
        for message in reversed(self.transcript.messages()):
            if message.role is MessageRole.ASSISTANT:
                QGuiApplication.clipboard().setText(message.text)
                return

    def _on_progress_hide_timer_timeout(self) -> None:
        if self._load_task is None and not self._restarting:
            self._set_progress_visible(False)

    def _on_transcript_action_requested(self, message_id: str, action: str) -> None:
        if not message_id.isdigit():
            return  # a note
        number = int(message_id)
        if action == MessageAction.COPY:
            shown = self.transcript.message(message_id)
            if shown is not None:
                QGuiApplication.clipboard().setText(shown.text)
        elif action == MessageAction.EDIT:
            self.edit_message(number)
        elif action == MessageAction.RESEND:
            self.resend(number)
        elif action == MessageAction.REGENERATE:
            self.regenerate(number)
        elif action == MessageAction.CONTINUE:
            self.continue_reply(number)
        elif action == MessageAction.DELETE:
            if not self.busy:
                self._start(self._delete_message(number))
        elif (
            action in (MessageAction.PREVIOUS_VERSION, MessageAction.NEXT_VERSION) and not self.busy
        ):
            step = -1 if action == MessageAction.PREVIOUS_VERSION else 1
            self._start(self._switch_version(number, step))

    def _on_sidebar_new_requested(self) -> None:
        self.new_chat()

    def _on_sidebar_chat_activated(self, conversation_id: int) -> None:
        if conversation_id == self._open_id:
            return
        if self.open_chat(conversation_id) is None:
            self.sidebar.set_current(self._open_id)
            if self.replying:
                self.banner.show_info(self.tr("Stop the reply first, then open another chat."))

    def _on_sidebar_rename_requested(self, conversation_id: int, title: str) -> None:
        store = self.store
        if store is not None:
            self._start(self._store_call(store.rename, conversation_id, title))

    def _on_sidebar_delete_requested(self, conversation_id: int) -> None:
        if self.replying and conversation_id == self._open_id:
            self.banner.show_info(self.tr("Stop the reply first, then delete the chat."))
            return
        self._start(self._delete_chat(conversation_id))

    def _on_sidebar_undo_requested(self, conversation_id: int) -> None:
        self._start(self._restore_chat(conversation_id))

    def _on_sidebar_search_changed(self, _text: str) -> None:
        self._start(self._refresh_list())

    def _on_sidebar_export_requested(self, conversation_id: int, kind: str) -> None:
        item = self.sidebar.item_for(conversation_id)
        title = str(item.text()) if item is not None else ""
        suffix = "md" if kind == "md" else "json"
        name = _safe_file_name(title, self.tr("chat")) + "." + suffix
        dialog = QFileDialog(self, self.tr("Export the chat"), str(Path.home() / name))
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix(suffix)
        dialog.setNameFilters(
            [self.tr("Markdown (*.md)")] if kind == "md" else [self.tr("JSON (*.json)")]
        )
        dialog.fileSelected.connect(
            lambda path: self._start(self._export(conversation_id, kind, path)) if path else None
        )
        self._open_dialog(dialog)

    def _on_sidebar_import_requested(self) -> None:
        dialog = QFileDialog(self, self.tr("Import a chat"), str(Path.home()))
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilters([self.tr("Chat exports (*.json)"), self.tr("All files (*)")])
        dialog.fileSelected.connect(lambda path: self._start(self._import(path)) if path else None)
        self._open_dialog(dialog)

    def _on_engine_progress(self, event: dict[str, Any]) -> None:
        if event.get("type") == "progress":
            self._on_session_restart_progress(event.get("progress"), str(event.get("stage", "")))

    # --- tasks ----------------------------------------------------------------------------

    def _start(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        return self._tasks.start(coro)

    def _on_task_done(self, task: asyncio.Task[Any]) -> None:
        # A task cancelled before its first step never ran its ``finally``: release it here.
        if task is self._reply_task:
            self._reply_task = None
            self._update_actions()
        elif task is self._load_task:
            self._load_task = None
            self._update_actions()
        if task is self._open_task:
            self._open_task = None

    @staticmethod
    async def _in_thread(func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, func, *args)

    async def _store_call(
        self,
        func: Callable[..., Any],
        *args: Any,
        then: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """A store change the user asked for; an error becomes the banner; the list is
        read again afterwards (also after an error: another process may have changed it)."""
        try:
            await self._in_thread(func, *args)
        except ChatStoreError as exc:
            self.banner.show_error(str(exc))
        await (then or self._refresh_list)()

    def _open_dialog(self, dialog: QFileDialog) -> None:
        self._dialogs.append(dialog)
        dialog.finished.connect(lambda _result: self._forget_dialog(dialog))
        dialog.open()

    def _forget_dialog(self, dialog: QFileDialog) -> None:
        if dialog in self._dialogs:
            self._dialogs.remove(dialog)
        dialog.deleteLater()

    # --- the conversation list ------------------------------------------------------------

    async def _refresh_list(self) -> None:
        store = self.store
        if store is None:
            return
        try:
            found = await self._in_thread(store.conversations, self.sidebar.search_text or None)
        except ChatStoreError as exc:
            self.banner.show_error(str(exc))
            return
        if self.sidebar.editing:
            return  # a title is being typed; the refresh after its rename shows the list
        self.sidebar.set_conversations(found, self._open_id)

    async def _delete_chat(self, conversation_id: int) -> None:
        store = self.store
        if store is None:
            return
        try:
            conversation = await self._in_thread(store.conversation, conversation_id)
            await self._in_thread(store.delete_conversation, conversation_id)
        except ChatStoreError as exc:
            self.banner.show_error(str(exc))
        else:
            if conversation_id == self._open_id:
                self.new_chat()
            self.sidebar.offer_undo(conversation_id, conversation.title)
        await self._refresh_list()

    async def _restore_chat(self, conversation_id: int) -> None:
        store = self.store
        if store is None:
            return
        try:
            await self._in_thread(store.restore_conversation, conversation_id)
        except ChatStoreError as exc:
            self.banner.show_error(str(exc))
            return
        await self._refresh_list()
        if not self.replying:
            await self._open(conversation_id)

    async def _export(self, conversation_id: int, kind: str, path: str) -> None:
        store = self.store
        if store is None:
            return
        export = store.export_markdown if kind == "md" else store.export_json
        try:
            text = await self._in_thread(export, conversation_id)
            await self._in_thread(write_text_atomic, Path(path), text)
        except (ChatStoreError, OSError) as exc:
            self.banner.show_error(
                self.tr("The chat could not be exported: {error}").format(error=exc)
            )
            return
        self.banner.show_info(self.tr("The chat was saved as {path}.").format(path=path))

    async def _import(self, path: str) -> None:
        store = self.store
        if store is None:
            return

        too_big = self.tr("the file is {size} bytes; an export may have at most {limit}")

        def read() -> bytes:
            file = Path(path)
            size = file.stat().st_size
            if size > MAX_IMPORT_BYTES:
                raise ChatStoreError(
                    too_big.format(size=f"{size:,}", limit=f"{MAX_IMPORT_BYTES:,}")
                )
            return file.read_bytes()

        try:
            data = await self._in_thread(read)
            conversation = await self._in_thread(store.import_json, data)
        except (ChatStoreError, OSError) as exc:
            self.banner.show_error(
                self.tr("{file} could not be imported: {error}").format(
                    file=Path(path).name, error=exc
                )
            )
            return
        await self._refresh_list()
        if not self.replying:
            await self._open(conversation.id)

    # --- opening a chat ------------------------------------------------------------------

    async def _open(self, conversation_id: int, *, remember: bool = True) -> bool:
        session = self.session
        if session.replying:
            return False
        if self.options_panel is not None:
            self.options_panel.flush()
        pending = self._options_task
        if pending is not None and not pending.done():
            await asyncio.wait([pending])
        try:
            await session.open(conversation_id)
            thread = session.thread
            shown = await self._in_thread(self._thread_view, thread)
        except ChatNotFound:
            self.banner.show_error(self.tr("That chat is gone (deleted elsewhere)."))
            await self._refresh_list()
            return False
        except ChatStoreError as exc:
            self.banner.show_error(str(exc))
            return False
        self._set_editing(None)
        self._open_id = conversation_id
        self.transcript.set_messages(shown)
        self.sidebar.set_current(conversation_id)
        self._show_options()
        self._show_chat_model()
        self._show_context_of(thread)
        self._update_empty_label()
        if remember:
            self.chat_opened.emit(str(conversation_id))
        if self.sidebar.item_for(conversation_id) is None:
            await self._refresh_list()  # made by another process, or hidden by a search
        return True

    def _thread_view(self, thread: Sequence[Message]) -> list[TranscriptMessage]:
        """Blocking (a worker thread: 2,000 messages take tens of milliseconds): the
        transcript's messages of ``thread``, with their versions and notes."""
        return self._transcript_messages(thread, self._versions_of(thread))

    def _versions_of(self, thread: Sequence[Message]) -> dict[int, tuple[int, int]]:
        """Blocking: (version, versions) of each message of ``thread`` with siblings."""
        store = self.store
        if store is None or not thread:
            return {}
        return store.versions(thread[0].conversation_id)

    def _transcript_messages(
        self, thread: Sequence[Message], versions: dict[int, tuple[int, int]]
    ) -> list[TranscriptMessage]:
        shown: list[TranscriptMessage] = []
        for message in thread:
            shown.append(self._transcript_message(message, versions.get(message.id)))
            note = self._dropped_note(message)
            if note is not None:
                shown.append(note)
        return shown

    def _transcript_message(
        self, message: Message, version: tuple[int, int] | None = None
    ) -> TranscriptMessage:
        meta = message.meta
        role = MessageRole(message.role)
        author = ""
        stop_reason: StopReason | None = None
        note = ""
        ttft = tokens_per_s = None
        count: int | None = None
        if role is MessageRole.ASSISTANT:
            model = meta.get("model")
            if isinstance(model, str) and model:
                author = model[:-5] if model.lower().endswith(".gguf") else model
            ttft = _number(meta.get("ttft_s"))
            tokens_per_s = _number(meta.get("tokens_per_s"))
            tokens = meta.get("completion_tokens")
            count = tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None
            stopped_by = meta.get("stopped_by")
            outcome = meta.get("outcome")
            if stopped_by == "max_tokens":
                stop_reason = StopReason.MAX_TOKENS
            elif stopped_by == "context":
                stop_reason = StopReason.CONTEXT_FULL
            elif outcome == Outcome.STOPPED:
                stop_reason = StopReason.STOPPED
            elif outcome == Outcome.FAILED:
                stop_reason = StopReason.FAILED
            error = meta.get("error")
            if isinstance(error, str) and error:
                note = error
        number, of = version or (1, 1)
        return TranscriptMessage(
            id=str(message.id),
            role=role,
            text=message.content,
            status=_STATUS.get(message.status, MessageStatus.COMPLETE),
            author=author,
            time_to_first_token=ttft,
            tokens_per_second=tokens_per_s,
            token_count=count,
            stop_reason=stop_reason,
            note=note,
            version=number,
            versions=of,
        )

    def _dropped_note(self, message: Message) -> TranscriptMessage | None:
        dropped = message.meta.get("dropped_messages")
        if message.role != "assistant" or not isinstance(dropped, int) or dropped <= 0:
            return None
        n_ctx = message.meta.get("n_ctx")
        text = self.tr(
            "The conversation no longer fits the model's context, so the %n oldest "
            "message(s) were left out of the prompt for the reply above (the system prompt "
            "is kept). Start a new chat, or choose a larger context size in Chat settings.",
            "",
            dropped,
        )
        if isinstance(n_ctx, int):
            text += " " + self.tr("Context size: {tokens} tokens.").format(tokens=f"{n_ctx:,}")
        return TranscriptMessage(id=f"note:{message.id}", role=MessageRole.NOTE, text=text)

    async def _reload_thread(self) -> None:
        """Bring the transcript in line with the stored branch (after any action)."""
        session = self.session
        if session.conversation_id is None:
            return
        try:
            await session.refresh()
            thread = session.thread
            shown = await self._in_thread(self._thread_view, thread)
        except ChatStoreError as exc:
            self.banner.show_error(str(exc))
            return
        if self.replying and asyncio.current_task() is not self._reply_task:
            return  # a newer action shows its own state
        self._sync_transcript(shown)
        self._show_context_of(thread)
        self._update_empty_label()

    def _sync_transcript(self, wanted: list[TranscriptMessage]) -> None:
        shown = self.transcript.messages()
        if [m.id for m in shown] != [m.id for m in wanted]:
            self.transcript.set_messages(wanted)
            return
        for old, new in zip(shown, wanted, strict=True):
            if old != new:
                self.transcript.update_message(new)

    def _truncate_transcript(self, message_id: int, *, keep_it: bool) -> None:
        """Show the thread up to ``message_id`` (with it when ``keep_it``) before an action
        replaces what follows it."""
        shown = self.transcript.messages()
        ids = [m.id for m in shown]
        key = str(message_id)
        if key not in ids:
            return
        cut = ids.index(key) + (1 if keep_it else 0)
        after = shown[cut:]
        if len(after) > MANY_REMOVALS:
            self.transcript.set_messages(shown[:cut])
        else:
            for message in after:
                self.transcript.remove_message(message.id)

    async def _delete_message(self, message_id: int) -> None:
        try:
            await self.session.delete_message(message_id)
        except (ChatStoreError, RuntimeError) as exc:
            self.banner.show_error(str(exc))
        await self._reload_thread()

    async def _switch_version(self, message_id: int, step: int) -> None:
        session = self.session
        try:
            siblings = await session.siblings(message_id)
            ids = [m.id for m in siblings]
            index = ids.index(message_id) + step
            if 0 <= index < len(ids):
                await session.select(ids[index])
        except (ChatStoreError, RuntimeError, ValueError) as exc:
            self.banner.show_error(str(exc))
        await self._reload_thread()
        await self._refresh_list()

    # --- the chat's options ------------------------------------------------------------

    def _ensure_options_panel(self) -> ChatOptionsPanel:
        if self.options_panel is None:
            panel = ChatOptionsPanel(self)
            panel.options_changed.connect(self._on_options_panel_options_changed)
            panel.preset_saved.connect(self._on_options_panel_preset_saved)
            panel.preset_deleted.connect(self._on_options_panel_preset_deleted)
            panel.close_requested.connect(self._on_options_panel_close_requested)
            panel.setMaximumWidth(380)
            self._middle.addWidget(panel)
            self.options_panel = panel
        return self.options_panel

    def _show_options(self) -> None:
        if self.options_panel is not None and self._session is not None:
            self.options_panel.show_options(self._session.options)

    async def _save_options(self, options: ChatOptions) -> None:
        try:
            await self.session.set_options(options)
        except ChatStoreError as exc:
            self.banner.show_error(
                self.tr("The chat's settings could not be saved: {error}").format(error=exc)
            )

    async def _refresh_presets(self) -> None:
        await self._presets()

    async def _presets(self) -> None:
        store = self.store
        if store is None or self.options_panel is None:
            return
        try:
            presets = await self._in_thread(store.presets)
        except ChatStoreError as exc:
            self.banner.show_error(str(exc))
            return
        self.options_panel.set_presets(presets)

    # --- loading a model ------------------------------------------------------------------

    async def _load_chosen(self, choice: str) -> None:
        await self._load(choice)

    async def _ensure_model(self) -> bool:
        """The model this chat replies with is loaded (loaded now if it was not)."""
        options = self.session.options
        if options.engine is None and options.model_path is None:
            # A new chat: a remote model chosen in the picker is this chat's model.
            remote = parse_remote_choice(self.model_picker.currentData())
            if remote is not None:
                await self._use_remote(*remote)
                options = self.session.options
        if options.engine is not None:
            # A remote model: nothing to load, the session streams from its server.
            return await self._remote_engine_ready(options.engine, options.model_path or "")
        self.session.use_engine(self._engine)
        loaded = self._engine.loaded
        wanted = options.model_path
        if wanted is None:
            if loaded is None:
                choice = self.model_picker.currentData()
                if not choice:
                    self.banner.show_error(
                        self.tr(
                            "There is no model to reply yet: open a GGUF file, or get a "
                            "model from the Models page."
                        )
                    )
                    return False
                return await self._load(str(choice))
            wanted = loaded.path
        n_ctx = options.n_ctx or self._base_options(wanted).n_ctx
        if loaded is not None and self._same_model(loaded.path, wanted) and loaded.n_ctx == n_ctx:
            return True
        return await self._load(STARTER_CHOICE if self._is_starter(wanted) else wanted)

    def _base_options(self, path: str) -> LoadOptions:
        """The load options of ``path`` before the chat's own: what its last load used
        (its per-model defaults), while the Settings' options are unchanged since."""
        settings, used = self._loaded_with.get(path, (None, None))
        return used if used is not None and settings == self._settings.load else self._settings.load

    async def _options_for(self, path: str) -> LoadOptions:
        base = self._settings.load
        if self._load_options is not None:
            try:
                options = await self._in_thread(self._load_options, path, base)
            except Exception as exc:  # the Settings' options still load it
                log.warning("per-model load options of %s: %s", path, exc)
            else:
                self._loaded_with[path] = (base, options)
                return options
        return base

    def _spec(self, path: str, base: LoadOptions) -> ModelLoad:
        if self._session is not None:
            return self._session.options.model_load(path, base)
        return ModelLoad(path=path, **base.model_dump())

    async def _load(self, choice: str) -> bool:
        """Check and load ``choice`` with progress; True when it is loaded."""
        if not self._renderer_warmed:
            # While the model loads: the first reply then renders without importing
            # markdown-it and Pygments, or compiling their patterns, on the GUI thread.
            self._renderer_warmed = True
            self._start(self._in_thread(warm_up_renderer))
        self.banner.clear()
        self._progress_hide_timer.stop()
        self._show_progress(0.0, self.tr("Preparing…"))
        name = _starter_label() if choice == STARTER_CHOICE else Path(choice).name
        self._emit_state(EngineState.LOADING, name, 0.0)
        try:
            if choice == STARTER_CHOICE:
                self._show_progress(0.0, self.tr("Checking the starter model (first time only)…"))
                try:
                    starter = await self._in_thread(starter_model_path, self._paths.cache)
                except StarterModelError as exc:
                    self._load_failed(exc.message)
                    return False
                if starter is None:
                    self._load_failed(self.tr("This installation has no starter model."))
                    return False
                path = str(starter)
            else:
                path = choice
            spec = self._spec(path, await self._options_for(path))
            self._show_progress(0.0, self.tr("Checking the model file…"))
            problem = await self._in_thread(check_model_file_message, path, spec.n_ctx)
            if problem is not None:
                self._load_failed(problem)
                return False
            if not self._engine.running:
                self._show_progress(0.0, self.tr("Starting the engine…"))
            status: dict[str, Any] | None = None
            async for event in self._engine.load(spec):
                kind = event.get("type")
                if kind == "progress":
                    fraction = _number(event.get("progress"))
                    self._show_progress(fraction, str(event.get("stage", "")))
                    self._emit_state(EngineState.LOADING, name, fraction)
                elif kind == "loaded":
                    status = dict(event.get("status") or {})
            if status is None:
                raise EngineAPIError("the engine ended the load without saying it was done")
        except EngineUnavailable as exc:
            self._load_failed(exc.failure.message)
            return False
        except EngineAPIError as exc:
            self._load_failed(
                self.tr("The model could not be loaded: {reason}").format(reason=exc.message)
            )
            return False
        except asyncio.CancelledError:
            self._show_progress(None, self.tr("Loading cancelled"))
            self._show_loaded_model()
            raise
        except Exception as exc:  # the window must outlive any surprise
            log.exception("loading %s failed", choice)
            self._load_failed(self.tr("Unexpected error while loading: {error}").format(error=exc))
            return False
        finally:
            self._progress_hide_timer.start()
        assert status is not None
        await self._load_succeeded(choice, path, status)
        return True

    async def _load_succeeded(self, choice: str, path: str, status: dict[str, Any]) -> None:
        self.model_status = status
        self._model_ready = True
        self._show_progress(1.0, self.tr("Loaded"))
        self._settings.remember_model(path)
        self._refresh_model_picker(select=choice)
        self._update_starter_note()
        self.input.setFocus()  # ready to type
        self._emit_state(EngineState.READY)
        self.model_loaded.emit(status)
        session = self._session
        if session is not None and (
            session.options.model_path != path or session.options.engine is not None
        ):
            # The picker is the chat's model: the chat replies with it from now on.
            await self._save_options(session.options.on_local(path))
            self._show_options()
        await self._save_settings()

    async def _save_settings(self) -> None:
        try:
            if self._writer is not None:
                await asyncio.wrap_future(self._writer.save(self._settings))
            else:
                await self._in_thread(save_settings, self._paths.settings_file, self._settings)
        except OSError as exc:
            self.banner.show_info(
                self.tr("The model is loaded, but settings could not be saved: {error}").format(
                    error=exc
                )
            )

    def _load_failed(self, message: str) -> None:
        next_step = self.tr(
            "Choose another model in the Model list and press Load (this chat then uses it), "
            "or get one from the Models page."
        )
        self.banner.show_error(message + "\n" + next_step)
        self._show_progress(None, self.tr("Not loaded"))
        self._show_loaded_model()

    def _show_loaded_model(self) -> None:
        """The picker and the status bar show what the engine holds (it may be nothing)."""
        loaded = self._engine.loaded
        self._model_ready = loaded is not None
        if loaded is None:
            self.model_status = None
            self._emit_state(EngineState.NO_MODEL)
        else:
            self._select_in_picker(loaded.path, add=True)
            self._emit_state(
                EngineState.STOPPED if self._engine.needs_restart else EngineState.READY
            )
        self._update_starter_note()
        self._update_actions()

    # --- replying ---------------------------------------------------------------------------

    def _start_reply(
        self,
        start: Callable[[ReplyListener], Awaitable[ReplyEnded]],
        *,
        truncate_from: int | None = None,
        truncate_after: int | None = None,
        retry_text: str | None = None,
    ) -> asyncio.Task[None]:
        self._reply_task = self._start(
            self._reply(start, truncate_from, truncate_after, retry_text)
        )
        self._update_actions()
        return self._reply_task

    async def _reply(
        self,
        start: Callable[[ReplyListener], Awaitable[ReplyEnded]],
        truncate_from: int | None,
        truncate_after: int | None,
        retry_text: str | None,
    ) -> None:
        self.banner.clear()
        if self.options_panel is not None:
            self.options_panel.flush()
        pending = self._options_task
        if pending is not None and not pending.done():
            await asyncio.wait([pending])
        if not await self._ensure_model():
            if retry_text is not None and not self.input.toPlainText():
                self.input.setPlainText(retry_text)
            return
        if truncate_from is not None:
            self._truncate_transcript(truncate_from, keep_it=False)
        if truncate_after is not None:
            self._truncate_transcript(truncate_after, keep_it=True)
        self._update_empty_label()
        self._emit_state(EngineState.REPLYING)
        listener = ReplyListener(
            on_restarting=self._on_session_restarting,
            on_restart_progress=self._on_session_restart_progress,
            on_started=self._on_session_reply_started,
            on_text=self._on_session_text,
            on_ended=self._on_session_reply_ended,
            on_stored=self._on_session_stored,
        )
        try:
            await start(listener)
        except RuntimeError as exc:  # the session refused (another action runs)
            self.banner.show_error(str(exc))
        finally:
            # Also after Stop: the stored branch is what the transcript must show.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reload_thread()
                await self._refresh_list()

    def _on_session_stored(self, message: Message) -> None:
        if message.conversation_id != self._open_id:
            # A new chat got its row with its first message.
            self._open_id = message.conversation_id
            self.sidebar.set_current(message.conversation_id)
            self.chat_opened.emit(str(message.conversation_id))
            self._start(self._refresh_list())
        shown = self._transcript_message(message)
        if message.role == "assistant":
            if self.transcript.message(shown.id) is not None:
                self.transcript.remove_message(shown.id)  # Continue: it streams again
            self.transcript.begin_stream(shown)
        elif self.transcript.message(shown.id) is None:
            self.transcript.add_message(shown)
            self.transcript.scroll_to_bottom()
        self._update_empty_label()

    def _on_session_text(self, text: str) -> None:
        if self.transcript.streaming_id is not None:
            self.transcript.append_stream(text)

    def _on_session_restarting(self) -> None:
        self._restarting = True
        self._progress_hide_timer.stop()
        self._show_progress(0.0, self.tr("Restarting the engine…"))
        self._emit_state(EngineState.LOADING, None, 0.0)

    def _on_session_restart_progress(self, fraction: float | None, stage: str) -> None:
        self._show_progress(fraction, self.tr("Restarting the engine: {stage}").format(stage=stage))
        self._emit_state(EngineState.LOADING, None, fraction)

    def _on_session_reply_started(self) -> None:
        if self._restarting:
            self._restarting = False
            self._show_progress(1.0, self.tr("Engine restarted"))
            self._progress_hide_timer.start()
        self._emit_state(EngineState.REPLYING)

    def _on_session_reply_ended(self, ended: ReplyEnded) -> None:
        stored = ended.message
        streaming = self.transcript.streaming_id
        if stored is not None and streaming == str(stored.id):
            self.transcript.finish_stream(self._transcript_message(stored))
        for removed in ended.removed_ids:
            self.transcript.remove_message(str(removed))
        if self.transcript.streaming_id is not None and stored is None:
            self.transcript.remove_message(self.transcript.streaming_id)
        if stored is not None:
            note = self._dropped_note(stored)
            if note is not None and self.transcript.message(note.id) is None:
                self.transcript.add_message(note)
        error = ended.error
        if isinstance(error, EngineUnavailable):
            self.banner.show_error(
                error.failure.message + " " + self.tr("Send again to restart it.")
            )
        elif isinstance(error, EngineAPIError):
            self.banner.show_error(self._remote_context(error.message))
        elif isinstance(error, EngineConnectionError):
            self.banner.show_error(self._remote_context(getattr(error, "message", str(error))))
        elif error is not None:
            self.banner.show_error(self.tr("Unexpected error: {error}").format(error=error))
        if ended.retry_text is not None and not self.input.toPlainText():
            self.input.setPlainText(ended.retry_text)
        if self._restarting:
            self._restarting = False
            self._progress_hide_timer.start()
        if self._remote() is not None:
            self._emit_state(EngineState.READY)
        elif self._engine.needs_restart or isinstance(error, EngineUnavailable):
            self._emit_state(EngineState.STOPPED)
        elif self._engine.loaded is not None:
            self._emit_state(EngineState.READY)
        else:
            self._emit_state(EngineState.NO_MODEL)
        self._update_empty_label()
        self.reply_finished.emit(ended)

    # --- helpers ----------------------------------------------------------------------

    def _emit_state(
        self, state: EngineState, model: str | None = None, progress: float | None = None
    ) -> None:
        self._engine_state = state
        if model is None and state != EngineState.NO_MODEL:
            model = self._model_name()
        self.engine_state_changed.emit(state, model, progress)
        self._update_actions()

    def _model_name(self) -> str | None:
        remote = self._remote()
        if remote is not None:
            return self._remote_label(*remote)
        model = (self.model_status or {}).get("model")
        if model:
            return str(model)
        loaded = self._engine.loaded
        if loaded is not None:
            return _starter_label() if self._is_starter(loaded.path) else Path(loaded.path).name
        return None

    def _set_editing(self, message_id: int | None) -> None:
        self._editing_id = message_id
        for widget in self._edit_widgets:
            widget.setVisible(message_id is not None)

    def _show_context_of(self, thread: Sequence[Message]) -> None:
        for message in reversed(thread):
            if message.role != "assistant":
                continue
            meta = message.meta
            prompt, completion = meta.get("prompt_tokens"), meta.get("completion_tokens")
            if isinstance(prompt, int) and isinstance(completion, int):
                n_ctx = meta.get("n_ctx")
                self._show_context(prompt + completion, n_ctx if isinstance(n_ctx, int) else None)
                return
        self._show_context(None, None)

    def _show_context(self, used: int | None, size: int | None) -> None:
        if size is None:
            status_size = (self.model_status or {}).get("n_ctx")
            size = status_size if isinstance(status_size, int) and status_size > 0 else None
        if used is None or size is None or size <= 0:
            self.context_label.setText(
                self.tr("Context: {size} tokens").format(size=f"{size:,}")
                if size
                else self.tr("Context: not measured yet")
            )
            self.context_meter.setRange(0, 1)
            self.context_meter.setValue(0)
            self.context_meter.setAccessibleDescription(self.context_label.text())
            return
        shown = min(used, size)
        self.context_label.setText(
            self.tr("Context: {used} of {size} tokens ({percent}%)").format(
                used=f"{used:,}", size=f"{size:,}", percent=round(100 * shown / size)
            )
        )
        self.context_meter.setRange(0, size)
        self.context_meter.setValue(shown)
        self.context_meter.setAccessibleDescription(self.context_label.text())

    def _show_progress(self, fraction: Any, stage: str) -> None:
        value = _number(fraction)
        if value is not None:
            self.progress_bar.setValue(max(0, min(100, round(value * 100))))
        self.stage_label.setText(stage)
        self._set_progress_visible(True)

    def _set_progress_visible(self, visible: bool) -> None:
        for widget in self._progress_widgets:
            widget.setVisible(visible)

    def _update_empty_label(self) -> None:
        empty = self.transcript.messages() == []
        self.empty_label.setVisible(empty)
        self.transcript.setVisible(not empty)

    def _refresh_model_picker(self, select: str | None = None) -> None:
        current = select if select is not None else self.model_picker.currentData()
        self.model_picker.clear()
        if self._starter is not None:
            self.model_picker.addItem(_starter_label(), STARTER_CHOICE)
            self.model_picker.setItemData(
                0,
                QCoreApplication.translate(TRANSLATION_CONTEXT, STARTER_DESCRIPTION),
                Qt.ItemDataRole.ToolTipRole,
            )
        for path in self._settings.recent_models:
            if self._is_starter(path):
                continue  # shown as the starter entry above
            self._add_picker_item(path)
        for engine in sorted(self._remote_models, key=str.lower):
            models = self._remote_models[engine]
            if models and self.model_picker.count() > 0:
                self.model_picker.insertSeparator(self.model_picker.count())
            for model in models:
                self._add_remote_item(engine, model)
        if current:
            self._select_in_picker(str(current), add=True)
        elif self._settings.last_model:
            self._select_in_picker(self._settings.last_model, add=False)
        if self.model_picker.currentIndex() < 0 and self.model_picker.count() > 0:
            self.model_picker.setCurrentIndex(0)  # the starter, for a first start
        self._update_actions()

    def _show_chat_model(self) -> None:
        """The picker shows the open chat's model (loaded at its next message)."""
        remote = self._remote()
        if remote is not None:
            self._select_in_picker(remote_choice(*remote), add=True)
            return
        wanted = self._session.options.model_path if self._session is not None else None
        if wanted:
            self._select_in_picker(wanted, add=True)

    def _add_picker_item(self, path: str, index: int | None = None) -> None:
        at = self.model_picker.count() if index is None else index
        self.model_picker.insertItem(at, Path(path).name, path)
        self.model_picker.setItemData(at, path, Qt.ItemDataRole.ToolTipRole)

    def _add_remote_item(self, engine: str, model: str) -> None:
        at = self.model_picker.count()
        self.model_picker.insertItem(
            at, self._remote_label(engine, model), remote_choice(engine, model)
        )
        self.model_picker.setItemData(
            at,
            self.tr("{model} on the remote engine {engine}").format(model=model, engine=engine),
            Qt.ItemDataRole.ToolTipRole,
        )

    def _remote_label(self, engine: str, model: str) -> str:
        return self.tr("{engine} · {model}").format(engine=engine, model=model)

    def _select_in_picker(self, choice: str, *, add: bool) -> None:
        index = self.model_picker.findData(choice)
        remote = parse_remote_choice(choice)
        if index < 0 and remote is not None:
            if add:  # the chat's engine did not list it (now): shown all the same
                self._add_remote_item(*remote)
                index = self.model_picker.count() - 1
            if index >= 0:
                self.model_picker.setCurrentIndex(index)
            return
        if index < 0 and self._is_starter(choice):
            index = self.model_picker.findData(STARTER_CHOICE)
        if index < 0 and add:
            index = 1 if self.model_picker.itemData(0) == STARTER_CHOICE else 0
            self._add_picker_item(choice, index)
        if index >= 0:
            self.model_picker.setCurrentIndex(index)

    # --- remote engines ----------------------------------------------------------------

    def _remote(self) -> tuple[str, str] | None:
        """(engine, model) when the open chat uses a remote model."""
        session = self._session
        if session is None or session.options.engine is None:
            return None
        return session.options.engine, session.options.model_path or ""

    def _remote_context(self, message: str) -> str:
        """An error of the chat's remote engine, saying which engine it was."""
        remote = self._remote()
        if remote is None:
            return message
        if f"engine {remote[0]}" in message:  # the engine's own words name it already
            return message[:1].upper() + message[1:]
        return self.tr("The remote engine {engine}: {message}").format(
            engine=remote[0], message=message
        )

    @property
    def remote_models(self) -> dict[str, list[str]]:
        """Each remote engine's models, as last asked (engines that failed: none)."""
        return {name: list(models) for name, models in self._remote_models.items()}

    @property
    def remote_problems(self) -> dict[str, str]:
        """Why an engine's models could not be listed, by engine name."""
        return dict(self._remote_problems)

    def refresh_remote_models(self) -> asyncio.Task[None] | None:
        """Ask every remote engine for its models again (the picker lists them)."""
        if self._engines is None:
            return None
        if self._remote_task is not None and not self._remote_task.done():
            self._remote_task.cancel()
        self._remote_task = self._start(self._refresh_remote_models(self._engines))
        return self._remote_task

    async def _refresh_remote_models(self, provider: Callable[[], EnginesService]) -> None:
        try:
            engines = await self._in_thread(provider)
            configs = await self._in_thread(engines.list)
        except Exception as exc:  # the list is unreadable: local models still work
            log.warning("remote engines: %s", exc)
            return

        async def models_of(name: str) -> tuple[str, list[str] | None, str]:
            try:
                found = await asyncio.wait_for(engines.models(name), REMOTE_MODELS_TIMEOUT_S)
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                return name, None, self.tr("it did not answer in time")
            except Exception as exc:
                return name, None, str(getattr(exc, "message", "") or exc)
            return name, list(found), ""

        results = await asyncio.gather(*(models_of(c.name) for c in configs))
        self._remote_models = {name: models for name, models, _ in results if models}
        self._remote_problems = {name: problem for name, models, problem in results if problem}
        for name, problem in self._remote_problems.items():
            log.info("remote engine %s: %s", name, problem)
        self._refresh_model_picker()
        self._show_chat_model()

    def use_remote_model(self, engine: str, model: str) -> asyncio.Task[None] | None:
        """This chat replies with ``model`` of the remote engine ``engine`` from now on
        (what choosing it in the picker does); None while busy."""
        if self.busy:
            return None
        return self._start(self._use_remote(engine, model))

    async def _remote_engine_ready(self, engine: str, model: str) -> bool:
        """The session replies through remote ``engine``'s ``model``; False (and said)
        when that engine is not there any more."""
        provider = self._engines
        problem = None
        if provider is None:
            problem = self.tr("remote engines are not available in this window")
        else:
            try:
                engines = await self._in_thread(provider)
                remote = await self._in_thread(engines.engine_for, engine, model)
            except Exception as exc:  # removed in Settings, or its key cannot be read
                problem = str(getattr(exc, "message", "") or exc)
            else:
                self.session.use_engine(remote)
                return True
        self.banner.show_error(
            self.tr(
                "This chat uses {model} on the remote engine {engine}, which cannot be "
                "used: {problem}. Choose another model in the Model list."
            ).format(model=model, engine=engine, problem=problem)
        )
        return False

    async def _use_remote(self, engine: str, model: str) -> None:
        """This chat replies with ``model`` on the remote engine ``engine`` from now on."""
        session = self._session
        if session is None:
            return
        self.banner.clear()
        if session.options.engine != engine or session.options.model_path != model:
            await self._save_options(session.options.on_remote(engine, model))
            self._show_options()
        self._select_in_picker(remote_choice(engine, model), add=True)
        problem = self._remote_problems.get(engine)
        if problem:
            self.banner.show_error(self._remote_context(problem))
        self._emit_state(EngineState.READY, self._remote_label(engine, model))
        self.input.setFocus()

    def _is_starter(self, path: str) -> bool:
        """Whether ``path`` (picker data or a file path) is this installation's starter."""
        if self._starter is None:
            return False
        return path == STARTER_CHOICE or path in self._starter_names

    def _same_model(self, a: str, b: str) -> bool:
        return a == b or (self._is_starter(a) and self._is_starter(b))

    def _update_starter_note(self) -> None:
        loaded = self._engine.loaded
        self.starter_note.setVisible(loaded is not None and self._is_starter(loaded.path))

    def _update_actions(self) -> None:
        loading = self._load_task is not None
        replying = self._reply_task is not None
        busy = loading or replying
        can_reply = self._engine.loaded is not None or self.model_picker.count() > 0
        self.model_picker.setEnabled(not busy)
        self.open_button.setEnabled(not busy)
        self.load_button.setEnabled(not busy and self.model_picker.count() > 0)
        self.send_button.setEnabled(self._ready and not busy and can_reply)
        self.stop_button.setEnabled(replying)
        self.stop_action.setEnabled(replying)
        self.sidebar.setEnabled(self._ready)
        self.new_chat_action.setEnabled(self._ready and not replying)
        self.new_chat_button.setEnabled(self._ready and not replying)
