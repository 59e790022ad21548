"""The frame of a page of settings-like groups (Settings, Developer): a title and a
banner above a scrolling column of group boxes, each a two-column form."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QGroupBox,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)


def scroll_column(page: QWidget, name: str) -> tuple[QWidget, QVBoxLayout]:
    """The column's widget (object name ``{name}Content``) and its layout, for the
    page's groups; put it on the page with ``frame_page``."""
    content = QWidget(page)
    content.setObjectName(f"{name}Content")
    column = QVBoxLayout(content)
    column.setContentsMargins(0, 0, 12, 0)
    column.setSpacing(12)
    return content, column


def frame_page(page: QWidget, name: str, content: QWidget, *above: QWidget) -> QScrollArea:
    """Lay ``page`` out: ``above`` (title, banner) and then ``content`` in a scroll area
    (object name ``{name}Scroll``), which it returns."""
    scroll = QScrollArea(page)
    scroll.setObjectName(f"{name}Scroll")
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # its controls take focus
    scroll.setWidget(content)
    layout = QVBoxLayout(page)
    layout.setContentsMargins(24, 20, 12, 12)
    layout.setSpacing(10)
    for widget in above:
        layout.addWidget(widget)
    layout.addWidget(scroll, 1)
    return scroll


def group_form(group: QGroupBox, *, fields_grow: bool) -> QFormLayout:
    """A group's form: labels left, fields at their size or (``fields_grow``) widening
    with the page."""
    form = QFormLayout(group)
    form.setFieldGrowthPolicy(
        QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow
        if fields_grow
        else QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint
    )
    form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    form.setHorizontalSpacing(16)
    form.setVerticalSpacing(8)
    return form


def align_labels(labels: list[QLabel]) -> None:
    """One label column for every group, so the fields line up down the page."""
    if labels:
        width = max(label.sizeHint().width() for label in labels)
        for label in labels:
            label.setMinimumWidth(width)


class HintLabel(QLabel):
    """A note under a field: plain, wrapped, in the palette's dimmer text (light and
    dark alike). Its minimum height follows its width: a form in a scroll area kept the
    height of one line for a note that had wrapped to two once the scroll bar appeared,
    and the first line was cut."""

    def __init__(self, text: str, parent: QWidget) -> None:
        super().__init__(text, parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(True)
        self.setForegroundRole(QPalette.ColorRole.PlaceholderText)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        needed = self.heightForWidth(self.width())
        if needed > 0 and needed != self.minimumHeight():
            self.setMinimumHeight(needed)


def form_hint(form: QFormLayout, text: str, parent: QWidget, name: str) -> HintLabel:
    """A ``HintLabel`` (object name ``name``) as a row of its own in ``form``."""
    hint = HintLabel(text, parent)
    hint.setObjectName(name)
    form.addRow(hint)
    return hint
