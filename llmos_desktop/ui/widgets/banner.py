"""A dismissable message strip for errors and notices.

Messages come from engines, model files and the Hub, so they are shown as plain text
only: a hostile string must never be interpreted as rich text or load resources.
Its colours have a light and a dark set, chosen from the palette (and chosen again when
the theme changes), so an error reads as one in both.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

_STYLES = {
    "error": "background: #fdecea; color: #611a15; border: 1px solid #f5c2c0;",
    "info": "background: #e8f1fb; color: #0b3a66; border: 1px solid #b9d4f1;",
}
_DARK_STYLES = {
    "error": "background: #4a1f1c; color: #ffd9d4; border: 1px solid #7a3530;",
    "info": "background: #17324f; color: #d6e8ff; border: 1px solid #2d5580;",
}


class MessageBanner(QFrame):
    """Hidden until a message is shown; the close button hides it again."""

    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBanner")
        self.label = QLabel(self)
        self.label.setObjectName("messageBannerText")
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QToolButton(self)
        self.close_button.setText("×")
        self.close_button.setToolTip(self.tr("Dismiss"))
        self.close_button.setAccessibleName(self.tr("Dismiss"))
        self.close_button.setAutoRaise(True)
        self.close_button.clicked.connect(self._on_close_button_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.kind = ""
        self.hide()

    def show_error(self, message: str) -> None:
        self._show("error", message)

    def show_info(self, message: str) -> None:
        self._show("info", message)

    def clear(self) -> None:
        self.kind = ""
        self.label.clear()
        self.hide()

    def text(self) -> str:
        """The message shown now, or "" when the banner is hidden."""
        return "" if self.isHidden() else self.label.text()

    def _show(self, kind: str, message: str) -> None:
        self.kind = kind
        self._apply_style()
        self.label.setText(message)
        self.show()

    def _apply_style(self) -> None:
        if not self.kind:
            return
        # The application's palette, not this frame's: the style sheet set below
        # changes the frame's own.
        palette = QApplication.palette()
        window = palette.color(QPalette.ColorRole.Window)
        text = palette.color(QPalette.ColorRole.WindowText)
        style = (_DARK_STYLES if window.lightness() < text.lightness() else _STYLES)[self.kind]
        sheet = f"#messageBanner {{ {style} border-radius: 4px; }}"
        if sheet != self.styleSheet():  # setting it changes the palette: no loop
            self.setStyleSheet(sheet)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_style()

    def _on_close_button_clicked(self) -> None:
        self.clear()
        self.dismissed.emit()
