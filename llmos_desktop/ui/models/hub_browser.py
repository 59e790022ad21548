"""Search the Hub for GGUF repositories: a query, a sort order, results that grow on scroll.

The browser owns the paging: the first page comes with a new query or sort; the next
one (``SearchPage.next_cursor``) when the list is scrolled near its end, or at once while
the results do not fill the view (nothing to scroll yet). A new search cancels the one
still running, and a page that belongs to an older search is dropped. The search itself
is a blocking service call, run off the GUI thread by the ``fetch`` coroutine the page
gives (``ServiceBridge.call`` around ``HubClient.search``).

Repository ids and tags come from the Hub: shown as plain text only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.models.types import RepoSummary, SearchPage, SearchSort
from llmos_desktop.ui.models import wording
from llmos_desktop.ui.models.bridge import ServiceBridge
from llmos_desktop.ui.widgets.fields import ComboBox

Index = QModelIndex | QPersistentModelIndex
Fetch = Callable[[str, SearchSort, str | None], Awaitable[SearchPage]]

REPOSITORY, DOWNLOADS, LIKES, UPDATED, ACCESS = range(5)
REPO_ROLE = Qt.ItemDataRole.UserRole + 1
MORE_MARGIN_ROWS = 4  # start fetching more this many rows before the end


class SearchResultsModel(QAbstractTableModel):
    """Search results, in the Hub's order; ``append`` adds a page at the end."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._repos: list[RepoSummary] = []
        self._seen: set[str] = set()

    def clear(self) -> None:
        self.beginResetModel()
        self._repos = []
        self._seen = set()
        self.endResetModel()

    def append(self, repos: Sequence[RepoSummary]) -> None:
        new = [r for r in repos if r.repo_id not in self._seen]
        if not new:
            return
        first = len(self._repos)
        self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
        self._repos.extend(new)
        self._seen.update(r.repo_id for r in new)
        self.endInsertRows()

    def repos(self) -> list[RepoSummary]:
        return list(self._repos)

    def repo_at(self, row: int) -> RepoSummary | None:
        return self._repos[row] if 0 <= row < len(self._repos) else None

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._repos)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else 5

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        return (
            self.tr("Repository"),
            self.tr("Downloads"),
            self.tr("Likes"),
            self.tr("Updated"),
            self.tr("Access"),
        )[section]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        repo = self.repo_at(index.row())
        if repo is None:
            return None
        column = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            if column == REPOSITORY:
                return repo.repo_id
            if column == DOWNLOADS:
                return wording.count_text(repo.downloads)
            if column == LIKES:
                return wording.count_text(repo.likes)
            if column == UPDATED:
                return wording.date_text(repo.last_modified)
            if column == ACCESS:
                return self.tr("Gated") if repo.gated else self.tr("Open")
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == ACCESS and repo.gated:
                return wording.gated_text(repo.gated)
            if column == REPOSITORY:
                tags = ", ".join(t for t in repo.tags if not t.startswith("license:"))[:300]
                return f"{repo.repo_id}\n{tags}" if tags else repo.repo_id
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (DOWNLOADS, LIKES):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == REPO_ROLE:
            return repo
        return None


