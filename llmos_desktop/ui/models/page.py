"""The Models page: the library, the Hub browser with repository pages, the downloads.

``ModelsPage`` puts together the views of this package and the one service behind them
(``ModelsService``, core/models/service.py): the library (``ModelLibrary``), the Hub
(``HubClient``), fit advice (fit.py, remote_gguf.py), the curated recommendations and the
``DownloadManager``. The views render and forward; this page runs the work:

- **Never on the GUI thread.** Every service call goes through ``ServiceBridge.call``
  (the loop's executor); work runs as tasks the bridge keeps, so ``shutdown`` cancels
  and awaits them. Download progress arrives on the manager's worker threads and is
  marshalled to the GUI thread by the bridge (a queued signal), coalesced per download.
- **Nothing at start-up.** The page is built with the window but touches no service
  until it is first shown: then the library is scanned and the download list (with any
  download resumed from the last run) is read. The Hub is searched when the Discover tab
  is first opened.
- **Library.** Load asks the service for the model's ``ModelLoad`` (its defaults over the
  Settings page's, "auto" GPU layers resolved from the fit advice) and emits
  ``load_requested``; the window hands it to the chat page. Delete asks first. An empty
  library (or one with only the starter model) shows the first-run panel with the
  recommendations that fit this machine.
- **Repository page.** Files and their sizes first, with fit advice from the sizes; then
  one model's header is read from the Hub (a bounded Range request) and the advice is
  refined with its layers and KV size. A 401/403 offers the token dialog; a saved token
  opens the repository again.
- **Downloads.** A verified download refreshes the library.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.models.types import (
    DownloadProgress,
    FitAdvice,
    LocalModel,
    MachineMemory,
    ModelDefaults,
    ModelsError,
    Recommendation,
    RemoteModel,
    RepoDetails,
    SearchPage,
    SearchSort,
)
from llmos_desktop.core.settings import Settings, SettingsWriter
from llmos_desktop.ui.models import wording
from llmos_desktop.ui.models.bridge import ServiceBridge
from llmos_desktop.ui.models.defaults_dialog import ModelDefaultsDialog
from llmos_desktop.ui.models.downloads_view import DownloadsView
from llmos_desktop.ui.models.first_run import FirstRunPanel
from llmos_desktop.ui.models.hub_browser import HubBrowser
from llmos_desktop.ui.models.library_view import LibraryView
from llmos_desktop.ui.models.repo_page import RepoPage
from llmos_desktop.ui.models.token_dialog import TokenDialog
from llmos_desktop.ui.widgets.banner import MessageBanner
from llmos_desktop.ui.widgets.dialogs import OpenDialogs
from llmos_desktop.ui.widgets.title import page_title

if TYPE_CHECKING:
    from llmos_desktop.core.models.service import ModelsService

log = logging.getLogger(__name__)

LIBRARY_TAB, DISCOVER_TAB, DOWNLOADS_TAB = range(3)
IMPORT_PROGRESS_INTERVAL_S = 0.1


class ModelsPage(QWidget):
    """Library / Discover / Downloads; see the module docstring."""

    load_requested = Signal(object)  # ModelLoad: the window hands it to the chat page
    library_changed = Signal()  # a scan finished (the rows are up to date)
    repo_shown = Signal(str)  # a repository page has its files (and advice from sizes)
    advice_refined = Signal(str)  # ... and its advice from the model's header
    # Emitted on the worker thread that copies an import; queued to the GUI thread.
    _import_progressed = Signal(int, int)

    def __init__(
        self,
        service: ModelsService,
        settings: Settings,
        settings_writer: SettingsWriter | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("modelsPage")
        self._service = service
        self._settings = settings
        self._writer = settings_writer
        self.bridge = ServiceBridge(self)
        self._started = False
        self._discover_started = False
        self._machine: MachineMemory | None = None
        self._scan_task: asyncio.Task[None] | None = None
        self._scan_again = False
        self._repo_task: asyncio.Task[None] | None = None
        self._repo_id: str | None = None
        self._dialogs = OpenDialogs()
        self._statuses: dict[str, str] = {}
        self._importing = ""
        self.models: list[LocalModel] = []

        self.title_label = page_title(self.tr("Models"), self)
        self.banner = MessageBanner(self)

        self.library_view = LibraryView(self)
        self.first_run = FirstRunPanel(self)
        self.first_run.hide()
        library_tab = QWidget(self)
        library_layout = QVBoxLayout(library_tab)
        library_layout.setContentsMargins(8, 8, 8, 8)
        library_layout.setSpacing(12)
        library_layout.addWidget(self.first_run, 3)
        library_layout.addWidget(self.library_view, 2)

        self.browser = HubBrowser(self.bridge, self._search, self)
        self.repo_page = RepoPage(self)
        self.discover_stack = QStackedWidget(self)
        self.discover_stack.setObjectName("discoverStack")
        discover_tab = QWidget(self)
        discover_layout = QVBoxLayout(discover_tab)
        discover_layout.setContentsMargins(8, 8, 8, 8)
        discover_layout.addWidget(self.discover_stack)
        self.discover_stack.addWidget(self.browser)
        self.discover_stack.addWidget(self.repo_page)

        self.downloads_view = DownloadsView(self)
        self.clear_finished_button = QPushButton(self.tr("Cl&ear finished"), self)
        self.clear_finished_button.setObjectName("downloadsClearButton")
        self.clear_finished_button.setAccessibleName(self.tr("Clear finished downloads"))
        self.clear_finished_button.setAutoDefault(False)
        downloads_tab = QWidget(self)
        downloads_layout = QVBoxLayout(downloads_tab)
        downloads_layout.setContentsMargins(8, 8, 8, 8)
        downloads_layout.addWidget(self.downloads_view, 1)
        downloads_layout.addWidget(self.clear_finished_button, 0, Qt.AlignmentFlag.AlignRight)

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("modelsTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(library_tab, self.tr("&Library"))
        self.tabs.addTab(discover_tab, self.tr("Dis&cover"))
        self.tabs.addTab(downloads_tab, self.tr("Do&wnloads"))
        self.tabs.setAccessibleName(self.tr("Models sections"))
        self.tabs.tabBar().setAccessibleName(self.tr("Models sections"))

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 12)
        layout.setSpacing(10)
        layout.addWidget(self.title_label)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)
        self._connect()

    def _connect(self) -> None:
        self.bridge.download_changed.connect(self._on_bridge_download_changed)
        self._import_progressed.connect(
            self._on_import_progressed, Qt.ConnectionType.QueuedConnection
        )
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        lib = self.library_view
        lib.load_requested.connect(self._on_library_load_requested)
        lib.defaults_requested.connect(self._on_library_defaults_requested)
        lib.delete_requested.connect(self._on_library_delete_requested)
        lib.reveal_requested.connect(self._on_library_reveal_requested)
        lib.import_requested.connect(self._on_import_requested)
        lib.refresh_requested.connect(self.refresh_library)
        self.first_run.download_requested.connect(self._on_first_run_download_requested)
        self.first_run.browse_requested.connect(self._on_first_run_browse_requested)
        self.first_run.import_requested.connect(self._on_import_requested)
        self.browser.repo_opened.connect(self.open_repo)
        self.repo_page.back_requested.connect(self._on_repo_page_back_requested)
        self.repo_page.download_requested.connect(self._on_repo_page_download_requested)
        self.repo_page.token_requested.connect(lambda: self._ask_token(self._repo_id))
        dl = self.downloads_view
        dl.pause_requested.connect(self._on_downloads_pause_requested)
        dl.resume_requested.connect(self._on_downloads_resume_requested)
        dl.cancel_requested.connect(self._on_downloads_cancel_requested)
        dl.token_requested.connect(lambda: self._ask_token(None))
        self.clear_finished_button.clicked.connect(self._on_clear_finished_button_clicked)

    # --- public API ---------------------------------------------------------------------

    def start(self) -> None:
        """Scan the library and read the downloads (done when the page is first shown)."""
        if self._started:
            return
        self._started = True
        self.refresh_library()
        self.bridge.start(self._start_downloads())

    def refresh_library(self) -> asyncio.Task[None]:
        """Scan again (off the GUI thread); a scan asked for during one runs after it."""
        if self._scan_task is not None and not self._scan_task.done():
            self._scan_again = True
            return self._scan_task
        self._scan_task = self.bridge.start(self._scan())
        return self._scan_task

    def open_repo(self, repo_id: str, *, show: bool = True) -> asyncio.Task[None]:
        """Show a repository page: its files, fit advice, card (``show``: on the Discover
        tab now; else only read again where it is)."""
        self._discover_started = True
        if show:
            self.tabs.setCurrentIndex(DISCOVER_TAB)
            self.discover_stack.setCurrentWidget(self.repo_page)
        if self._repo_task is not None:
            self._repo_task.cancel()
        self._repo_id = repo_id
        self.repo_page.show_loading(repo_id)
        self._repo_task = self.bridge.start(self._open_repo(repo_id))
        return self._repo_task

    def download(self, repo_id: str, path: str) -> asyncio.Task[list[str]]:
        """Start downloading ``path`` (every shard of a split model); the Downloads tab."""
        return self.bridge.start(self._download(repo_id, path))

    def search(self, query: str = "") -> asyncio.Task[None]:
        """Search the Hub (Discover tab)."""
        self._discover_started = True
        self.tabs.setCurrentIndex(DISCOVER_TAB)
        self.discover_stack.setCurrentWidget(self.browser)
        return self.browser.search(query)

    def apply_setting(self, name: str) -> None:
        """Follow a Settings change (the window forwards ``settings_changed``)."""
        if name == "models_dir":
            self.bridge.start(self._follow_models_folder())
        elif name in ("hub_endpoint", "http_proxy", "hf_token"):
            # What was shown came from another Hub, or without this account's access.
            if self._repo_id is not None:
                self.open_repo(self._repo_id, show=False)
            if self.browser.searched:
                self.browser.search()

    async def _follow_models_folder(self) -> None:
        await self.bridge.call(self._service.update_settings, self._settings)
        if self._started:
            await self.refresh_library()

    async def shutdown(self) -> None:
        """Cancel this page's work and wait for it (the window closes the service)."""
        self._dialogs.close_all()
        await self.bridge.shutdown()

    # --- showing ------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._started:
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # shown without a running loop (a script): not yet
                return
            self.start()
            if self.tabs.currentIndex() == DISCOVER_TAB:
                self._start_discover()

    def _on_tabs_current_changed(self, index: int) -> None:
        if index == DISCOVER_TAB:
            self._start_discover()

    def _start_discover(self) -> None:
        if not self._discover_started:
            self._discover_started = True
            self.browser.search("")

    # --- library ------------------------------------------------------------------------

    async def _scan(self) -> None:
        while True:
            self._scan_again = False
            try:
                models = await self.bridge.call(self._service.library.scan)
            except Exception as exc:
                self.banner.show_error(
                    self.tr("The models folder could not be read: {error}").format(
                        error=wording.error_text(exc)
                    )
                )
                models = []
            else:
                recovered = self._service.library.recovered_from
                if recovered is not None:
                    self.banner.show_error(
                        self.tr(
                            "The library's list of models was damaged and was kept, "
                            "unchanged, as {path}; a new list was started."
                        ).format(path=recovered)
                    )
                    self._service.library.recovered_from = None
            self._show_models(models)
            if not self._scan_again:
                break
        self.library_changed.emit()

    def _show_models(self, models: Sequence[LocalModel]) -> None:
        self.models = list(models)
        library = self._service.library
        read_only = frozenset(m.id for m in models if library.is_read_only(m))
        self.library_view.set_models(models, read_only)
        own = [m for m in models if m.id not in read_only]
        show_first_run = not own
        was_hidden = self.first_run.isHidden()
        self.first_run.set_starter_only(bool(models))
        self.first_run.setVisible(show_first_run)
        self.library_view.setVisible(bool(models))
        if show_first_run and was_hidden:
            self.bridge.start(self._load_recommendations())

    async def _load_recommendations(self) -> None:
        try:
            machine = await self._machine_memory()
            self.first_run.set_machine(machine)
            items = await self.bridge.call(_recommendations, machine)
        except Exception as exc:
            self.first_run.show_error(
                self.tr("The recommendations could not be read: {error}").format(
                    error=wording.error_text(exc)
                )
            )
            return
        self.first_run.set_recommendations(items)

    async def _machine_memory(self) -> MachineMemory:
        if self._machine is None:
            from llmos_desktop.core.models import fit

            self._machine = await self.bridge.call(fit.machine_memory)
        return self._machine

    def _on_library_load_requested(self, model: LocalModel) -> None:
        self.bridge.start(self._load(model))

    async def _load(self, model: LocalModel) -> None:
        try:
            spec = await self.bridge.call(self._service.load_spec, model, self._settings.load)
        except Exception as exc:
            self.banner.show_error(
                self.tr("{name} cannot be loaded: {error}").format(
                    name=model.name, error=wording.error_text(exc)
                )
            )
            return
        self.banner.clear()
        self.load_requested.emit(spec)
        with contextlib.suppress(Exception):
            await self.bridge.call(self._service.library.mark_used, model.id)
            self.refresh_library()

    def _on_library_defaults_requested(self, model: LocalModel) -> None:
        dialog = ModelDefaultsDialog(model, self)
        # Read while the dialog still exists (it is deleted when it closes).
        dialog.accepted.connect(
            lambda: self.bridge.start(self._set_defaults(model, dialog.defaults()))
        )
        self._open_dialog(dialog)

    async def _set_defaults(self, model: LocalModel, defaults: ModelDefaults) -> None:
        try:
            await self.bridge.call(self._service.library.set_defaults, model.id, defaults)
        except Exception as exc:
            self.banner.show_error(
                self.tr("The defaults for {name} were not saved: {error}").format(
                    name=model.name, error=wording.error_text(exc)
                )
            )
        await self.refresh_library()

    def _on_library_delete_requested(self, model: LocalModel) -> None:
        if self._service.library.is_read_only(model):
            self.banner.show_info(
                self.tr("{name} comes with LLMOS Desktop and cannot be deleted.").format(
                    name=model.name
                )
            )
            return
        box = QMessageBox(self)
        box.setObjectName("deleteModelBox")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(self.tr("Delete model"))
        if model.in_place:
            box.setText(self.tr("Remove {name} from the library?").format(name=model.name))
            box.setInformativeText(
                self.tr("The file stays where it is: {path}").format(path=model.path)
            )
        else:
            box.setText(self.tr("Delete {name}?").format(name=model.name))
            box.setInformativeText(
                self.tr("Its file is deleted from the models folder ({size}).").format(
                    size=wording.size_text(model.size)
                )
                if len(model.files) == 1
                else self.tr("Its {n} files are deleted from the models folder ({size}).").format(
                    n=len(model.files), size=wording.size_text(model.size)
                )
            )
        box.setTextFormat(Qt.TextFormat.PlainText)
        delete = box.addButton(
            self.tr("Remove") if model.in_place else self.tr("Delete"),
            QMessageBox.ButtonRole.DestructiveRole,
        )
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def finished() -> None:
            if box.clickedButton() is delete:
                self.bridge.start(self._remove(model))

        box.finished.connect(finished)
        self._open_dialog(box)

    async def _remove(self, model: LocalModel) -> None:
        try:
            await self.bridge.call(self._service.library.remove, model.id)
        except Exception as exc:
            self.banner.show_error(
                self.tr("{name} was not deleted: {error}").format(
                    name=model.name, error=wording.error_text(exc)
                )
            )
        await self.refresh_library()

    def _on_library_reveal_requested(self, model: LocalModel) -> None:
        folder = model.path.parent
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.banner.show_error(
                self.tr("No file manager could open {folder}.").format(folder=folder)
            )

    def _on_import_requested(self) -> None:
        dialog = QFileDialog(self, self.tr("Import a GGUF model"), str(Path.home()))
        dialog.setObjectName("importDialog")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilters([self.tr("GGUF models (*.gguf)"), self.tr("All files (*)")])
        dialog.fileSelected.connect(self._on_import_file_selected)
        self._open_dialog(dialog)

    def _on_import_file_selected(self, path: str) -> None:
        if not path:
            return
        box = QMessageBox(self)
        box.setObjectName("importModeBox")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(self.tr("Import a GGUF model"))
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(
            self.tr("Copy {name} into the models folder, or use it where it is?").format(
                name=Path(path).name
            )
        )
        box.setInformativeText(
            self.tr(
                "A copy stays in the library if the original is moved; in place takes no "
                "extra disk space."
            )
        )
        copy = box.addButton(self.tr("&Copy in"), QMessageBox.ButtonRole.AcceptRole)
        in_place = box.addButton(self.tr("Use in &place"), QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(copy)

        def finished() -> None:
            clicked = box.clickedButton()
            if clicked is copy or clicked is in_place:
                self.import_file(Path(path), copy=clicked is copy)

        box.finished.connect(finished)
        self._open_dialog(box)

    def import_file(self, path: Path, *, copy: bool) -> asyncio.Task[LocalModel | None]:
        """Import ``path`` (a copy, or in place) off the GUI thread; the new row selected."""
        return self.bridge.start(self._import(path, copy))

    async def _import(self, path: Path, copy: bool) -> LocalModel | None:
        self.banner.show_info(self.tr("Importing {name}…").format(name=path.name))
        last = [0.0]
        lock = threading.Lock()

        def progress(done: int, total: int) -> None:  # the copying thread
            now = time.monotonic()
            with lock:
                if now - last[0] < IMPORT_PROGRESS_INTERVAL_S and done < total:
                    return
                last[0] = now
            self._import_progressed.emit(done, total)

        self._importing = path.name
        try:
            model = await self.bridge.call(
                self._service.library.import_file, path, copy=copy, progress=progress
            )
        except Exception as exc:
            self.banner.show_error(
                self.tr("{name} was not imported: {error}").format(
                    name=path.name, error=wording.error_text(exc)
                )
            )
            return None
        finally:
            self._importing = ""
        self.banner.show_info(self.tr("{name} is in the library.").format(name=model.name))
        self.tabs.setCurrentIndex(LIBRARY_TAB)
        await self.refresh_library()
        self.library_view.select(model.id)
        return model

    def _on_import_progressed(self, done: int, total: int) -> None:
        name = self._importing
        if name and total:
            self.banner.show_info(
                self.tr("Importing {name}… {percent} %").format(
                    name=name, percent=100 * done // total
                )
            )

    # --- the Hub ------------------------------------------------------------------------

    async def _search(self, query: str, sort: SearchSort, cursor: str | None) -> SearchPage:
        service = self._service
        return await self.bridge.call(lambda: service.hub().search(query, sort=sort, cursor=cursor))

    async def _open_repo(self, repo_id: str) -> None:
        service = self._service
        with contextlib.suppress(ModelsError):  # a bad endpoint setting: said by repo()
            endpoint = await self.bridge.call(service.endpoint)
            self.repo_page.set_web_url(f"{endpoint}/{repo_id}")
        try:
            details = await self.bridge.call(lambda: service.hub().repo(repo_id))
        except Exception as exc:
            offer = isinstance(exc, ModelsError) and exc.kind in ("auth", "gated")
            self.repo_page.show_error(
                self.tr("{repo} could not be opened: {error}").format(
                    repo=repo_id, error=wording.error_text(exc)
                ),
                offer_token=offer,
            )
            return
        if self._repo_id != repo_id:
            return
        self.repo_page.show_details(details)
        if not details.models:
            self.repo_shown.emit(repo_id)
            return
        machine = await self._machine_memory()
        advices, best = await self.bridge.call(_advise_all, details.models, machine, None)
        self.repo_page.set_advice(advices, best)
        self.repo_shown.emit(repo_id)
        if details.access_error is not None:
            return  # the header cannot be read without access; the sizes must do
        try:
            advices, best = await self.bridge.call(_advise_from_header, service, details, machine)
        except Exception as exc:
            log.info("no header for %s: %s", repo_id, exc)
            return
        if self._repo_id == repo_id:
            self.repo_page.set_advice(advices, best)
            self.advice_refined.emit(repo_id)

    def _on_repo_page_back_requested(self) -> None:
        if self._repo_task is not None:
            self._repo_task.cancel()
        self._repo_id = None
        self.discover_stack.setCurrentWidget(self.browser)
        self.browser.table.setFocus()

    def _on_repo_page_download_requested(self, model: RemoteModel) -> None:
        self.download(model.repo_id, model.files[0].path)

    def _on_first_run_download_requested(self, item: Recommendation) -> None:
        self.download(item.repo_id, item.file)

    def _on_first_run_browse_requested(self) -> None:
        self.tabs.setCurrentIndex(DISCOVER_TAB)
        self.browser.search_edit.setFocus()

    # --- tokens -------------------------------------------------------------------------

    def _ask_token(self, repo: str | None) -> None:
        """The token dialog (for ``repo``, or in general); a saved token opens it again."""
        dialog = TokenDialog(self, repo_id=repo)
        dialog.accepted.connect(lambda: self.bridge.start(self._save_token(dialog.token(), repo)))
        self._open_dialog(dialog)

    async def _save_token(self, token: str, repo_id: str | None) -> None:
        try:
            where = await self.bridge.call(self._service.token.set, token)
        except Exception as exc:
            self.banner.show_error(
                self.tr("The token was not saved: {error}").format(error=wording.error_text(exc))
            )
            return
        self.banner.show_info(
            self.tr("The token is kept in the system keyring.")
            if where == "keyring"
            else self.tr("The token is kept in a file only you can read.")
        )
        if repo_id is not None and repo_id == self._repo_id:
            self.open_repo(repo_id)

    # --- downloads ----------------------------------------------------------------------

    async def _start_downloads(self) -> None:
        service = self._service
        try:
            manager = await self.bridge.call(lambda: service.downloads)
            self.bridge.listen(manager.subscribe)
            snapshots = await self.bridge.call(manager.list)
        except Exception as exc:
            self.banner.show_error(
                self.tr("The downloads could not be read: {error}").format(
                    error=wording.error_text(exc)
                )
            )
            return
        for progress in snapshots:
            self._show_download(progress, initial=True)

    async def _download(self, repo_id: str, path: str) -> list[str]:
        service = self._service
        name = path.rsplit("/", 1)[-1]
        try:
            pulled = await self.bridge.call(service.pull_files, repo_id, path)
        except Exception as exc:
            self.banner.show_error(
                self.tr("{file} cannot be downloaded: {error}").format(
                    file=name, error=wording.error_text(exc)
                )
            )
            if isinstance(exc, ModelsError) and exc.kind in ("auth", "gated"):
                self._ask_token(repo_id)
            return []
        ids = [p.download_id for p in pulled if p.download_id is not None]
        if not ids:
            self.banner.show_info(self.tr("{file} is already in the library.").format(file=name))
            self.refresh_library()
            return []
        if not self.bridge.listening:
            await self._start_downloads()
        for download_id in ids:
            progress = await self.bridge.call(lambda i=download_id: service.downloads.get(i))
            self._show_download(progress)
        self.banner.clear()
        self.tabs.setCurrentIndex(DOWNLOADS_TAB)
        return ids

    def _on_bridge_download_changed(self, progress: DownloadProgress) -> None:
        self._show_download(progress)

    def _show_download(self, progress: DownloadProgress, *, initial: bool = False) -> None:
        before = self._statuses.get(progress.id)
        self._statuses[progress.id] = progress.status
        self.downloads_view.show_progress(progress)
        if progress.status == "done" and before != "done" and not initial:
            self.refresh_library()  # verified and renamed into the folder: list it
        self._update_downloads_tab()

    def _update_downloads_tab(self) -> None:
        active = self.downloads_view.active_count()
        self.tabs.setTabText(
            DOWNLOADS_TAB,
            self.tr("Do&wnloads ({n})").format(n=active) if active else self.tr("Do&wnloads"),
        )

    def _on_downloads_pause_requested(self, download_id: str) -> None:
        self.bridge.start(self._download_call("pause", download_id))

    def _on_downloads_resume_requested(self, download_id: str) -> None:
        self.bridge.start(self._download_call("resume", download_id))

    def _on_downloads_cancel_requested(self, download_id: str) -> None:
        self.bridge.start(self._download_call("cancel", download_id))

    async def _download_call(self, action: str, download_id: str) -> None:
        service = self._service
        try:
            await self.bridge.call(lambda: getattr(service.downloads, action)(download_id))
        except Exception as exc:
            self.banner.show_error(
                self.tr("The download could not be changed: {error}").format(
                    error=wording.error_text(exc)
                )
            )

    def _on_clear_finished_button_clicked(self) -> None:
        self.bridge.start(self._clear_finished())

    async def _clear_finished(self) -> None:
        service = self._service
        await self.bridge.call(lambda: service.downloads.clear_finished())
        for download_id, row in list(self.downloads_view.rows.items()):
            if row.progress.status in ("done", "cancelled"):
                self.downloads_view.remove(download_id)
                self._statuses.pop(download_id, None)

    # --- dialogs ------------------------------------------------------------------------

    def _open_dialog(self, dialog: QDialog) -> None:
        self._dialogs.open(dialog, delete_on_close=True)

    @property
    def dialogs(self) -> list[QDialog]:
        """The dialogs open now (tests answer them)."""
        return self._dialogs.showing()


# --- blocking work, run on the executor ---------------------------------------------------


def _recommendations(machine: MachineMemory) -> list[Recommendation]:
    from llmos_desktop.core.models.recommended import load_recommendations, recommend

    return recommend(machine, load_recommendations())


def _advise_all(
    models: Sequence[RemoteModel], machine: MachineMemory, info: Any
) -> tuple[list[FitAdvice | None], int | None]:
    """Fit advice for every model (None where the size is unknown) and the best index."""
    from llmos_desktop.core.models import fit

    advices: list[FitAdvice | None] = []
    for model in models:
        size = model.size
        # The header read is a chat model's: a vision projector is judged by its size.
        own = None if model.is_mmproj else info
        advices.append(None if size is None else fit.advise(size, machine, info=own))
    known = [i for i, a in enumerate(advices) if a is not None]
    best = fit.best_choice([models[i] for i in known], [a for a in advices if a is not None])
    return advices, (known[best] if best is not None else None)


def _advise_from_header(
    service: ModelsService, details: RepoDetails, machine: MachineMemory
) -> tuple[list[FitAdvice | None], int | None]:
    """Read one model's header from the Hub and advise every model with it.

    The quantizations of one repository share their architecture (layers, heads, trained
    context), which is what the header adds to the sizes; so one header, of the smallest
    chat model, serves them all.
    """
    from llmos_desktop.core.models.remote_gguf import read_remote_gguf_info

    candidates = [m for m in details.models if not m.is_mmproj]
    if not candidates:
        raise ModelsError("not_found", "no chat model in this repository")
    smallest = min(candidates, key=lambda m: m.size or 0)
    info = read_remote_gguf_info(service.hub(), smallest.files[0])
    return _advise_all(details.models, machine, info)
