"""The Store page: the catalogue, the installed apps, an app's page, running it, building one.

``StorePage`` puts together the views of this package and the one service behind them
(``AppsService``, core/apps/service.py: the built-in and remote catalogues, the
installed apps, the runner). The views render and forward; this page runs the work:

- **Never on the GUI thread.** Every service call (the catalogue read, install, remove,
  export, a remote refresh, publish, the builder's checks, the model plan) goes through
  ``ServiceBridge.call`` (the loop's executor); work runs as tasks the bridge keeps, so
  ``shutdown`` cancels and awaits them. An app's reply streams on the event loop from the
  engine, as the chat's does.
- **Nothing at start-up.** The page is built with the window but reads nothing until it
  is first shown: then the catalogue is read (the built-in one works offline).
- **An app's page** says which model would run it (``model_choice.plan_model``); when
  none suits, it offers the recommended one: ``model_wanted(repo, file)``, which the
  window hands to the Models page's download.
- **Run.** A form or structured app opens the run view; a chat app opens a chat
  (``chat_requested(ChatPreset)``) once its inputs, if it has any, are filled in. While
  a model loads and a reply streams, ``engine_state_changed`` says so (the window
  forwards it to the status bar, as it does the chat page's). Stop cancels the task that
  reads the stream, which stops the engine's generation.
- **Build.** The builder checks the draft off the GUI thread as it is edited; Save
  installs it (replacing the user's own app of the same id), Export writes a ``.llmapp``.

Names and descriptions are the app's, in the window's language (``wording.ui_language``),
always as plain text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QLocale, Qt, Signal
from PySide6.QtGui import (
    QPixmap,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.apps.manifest import AppError, AppManifest
from llmos_desktop.core.settings import Settings, SettingsWriter
from llmos_desktop.ui.models.bridge import ServiceBridge
from llmos_desktop.ui.status_bar import EngineState
from llmos_desktop.ui.store import wording
from llmos_desktop.ui.store.app_page import PAGE_ICON_SIZE, AppPage
from llmos_desktop.ui.store.builder import BuilderView
from llmos_desktop.ui.store.catalogue_view import ICON_SIZE, CatalogueRow, CatalogueView
from llmos_desktop.ui.store.icons import decode_icon, letter_icon
from llmos_desktop.ui.store.model_choice import ModelPlan, plan_model
from llmos_desktop.ui.store.run_view import RunView
from llmos_desktop.ui.widgets.banner import MessageBanner
from llmos_desktop.ui.widgets.dialogs import OpenDialogs
from llmos_desktop.ui.widgets.title import page_title

if TYPE_CHECKING:
    from llmos_desktop.core.apps.runner import AppRunner, AppRunResult
    from llmos_desktop.core.apps.service import AppsService, CatalogueItem
    from llmos_desktop.core.engine.control.service import Engine
    from llmos_desktop.core.models.service import ModelsService

log = logging.getLogger(__name__)

CATALOGUE_TAB, INSTALLED_TAB, BUILD_TAB = range(3)


def _save_text(path: Path, text: str) -> None:
    from llmos_desktop.core.atomic import write_text_atomic

    write_text_atomic(path, text)


def _icon_uri(path: Path) -> str:
    from llmos_desktop.core.apps.icon import MAX_ICON_BYTES, icon_data_uri

    with path.open("rb") as file:
        data = file.read(MAX_ICON_BYTES + 1)  # bounded: a larger file is refused anyway
    return icon_data_uri(data)


def _write_llmapp(app: AppManifest, path: Path) -> None:
    from llmos_desktop.core.apps.package import write_llmapp

    write_llmapp(app, path)


class StorePage(QWidget):
    """Catalogue / Installed / Build, an app's page and its run view; see the docstring."""

    chat_requested = Signal(object)  # ChatPreset: the window opens a new chat with it
    model_wanted = Signal(str, str)  # repo id, file: the window hands it to the Models page
    engine_state_changed = Signal(object, object, object)  # (EngineState, model, progress)
    catalogue_changed = Signal()  # the lists show what the service has now
    run_finished = Signal(object)  # AppRunResult | AppError | None (stopped)
    reply_timings = Signal(dict)  # a finished answer's timings (tokens_per_s, ttft_s)
    saved = Signal(str)  # a result, an export or a built app was written (its path or id)

    def __init__(
        self,
        service: AppsService,
        settings: Settings,
        settings_writer: SettingsWriter | None = None,
        parent: QWidget | None = None,
        *,
        engine: Engine | None = None,
        models: ModelsService | None = None,
    ) -> None:
        """``engine``: the window's Engine, which apps run on (None: apps cannot run).
        ``models``: the Models service, to find a recommended model in the library and
        load it with its per-model defaults."""
        super().__init__(parent)
        self.setObjectName("storePage")
        self._service = service
        self._settings = settings
        self._writer = settings_writer
        self._engine = engine
        self._models = models
        self.bridge = ServiceBridge(self)
        self._started = False
        self._items: list[CatalogueItem] = []
        self._icons: dict[tuple[str, str, int], QPixmap] = {}
        self._dialogs = OpenDialogs()
        self._runner: AppRunner | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._stop_asked = False
        self._plan: ModelPlan | None = None
        self._plan_task: asyncio.Task[None] | None = None
        self._load_task: asyncio.Task[None] | None = None
        self._loading_again = False

        self.title_label = page_title(self.tr("Store"), self)
        self.banner = MessageBanner(self)

        self.catalogue_view = CatalogueView(self.icon_for, parent=self)
        self.catalogue_view.setObjectName("storeCatalogue")
        self.installed_view = CatalogueView(self.icon_for, installed_only=True, parent=self)
        self.installed_view.setObjectName("storeInstalled")
        self.import_button = QPushButton(self.tr("Install from &file…"), self)
        self.import_button.setObjectName("storeImportButton")
        self.import_button.setToolTip(self.tr("Install an app someone sent you (.llmapp)"))
        self.import_button.setAutoDefault(False)
        self.publish_all_button = QPushButton(self.tr("&Publish all…"), self)
        self.publish_all_button.setObjectName("storePublishAllButton")
        self.publish_all_button.setToolTip(
            self.tr("Upload the installed apps to a Hugging Face repository others can add")
        )
        self.publish_all_button.setAutoDefault(False)
        installed_tab = QWidget(self)
        installed_layout = QVBoxLayout(installed_tab)
        installed_layout.setContentsMargins(8, 8, 8, 8)
        installed_layout.addWidget(self.installed_view, 1)
        installed_buttons = QHBoxLayout()
        installed_buttons.addStretch(1)
        installed_buttons.addWidget(self.publish_all_button)
        installed_buttons.addWidget(self.import_button)
        installed_layout.addLayout(installed_buttons)
        catalogue_tab = QWidget(self)
        catalogue_layout = QVBoxLayout(catalogue_tab)
        catalogue_layout.setContentsMargins(8, 8, 8, 8)
        catalogue_layout.addWidget(self.catalogue_view)

        self.builder = BuilderView(self.bridge.call, self)
        build_tab = QWidget(self)
        build_layout = QVBoxLayout(build_tab)
        build_layout.setContentsMargins(8, 8, 8, 8)
        build_layout.addWidget(self.builder)

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("storeTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(catalogue_tab, self.tr("&Catalogue"))
        self.tabs.addTab(installed_tab, self.tr("&Installed"))
        self.tabs.addTab(build_tab, self.tr("&Build an app"))
        self.tabs.setAccessibleName(self.tr("Store sections"))
        self.tabs.tabBar().setAccessibleName(self.tr("Store sections"))

        self.app_page = AppPage(self)
        self.run_view = RunView(self)
        self.stack = QStackedWidget(self)
        self.stack.setObjectName("storeStack")
        self.stack.addWidget(self.tabs)
        self.stack.addWidget(self.app_page)
        self.stack.addWidget(self.run_view)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 12)
        layout.setSpacing(10)
        layout.addWidget(self.title_label)
        layout.addWidget(self.banner)
        layout.addWidget(self.stack, 1)
        self._connect()

    def _connect(self) -> None:
        for view in (self.catalogue_view, self.installed_view):
            view.app_activated.connect(self._on_list_app_activated)
        self.catalogue_view.refresh_requested.connect(self._on_catalogue_refresh_requested)
        self.import_button.clicked.connect(self._on_import_button_clicked)
        self.publish_all_button.clicked.connect(self._on_publish_all_button_clicked)
        page = self.app_page
        page.back_requested.connect(self._on_app_page_back_requested)
        page.run_requested.connect(self._on_app_page_run_requested)
        page.install_requested.connect(self._on_app_page_install_requested)
        page.remove_requested.connect(self._on_app_page_remove_requested)
        page.export_requested.connect(lambda app: self._ask_export(app, installed_file=True))
        page.edit_requested.connect(self._on_app_page_edit_requested)
        page.model_wanted.connect(self.model_wanted)
        run = self.run_view
        run.back_requested.connect(self._on_run_view_back_requested)
        run.run_requested.connect(self._on_run_view_run_requested)
        run.stop_requested.connect(self.stop)
        run.save_requested.connect(self._on_run_view_save_requested)
        run.copied.connect(lambda: self.banner.show_info(self.tr("Copied.")))
        self.builder.save_requested.connect(self._on_builder_save_requested)
        self.builder.icon_requested.connect(self._on_builder_icon_requested)
        self.builder.export_requested.connect(
            lambda app: self._ask_export(app, installed_file=False)
        )

    # --- public API ---------------------------------------------------------------------

    def start(self) -> None:
        """Read the catalogue (done when the page is first shown)."""
        if self._started:
            return
        self._started = True
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.start()

    def refresh(self) -> asyncio.Task[None]:
        """Read the catalogue and the installed apps again (off the GUI thread)."""
        if self._load_task is not None and not self._load_task.done():
            self._loading_again = True
            return self._load_task
        self._load_task = self.bridge.start(self._load())
        return self._load_task

    @property
    def busy(self) -> bool:
        return self.bridge.busy

    @property
    def running(self) -> bool:
        return self._run_task is not None and not self._run_task.done()

    def rows(self) -> list[CatalogueRow]:
        return [self._row(item) for item in self._items]

    def open_app(self, app_id: str) -> bool:
        """Show the page of ``app_id`` (False when the catalogue has no such app)."""
        item = next((i for i in self._items if i.id == app_id), None)
        if item is None:
            return False
        self._show_app(self._row(item))
        return True

    def open_builder(self, draft: dict[str, Any] | AppManifest | None = None) -> None:
        """The Build tab, with ``draft`` in it (a manifest or its fields; None: a new app).
        The window's "Save chat as app" gives the chat's system prompt, sampling and model."""
        self.builder.load_draft(draft if draft is not None else self.builder.blank_draft())
        self.stack.setCurrentWidget(self.tabs)
        self.tabs.setCurrentIndex(BUILD_TAB)

    def apply_setting(self, name: str) -> None:
        """A setting changed on the Settings page: the remote catalogue's repository (or
        how the Hub is reached) is read again from the service's settings."""
        if name in ("apps_catalogue_repo", "hub_endpoint", "http_proxy", "hf_token"):
            settings = self._settings
            self.bridge.start(self._apply_settings(settings))

    async def _apply_settings(self, settings: Settings) -> None:
        await self.bridge.call(self._service.update_settings, settings)
        await self.refresh()

    def stop(self) -> None:
        """Stop the running app; what it wrote is kept."""
        if self.running:
            assert self._run_task is not None
            self._stop_asked = True
            self._run_task.cancel()

    async def shutdown(self) -> None:
        """Stop the run and every task, and wait for them (the window is closing)."""
        self.stop()
        await self.builder.shutdown()
        await self.bridge.shutdown()
        if self._run_task is not None:
            await asyncio.gather(self._run_task, return_exceptions=True)

    # --- the catalogue ------------------------------------------------------------------

    async def _load(self) -> None:
        while True:
            self._loading_again = False
            try:
                items = await self.bridge.call(self._service.catalogue)
            except Exception as exc:
                self.banner.show_error(
                    self.tr("The apps could not be read: {error}").format(
                        error=wording.error_text(exc)
                    )
                )
                return
            self._items = items
            rows = self.rows()
            self.catalogue_view.set_rows(rows)
            self.installed_view.set_rows(rows)
            self._update_catalogue_status()
            shown = self.app_page.app
            if shown is not None:
                current = next((r for r in rows if r.app.id == shown.id), None)
                if current is not None and self.stack.currentWidget() is self.app_page:
                    self.app_page.show_row(current, self.icon_for(current.app, PAGE_ICON_SIZE))
                    self._plan_for(current.app)
            self.catalogue_changed.emit()
            if not self._loading_again:
                return

    def _row(self, item: CatalogueItem) -> CatalogueRow:
        return CatalogueRow(
            app=item.app,
            installed=item.installed is not None,
            installed_version=item.installed.version if item.installed is not None else None,
            update=item.update_available,
            source=item.source,
        )

    def _update_catalogue_status(self) -> None:
        repo = self._service.catalogue_repo()
        self.catalogue_view.refresh_button.setVisible(repo is not None)
        error = self._service.remote_error
        problems = self._service.remote_problems
        text = self.catalogue_view.status_label.text()
        if error is not None:
            text += " · " + self.tr("The remote catalogue could not be read: {error}").format(
                error=wording.error_text(error)
            )
        elif problems:
            text += " · " + self.tr("{n} apps of the remote catalogue were left out").format(
                n=len(problems)
            )
        self.catalogue_view.set_status(text)
        updates = sum(1 for item in self._items if item.update_available)
        self.tabs.setTabText(
            INSTALLED_TAB,
            self.tr("&Installed (updates: {n})").format(n=updates)
            if updates
            else self.tr("&Installed"),
        )

    def _on_catalogue_refresh_requested(self) -> None:
        self.bridge.start(self._refresh_remote())

    async def _refresh_remote(self) -> None:
        self.catalogue_view.refresh_button.setEnabled(False)
        self.banner.show_info(self.tr("Reading the remote catalogue…"))
        try:
            await self.bridge.call(self._service.refresh_remote)
        except Exception as exc:
            self.banner.show_error(
                self.tr(
                    "The remote catalogue could not be read; the built-in apps are still "
                    "here. {error}"
                ).format(error=wording.error_text(exc))
            )
        else:
            self.banner.clear()
        finally:
            self.catalogue_view.refresh_button.setEnabled(True)
        await self.refresh()

    def _on_list_app_activated(self, row: CatalogueRow) -> None:
        self._show_app(row)

    def _show_app(self, row: CatalogueRow) -> None:
        if self.stack.currentWidget() is self.app_page and self.app_page.app == row.app:
            return
        self.app_page.show_row(row, self.icon_for(row.app, PAGE_ICON_SIZE))
        self.stack.setCurrentWidget(self.app_page)
        self.app_page.run_button.setFocus()
        self._plan_for(row.app)

    def _on_app_page_back_requested(self) -> None:
        self.stack.setCurrentWidget(self.tabs)
        view = self.installed_view if self.tabs.currentIndex() == INSTALLED_TAB else None
        (view or self.catalogue_view).list.setFocus()

    # --- icons --------------------------------------------------------------------------

    def icon_for(self, app: AppManifest, size: int = ICON_SIZE) -> QPixmap:
        """The app's icon at ``size`` pixels: its own (checked by core/apps/icon.py before
        Qt decodes it, with an allocation limit), else a letter on its category's colour."""
        key = (app.id, app.version, size)
        cached = self._icons.get(key)
        if cached is not None:
            return cached
        pixmap = self._decode_icon(app, size) or self._letter_icon(app, size)
        self._icons[key] = pixmap
        return pixmap

    def _decode_icon(self, app: AppManifest, size: int) -> QPixmap | None:
        return decode_icon(app.icon, size)

    def _letter_icon(self, app: AppManifest, size: int) -> QPixmap:
        name = wording.localized_name(app, wording.ui_language())
        return letter_icon(name, app.category, size, self.font(), self.devicePixelRatioF())

    # --- install, remove, export --------------------------------------------------------

    def install(self, app_id: str) -> asyncio.Task[AppManifest | None]:
        """Install or update ``app_id`` from the catalogue (off the GUI thread)."""
        return self.bridge.start(self._install(app_id))

    async def _install(self, app_id: str) -> AppManifest | None:
        row = self.app_page.row
        name = app_id
        if row is not None and row.app.id == app_id:
            name = wording.localized_name(row.app, wording.ui_language())
        self.app_page.set_busy(True, self.tr("Installing {name}…").format(name=name))
        try:
            app = await self.bridge.call(self._service.install, app_id)
        except Exception as exc:
            self.app_page.set_busy(False)
            self.banner.show_error(
                self.tr("{name} was not installed: {error}").format(
                    name=name, error=wording.error_text(exc)
                )
            )
            return None
        self.app_page.set_busy(False)
        self.banner.show_info(
            self.tr("{name} {version} is installed.").format(name=name, version=app.version)
        )
        await self.refresh()
        return app

    def remove(self, app_id: str) -> asyncio.Task[bool]:
        """Uninstall ``app_id`` without asking (the Remove button asks first)."""
        return self.bridge.start(self._remove(app_id))

    async def _remove(self, app_id: str) -> bool:
        row = self.app_page.row
        name = app_id
        if row is not None and row.app.id == app_id:
            name = wording.localized_name(row.app, wording.ui_language())
        self.app_page.set_busy(True, self.tr("Removing {name}…").format(name=name))
        try:
            await self.bridge.call(self._service.remove, app_id)
        except Exception as exc:
            self.app_page.set_busy(False)
            self.banner.show_error(
                self.tr("{name} was not removed: {error}").format(
                    name=name, error=wording.error_text(exc)
                )
            )
            return False
        self.app_page.set_busy(False)
        self.banner.show_info(self.tr("{name} was removed.").format(name=name))
        await self.refresh()
        return True

    def _on_app_page_install_requested(self, app: AppManifest) -> None:
        self.install(app.id)

    def _on_app_page_remove_requested(self, app: AppManifest) -> None:
        row = self.app_page.row
        name = wording.localized_name(app, wording.ui_language())
        box = QMessageBox(self)
        box.setObjectName("removeAppBox")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(self.tr("Remove an app"))
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(self.tr("Remove {name}?").format(name=name))
        if row is not None and row.source == "installed":
            box.setInformativeText(
                self.tr("No catalogue has this app: export it first to keep a copy.")
            )
        else:
            box.setInformativeText(self.tr("It stays in the catalogue; you can install it again."))
        remove = box.addButton(self.tr("&Remove"), QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def finished() -> None:
            if box.clickedButton() is remove:
                self.remove(app.id)

        box.finished.connect(finished)
        self._open_dialog(box)

    def _ask_export(self, app: AppManifest, *, installed_file: bool) -> None:
        """Ask where to export ``app``; ``installed_file``: the installed app's file as it
        is (when it is installed), else the manifest written anew (the builder's)."""
        dialog = QFileDialog(self, self.tr("Export the app"), str(Path.home() / f"{app.id}.llmapp"))
        dialog.setObjectName("exportAppDialog")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("llmapp")
        dialog.setNameFilters([self.tr("LLMOS apps (*.llmapp)"), self.tr("All files (*)")])
        dialog.fileSelected.connect(
            lambda path: (
                self.export(app, Path(path), installed_file=installed_file) if path else None
            )
        )
        self._open_dialog(dialog)

    def export(
        self, app: AppManifest, path: Path, *, installed_file: bool = True
    ) -> asyncio.Task[bool]:
        """Write ``app`` to ``path`` as a ``.llmapp`` (off the GUI thread)."""
        return self.bridge.start(self._export(app, path, installed_file))

    async def _export(self, app: AppManifest, path: Path, installed_file: bool) -> bool:
        try:
            installed = installed_file and await self.bridge.call(
                self._service.store.is_installed, app.id
            )
            if installed:
                await self.bridge.call(self._service.export, app.id, path)  # the file as is
            else:
                await self.bridge.call(_write_llmapp, app, path)
        except Exception as exc:
            self.banner.show_error(
                self.tr("The app was not exported: {error}").format(error=wording.error_text(exc))
            )
            return False
        self.banner.show_info(self.tr("Exported to {path}.").format(path=path))
        self.saved.emit(str(path))
        return True

    def _on_import_button_clicked(self) -> None:
        dialog = QFileDialog(self, self.tr("Install an app from a file"), str(Path.home()))
        dialog.setObjectName("importAppDialog")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilters([self.tr("LLMOS apps (*.llmapp)"), self.tr("All files (*)")])
        dialog.fileSelected.connect(lambda path: self.install_file(Path(path)) if path else None)
        self._open_dialog(dialog)

    def install_file(self, path: Path) -> asyncio.Task[AppManifest | None]:
        return self.bridge.start(self._install_file(path))

    async def _install_file(self, path: Path) -> AppManifest | None:
        try:
            app = await self.bridge.call(self._service.install, path)
        except Exception as exc:
            self.banner.show_error(
                self.tr("{file} was not installed: {error}").format(
                    file=path.name, error=wording.error_text(exc)
                )
            )
            return None
        name = wording.localized_name(app, wording.ui_language())
        self.banner.show_info(self.tr("{name} is installed.").format(name=name))
        await self.refresh()
        self.tabs.setCurrentIndex(INSTALLED_TAB)
        return app

    # --- publish ------------------------------------------------------------------------

    def _on_publish_all_button_clicked(self) -> None:
        ids = [row.app.id for row in self.rows() if row.installed]
        if not ids:
            self.banner.show_info(
                self.tr("Install or build an app first: there is nothing to publish.")
            )
            return
        dialog = QInputDialog(self)
        dialog.setObjectName("publishDialog")
        dialog.setWindowTitle(self.tr("Publish apps"))
        dialog.setLabelText(
            self.tr(
                "Hugging Face repository to upload the {n} installed apps to (owner/name). "
                "It needs the token of the Models page, with write access."
            ).format(n=len(ids))
        )
        dialog.setInputMode(QInputDialog.InputMode.TextInput)
        dialog.setTextEchoMode(QLineEdit.EchoMode.Normal)
        dialog.setTextValue(self._service.catalogue_repo() or "")
        dialog.textValueSelected.connect(
            lambda repo: self.publish(ids, repo.strip()) if repo.strip() else None
        )
        self._open_dialog(dialog)

    def publish(self, app_ids: list[str], repo_id: str) -> asyncio.Task[str | None]:
        return self.bridge.start(self._publish(app_ids, repo_id))

    async def _publish(self, app_ids: list[str], repo_id: str) -> str | None:
        self.banner.show_info(self.tr("Publishing to {repo}…").format(repo=repo_id))
        try:
            url = await self.bridge.call(self._service.publish, app_ids, repo_id)
        except Exception as exc:
            self.banner.show_error(
                self.tr("The apps were not published: {error}").format(
                    error=wording.error_text(exc)
                )
            )
            return None
        self.banner.show_info(
            self.tr("Published {n} apps to {repo}.").format(n=len(app_ids), repo=repo_id)
        )
        return str(url)

    # --- which model --------------------------------------------------------------------

    def _plan_for(self, app: AppManifest) -> None:
        if self._plan_task is not None and not self._plan_task.done():
            self._plan_task.cancel()
        self._plan = None
        self._plan_task = self.bridge.start(self._make_plan(app))

    async def _make_plan(self, app: AppManifest) -> None:
        plan = await self._model_plan(app)
        if self.app_page.app is not None and self.app_page.app.id == app.id:
            self._plan = plan
            self.app_page.set_model_note(self._plan_text(app, plan))
        if self.run_view.app is not None and self.run_view.app.id == app.id:
            self.run_view.set_model_text(self._plan_short(plan))

    async def _model_plan(self, app: AppManifest) -> ModelPlan:
        loaded = self._engine.loaded if self._engine is not None else None
        cache = self._service.paths.cache
        models = self._models
        base = self._settings.load

        def work() -> ModelPlan:
            from llmos_desktop.core.models.starter import StarterModelError, starter_model_path

            starter: Path | None = None
            if loaded is None:
                with contextlib.suppress(StarterModelError, OSError):
                    starter = starter_model_path(cache)
            return plan_model(app, loaded, models=models, base=base, starter=starter)

        try:
            return await self.bridge.call(work)
        except Exception as exc:  # a broken library still lets the loaded model run
            log.warning("model plan for %s: %s", app.id, exc)
            return plan_model(app, loaded, models=None, base=base, starter=None)

    def _plan_text(self, app: AppManifest, plan: ModelPlan) -> str:
        if app.mode == "chat":
            return self.tr("Opens a new chat, with the chat's model.")
        if self._engine is None:
            return self.tr("Apps cannot run here: there is no engine.")
        recommended = app.recommended_models[0].file if app.recommended_models else ""
        get = (
            " "
            + self.tr("The app was written for {model}: Get it below.").format(model=recommended)
            if recommended and not plan.recommended
            else ""
        )
        if plan.kind == "loaded":
            text = self.tr("Runs with {model}, loaded now.").format(model=plan.name)
            if plan.short_context is not None:
                text += " " + self.tr(
                    "Its context ({have} tokens) is smaller than this app asks for ({need})."
                ).format(have=plan.short_context, need=plan.min_context)
            return text + get
        if plan.kind == "library":
            return self.tr("Runs with {model} from your library; Run loads it.").format(
                model=plan.name
            )
        if plan.kind == "starter":
            return (
                self.tr(
                    "Runs with the starter model ({model}): quick, but too small to do this well."
                ).format(model=plan.name)
                + get
            )
        return self.tr("No model can run this app yet: get the recommended one below.")

    def _plan_short(self, plan: ModelPlan) -> str:
        if plan.kind == "none":
            return self.tr("No model: get the recommended one on the app's page.")
        if plan.kind == "loaded":
            return self.tr("Model: {model}").format(model=plan.name)
        return self.tr("Model: {model} (loaded when you run)").format(model=plan.name)

    # --- running ------------------------------------------------------------------------

    def _on_app_page_run_requested(self, app: AppManifest) -> None:
        if app.mode == "chat" and not app.inputs:
            self.bridge.start(self._open_chat(app, {}))
            return
        self.run_view.show_app(app)
        self.run_view.run_button.setText(
            self.tr("Open in &chat") if app.mode == "chat" else self.tr("&Run")
        )
        if (
            self._plan is not None
            and self.app_page.app is not None
            and self.app_page.app.id == app.id
        ):
            self.run_view.set_model_text(self._plan_short(self._plan))
        else:
            self.run_view.set_model_text("")
            self._plan_for(app)
        if app.mode == "chat":
            self.run_view.set_model_text(self.tr("Opens a new chat, with the chat's model."))
        self.stack.setCurrentWidget(self.run_view)
        self.run_view.form.focus_first()

    def _on_run_view_back_requested(self) -> None:
        self.stop()
        self.stack.setCurrentWidget(self.app_page if self.app_page.app else self.tabs)

    def _on_run_view_run_requested(self, values: dict[str, object]) -> None:
        app = self.run_view.app
        if app is None:
            return
        if app.mode == "chat":
            self.bridge.start(self._open_chat(app, values))
            return
        self.run(values)

    def run(self, values: dict[str, object]) -> asyncio.Task[None] | None:
        """Run the app of the run view with ``values`` (what Run does)."""
        app = self.run_view.app
        if app is None or self.running:
            return None
        self._stop_asked = False
        self.run_view.start_result()  # Stop works from now on, also while a model loads
        self.run_view.set_status(self.tr("Starting…"))
        self._run_task = asyncio.ensure_future(self._run(app, values))
        return self._run_task

    async def _open_chat(self, app: AppManifest, values: dict[str, object]) -> None:
        runner = self._get_runner()
        language = wording.ui_language()
        if runner is None:
            self.banner.show_error(self.tr("Apps cannot run here: there is no engine."))
            return
        try:
            preset = await self.bridge.call(
                lambda: runner.chat_preset(app, values, locale=language)
            )
        except AppError as exc:
            if exc.kind == "input":
                self.run_view.show_input_error(exc.field, wording.error_text(exc))
            else:
                self.banner.show_error(wording.error_text(exc))
            return
        self.chat_requested.emit(preset)

    def _get_runner(self) -> AppRunner | None:
        if self._engine is None:
            return None
        if self._runner is None:
            self._runner = self._service.runner(self._engine)
        return self._runner

    async def _run(self, app: AppManifest, values: dict[str, object]) -> None:
        from llmos_desktop.core.apps.runner import AppRunResult

        view = self.run_view
        runner = self._get_runner()
        if runner is None:
            view.finish_result()
            view.set_status(self.tr("Apps cannot run here: there is no engine."), error=True)
            return
        try:
            plan = await self._model_plan(app)
        except asyncio.CancelledError:
            view.finish_result()
            view.set_status(self.tr("Stopped."))
            if not self._stop_asked:
                raise
            self.run_finished.emit(None)
            return
        view.set_model_text(self._plan_short(plan))
        if not plan.runnable:
            view.finish_result()
            view.set_status(
                self.tr("No model can run this app: get the recommended one on its page."),
                error=True,
            )
            self.run_finished.emit(AppError("engine", "", "no model"))
            return
        result = AppRunResult(mode=app.mode)
        started = time.monotonic()
        model = plan.name
        if plan.spec is not None:
            view.set_status(self.tr("Loading {model}…").format(model=model))

        def on_progress(event: dict[str, Any]) -> None:
            if event.get("type") == "progress":
                fraction = event.get("progress")
                progress = float(fraction) if isinstance(fraction, int | float) else None
                self.engine_state_changed.emit(EngineState.LOADING, model, progress)
                view.set_status(self.tr("Loading {model}…").format(model=model))

        first = True
        outcome: AppRunResult | AppError | None = None
        try:
            async for piece in runner.run(
                app, values, model_load=plan.spec, result=result, on_load_progress=on_progress
            ):
                if first:
                    first = False
                    self.engine_state_changed.emit(EngineState.REPLYING, model, None)
                    view.set_status(self.tr("Writing…"))
                    view.set_model_text(self.tr("Model: {model}").format(model=model))
                view.append_text(piece)
            view.finish_result(result.data if app.mode == "structured" else None, app.output_schema)
            view.set_status(self._done_text(result, time.monotonic() - started))
            self.reply_timings.emit(dict(result.chat.timings))
            outcome = result
        except asyncio.CancelledError:
            view.finish_result()
            view.set_status(self.tr("Stopped; what was written is kept."))
            if not self._stop_asked:
                raise
        except AppError as exc:
            view.finish_result()
            if exc.kind == "input" and exc.field:
                view.show_input_error(exc.field, wording.error_text(exc))
                view.set_status(self.tr("Check the inputs."), error=True)
            else:
                view.set_status(wording.error_text(exc), error=True)
            outcome = exc
        except Exception as exc:  # the window outlives any surprise
            log.exception("running %s failed", app.id)
            view.finish_result()
            view.set_status(wording.error_text(exc), error=True)
            outcome = AppError("engine", "", str(exc))
        finally:
            loaded = self._engine.loaded if self._engine is not None else None
            self.engine_state_changed.emit(
                EngineState.READY if loaded is not None else EngineState.NO_MODEL,
                Path(loaded.path).name if loaded is not None else None,
                None,
            )
            if self.app_page.app is not None and self.app_page.app.id == app.id:
                self._plan_for(app)  # a model may be loaded now
        self.run_finished.emit(outcome)

    def _done_text(self, result: AppRunResult, seconds: float) -> str:
        tokens = result.chat.usage.get("completion_tokens")
        speed = result.chat.timings.get("tokens_per_s")
        if isinstance(tokens, int) and isinstance(speed, int | float):
            text = self.tr("Done: {n} tokens, {speed} tokens/s.").format(
                n=tokens, speed=QLocale().toString(float(speed), ord("f"), 1)
            )
        elif isinstance(tokens, int):
            text = self.tr("Done: {n} tokens.").format(n=tokens)
        else:
            text = self.tr("Done in {s} s.").format(s=QLocale().toString(seconds, ord("f"), 1))
        if result.chat.stopped_by == "max_tokens":
            text += " " + self.tr("It stopped at the app's length limit.")
        return text

    def _on_run_view_save_requested(self) -> None:
        app = self.run_view.app
        structured = self.run_view.result_is_structured()
        suffix = "json" if structured else "md"
        name = (app.id.rsplit(".", 1)[-1] if app is not None else "result") + f".{suffix}"
        dialog = QFileDialog(self, self.tr("Save the result"), str(Path.home() / name))
        dialog.setObjectName("saveResultDialog")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix(suffix)
        dialog.setNameFilters(
            [
                self.tr("JSON (*.json)") if structured else self.tr("Markdown (*.md)"),
                self.tr("Text (*.txt)"),
                self.tr("All files (*)"),
            ]
        )
        text = self.run_view.result_text()
        dialog.fileSelected.connect(
            lambda path: self.save_result(Path(path), text) if path else None
        )
        self._open_dialog(dialog)

    def save_result(self, path: Path, text: str | None = None) -> asyncio.Task[bool]:
        """Write the result (or ``text``) to ``path``, off the GUI thread, atomically."""
        return self.bridge.start(
            self._save_result(path, self.run_view.result_text() if text is None else text)
        )

    async def _save_result(self, path: Path, text: str) -> bool:
        try:
            await self.bridge.call(_save_text, path, text)
        except OSError as exc:
            self.banner.show_error(
                self.tr("The result was not saved: {error}").format(error=exc.strerror or exc)
            )
            return False
        self.banner.show_info(self.tr("Saved to {path}.").format(path=path))
        self.saved.emit(str(path))
        return True

    # --- the builder --------------------------------------------------------------------

    def _on_app_page_edit_requested(self, app: AppManifest) -> None:
        draft = app.model_dump(mode="json")
        draft["id"] = (app.id + "-copy")[:100]
        self.open_builder(draft)

    def _on_builder_save_requested(self, app: AppManifest) -> None:
        self.bridge.start(self._save_built(app))

    async def _save_built(self, app: AppManifest) -> AppManifest | None:
        name = wording.localized_name(app, wording.ui_language())
        try:
            installed = await self.bridge.call(lambda: self._service.install(app, replace=True))
        except Exception as exc:
            self.banner.show_error(
                self.tr("{name} was not saved: {error}").format(
                    name=name, error=wording.error_text(exc)
                )
            )
            return None
        self.banner.show_info(
            self.tr("{name} is saved and installed: find it in the Installed tab.").format(
                name=name
            )
        )
        self.saved.emit(installed.id)
        await self.refresh()
        return installed

    def _on_builder_icon_requested(self) -> None:
        dialog = QFileDialog(self, self.tr("Choose the app's icon"), str(Path.home()))
        dialog.setObjectName("iconDialog")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilters([self.tr("PNG images (*.png)")])
        dialog.fileSelected.connect(lambda path: self.choose_icon(Path(path)) if path else None)
        self._open_dialog(dialog)

    def choose_icon(self, path: Path) -> asyncio.Task[bool]:
        """Read ``path`` off the GUI thread and give it to the builder when it is an icon
        core/apps/icon.py accepts (else the reason, next to the icon)."""
        return self.bridge.start(self._choose_icon(path))

    async def _choose_icon(self, path: Path) -> bool:
        try:
            uri = await self.bridge.call(_icon_uri, path)
        except (AppError, OSError) as exc:
            message = exc.message if isinstance(exc, AppError) else str(exc.strerror or exc)
            self.builder.show_icon_error(message)
            return False
        self.builder.set_icon(uri)
        return True

    # --- dialogs ------------------------------------------------------------------------

    def _open_dialog(self, dialog: QDialog) -> None:
        self._dialogs.open(dialog, delete_on_close=True)

    @property
    def dialogs(self) -> list[QDialog]:
        """The dialogs open now (tests answer them)."""
        return self._dialogs.showing()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "_icons"):
            self._icons.clear()
