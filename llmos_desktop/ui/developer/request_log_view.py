"""The request log as a table: the engine's last requests, newest first.

The rows are the engine's own ``RequestLog`` entries (``GET /control/requests``, through
``Engine.request_log(after)``): route, client address, status, tokens in and out, time
to the first token, tokens/s. The page polls for entries after the last id it has and
hands them here (``add_entries``); the table keeps at most ``MAX_ROWS`` like the engine's
ring, so a long session never grows the window's memory.

Everything in an entry came from a client (a route, an address, a prompt), so every cell
is plain text: a table's cells never interpret rich text. The prompt column is there only
while the user has asked the engine to log prompts; otherwise the engine never kept them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QLocale,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from llmos_desktop.ui.models.library_view import error_colour

Index = QModelIndex | QPersistentModelIndex

TIME, ROUTE, CLIENT, STATUS, TOKENS_IN, TOKENS_OUT, TTFT, SPEED, DURATION, PROMPT = range(10)
COLUMN_COUNT = 10
MAX_ROWS = 500  # the engine keeps as many (server/request_log.py)
MAX_CELL_CHARS = 300  # a prompt cell shows its start; the tooltip a little more
MAX_TOOLTIP_CHARS = 2000


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _one_line(value: Any, limit: int) -> str:
    text = " ".join(str(value).split()) if value is not None else ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class RequestLogModel(QAbstractTableModel):
    """The log's rows, newest first; ``add_entries`` takes the engine's entries."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Mapping[str, Any]] = []
        self._last_id = 0
        self._headers = (
            self.tr("Time"),
            self.tr("Route"),
            self.tr("Client"),
            self.tr("Status"),
            self.tr("Tokens in"),
            self.tr("Tokens out"),
            self.tr("First token"),
            self.tr("Tokens/s"),
            self.tr("Duration"),
            self.tr("Prompt"),
        )

    @property
    def last_id(self) -> int:
        """The id of the newest entry seen (ask the engine for entries after it)."""
        return self._last_id

    def entries(self) -> list[Mapping[str, Any]]:
        """The rows, newest first."""
        return list(self._rows)

    def add_entries(self, entries: Sequence[Mapping[str, Any]]) -> int:
        """Add the engine's entries (oldest first, as it sends them); returns how many
        were new. Entries already shown (an id not above the last one) are skipped."""
        fresh = [
            e
            for e in entries
            if isinstance(e, Mapping) and isinstance(e.get("id"), int) and e["id"] > self._last_id
        ]
        if not fresh:
            return 0
        fresh.sort(key=lambda e: int(e["id"]))
        self._last_id = int(fresh[-1]["id"])
        fresh = fresh[-MAX_ROWS:]
        self.beginInsertRows(QModelIndex(), 0, len(fresh) - 1)
        self._rows[:0] = list(reversed(fresh))
        self.endInsertRows()
        if len(self._rows) > MAX_ROWS:
            self.beginRemoveRows(QModelIndex(), MAX_ROWS, len(self._rows) - 1)
            del self._rows[MAX_ROWS:]
            self.endRemoveRows()
        return len(fresh)

    def restart(self) -> None:
        """A new engine process: its log starts again at id 1, so forget the old ids
        (the rows shown stay)."""
        self._last_id = 0

    def clear(self) -> None:
        self.beginResetModel()
        self._rows.clear()
        self.endResetModel()

    # --- QAbstractTableModel ------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else COLUMN_COUNT

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self._headers[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        entry = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.cell_text(entry, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == PROMPT and entry.get("prompt"):
                return _one_line(entry.get("prompt"), MAX_TOOLTIP_CHARS)
            if column == STATUS and entry.get("error"):
                return _one_line(entry.get("error"), MAX_TOOLTIP_CHARS)
            if column == TIME:
                return _one_line(entry.get("time"), 64)
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (
            STATUS,
            TOKENS_IN,
            TOKENS_OUT,
            TTFT,
            SPEED,
            DURATION,
        ):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and column == STATUS:
            status = entry.get("status")
            if isinstance(status, int) and status >= 400:
                parent = self.parent()
                if isinstance(parent, QWidget):
                    return QBrush(error_colour(parent.palette()))
        return None

    def cell_text(self, entry: Mapping[str, Any], column: int) -> str:
        """What a cell shows (plain text, in the UI's locale)."""
        locale = QLocale()
        if column == TIME:
            return _local_time(entry.get("time"))
        if column == ROUTE:
            method = _one_line(entry.get("method") or "", 10)
            route = _one_line(entry.get("route") or "", 200)
            return f"{method} {route}".strip()
        if column == CLIENT:
            client = _one_line(entry.get("client") or "", 80)
            if entry.get("listener") == "app":
                return self.tr("{client} (this window)").format(client=client or "—")
            return client or "—"
        if column == STATUS:
            status = entry.get("status")
            text = str(status) if isinstance(status, int) else "—"
            error = entry.get("error")
            return f"{text} {_one_line(error, 40)}" if error else text
        if column in (TOKENS_IN, TOKENS_OUT):
            value = entry.get("prompt_tokens" if column == TOKENS_IN else "completion_tokens")
            return locale.toString(int(value)) if isinstance(value, int) else "—"
        if column == TTFT:
            value = _number(entry.get("ttft_s"))
            return (
                "—"
                if value is None
                else self.tr("{seconds} s").format(seconds=locale.toString(value, ord("f"), 2))
            )
        if column == SPEED:
            value = _number(entry.get("tokens_per_s"))
            return "—" if value is None else locale.toString(value, ord("f"), 1)
        if column == DURATION:
            value = _number(entry.get("duration_s"))
            return (
                "—"
                if value is None
                else self.tr("{seconds} s").format(seconds=locale.toString(value, ord("f"), 2))
            )
        if column == PROMPT:
            prompt = entry.get("prompt")
            return _one_line(prompt, MAX_CELL_CHARS) if prompt else ""
        return ""


def _local_time(value: Any) -> str:
    """An entry's ISO time in the local time zone, as the clock shows it."""
    if not isinstance(value, str):
        return "—"
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return _one_line(value, 32)
    if when.tzinfo is not None:
        when = when.astimezone()
    return when.strftime("%H:%M:%S")


class RequestLogView(QTableView):
    """The table; ``show_prompts`` shows or hides the prompt column."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("requestLogTable")
        self.setAccessibleName(self.tr("Request log"))
        self.log_model = RequestLogModel(self)
        self.setModel(self.log_model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setTabKeyNavigation(False)  # Tab leaves the table, as in the other pages
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.setMinimumHeight(180)
        for column, width in (
            (TIME, 80),
            (ROUTE, 200),
            (CLIENT, 110),
            (STATUS, 150),
            (TOKENS_IN, 80),
            (TOKENS_OUT, 85),
            (TTFT, 85),
            (SPEED, 75),
            (DURATION, 75),
        ):
            self.setColumnWidth(column, width)
        self.show_prompts(False)

    def show_prompts(self, shown: bool) -> None:
        self.setColumnHidden(PROMPT, not shown)
