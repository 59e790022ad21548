"""The chat transcript: read-only plain text that grows at its end.

Streamed pieces are inserted through one QTextCursor kept at the end of the document,
so appending a token costs the same at token 4,000 as at token 100 (no re-setting of
the whole text, no undo stack). Model output is untrusted: it is inserted as plain
text, never parsed as HTML or Markdown here (a Markdown view with raw HTML off is a
later step).
"""

from __future__ import annotations

from PySide6.QtGui import QFont, QPalette, QTextBlockFormat, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QWidget


class TranscriptView(QPlainTextEdit):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("transcript")
        self.setReadOnly(True)
        self.setUndoRedoEnabled(False)  # an undo record per token would grow without bound
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.document().setDocumentMargin(10)
        self._cursor = QTextCursor(self.document())
        self._body = QTextCharFormat()
        self._header = QTextCharFormat()
        self._header.setFontWeight(QFont.Weight.Bold)
        self._note = QTextCharFormat()
        self._note.setFontItalic(True)
        self._note.setForeground(self.palette().color(QPalette.ColorRole.PlaceholderText))

    def begin_message(self, header: str) -> None:
        """Start a new message block: a blank line, then the bold header line."""
        self._insert_block(self._header, first=self.document().isEmpty())
        self._insert(header, self._header)
        self._insert_block(self._body)

    def append_text(self, text: str) -> None:
        self._insert(text, self._body)

    def append_note(self, text: str) -> None:
        """A remark about the message (stopped, failed), set apart in italics."""
        self._insert_block(self._note)
        self._insert(text, self._note)

    def clear_transcript(self) -> None:
        self.document().clear()
        self._cursor = QTextCursor(self.document())

    def _insert_block(self, char_format: QTextCharFormat, *, first: bool = False) -> None:
        if first:
            return
        self._cursor.movePosition(QTextCursor.MoveOperation.End)
        if self._cursor.block().length() > 1:  # end the current paragraph, then leave a gap
            self._cursor.insertBlock(QTextBlockFormat(), char_format)
        if char_format is self._header:
            self._cursor.insertBlock(QTextBlockFormat(), char_format)

    def _insert(self, text: str, char_format: QTextCharFormat) -> None:
        bar = self.verticalScrollBar()
        follow = bar.value() >= bar.maximum() - 2
        self._cursor.movePosition(QTextCursor.MoveOperation.End)
        self._cursor.insertText(text, char_format)
        if follow:
            bar.setValue(bar.maximum())
