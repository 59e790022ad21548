"""The comparison view: model files side by side, as a table and as two scatter plots.

The table has one row per file (rows.py builds them from the stored records): the
model, its type, file size, memory, perplexity ± its standard error, prompt and
generation speed (median ± spread) and one column per task score. It sorts by any
column, by value. The plots show quality (perplexity, or a task score) against
generation speed and against file size, with the same colours per model; choosing a
point chooses the row and the other way round.

Comparisons are the page's: it lists the saved ones, opens one (``comparison_chosen``),
saves the shown files under a name (``save_requested``) and adds files to it
(``add_requested``); the view renders and forwards.
"""

from __future__ import annotations

import itertools
import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.ui.lab import wording
from llmos_desktop.ui.lab.plot import PlotPoint, ScatterPlot
from llmos_desktop.ui.lab.rows import ComparisonRow, perplexity_labels, score_keys
from llmos_desktop.ui.widgets.fields import ComboBox

ALL_MEASURED = "__all__"  # the comparison list's first item: every file with a record
PERPLEXITY = "__ppl__"  # the quality list's perplexity item (the others are score keys)
_SORT_ROLE = Qt.ItemDataRole.UserRole + 1
_KEY_ROLE = Qt.ItemDataRole.UserRole + 2


class _Item(QTableWidgetItem):
    """A cell that sorts by its number (``_SORT_ROLE``), unmeasured cells last."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine = self.data(_SORT_ROLE)
        theirs = other.data(_SORT_ROLE)
        if isinstance(mine, int | float) and isinstance(theirs, int | float):
            return float(mine) < float(theirs)
        if isinstance(mine, str) and isinstance(theirs, str):
            return mine.casefold() < theirs.casefold()
        return mine is not None and theirs is None


class ComparisonView(QWidget):
    """Comparison chooser, table and plots; see the module docstring."""

    comparison_chosen = Signal(str)  # a saved comparison's name, or ALL_MEASURED
    save_requested = Signal()
    add_requested = Signal()
    remove_requested = Signal(list)  # the model paths of the selected rows
    refresh_requested = Signal()

    COLUMNS = ("model", "type", "size", "memory", "ppl", "pp", "tg")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("labComparisonView")
        self._rows: list[ComparisonRow] = []
        self._score_keys: list[str] = []
        self._syncing = False

        self.comparison_combo = ComboBox(self)
        self.comparison_combo.setObjectName("labComparisonCombo")
        self.comparison_combo.setAccessibleName(self.tr("Comparison"))
        self.comparison_combo.setMinimumContentsLength(24)
        self.comparison_combo.activated.connect(self._on_comparison_combo_activated)
        caption = QLabel(self.tr("Co&mparison:"), self)
        caption.setBuddy(self.comparison_combo)
        self.add_button = QPushButton(self.tr("&Add models…"), self)
        self.add_button.setObjectName("labAddModelsButton")
        self.add_button.setAutoDefault(False)
        self.remove_button = QPushButton(self.tr("Re&move"), self)
        self.remove_button.setObjectName("labRemoveModelsButton")
        self.remove_button.setToolTip(self.tr("Take the selected models out of this comparison"))
        self.remove_button.setAutoDefault(False)
        self.remove_button.setEnabled(False)
        self.save_button = QPushButton(self.tr("Sa&ve as…"), self)
        self.save_button.setObjectName("labSaveComparisonButton")
        self.save_button.setToolTip(self.tr("Keep these models as a comparison to reopen later"))
        self.save_button.setAutoDefault(False)
        self.refresh_button = QPushButton(self.tr("Re&fresh"), self)
        self.refresh_button.setObjectName("labRefreshButton")
        self.refresh_button.setAutoDefault(False)
        bar = QHBoxLayout()
        bar.addWidget(caption)
        bar.addWidget(self.comparison_combo, 1)
        bar.addWidget(self.add_button)
        bar.addWidget(self.remove_button)
        bar.addWidget(self.save_button)
        bar.addWidget(self.refresh_button)

        self.table = QTableWidget(self)
        self.table.setObjectName("labComparisonTable")
        self.table.setAccessibleName(self.tr("Measurements"))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.itemSelectionChanged.connect(self._on_table_selection_changed)

        self.note_label = QLabel(self)
        self.note_label.setObjectName("labComparisonNote")
        self.note_label.setTextFormat(Qt.TextFormat.PlainText)
        self.note_label.setWordWrap(True)

        self.quality_combo = ComboBox(self)
        self.quality_combo.setObjectName("labQualityCombo")
        self.quality_combo.setAccessibleName(self.tr("Quality shown in the plots"))
        self.quality_combo.currentIndexChanged.connect(lambda _i: self._update_plots())
        quality_caption = QLabel(self.tr("&Quality:"), self)
        quality_caption.setBuddy(self.quality_combo)
        plot_bar = QHBoxLayout()
        plot_bar.addWidget(quality_caption)
        plot_bar.addWidget(self.quality_combo)
        plot_bar.addStretch(1)

        self.speed_plot = ScatterPlot(self)
        self.speed_plot.setObjectName("labSpeedPlot")
        self.speed_plot.setAccessibleName(self.tr("Quality against generation speed"))
        self.size_plot = ScatterPlot(self)
        self.size_plot.setObjectName("labSizePlot")
        self.size_plot.setAccessibleName(self.tr("Quality against file size"))
        for plot in (self.speed_plot, self.size_plot):
            plot.point_selected.connect(self._on_plot_point_selected)
        plots = QWidget(self)
        plots_layout = QHBoxLayout(plots)
        plots_layout.setContentsMargins(0, 0, 0, 0)
        plots_layout.addWidget(self.speed_plot, 1)
        plots_layout.addWidget(self.size_plot, 1)
        plots_box = QWidget(self)
        plots_box_layout = QVBoxLayout(plots_box)
        plots_box_layout.setContentsMargins(0, 0, 0, 0)
        plots_box_layout.addLayout(plot_bar)
        plots_box_layout.addWidget(plots, 1)

        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(plots_box)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.note_label)
        self.add_button.clicked.connect(self.add_requested)
        self.save_button.clicked.connect(self.save_requested)
        self.refresh_button.clicked.connect(self.refresh_requested)
        self.remove_button.clicked.connect(
            lambda: self.remove_requested.emit(self.selected_paths())
        )
        order: list[QWidget] = [
            self.comparison_combo,
            self.add_button,
            self.remove_button,
            self.save_button,
            self.refresh_button,
            self.table,
            self.quality_combo,
            self.speed_plot,
            self.size_plot,
        ]
        for first, second in itertools.pairwise(order):
            self.setTabOrder(first, second)
        self.set_comparisons([], ALL_MEASURED)
        self.set_rows([])

    # --- comparisons --------------------------------------------------------------------

    def set_comparisons(self, names: list[str], current: str) -> None:
        """The saved comparisons' names; ``current`` is shown (ALL_MEASURED: every file)."""
        self.comparison_combo.blockSignals(True)
        self.comparison_combo.clear()
        self.comparison_combo.addItem(self.tr("All measured models"), ALL_MEASURED)
        for name in names:
            self.comparison_combo.addItem(name, name)
        index = self.comparison_combo.findData(current)
        self.comparison_combo.setCurrentIndex(max(0, index))
        self.comparison_combo.blockSignals(False)
        self.remove_button.setVisible(self.current_comparison() != ALL_MEASURED)

    def current_comparison(self) -> str:
        data = self.comparison_combo.currentData()
        return data if isinstance(data, str) else ALL_MEASURED

    def _on_comparison_combo_activated(self, _index: int) -> None:
        self.remove_button.setVisible(self.current_comparison() != ALL_MEASURED)
        self.comparison_chosen.emit(self.current_comparison())

    # --- rows ---------------------------------------------------------------------------

    def rows(self) -> list[ComparisonRow]:
        return list(self._rows)

    def set_rows(self, rows: list[ComparisonRow]) -> None:
        """Show ``rows`` in the table and the plots (the selection is kept by file)."""
        selected = set(self.selected_paths())
        self._rows = list(rows)
        self._score_keys = score_keys(rows)
        headers = [
            self.tr("Model"),
            self.tr("Type"),
            self.tr("File size"),
            self.tr("Memory"),
            self.tr("Perplexity"),
            self.tr("Prompt (tokens/s)"),
            self.tr("Generation (tokens/s)"),
            *(self._score_header(key) for key in self._score_keys),
        ]
        table = self.table
        table.setSortingEnabled(False)
        table.clearContents()
        table.setColumnCount(len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.setRowCount(len(rows))
        for index, row in enumerate(rows):
            for column, item in enumerate(self._cells(row)):
                item.setData(_KEY_ROLE, row.key)
                table.setItem(index, column, item)
        table.setSortingEnabled(True)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        if selected:
            self._select_rows(selected)
        self._update_quality_choices()
        self._update_plots()
        self._update_note()

    def _score_header(self, key: str) -> str:
        app_id, _, metric = key.partition(" · ")
        return f"{app_id.rsplit('.', 1)[-1]} {wording.metric_name(metric)}"

    def _cells(self, row: ComparisonRow) -> list[QTableWidgetItem]:
        def text(value: str, sort: object, *, number: bool = True, tip: str = "") -> _Item:
            item = _Item(value)
            item.setData(_SORT_ROLE, sort)
            if number:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if tip:
                item.setToolTip(tip)
            return item

        missing = "–"
        memory_tip = (
            self.tr("Measured while the speed was measured")
            if row.memory_measured
            else self.tr("Estimated from the file's header for a {n}-token context").format(
                n=row.ppl_ctx or 512
            )
        )
        cells: list[QTableWidgetItem] = [
            text(row.name, row.name, number=False, tip=row.model_path),
            text(row.quant or missing, row.quant, number=False),
            text(wording.size_text(row.size) if row.size else missing, row.size or None),
            text(
                wording.size_text(row.memory) if row.memory else missing,
                row.memory,
                tip=memory_tip if row.memory else "",
            ),
            text(
                wording.with_error(row.ppl, row.ppl_stderr, 3) if row.ppl is not None else missing,
                row.ppl,
                tip=self._ppl_tip(row),
            ),
            text(
                wording.with_error(row.pp_tps, row.pp_spread, 1)
                if row.pp_tps is not None
                else missing,
                row.pp_tps,
                tip=row.bench_label,
            ),
            text(
                wording.with_error(row.tg_tps, row.tg_spread, 1)
                if row.tg_tps is not None
                else missing,
                row.tg_tps,
                tip=row.bench_label,
            ),
        ]
        for key in self._score_keys:
            cell = row.scores.get(key)
            cells.append(
                text(
                    wording.number(cell.score, 1) if cell is not None else missing,
                    cell.score if cell is not None else None,
                    tip=self.tr("{dataset}, {n} pairs").format(dataset=cell.label, n=cell.n_pairs)
                    if cell is not None
                    else "",
                )
            )
        return cells

    def _ppl_tip(self, row: ComparisonRow) -> str:
        if row.ppl is None:
            return ""
        return self.tr("On {text}, context {n}; ± is the standard error").format(
            text=row.ppl_label or "?", n=row.ppl_ctx or "?"
        )

    def _update_note(self) -> None:
        notes = []
        if not self._rows:
            notes.append(
                self.tr(
                    "Nothing measured yet: quantize a model or measure one, and it appears here."
                )
            )
        labels = perplexity_labels(self._rows)
        if len(labels) > 1:
            notes.append(
                self.tr(
                    "The perplexities were measured on different texts or context sizes: "
                    "compare only those measured alike (hover over a figure to see)."
                )
            )
        self.note_label.setText(" ".join(notes))
        self.note_label.setVisible(bool(notes))

    # --- selection ----------------------------------------------------------------------

    def selected_paths(self) -> list[str]:
        paths: list[str] = []
        for index in self.table.selectionModel().selectedRows():
            item = self.table.item(index.row(), 0)
            if item is not None:
                paths.append(str(item.data(_KEY_ROLE)))
        return paths

    def select_model(self, path: str) -> None:
        self._select_rows({path})

    def _select_rows(self, paths: set[str]) -> None:
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for index in range(self.table.rowCount()):
            item = self.table.item(index, 0)
            if item is not None and item.data(_KEY_ROLE) in paths:
                self.table.selectRow(index)
                self.table.scrollToItem(item)
        self.table.setSelectionMode(mode)

    def _on_table_selection_changed(self) -> None:
        paths = self.selected_paths()
        self.remove_button.setEnabled(bool(paths))
        if self._syncing:
            return
        key = paths[0] if len(paths) == 1 else None
        for plot in (self.speed_plot, self.size_plot):
            plot.select(key)

    def _on_plot_point_selected(self, key: str) -> None:
        self._syncing = True
        try:
            self.select_model(key)
        finally:
            self._syncing = False
        for plot in (self.speed_plot, self.size_plot):
            plot.select(key)

    # --- plots --------------------------------------------------------------------------

    def _update_quality_choices(self) -> None:
        current = self.quality_combo.currentData()
        self.quality_combo.blockSignals(True)
        self.quality_combo.clear()
        self.quality_combo.addItem(self.tr("Perplexity (lower is better)"), PERPLEXITY)
        for key in self._score_keys:
            self.quality_combo.addItem(
                self.tr("{score} (higher is better)").format(score=self._score_header(key)), key
            )
        index = self.quality_combo.findData(current)
        if index < 0 and not any(r.ppl is not None for r in self._rows) and self._score_keys:
            index = 1  # nothing has a perplexity yet: show the first score
        self.quality_combo.setCurrentIndex(max(0, index))
        self.quality_combo.blockSignals(False)

    def quality(self) -> str:
        data = self.quality_combo.currentData()
        return data if isinstance(data, str) else PERPLEXITY

    def _update_plots(self) -> None:
        quality = self.quality()
        perplexity = quality == PERPLEXITY
        y_title = self.tr("Perplexity") if perplexity else self._score_header(quality)
        speed_points: list[PlotPoint] = []
        size_points: list[PlotPoint] = []
        for row in self._rows:
            if perplexity:
                y, y_error = row.ppl, row.ppl_stderr
            else:
                cell = row.scores.get(quality)
                y, y_error = (cell.score if cell else None), None
            if y is None or not math.isfinite(y):
                continue
            detail = self._detail(row, y_title, y, y_error)
            label = row.quant or row.name
            if row.tg_tps is not None:
                speed_points.append(
                    PlotPoint(
                        row.key, label, row.series, row.tg_tps, y, row.tg_spread, y_error, detail
                    )
                )
            if row.size:
                size_points.append(
                    PlotPoint(row.key, label, row.series, row.size / 1e6, y, None, y_error, detail)
                )
        better = self.tr("better")
        self.speed_plot.set_data(
            speed_points,
            x_title=self.tr("Generation speed (tokens/s)"),
            y_title=y_title,
            x_higher_better=True,
            y_higher_better=not perplexity,
            empty_text=self.tr("Measure the speed and the quality of a model to see it here."),
            better_text=better,
        )
        self.size_plot.set_data(
            size_points,
            x_title=self.tr("File size (MB)"),
            y_title=y_title,
            x_higher_better=False,
            y_higher_better=not perplexity,
            empty_text=self.tr("Measure the quality of a model to see it here."),
            better_text=better,
        )
        selected = self.selected_paths()
        key = selected[0] if len(selected) == 1 else None
        for plot in (self.speed_plot, self.size_plot):
            plot.select(key)

    def _detail(self, row: ComparisonRow, y_title: str, y: float, y_error: float | None) -> str:
        parts = [f"{row.name}", f"{y_title} {wording.with_error(y, y_error, 3)}"]
        if row.tg_tps is not None:
            parts.append(
                self.tr("{speed} tokens/s").format(
                    speed=wording.with_error(row.tg_tps, row.tg_spread, 1)
                )
            )
        if row.size:
            parts.append(wording.size_text(row.size))
        return " · ".join(parts)
