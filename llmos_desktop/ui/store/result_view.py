"""A structured app's result (JSON that follows its schema) as fields and tables.

The runner has parsed the model's JSON and validated it against the app's schema
(core/apps/runner.py) before it reaches this view; the view only lays it out:

- an object becomes a form: one row per property, its title (the schema's ``title``,
  else the property's name) and its value;
- an array of objects becomes a table: one column per property (in the schema's order,
  then any other key the rows have), one row per item;
- an array of plain values becomes one line per value;
- anything nested deeper is written as compact JSON in its cell.

Every key and value is model output: plain text in labels and table items, never rich
text. A result is bounded by the schema and the reply's length; the table shows at most
``MAX_ROWS`` rows and says how many more there were.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

MAX_ROWS = 1000
MAX_CELL_CHARS = 2000
MAX_TABLE_HEIGHT = 420


def _schema_properties(schema: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if not isinstance(schema, Mapping):
        return {}
    properties = schema.get("properties")
    return properties if isinstance(properties, Mapping) else {}


def _item_schema(schema: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if not isinstance(schema, Mapping):
        return None
    items = schema.get("items")
    return items if isinstance(items, Mapping) else None


def _title(key: str, schema: Mapping[str, Any] | None) -> str:
    """The schema's ``title``, else the key as words ("due_date" -> "Due date")."""
    if isinstance(schema, Mapping):
        title = schema.get("title")
        if isinstance(title, str) and title.strip():
            return title.strip()[:200]
    words = key.replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else key


def cell_text(value: Any) -> str:
    """One value as the text of a cell or a field."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "✓" if value else "✗"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, int | float):
        text = str(value)
    elif isinstance(value, list) and all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in value
    ):
        text = ", ".join(str(v) for v in value)
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if len(text) > MAX_CELL_CHARS:
        text = text[:MAX_CELL_CHARS] + "…"
    return text


def _is_table(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _columns(rows: Sequence[Mapping[str, Any]], schema: Mapping[str, Any] | None) -> list[str]:
    columns = [str(k) for k in _schema_properties(schema)]
    for row in rows[:MAX_ROWS]:
        for key in row:
            if key not in columns:
                columns.append(str(key))
    return columns


class StructuredResultView(QWidget):
    """Lays out one validated result; ``tables``/``fields`` expose what it made."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("structuredResult")
        self.tables: list[QTableWidget] = []
        self.fields: dict[str, QLabel] = {}
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(10)
        self.result: Any = None

    def clear(self) -> None:
        while self._layout.count():
            item = self._layout.takeAt(0)
            widget = item.widget()
            if widget is not None:
                widget.deleteLater()
        self.tables = []
        self.fields = {}
        self.result = None

    def set_result(self, result: Any, schema: Mapping[str, Any] | None) -> None:
        self.clear()
        self.result = result
        if _is_table(result):
            self._layout.addWidget(self._table(result, _item_schema(schema)))
        elif isinstance(result, dict):
            self._object(result, schema, self._layout, self)
        else:
            label = self._value_label(cell_text(result), self)
            self._layout.addWidget(label)
        self._layout.addStretch(1)

    def _object(
        self,
        value: Mapping[str, Any],
        schema: Mapping[str, Any] | None,
        layout: QVBoxLayout,
        parent: QWidget,
    ) -> None:
        """Plain values as a form first, then each array of objects as a titled table."""
        properties = _schema_properties(schema)
        keys = [k for k in properties if k in value] + [k for k in value if k not in properties]
        form_box = QWidget(parent)
        form = QFormLayout(form_box)
        form.setContentsMargins(0, 0, 0, 0)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        groups: list[QWidget] = []
        for key in keys:
            item = value[key]
            sub = properties.get(key) if isinstance(properties.get(key), Mapping) else None
            title = _title(str(key), sub)
            item_schema = _item_schema(sub)
            if _is_table(item) or (
                isinstance(item, list)
                and not item
                and item_schema is not None
                and item_schema.get("type") == "object"
            ):
                group = QGroupBox(title, parent)
                group_layout = QVBoxLayout(group)
                group_layout.addWidget(self._table(item, _item_schema(sub)))
                groups.append(group)
                continue
            if isinstance(item, dict) and item:
                box = QGroupBox(title, parent)
                box_layout = QVBoxLayout(box)
                self._object(item, sub, box_layout, box)
                groups.append(box)
                continue
            if isinstance(item, list) and item and all(isinstance(v, str) for v in item):
                text = "\n".join(f"• {cell_text(v)}" for v in item[:MAX_ROWS])
            else:
                text = cell_text(item)
            name = QLabel(title + ":", form_box)
            name.setTextFormat(Qt.TextFormat.PlainText)
            shown = self._value_label(text, form_box)
            name.setBuddy(shown)
            form.addRow(name, shown)
            self.fields.setdefault(str(key), shown)
        if form.rowCount():
            layout.addWidget(form_box)
        else:
            form_box.deleteLater()
        for widget in groups:
            layout.addWidget(widget)

    @staticmethod
    def _value_label(text: str, parent: QWidget) -> QLabel:
        label = QLabel(text, parent)
        label.setTextFormat(Qt.TextFormat.PlainText)
        label.setWordWrap(True)
        label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        return label

    def _table(
        self, rows: Sequence[Mapping[str, Any]], schema: Mapping[str, Any] | None
    ) -> QTableWidget:
        columns = _columns(rows, schema)
        properties = _schema_properties(schema)
        shown = rows[:MAX_ROWS]
        table = QTableWidget(len(shown), len(columns), self)
        table.setObjectName("resultTable")
        table.setHorizontalHeaderLabels(
            [
                _title(c, properties.get(c) if isinstance(properties.get(c), Mapping) else None)
                for c in columns
            ]
        )
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        table.setAlternatingRowColors(True)
        table.setWordWrap(True)
        table.verticalHeader().setVisible(True)
        for row, record in enumerate(shown):
            for column, key in enumerate(columns):
                item = QTableWidgetItem(cell_text(record.get(key)))
                item.setToolTip(item.text() if len(item.text()) > 40 else "")
                table.setItem(row, column, item)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        table.resizeColumnsToContents()
        for column in range(len(columns)):
            if table.columnWidth(column) > 320:
                table.setColumnWidth(column, 320)
        header.setStretchLastSection(True)
        table.resizeRowsToContents()
        # As tall as its rows (up to MAX_TABLE_HEIGHT; more rows scroll inside).
        height = header.sizeHint().height() + 2 * table.frameWidth()
        height += sum(table.rowHeight(r) for r in range(len(shown)))
        height += table.horizontalScrollBar().sizeHint().height()
        table.setFixedHeight(min(max(height, 60), MAX_TABLE_HEIGHT))
        if len(rows) > MAX_ROWS:
            table.setToolTip(self.tr("{n} more rows are not shown.").format(n=len(rows) - MAX_ROWS))
        self.tables.append(table)
        return table

    def table_cells(self, index: int = 0) -> list[list[str]]:
        """The texts of table ``index``, row by row (the header excluded)."""
        table = self.tables[index]
        return [
            [table.item(r, c).text() for c in range(table.columnCount())]
            for r in range(table.rowCount())
        ]

    def table_headers(self, index: int = 0) -> list[str]:
        table = self.tables[index]
        return [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
