"""The message box: which key sends is the user's choice, and a few keys do chat things.

- ``enter_sends`` True (the default): Enter sends, Shift+Enter adds a line. False:
  Ctrl+Enter sends, Enter adds a line (for people who write long multi-line prompts).
  Ctrl+Enter sends in both modes, so the key that always works is easy to tell.
- Up in an empty box asks to edit the last message (``edit_last_requested``), as in
  most chat apps; Up in a box with text moves the cursor as usual.
- Esc asks to cancel what the box is doing (``cancel_requested``: leave "edit" mode).
  While a reply streams the page's Stop shortcut takes Esc first.

A new line is inserted as ``\\n`` (QPlainTextEdit's own Shift+Enter inserts U+2028,
which a model would see as a strange character).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QPlainTextEdit, QWidget


class MessageInput(QPlainTextEdit):
    submitted = Signal()
    edit_last_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None, *, enter_sends: bool = True) -> None:
        super().__init__(parent)
        self.setObjectName("messageInput")
        self.setTabChangesFocus(True)
        self._enter_sends = enter_sends

    @property
    def enter_sends(self) -> bool:
        return self._enter_sends

    def set_enter_sends(self, enter_sends: bool) -> None:
        """True: Enter sends (Shift+Enter: new line); False: Ctrl+Enter sends."""
        self._enter_sends = enter_sends

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        modifiers = event.modifiers()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            control = bool(modifiers & Qt.KeyboardModifier.ControlModifier)
            shift = bool(modifiers & Qt.KeyboardModifier.ShiftModifier)
            sends = control if not self._enter_sends else (control or not shift)
            if sends:
                self.submitted.emit()
            else:
                self.insertPlainText("\n")
            event.accept()
            return
        if (
            key == Qt.Key.Key_Up
            and modifiers == Qt.KeyboardModifier.NoModifier
            and not self.toPlainText()
        ):
            self.edit_last_requested.emit()
            event.accept()
            return
        if key == Qt.Key.Key_Escape and modifiers == Qt.KeyboardModifier.NoModifier:
            self.cancel_requested.emit()
            event.accept()
            return
        super().keyPressEvent(event)
