"""The local library as a table: one row per model (a split model is one row).

It renders ``LocalModel``s from ``ModelLibrary.scan`` and forwards what the user asks
for (load, defaults, delete, show in the file manager, import) as signals; the page runs
the services. Names, architectures and errors come from files, so every cell is plain
text (a table's cells never interpret rich text). A file the reader refused is a row that
says why, spanning the metadata columns, instead of a row that breaks the view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction, QBrush, QColor, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.models.types import LocalModel
from llmos_desktop.ui.models import wording

Index = QModelIndex | QPersistentModelIndex

(
    NAME,
    ARCHITECTURE,
    PARAMETERS,
    QUANT,
    SIZE,
    CONTEXT,
    TEMPLATE,
    MMPROJ,
    SOURCE,
    LAST_USED,
) = range(10)
COLUMN_COUNT = 10
MODEL_ROLE = Qt.ItemDataRole.UserRole + 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def error_colour(palette: QPalette) -> QColor:
    """A red that reads on the palette's Base, light or dark."""
    base = palette.color(QPalette.ColorRole.Base)
    return QColor("#ff8a80") if base.lightness() < 128 else QColor("#b3261e")


class LibraryTableModel(QAbstractTableModel):
    """The rows of the library table; ``set_models`` replaces them all."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._models: list[LocalModel] = []
        self._read_only: frozenset[str] = frozenset()
        self._sort: tuple[int, Qt.SortOrder] = (NAME, Qt.SortOrder.AscendingOrder)

    # --- data ---------------------------------------------------------------------------

    def set_models(
        self, models: Sequence[LocalModel], read_only: frozenset[str] = frozenset()
    ) -> None:
        """``read_only``: ids of models that come with the app (no Delete)."""
        self.beginResetModel()
        self._models = list(models)
        self._read_only = read_only
        self._sort_rows()
        self.endResetModel()

    def models(self) -> list[LocalModel]:
        return list(self._models)

    def model_at(self, row: int) -> LocalModel | None:
        return self._models[row] if 0 <= row < len(self._models) else None

    def is_read_only(self, model: LocalModel) -> bool:
        return model.id in self._read_only

    def row_of(self, model_id: str) -> int:
        for row, model in enumerate(self._models):
            if model.id == model_id:
                return row
        return -1

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._models)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else COLUMN_COUNT

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                self.tr("Name"),
                self.tr("Architecture"),
                self.tr("Parameters"),
                self.tr("Quantization"),
                self.tr("Size"),
                self.tr("Context"),
                self.tr("Template"),
                self.tr("Projector"),
                self.tr("Source"),
                self.tr("Last used"),
            )[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return {
                CONTEXT: self.tr("The context length the model was trained for"),
                TEMPLATE: self.tr("Whether the file has its own chat template"),
                MMPROJ: self.tr(
                    "A vision projector (mmproj) is not a model to chat with: it gives a "
                    "model of the same family the ability to see images"
                ),
                SOURCE: self.tr("The Hub repository it was downloaded from"),
            }.get(section)
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        model = self.model_at(index.row())
        if model is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(model, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if model.error is not None:
                return self.tr("{name} cannot be used: {error}").format(
                    name=model.path, error=model.error
                )
            if column == NAME:
                return str(model.path)
            return self._text(model, column) or None
        if role == Qt.ItemDataRole.ForegroundRole and model.error is not None and column != NAME:
            app = QApplication.instance()
            palette = app.palette() if isinstance(app, QApplication) else QPalette()
            return QBrush(error_colour(palette))
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (PARAMETERS, SIZE, CONTEXT):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.SizeHintRole and model.error is not None and column != NAME:
            # The reason spans the metadata columns: it must not widen the first of them.
            return QSize(40, 0)
        if role == MODEL_ROLE:
            return model
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self._text(model, column) or self.tr("none")
        return None

    def _text(self, model: LocalModel, column: int) -> str:
        if column == NAME:
            return model.name
        if model.error is not None:
            # One cell spans the metadata columns (LibraryView sets the span).
            return (
                self.tr("Cannot be used: {error}").format(error=model.error) if column == 1 else ""
            )
        if column == ARCHITECTURE:
            return model.architecture or ""
        if column == PARAMETERS:
            return wording.parameters_text(model.parameters)
        if column == QUANT:
            return model.quant or ""
        if column == SIZE:
            return wording.size_text(model.size)
        if column == CONTEXT:
            return wording.tokens_text(model.context_length)
        if column == TEMPLATE:
            return self.tr("Yes") if model.has_chat_template else self.tr("No")
        if column == MMPROJ:
            return self.tr("Yes") if model.is_mmproj else self.tr("No")
        if column == SOURCE:
            if model.source_repo:
                return model.source_repo
            if model.origin is not None:
                return self.tr("{qtype} of {file}, made here").format(
                    qtype=model.origin.qtype, file=Path(model.origin.source).name
                )
            if model.id in self._read_only:
                return self.tr("Comes with LLMOS Desktop")
            return self.tr("Used in place") if model.in_place else self.tr("Models folder")
        if column == LAST_USED:
            return wording.date_text(model.last_used) or self.tr("Never")
        return ""

    # --- sorting ------------------------------------------------------------------------

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.layoutAboutToBeChanged.emit()
        self._sort = (column, order)
        self._sort_rows()
        self.layoutChanged.emit()

    def _sort_rows(self) -> None:
        column, order = self._sort
        keys: dict[int, Callable[[LocalModel], Any]] = {
            PARAMETERS: lambda m: m.parameters or 0,
            SIZE: lambda m: m.size,
            CONTEXT: lambda m: m.context_length or 0,
            LAST_USED: lambda m: m.last_used or _EPOCH,
        }
        key: Callable[[LocalModel], Any] = keys.get(
            column, lambda m: self._text(m, column).casefold()
        )
        self._models.sort(key=lambda m: (key(m), m.name.casefold()))
        if order == Qt.SortOrder.DescendingOrder:
            self._models.reverse()


class LibraryView(QWidget):
    """The library table and its actions; every action is a signal for the page."""

    load_requested = Signal(object)  # LocalModel
    defaults_requested = Signal(object)  # LocalModel
    delete_requested = Signal(object)  # LocalModel
    reveal_requested = Signal(object)  # LocalModel
    import_requested = Signal()
    refresh_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("libraryView")
        self.model = LibraryTableModel(self)
        self.table = QTableView(self)
        self.table.setObjectName("libraryTable")
        self.table.setAccessibleName(self.tr("Models on this computer"))
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(NAME, Qt.SortOrder.AscendingOrder)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setTabKeyNavigation(False)  # Tab leaves the table, arrows move in it
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(SOURCE, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        header.setHighlightSections(False)
        header.setMinimumSectionSize(48)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

        self.load_button = self._button(self.tr("L&oad"), "libraryLoadButton")
        self.load_button.setToolTip(self.tr("Load the selected model for chatting (Enter)"))
        self.defaults_button = self._button(self.tr("&Defaults…"), "libraryDefaultsButton")
        self.defaults_button.setToolTip(
            self.tr("Context size, GPU layers, threads and chat template for this model")
        )
        self.delete_button = self._button(self.tr("Dele&te…"), "libraryDeleteButton")
        self.reveal_button = self._button(self.tr("Show in file &manager"), "libraryRevealButton")
        self.import_button = self._button(self.tr("&Import GGUF…"), "libraryImportButton")
        self.import_button.setToolTip(
            self.tr("Add a .gguf file from anywhere: copy it in, or use it where it is")
        )
        self.refresh_button = self._button(self.tr("&Refresh"), "libraryRefreshButton")
        self.refresh_button.setToolTip(self.tr("Scan the models folder again"))
        self.summary_label = QLabel(self)
        self.summary_label.setObjectName("librarySummary")
        self.summary_label.setTextFormat(Qt.TextFormat.PlainText)
        self.summary_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        self.delete_action = QAction(self.tr("Delete…"), self.table)
        self.delete_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.table.addAction(self.delete_action)

        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        for button in (
            self.load_button,
            self.defaults_button,
            self.delete_button,
            self.reveal_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.summary_label)
        buttons.addSpacing(12)
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.import_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)

        self.load_button.clicked.connect(lambda: self._emit_for_selected(self.load_requested))
        self.defaults_button.clicked.connect(
            lambda: self._emit_for_selected(self.defaults_requested)
        )
        self.delete_button.clicked.connect(lambda: self._emit_for_selected(self.delete_requested))
        self.delete_action.triggered.connect(lambda: self._emit_for_selected(self.delete_requested))
        self.reveal_button.clicked.connect(lambda: self._emit_for_selected(self.reveal_requested))
        self.import_button.clicked.connect(self.import_requested)
        self.refresh_button.clicked.connect(self.refresh_requested)
        self.table.activated.connect(self._on_table_activated)
        self.table.customContextMenuRequested.connect(self._on_table_context_menu_requested)
        self.table.selectionModel().selectionChanged.connect(self._update_actions)
        self.model.modelReset.connect(self._on_model_rows_changed)
        self.model.layoutChanged.connect(self._on_model_rows_changed)
        self._update_actions()

    def _button(self, text: str, name: str) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.setAccessibleName(text.replace("&", "").rstrip("…"))
        button.setAutoDefault(False)
        return button

    # --- public -------------------------------------------------------------------------

    def set_models(
        self, models: Sequence[LocalModel], read_only: frozenset[str] = frozenset()
    ) -> None:
        """Show ``models``; the selected model stays selected when it is still there.
        ``read_only``: ids of models that come with the app (they cannot be deleted)."""
        selected = self.selected_model()
        self.model.set_models(models, read_only)
        if selected is not None:
            self.select(selected.id)
        total = sum(m.size for m in models)
        self.summary_label.setText(
            self.tr("{count} models, {size}").format(
                count=len(models), size=wording.size_text(total)
            )
            if len(models) != 1
            else self.tr("1 model, {size}").format(size=wording.size_text(total))
        )

    def selected_model(self) -> LocalModel | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.model_at(rows[0].row()) if rows else None

    def select(self, model_id: str) -> bool:
        row = self.model.row_of(model_id)
        if row < 0:
            return False
        self.table.selectRow(row)
        self.table.scrollTo(self.model.index(row, 0))
        return True

    # --- slots --------------------------------------------------------------------------

    def _emit_for_selected(self, signal: Any) -> None:
        model = self.selected_model()
        if model is not None:
            signal.emit(model)

    def _on_table_activated(self, index: QModelIndex) -> None:
        model = self.model.model_at(index.row())
        if model is not None and _loadable(model):
            self.load_requested.emit(model)

    def _on_table_context_menu_requested(self, position: Any) -> None:
        index = self.table.indexAt(position)
        if not index.isValid():
            return
        self.table.selectRow(index.row())
        menu = QMenu(self)
        for button in (
            self.load_button,
            self.defaults_button,
            self.delete_button,
            self.reveal_button,
        ):
            action = menu.addAction(button.text())
            action.setEnabled(button.isEnabled())
            action.triggered.connect(button.click)
        menu.popup(self.table.viewport().mapToGlobal(position))

    def _on_model_rows_changed(self) -> None:
        self.table.clearSpans()
        for row, model in enumerate(self.model.models()):
            if model.error is not None:
                self.table.setSpan(row, ARCHITECTURE, 1, COLUMN_COUNT - ARCHITECTURE)
        self._update_actions()

    def _update_actions(self, *_args: object) -> None:
        model = self.selected_model()
        self.load_button.setEnabled(model is not None and _loadable(model))
        self.defaults_button.setEnabled(model is not None and _loadable(model))
        deletable = model is not None and not self.model.is_read_only(model)
        self.delete_button.setEnabled(deletable)
        self.delete_action.setEnabled(deletable)
        self.reveal_button.setEnabled(model is not None)


def _loadable(model: LocalModel) -> bool:
    """A model the engine can chat with: readable, and not a vision projector."""
    return model.error is None and not model.is_mmproj