class HubBrowser(QWidget):
    """The search box, the sort order and the results; ``repo_opened(repo_id)`` on open."""

    repo_opened = Signal(str)
    search_finished = Signal()  # a page arrived (or failed): the list is up to date

    def __init__(self, bridge: ServiceBridge, fetch: Fetch, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("hubBrowser")
        self._bridge = bridge
        self._fetch = fetch
        self._query = ""
        self._sort: SearchSort = "downloads"
        self._next_cursor: str | None = None
        self._generation = 0
        self._task: asyncio.Task[None] | None = None
        self.pages_loaded = 0
        self.searched = False

        self.search_edit = QLineEdit(self)
        self.search_edit.setObjectName("hubSearchEdit")
        self.search_edit.setPlaceholderText(self.tr("Search GGUF models on the Hub"))
        self.search_edit.setAccessibleName(self.tr("Search the Hub"))
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setMaxLength(200)
        self.search_button = QPushButton(self.tr("&Search"), self)
        self.search_button.setObjectName("hubSearchButton")
        self.search_button.setAutoDefault(False)
        self.sort_label = QLabel(self.tr("So&rt by:"), self)
        self.sort_combo = ComboBox(self)
        self.sort_combo.setObjectName("hubSortCombo")
        self.sort_combo.setAccessibleName(self.tr("Sort by"))
        for text, sort in (
            (self.tr("Most downloads"), "downloads"),
            (self.tr("Most likes"), "likes"),
            (self.tr("Trending"), "trending"),
            (self.tr("Recently updated"), "modified"),
        ):
            self.sort_combo.addItem(text, sort)
        self.sort_label.setBuddy(self.sort_combo)

        self.model = SearchResultsModel(self)
        self.table = QTableView(self)
        self.table.setObjectName("hubResultsTable")
        self.table.setAccessibleName(self.tr("Search results"))
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.setTabKeyNavigation(False)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(REPOSITORY, QHeaderView.ResizeMode.Stretch)
        for column in (DOWNLOADS, LIKES, UPDATED, ACCESS):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setHighlightSections(False)

        self.status_label = QLabel(self)
        self.status_label.setObjectName("hubSearchStatus")
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setWordWrap(True)
        self.status_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.open_button = QPushButton(self.tr("&Open"), self)
        self.open_button.setObjectName("hubOpenButton")
        self.open_button.setAccessibleName(self.tr("Open the selected repository"))
        self.open_button.setAutoDefault(False)
        self.open_button.setEnabled(False)

        top = QHBoxLayout()
        top.setSpacing(6)
        top.addWidget(self.search_edit, 1)
        top.addWidget(self.search_button)
        top.addSpacing(12)
        top.addWidget(self.sort_label)
        top.addWidget(self.sort_combo)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status_label, 1)
        bottom.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)

        self.search_edit.returnPressed.connect(self.search)
        self.search_button.clicked.connect(self.search)
        self.sort_combo.currentIndexChanged.connect(self._on_sort_combo_changed)
        self.table.activated.connect(self._on_table_activated)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.open_button.clicked.connect(self._on_open_button_clicked)
        scroll = self.table.verticalScrollBar()
        scroll.valueChanged.connect(self._on_scroll_changed)
        scroll.rangeChanged.connect(self._on_scroll_changed)

    # --- public -------------------------------------------------------------------------

    @property
    def loading(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def has_more(self) -> bool:
        return self._next_cursor is not None

    def search(self, query: str | None = None) -> asyncio.Task[None]:
        """Start a new search (the box's text by default) with the current sort order."""
        if query is not None and query != self.search_edit.text():
            self.search_edit.setText(query)
        self._query = self.search_edit.text().strip()
        self._sort = self.sort_combo.currentData()
        self._generation += 1
        if self._task is not None:
            self._task.cancel()
        self.model.clear()
        self._next_cursor = None
        self.pages_loaded = 0
        self.searched = True
        self.status_label.setText(self.tr("Searching…"))
        self._task = self._bridge.start(self._load(self._generation, None))
        return self._task

    def load_more(self) -> asyncio.Task[None] | None:
        """Fetch the next page, if there is one and none is being fetched."""
        if self._next_cursor is None or self.loading:
            return None
        self.status_label.setText(self.tr("Loading more…"))
        self._task = self._bridge.start(self._load(self._generation, self._next_cursor))
        return self._task

    def selected_repo(self) -> RepoSummary | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.repo_at(rows[0].row()) if rows else None

    # --- work ---------------------------------------------------------------------------

    async def _load(self, generation: int, cursor: str | None) -> None:
        try:
            page = await self._fetch(self._query, self._sort, cursor)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if generation == self._generation:
                self.status_label.setText(
                    self.tr("The search failed: {error}").format(error=wording.error_text(exc))
                )
                self.search_finished.emit()
            return
        if generation != self._generation:
            return  # an older search's page
        self.model.append(page.repos)
        self._next_cursor = page.next_cursor
        self.pages_loaded += 1
        self._show_count()
        self.search_finished.emit()
        if cursor is None and self.model.rowCount() and not self.selected_repo():
            self.table.selectRow(0)
        # Qt lays the new rows out later; look again once it has.
        asyncio.get_running_loop().call_soon(self._on_scroll_changed)

    def _show_count(self) -> None:
        count = self.model.rowCount()
        if count == 0:
            self.status_label.setText(
                self.tr("No GGUF repositories match “{query}”.").format(query=self._query)
                if self._query
                else self.tr("No GGUF repositories found.")
            )
        elif self._next_cursor is not None:
            self.status_label.setText(
                self.tr("{count} repositories; scroll for more").format(count=count)
            )
        else:
            self.status_label.setText(self.tr("{count} repositories").format(count=count))

    # --- slots --------------------------------------------------------------------------

    def _on_sort_combo_changed(self, _index: int) -> None:
        if self.searched:
            self.search()

    def _on_scroll_changed(self, *_args: object) -> None:
        if self._next_cursor is None or self.loading:
            return
        scroll = self.table.verticalScrollBar()
        row_height = max(1, self.table.verticalHeader().defaultSectionSize())
        if scroll.maximum() - scroll.value() <= MORE_MARGIN_ROWS * row_height:
            self.load_more()

    def _on_table_activated(self, index: QModelIndex) -> None:
        repo = self.model.repo_at(index.row())
        if repo is not None:
            self.repo_opened.emit(repo.repo_id)

    def _on_selection_changed(self, *_args: object) -> None:
        self.open_button.setEnabled(self.selected_repo() is not None)

    def _on_open_button_clicked(self) -> None:
        repo = self.selected_repo()
        if repo is not None:
            self.repo_opened.emit(repo.repo_id)
