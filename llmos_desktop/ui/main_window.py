"""The main window: navigation on the left, one page at a time, engine state below.

Pages receive their services in constructors: Chat (the engine, the chat store), Models
(ModelsService), Store (AppsService, the engine), Lab (LabService: quantize, measure,
compare), Developer (the engine's API server for other programs) and Settings. Every
page is one click, one arrow key in the navigation list, or Ctrl+1..6 away (the *Go*
menu lists them); Settings, last, also has the platform's Preferences key.

The window keeps what should survive a restart in Settings: its geometry (size,
position, maximized; saved when it closes) and the chat that was open
(``remember_open_chat``). Settings are written by one SettingsWriter, off the GUI thread.

The status bar is driven by state (ui/status_bar.py): the chat page says what the
engine does (``engine_state_changed``), what it loaded (``model_loaded``: backend,
context, memory) and how fast the last reply was (``reply_finished``); the window only
forwards that to the bar. While the API server is on, the bar also says when the engine
is busy with other programs' requests (polled from the engine, ``Engine.busy``); a
server that was on at the last close is switched on again once the pages are built.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QSize, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QMenu,
    QStackedWidget,
    QWidget,
)

from llmos_desktop.core.appearance import Appearance
from llmos_desktop.core.paths import AppPaths
from llmos_desktop.ui.status_bar import EngineState, EngineStatusBar
from llmos_desktop.ui.theme import ThemeManager

if TYPE_CHECKING:
    import asyncio

    from llmos_desktop.core.apps.runner import ChatPreset
    from llmos_desktop.core.chat.session import ReplyEnded
    from llmos_desktop.core.engine.contract import ModelLoad
    from llmos_desktop.core.engine.control.service import Engine
    from llmos_desktop.core.engine.errors import EngineFailure
    from llmos_desktop.core.engines.service import EnginesService
    from llmos_desktop.core.lab.service import LabService
    from llmos_desktop.core.models.service import ModelsService
    from llmos_desktop.core.settings import Settings, SettingsWriter
    from llmos_desktop.ui.chat_page import ChatPage
    from llmos_desktop.ui.developer.page import DeveloperPage
    from llmos_desktop.ui.lab.page import LabPage
    from llmos_desktop.ui.settings_page import SettingsPage

log = logging.getLogger(__name__)

DEFAULT_SIZE = QSize(1000, 700)


class MainWindow(QMainWindow):
    # Emitted on the engine's watcher thread (Engine.subscribe_exit); Qt queues it to the
    # GUI thread, so no widget is touched from that thread.
    engine_exited = Signal(object)
    closed = Signal()
    pages_built = Signal()  # the pages are in the frame (build_pages)
    open_chat_changed = Signal(object)  # str | None: the chat reopened at the next start

    CHAT_PAGE, MODELS_PAGE, STORE_PAGE, LAB_PAGE, DEVELOPER_PAGE, SETTINGS_PAGE = range(6)

    def __init__(
        self,
        *,
        paths: AppPaths,
        engine: Engine | None = None,
        settings: Settings | None = None,
        appearance: Appearance | None = None,
        parent: QWidget | None = None,
    ) -> None:
        """The window; with ``settings`` and ``engine`` its pages are built at once.

        Without them only the frame is built (navigation, empty pages, status bar, menus,
        in ``appearance``'s theme and geometry) and ``build_pages`` finishes it: start-up
        paints the frame first (app.start_window).
        """
        super().__init__(parent)
        self.paths = paths
        self._engine: Engine | None = None
        self._settings: Settings | None = None
        self._settings_writer: SettingsWriter | None = None
        self._chat_page: ChatPage | None = None
        if appearance is None:
            appearance = Appearance(
                theme=settings.theme if settings is not None else "system",
                window_geometry=settings.window_geometry_bytes() if settings else None,
            )
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        # Before any child widget exists: each is then polished once, in the right colours.
        self.theme = ThemeManager(app, self)
        self.theme.apply(appearance.theme)
        self.setWindowTitle(self.tr("LLMOS Desktop"))
        self.setMinimumSize(QSize(640, 420))

        # The navigation first: it then comes first in the Tab order too.
        self.navigation = QListWidget(self)
        self.navigation.setObjectName("navigation")
        self.navigation.setAccessibleName(self.tr("Sections"))
        self.navigation.setFixedWidth(150)
        self.navigation.setSpacing(2)
        self.navigation.setFrameShape(QListWidget.Shape.NoFrame)
        self.pages = QStackedWidget(self)
        self.pages.setObjectName("pages")
        # Empty until build_pages puts the real pages in their places. The Lab, Developer
        # and Settings pages are built when first shown even then: they are not needed to
        # start, and their many fields cost a few tens of milliseconds.
        self._slots = [QWidget(self) for _ in range(6)]
        self._settings_page: SettingsPage | None = None
        self._developer_page: DeveloperPage | None = None
        self._lab_page: LabPage | None = None
        self._lab: LabService | None = None
        self._api_task: asyncio.Future[None] | None = None
        self._engines: EnginesService | None = None
        self._engines_lock = threading.Lock()
        self.page_actions: list[QAction] = []
        go_menu = self.menuBar().addMenu(self.tr("&Go"))
        for number, (label, slot) in enumerate(
            zip(
                (
                    self.tr("Chat"),
                    self.tr("Models"),
                    self.tr("Store"),
                    self.tr("Lab"),
                    self.tr("Developer"),
                    self.tr("Settings"),
                ),
                self._slots,
                strict=True,
            ),
            start=1,
        ):
            self.navigation.addItem(label)
            self.pages.addWidget(slot)
            action = QAction(label, self)
            action.setShortcut(QKeySequence(f"Ctrl+{number}"))
            action.triggered.connect(lambda _checked=False, row=number - 1: self.show_page(row))
            go_menu.addAction(action)
            self.page_actions.append(action)
        # The platform's Preferences key too (Ctrl+, on macOS), where it has one.
        preferences = QKeySequence(QKeySequence.StandardKey.Preferences)
        if not preferences.isEmpty():
            self.page_actions[self.SETTINGS_PAGE].setShortcuts(
                [QKeySequence(f"Ctrl+{self.SETTINGS_PAGE + 1}"), preferences]
            )
        for row in range(self.navigation.count()):
            self.navigation.item(row).setSizeHint(QSize(0, 32))
        self.navigation.currentRowChanged.connect(self._on_navigation_current_row_changed)
        self.navigation.setCurrentRow(self.CHAT_PAGE)

        central = QWidget(self)
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.navigation)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)
        self.navigation.setStyleSheet(
            "#navigation { background: palette(window); border-right: 1px solid palette(mid);"
            " padding-top: 8px; }"
            "QListWidget#navigation::item { padding-left: 14px; border-radius: 4px; }"
            "QListWidget#navigation::item:selected"
            " { background: palette(highlight); color: palette(highlighted-text); }"
        )

        self.status_bar = EngineStatusBar(
            engine_pid=lambda: self._engine.pid if self._engine is not None else None, parent=self
        )
        self.setStatusBar(self.status_bar)

        quit_action = QAction(self.tr("&Quit"), self)
        quit_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Quit))
        quit_action.triggered.connect(self.close)
        self.addAction(quit_action)
        self.menuBar().insertMenu(go_menu.menuAction(), self._file_menu(quit_action))
        self.about_action = QAction(self.tr("&About LLMOS Desktop…"), self)
        self.about_action.triggered.connect(self._on_about_action_triggered)
        help_menu = self.menuBar().addMenu(self.tr("&Help"))
        help_menu.addAction(self.about_action)
        self._about_task: asyncio.Future[None] | None = None
        self._unsubscribe_exit: Callable[[], None] = lambda: None
        self.shutting_down = False
        self._restore_geometry(appearance.window_geometry)
        if settings is not None and engine is not None:
            self.build_pages(settings=settings, engine=engine)

    def build_pages(
        self,
        *,
        settings: Settings,
        engine: Engine,
        models: ModelsService | None = None,
        engines: EnginesService | None = None,
    ) -> None:
        """Put the pages in the frame, with their services; emits ``pages_built``.

        ``models`` (default: one made here) is the Models page's service; the chat page
        asks it how each model file loads (its per-model defaults). ``engines`` (default:
        one made here) is the remote engines' service: Settings → Remote engines edits
        them, the chat's picker lists their models.
        """
        from llmos_desktop.core.apps.service import AppsService
        from llmos_desktop.core.models.service import ModelsService
        from llmos_desktop.core.settings import SettingsWriter
        from llmos_desktop.ui.chat_page import ChatPage
        from llmos_desktop.ui.models.page import ModelsPage
        from llmos_desktop.ui.store.page import StorePage

        if self._chat_page is not None:
            raise RuntimeError("the window's pages are built already")
        self._engine = engine
        self._settings = settings
        self._settings_writer = SettingsWriter(self.paths.settings_file)
        if settings.theme != self.theme.choice:
            self.theme.apply(settings.theme)
        self.models = models if models is not None else ModelsService(self.paths, settings)
        self._engines = engines
        self._chat_page = ChatPage(
            engine=engine,
            settings=settings,
            paths=self.paths,
            settings_writer=self._settings_writer,
            load_options=self.models.load_options_for,
            engines=lambda: self.engines,
            parent=self,
        )
        self.models_page = ModelsPage(self.models, settings, self._settings_writer, self)
        self.models_page.load_requested.connect(self._on_models_page_load_requested)
        self.apps = AppsService(self.paths, settings, models=self.models)
        self.store_page = StorePage(
            self.apps, settings, self._settings_writer, self, engine=engine, models=self.models
        )
        self.store_page.chat_requested.connect(self._on_store_page_chat_requested)
        self.store_page.model_wanted.connect(self._on_store_page_model_wanted)
        self.store_page.engine_state_changed.connect(self._on_chat_page_engine_state_changed)
        self.store_page.reply_timings.connect(self.status_bar.show_reply_timings)
        for row, page in enumerate((self._chat_page, self.models_page, self.store_page)):
            self._replace_slot(row, page)

        self._chat_page.engine_state_changed.connect(self._on_chat_page_engine_state_changed)
        self._chat_page.model_loaded.connect(self._on_chat_page_model_loaded)
        self._chat_page.reply_finished.connect(self._on_chat_page_reply_finished)
        self._chat_page.chat_opened.connect(self._on_chat_page_chat_opened)
        self.engine_exited.connect(self._on_engine_exited)
        self._unsubscribe_exit = engine.subscribe_exit(self.engine_exited.emit)
        # Downloads a previous run left unfinished go on (on worker threads) from now.
        self.models_page.start()
        if self.pages.currentIndex() == self.SETTINGS_PAGE:
            self.settings_page  # noqa: B018  # the user went there while the pages were built
        elif self.pages.currentIndex() == self.DEVELOPER_PAGE:
            self.developer_page  # noqa: B018
        elif self.pages.currentIndex() == self.LAB_PAGE:
            self.lab_page  # noqa: B018
        if settings.api_server.enabled and self._developer_page is None:
            # On at the last close: on again, without building the page.
            self._apply_api_server_at_start()
        self.pages_built.emit()

    def _replace_slot(self, row: int, page: QWidget) -> None:
        """Put ``page`` where the empty slot of ``row`` is, keeping what is shown."""
        slot = self.pages.widget(row)
        showing = self.pages.currentIndex() == row
        self.pages.insertWidget(row, page)
        self.pages.removeWidget(slot)
        slot.deleteLater()
        if showing:
            self.pages.setCurrentWidget(page)

    @property
    def pages_ready(self) -> bool:
        return self._chat_page is not None

    @property
    def chat_page(self) -> ChatPage:
        if self._chat_page is None:
            raise RuntimeError("the window's pages are not built yet")
        return self._chat_page

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the window's engine is not built yet")
        return self._engine

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            raise RuntimeError("the window's settings are not read yet")
        return self._settings

    @property
    def settings_writer(self) -> SettingsWriter:
        if self._settings_writer is None:
            raise RuntimeError("the window's settings are not read yet")
        return self._settings_writer

    def _file_menu(self, quit_action: QAction) -> QMenu:
        menu = QMenu(self.tr("&File"), self)
        self.save_chat_as_app_action = QAction(self.tr("Save Chat as &App…"), self)
        self.save_chat_as_app_action.triggered.connect(self._on_save_chat_as_app_triggered)
        menu.addAction(self.save_chat_as_app_action)
        menu.addSeparator()
        menu.addAction(quit_action)
        return menu

    # --- public API ---------------------------------------------------------------------

    def show_page(self, row: int) -> None:
        """Show page ``row`` (CHAT_PAGE, MODELS_PAGE, STORE_PAGE, LAB_PAGE, DEVELOPER_PAGE,
        SETTINGS_PAGE)."""
        self.navigation.setCurrentRow(row)

    @property
    def settings_page(self) -> SettingsPage:
        """The Settings page, built on first use."""
        if self._settings_page is None:
            from llmos_desktop.ui.settings_page import SettingsPage

            page = SettingsPage(
                settings=self.settings,
                paths=self.paths,
                writer=self.settings_writer,
                token_store=self.models.token,
                engines=self.engines,
                parent=self,
            )
            page.settings_changed.connect(self._on_settings_page_settings_changed)
            if page.engines_section is not None:
                page.engines_section.engines_changed.connect(
                    self._on_engines_section_engines_changed
                )
            self._replace_slot(self.SETTINGS_PAGE, page)
            self._settings_page = page
        return self._settings_page

    @property
    def engines(self) -> EnginesService:
        """The remote engines' service, made on first use (the chat page asks for it on
        a worker thread once its chats are open: its modules are not needed to start)."""
        with self._engines_lock:
            if self._engines is None:
                from llmos_desktop.core.engines.service import EnginesService

                self._engines = EnginesService(self.paths)
            return self._engines

    @property
    def developer_page(self) -> DeveloperPage:
        """The Developer page, built on first use."""
        if self._developer_page is None:
            from llmos_desktop.ui.developer.page import DeveloperPage

            page = DeveloperPage(
                engine=self.engine,
                settings=self.settings,
                writer=self.settings_writer,
                parent=self,
            )
            page.api_server_changed.connect(self._on_developer_page_api_server_changed)
            page.settings_changed.connect(self._on_developer_page_settings_changed)
            self._replace_slot(self.DEVELOPER_PAGE, page)
            self._developer_page = page
        return self._developer_page

    @property
    def lab(self) -> LabService:
        """The Lab's service (quantize, measure, score, stored results), made on first use."""
        if self._lab is None:
            from llmos_desktop.core.lab.service import LabService

            self._lab = LabService(
                self.paths, self.settings, engine=self.engine, apps=self.apps, models=self.models
            )
        return self._lab

    @property
    def lab_page(self) -> LabPage:
        """The Lab page, built on first use."""
        if self._lab_page is None:
            from llmos_desktop.ui.lab.page import LabPage

            page = LabPage(self.lab, self.settings, self, engine=self.engine)
            page.model_added.connect(self._on_lab_page_model_added)
            self.models_page.library_changed.connect(page.reload_models)
            page.engine_state_changed.connect(self._on_chat_page_engine_state_changed)
            self._replace_slot(self.LAB_PAGE, page)
            self._lab_page = page
        return self._lab_page

    def _on_lab_page_model_added(self, _path: str) -> None:
        self.models_page.refresh_library()  # the new quantization is in the library

    def _apply_api_server_at_start(self) -> None:
        import asyncio

        async def apply() -> None:
            try:
                state = await self.engine.set_api_server(self.settings.api_server)
            except Exception as exc:  # the Developer page says why when it is opened
                log.warning("the API server could not be started: %s", exc)
                return
            self._on_developer_page_api_server_changed(state)

        self._api_task = asyncio.ensure_future(apply())

    @property
    def engine_label(self) -> QLabel:
        """The status bar's state line (the name the chat page's tests use)."""
        return self.status_bar.state_label

    @property
    def speed_label(self) -> QLabel:
        """The status bar's last-reply speed."""
        return self.status_bar.speed_label

    @property
    def last_open_chat_id(self) -> str | None:
        """The chat that was open when the app last closed (the chat page reopens it)."""
        return self.settings.last_chat_id

    def remember_open_chat(self, chat_id: str | None) -> None:
        """The chat page opened ``chat_id`` (None: none): reopen it at the next start."""
        if chat_id == self.settings.last_chat_id:
            return
        self.settings.last_chat_id = chat_id
        self.open_chat_changed.emit(chat_id)
        self._save_settings()

    async def shutdown(self) -> None:
        """Stop the pages' work and write the settings; the caller then closes the engine."""
        import asyncio  # not at import: the frame paints before asyncio loads

        self.shutting_down = True
        self._unsubscribe_exit()
        self.status_bar.stop()
        self.theme.detach()
        if self._chat_page is None:
            return  # closed before the pages were built: nothing was read, nothing to save
        if self.isVisible():
            self._remember_geometry()
        # The Settings page first: its flush touches its widgets, and the chat page's
        # shutdown waits for its tasks and the store (the event loop runs meanwhile).
        if self._settings_page is not None:
            await self._settings_page.flush()
        if self._developer_page is not None:
            await self._developer_page.shutdown()
        if self._lab_page is not None:
            await self._lab_page.shutdown()
        if self._api_task is not None:
            self._api_task.cancel()
            await asyncio.gather(self._api_task, return_exceptions=True)
        await self.store_page.shutdown()
        await self.models_page.shutdown()
        await self.chat_page.shutdown()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.apps.close)
        if self._lab is not None:
            await loop.run_in_executor(None, self._lab.close)
        # Joins the download threads (their partial files stay for the next start).
        await loop.run_in_executor(None, self.models.close)
        if self._engines is not None:
            await self._engines.aclose()
        try:
            await asyncio.wrap_future(self.settings_writer.save(self.settings))
        except OSError as exc:
            log.warning("settings could not be saved at close: %s", exc)
        await asyncio.get_running_loop().run_in_executor(None, self.settings_writer.close)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._remember_geometry()  # while the window is still shown where the user left it
        event.accept()
        self.closed.emit()

    # --- geometry -----------------------------------------------------------------------

    def _restore_geometry(self, saved: bytes | None) -> None:
        # restoreGeometry refuses data that is not a saved geometry, and moves a window
        # whose screen is gone onto one that is there.
        if not saved or not self.restoreGeometry(QByteArray(saved)):
            self.resize(DEFAULT_SIZE)

    def _remember_geometry(self) -> None:
        if self._settings is not None:
            self._settings.remember_window_geometry(bytes(self.saveGeometry().data()))

    def _save_settings(self) -> None:
        future = self.settings_writer.save(self.settings)
        future.add_done_callback(_log_failed_write)

    # --- slots --------------------------------------------------------------------------

    def _on_navigation_current_row_changed(self, row: int) -> None:
        if row == self.SETTINGS_PAGE and self.pages_ready:
            self.settings_page  # noqa: B018  # built here, on first use
        elif row == self.DEVELOPER_PAGE and self.pages_ready:
            self.developer_page  # noqa: B018  # built here, on first use
        elif row == self.LAB_PAGE and self.pages_ready:
            self.lab_page  # noqa: B018  # built here, on first use
        if row >= 0:
            self.pages.setCurrentIndex(row)

    def _on_settings_page_settings_changed(self, name: str) -> None:
        if name in ("apps_catalogue_repo", "hub_endpoint", "http_proxy", "hf_token"):
            self.store_page.apply_setting(name)
        if name in ("models_dir", "hub_endpoint", "http_proxy", "hf_token"):
            self.models_page.apply_setting(name)
        if self._lab is not None:
            self._lab.update_settings(self.settings)
        if name == "load" and self._developer_page is not None:
            self._developer_page.show_settings()  # its context field shows the same setting
        if name == "theme":
            self.theme.apply(self.settings.theme)
        elif name == "enter_sends":
            self.chat_page.set_enter_sends(self.settings.enter_sends)
        elif name == "sampling":
            # New chats start from the new defaults; a chat keeps its own settings.
            from llmos_desktop.core.chat.options import ChatOptions

            self.chat_page.set_default_sampling(ChatOptions.from_settings(self.settings))

    def _on_developer_page_settings_changed(self, name: str) -> None:
        if name == "load" and self._settings_page is not None:
            self._settings_page.show_settings()  # the context field shows the same setting
        if self._lab is not None:
            self._lab.update_settings(self.settings)

    def _on_engines_section_engines_changed(self) -> None:
        self.chat_page.refresh_remote_models()

    def _on_developer_page_api_server_changed(self, state: dict[str, Any] | None) -> None:
        """The API server is on (``state``) or off: the bar says when it is busy."""
        if state and state.get("enabled"):
            self.status_bar.start_api_polling(self._engine_busy)
        else:
            self.status_bar.stop_api_polling()

    async def _engine_busy(self) -> dict[str, Any]:
        if self._engine is None or not self._engine.running:
            return {}  # asking must not start an engine
        return dict(await self._engine.busy())

    def _on_models_page_load_requested(self, spec: ModelLoad) -> None:
        # The chat page loads it with the same per-model options (load_options_for).
        self.show_page(self.CHAT_PAGE)
        self.chat_page.load_model(spec.path)

    def _on_save_chat_as_app_triggered(self) -> None:
        import asyncio

        if self.pages_ready:
            task = asyncio.ensure_future(self.save_chat_as_app())
            task.add_done_callback(_log_failed_task)
            self._save_chat_task = task

    async def save_chat_as_app(self) -> None:
        """The open chat's system prompt, sampling and model as a new chat-mode app, in
        the Store's builder (the user names it, checks it and saves it there)."""
        import asyncio

        from llmos_desktop.core.apps.manifest import AppSampling

        options = self.chat_page.session.options
        chat_id = self.chat_page.open_chat_id
        title = None
        store = self.chat_page.store
        loop = asyncio.get_running_loop()
        if chat_id is not None and store is not None:
            try:
                title = (await loop.run_in_executor(None, store.conversation, chat_id)).title
            except Exception as exc:  # the draft is still made, without the chat's title
                log.warning("chat %s: %s", chat_id, exc)
        recommended: list[dict[str, object]] = []
        path = options.model_path or (self.engine.loaded.path if self.engine.loaded else None)
        if path is not None:
            model = await loop.run_in_executor(None, self.models.model_at, path)
            if model is not None and model.source_repo:
                file = model.path.name
                recommended.append(
                    {
                        "repo_id": model.source_repo,
                        "file": file,
                        "min_context": options.n_ctx or 2048,
                    }
                )
        draft = self.store_page.builder.blank_draft()
        name = (title or "").strip()[:60] or draft["name"]
        sampling = options.sampling.model_dump(exclude_none=True)
        draft.update(
            name=name,
            mode="chat",
            inputs=[],
            prompt_template="",
            system_prompt=options.system_prompt,
            sampling={k: v for k, v in sampling.items() if k in AppSampling.model_fields},
            recommended_models=recommended,
        )
        draft["localized"] = {
            locale: {**text, "name": name} for locale, text in draft["localized"].items()
        }
        self.store_page.open_builder(draft)
        self.show_page(self.STORE_PAGE)

    def _on_store_page_chat_requested(self, preset: ChatPreset) -> None:
        self.show_page(self.CHAT_PAGE)
        self.chat_page.new_chat_with(preset.chat_options(), preset.first_message)

    def _on_store_page_model_wanted(self, repo_id: str, path: str) -> None:
        self.show_page(self.MODELS_PAGE)
        self.models_page.download(repo_id, path)

    def _on_chat_page_engine_state_changed(
        self, state: EngineState, model: str | None, progress: float | None
    ) -> None:
        self.status_bar.set_state(state, model=model, progress=progress)

    def _on_chat_page_model_loaded(self, status: dict[str, Any]) -> None:
        self.status_bar.show_engine_status(status)

    def _on_chat_page_reply_finished(self, ended: ReplyEnded) -> None:
        self.status_bar.show_reply_timings(ended.result.timings)

    def _on_chat_page_chat_opened(self, chat_id: str | None) -> None:
        self.remember_open_chat(chat_id)

    def _on_about_action_triggered(self) -> None:
        import asyncio

        if self._about_task is None or self._about_task.done():
            self._about_task = asyncio.ensure_future(self._show_about())

    async def _show_about(self) -> None:
        from llmos_desktop.ui.about_dialog import AboutDialog

        backend = self.tr("engine not started")
        # Ask a running engine only: About must not start one.
        if self._engine is not None and self._engine.running:
            try:
                backend = str((await self.engine.status()).get("backend", backend))
            except Exception as exc:  # the dialog still opens; it just says why
                backend = self.tr("unknown ({error})").format(error=exc)
        dialog = AboutDialog(backend=backend, logs_folder=self.paths.logs, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def _on_engine_exited(self, failure: EngineFailure) -> None:
        self.chat_page.show_engine_failure(failure)


def _log_failed_write(future: Any) -> None:
    """A background write's error, in the log (runs on the writer's thread: no Qt here)."""
    exc = future.exception()
    if exc is not None:
        log.warning("settings could not be saved: %s", exc)


def _log_failed_task(task: Any) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("saving the chat as an app failed", exc_info=task.exception())
