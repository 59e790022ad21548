"""A list of apps: categories on the left, a search box, one row per app.

Used twice: for the catalogue (every app the store knows: built-in, from a remote
catalogue, or installed) and for the Installed tab (only the installed ones). The view
filters what the page gives it (``set_rows``); it fetches nothing itself.

A row shows the app's icon, its name in the window's language, its category, mode,
version and author, the start of its description, and a badge when it is installed or
an update is waiting. The delegate draws all of it with ``QPainter.drawText``: an app's
texts are plain text by construction, never rich text.

Search matches the name and the description in either language, the tags, the author
and the id, ignoring case; words are matched separately ("code python" finds an app
with both).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import (
    QAbstractListModel,
    QCoreApplication,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.apps.manifest import AppManifest
from llmos_desktop.ui.store import wording

Index = QModelIndex | QPersistentModelIndex
ROW_ROLE = Qt.ItemDataRole.UserRole + 1
CATEGORY_ROLE = Qt.ItemDataRole.UserRole + 2
ICON_SIZE = 44
ROW_HEIGHT = 78
ALL = ""


@dataclass(frozen=True)
class CatalogueRow:
    """One app as a list shows it."""

    app: AppManifest  # the catalogue's version (the installed one when it is newer)
    installed: bool
    installed_version: str | None = None
    update: bool = False  # a newer version than the installed one is in a catalogue
    source: str = "builtin"  # "builtin", "remote" or "local" (installed from a file)


def search_text(app: AppManifest) -> str:
    """Everything search looks in, folded to lower case."""
    parts = [app.id, app.name, app.description, app.author, app.category, *app.tags]
    for text in app.localized.values():
        parts.extend((text.name, text.description))
    return "\n".join(parts).casefold()


def matches(app: AppManifest, query: str) -> bool:
    haystack = search_text(app)
    return all(word in haystack for word in query.casefold().split())


class AppListModel(QAbstractListModel):
    """The rows shown, after the category and the search."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[CatalogueRow] = []

    def set_rows(self, rows: Sequence[CatalogueRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[CatalogueRow]:
        return list(self._rows)

    def row_at(self, row: int) -> CatalogueRow | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        row = self.row_at(index.row()) if index.isValid() else None
        if row is None:
            return None
        if role == ROW_ROLE:
            return row
        language = wording.ui_language()
        name = wording.localized_name(row.app, language)
        if role == Qt.ItemDataRole.DisplayRole:
            return name
        if role in (Qt.ItemDataRole.AccessibleTextRole, Qt.ItemDataRole.ToolTipRole):
            parts = [name, wording.category_text(row.app.category), row.app.version]
            if row.update:
                parts.append(QCoreApplication.translate("AppListModel", "update available"))
            elif row.installed:
                parts.append(QCoreApplication.translate("AppListModel", "installed"))
            if role == Qt.ItemDataRole.ToolTipRole:
                return wording.localized_description(row.app, language)[:400]
            return ", ".join(parts)
        return None


class AppRowDelegate(QStyledItemDelegate):
    """Icon, name, facts, two lines of description, a badge; all plain text."""

    def __init__(self, icon_for: Callable[[AppManifest], QPixmap], parent: QWidget) -> None:
        super().__init__(parent)
        self._icon_for = icon_for
        self.installed_text = QCoreApplication.translate("AppRowDelegate", "Installed")
        self.update_text = QCoreApplication.translate("AppRowDelegate", "Update")

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        metrics = QFontMetrics(option.font)  # type: ignore[attr-defined]
        return QSize(200, max(ROW_HEIGHT, metrics.lineSpacing() * 4 + 14))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        row = index.data(ROW_ROLE)
        if not isinstance(row, CatalogueRow):
            super().paint(painter, option, index)
            return
        style = option.widget.style() if option.widget is not None else None  # type: ignore[attr-defined]
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""  # type: ignore[attr-defined]
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, option.widget)  # type: ignore[attr-defined]
        rect: QRect = option.rect  # type: ignore[attr-defined]
        palette: QPalette = option.palette  # type: ignore[attr-defined]
        selected = bool(option.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
        text_role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.save()
        icon_rect = QRect(rect.left() + 10, rect.top() + 10, ICON_SIZE, ICON_SIZE)
        painter.drawPixmap(icon_rect, self._icon_for(row.app))
        left = icon_rect.right() + 12
        language = wording.ui_language()
        font = QFont(option.font)  # type: ignore[attr-defined]
        bold = QFont(font)
        bold.setBold(True)
        small = QFont(font)
        small.setPointSizeF(max(6.0, font.pointSizeF() * 0.88))

        badge = self.update_text if row.update else (self.installed_text if row.installed else "")
        badge_width = 0
        if badge:
            badge_metrics = QFontMetrics(small)
            badge_width = badge_metrics.horizontalAdvance(badge) + 16
            badge_rect = QRect(
                rect.right() - badge_width - 10,
                rect.top() + 10,
                badge_width,
                badge_metrics.height() + 4,
            )
            colour = palette.color(
                QPalette.ColorRole.Highlight if row.update else QPalette.ColorRole.Mid
            )
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawRoundedRect(badge_rect, 8, 8)
            painter.setFont(small)
            painter.setPen(
                palette.color(
                    QPalette.ColorRole.HighlightedText
                    if row.update
                    else QPalette.ColorRole.WindowText
                )
            )
            painter.drawText(badge_rect, Qt.AlignmentFlag.AlignCenter, badge)
        width = rect.right() - left - 10 - (badge_width + 10 if badge else 0)

        y = rect.top() + 8
        painter.setFont(bold)
        painter.setPen(palette.color(text_role))
        metrics = QFontMetrics(bold)
        name = wording.localized_name(row.app, language)
        painter.drawText(
            QRect(left, y, width, metrics.height()),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            metrics.elidedText(name, Qt.TextElideMode.ElideRight, width),
        )
        y += metrics.height() + 1
        facts = " · ".join(
            p
            for p in (
                wording.category_text(row.app.category),
                wording.mode_text(row.app.mode),
                "v" + row.app.version,
                row.app.author,
            )
            if p
        )
        painter.setFont(small)
        small_metrics = QFontMetrics(small)
        dim = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.PlaceholderText
        painter.setPen(palette.color(dim))
        painter.drawText(
            QRect(left, y, rect.right() - left - 10, small_metrics.height()),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            small_metrics.elidedText(facts, Qt.TextElideMode.ElideRight, rect.right() - left - 10),
        )
        y += small_metrics.height() + 2
        painter.setFont(font)
        painter.setPen(palette.color(text_role))
        metrics = QFontMetrics(font)
        description = " ".join(wording.localized_description(row.app, language).split())
        full = rect.right() - left - 10
        lines = _two_lines(description, metrics, full)
        for line in lines:
            painter.drawText(
                QRect(left, y, full, metrics.height()),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                line,
            )
            y += metrics.lineSpacing()
        painter.restore()


def _two_lines(text: str, metrics: QFontMetrics, width: int) -> list[str]:
    """At most two lines of ``text`` at ``width``, the second elided. Breaks at a space
    where there is one (English), anywhere otherwise (Chinese has no spaces)."""
    if width <= 0 or not text:
        return []
    if metrics.horizontalAdvance(text) <= width:
        return [text]
    cut = len(text)
    while cut > 1 and metrics.horizontalAdvance(text[:cut]) > width:
        cut = max(1, cut * width // max(1, metrics.horizontalAdvance(text[:cut])) - 1)
    while cut + 1 < len(text) and metrics.horizontalAdvance(text[: cut + 1]) <= width:
        cut += 1
    space = text.rfind(" ", 0, cut + 1)
    if space > cut // 2:
        cut = space
    first = text[:cut].rstrip()
    rest = text[cut:].lstrip()
    return [first, metrics.elidedText(rest, Qt.TextElideMode.ElideRight, width)]


class CatalogueView(QWidget):
    """Categories, search and the list; ``app_activated`` when a row is opened."""

    app_activated = Signal(object)  # CatalogueRow
    refresh_requested = Signal()
    filtered = Signal()  # the list shows a new selection of rows

    def __init__(
        self,
        icon_for: Callable[[AppManifest], QPixmap],
        *,
        installed_only: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.installed_only = installed_only
        self._all: list[CatalogueRow] = []

        self.categories = QListWidget(self)
        self.categories.setObjectName("storeCategories")
        self.categories.setAccessibleName(self.tr("Categories"))
        self.categories.setFixedWidth(200)
        self.categories.setSpacing(2)
        self.categories.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.categories.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.categories.setFrameShape(QListWidget.Shape.NoFrame)

        self.search_edit = QLineEdit(self)
        self.search_edit.setObjectName("storeSearch")
        self.search_edit.setPlaceholderText(self.tr("Search apps"))
        self.search_edit.setAccessibleName(self.tr("Search apps"))
        self.search_edit.setClearButtonEnabled(True)
        self.refresh_button = QPushButton(self.tr("&Refresh catalogue"), self)
        self.refresh_button.setObjectName("storeRefreshButton")
        self.refresh_button.setToolTip(
            self.tr("Read the remote catalogue again (the built-in apps work offline)")
        )
        self.refresh_button.setAutoDefault(False)
        self.refresh_button.setVisible(not installed_only)

        self.model = AppListModel(self)
        self.list = QListView(self)
        self.list.setObjectName("storeAppList")
        self.list.setAccessibleName(self.tr("Apps"))
        self.list.setModel(self.model)
        self.list.setItemDelegate(AppRowDelegate(icon_for, self))
        self.list.setUniformItemSizes(True)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.list.setAlternatingRowColors(False)
        self.status_label = QLabel(self)
        self.status_label.setObjectName("storeListStatus")
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setWordWrap(True)
        self.status_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        top = QHBoxLayout()
        top.addWidget(self.search_edit, 1)
        top.addWidget(self.refresh_button)
        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.addLayout(top)
        right.addWidget(self.list, 1)
        right.addWidget(self.status_label)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        layout.addWidget(self.categories)
        layout.addLayout(right, 1)

        self.search_edit.textChanged.connect(self._apply_filter)
        self.categories.currentRowChanged.connect(lambda _row: self._apply_filter())
        self.list.activated.connect(self._on_list_activated)
        self.list.clicked.connect(self._on_list_activated)
        self.refresh_button.clicked.connect(self.refresh_requested)

    # --- public -------------------------------------------------------------------------

    def set_rows(self, rows: Sequence[CatalogueRow]) -> None:
        """All the apps this view may show; the category list follows what they have."""
        self._all = [r for r in rows if r.installed or not self.installed_only]
        language = wording.ui_language()
        self._all.sort(key=lambda r: wording.localized_name(r.app, language).casefold())
        current = self.category()
        counts: dict[str, int] = {}
        for row in self._all:
            counts[row.app.category] = counts.get(row.app.category, 0) + 1
        self.categories.blockSignals(True)
        self.categories.clear()
        first = QListWidgetItem(f"{wording.all_categories_text()} ({len(self._all)})")
        first.setData(CATEGORY_ROLE, ALL)
        self.categories.addItem(first)
        for category in sorted(counts, key=lambda c: wording.category_text(c).casefold()):
            item = QListWidgetItem(f"{wording.category_text(category)} ({counts[category]})")
            item.setData(CATEGORY_ROLE, category)
            self.categories.addItem(item)
        self.categories.blockSignals(False)
        self.select_category(current if current in counts else ALL)
        self._apply_filter()

    def category(self) -> str:
        item = self.categories.currentItem()
        return str(item.data(CATEGORY_ROLE)) if item is not None else ALL

    def select_category(self, category: str) -> bool:
        for row in range(self.categories.count()):
            if self.categories.item(row).data(CATEGORY_ROLE) == category:
                self.categories.setCurrentRow(row)
                return True
        return False

    def category_names(self) -> list[str]:
        return [
            str(self.categories.item(r).data(CATEGORY_ROLE)) for r in range(self.categories.count())
        ]

    def shown_ids(self) -> list[str]:
        return [row.app.id for row in self.model.rows()]

    def row_for(self, app_id: str) -> CatalogueRow | None:
        return next((r for r in self._all if r.app.id == app_id), None)

    def set_status(self, text: str) -> None:
        self.status_label.setText(text)

    # --- filtering ----------------------------------------------------------------------

    def _apply_filter(self) -> None:
        category = self.category()
        query = self.search_edit.text().strip()
        rows = [
            r
            for r in self._all
            if (category == ALL or r.app.category == category)
            and (not query or matches(r.app, query))
        ]
        self.model.set_rows(rows)
        if not self._all:
            self.list.setAccessibleDescription("")
            self.set_status(
                self.tr("No app is installed yet: install one from the Catalogue tab.")
                if self.installed_only
                else self.tr("The catalogue is empty.")
            )
        elif not rows:
            self.set_status(self.tr("No app matches this search."))
        else:
            self.set_status(self.tr("{n} apps").format(n=len(rows)))
        self.filtered.emit()

    def _on_list_activated(self, index: QModelIndex) -> None:
        row = self.model.row_at(index.row())
        if row is not None:
            self.app_activated.emit(row)
