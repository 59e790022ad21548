"""Example code for the API: curl, Python (``openai``) and JavaScript (``openai`` on npm).

The text is not written here: the page renders it with ``core/engine/snippets.py``, the
one place that also writes docs/api.md's examples, which the tests run against a live
server. So what a user copies from this page is code that was run. This view only
shows each snippet read-only, in a fixed-width font, with a copy button.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

KINDS = ("curl", "python", "javascript")


class SnippetsView(QTabWidget):
    """One tab per language; ``copied(kind)`` after a copy button put one on the clipboard."""

    copied = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("snippetsTabs")
        self.setAccessibleName(self.tr("Example code"))
        self.tabBar().setAccessibleName(self.tr("Language of the example"))
        self.editors: dict[str, QPlainTextEdit] = {}
        self.copy_buttons: dict[str, QPushButton] = {}
        titles = {
            "curl": (self.tr("curl"), self.tr("Example with curl")),
            "python": (self.tr("Python"), self.tr("Example in Python with the openai package")),
            "javascript": (
                self.tr("JavaScript"),
                self.tr("Example in JavaScript with the openai npm package"),
            ),
        }
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        for kind in KINDS:
            title, spoken = titles[kind]
            tab = QWidget(self)
            editor = QPlainTextEdit(tab)
            editor.setObjectName(f"{kind}Snippet")
            editor.setReadOnly(True)
            editor.setFont(font)
            editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
            editor.setAccessibleName(spoken)
            editor.setTabChangesFocus(True)
            editor.setMinimumHeight(130)
            button = QPushButton(self.tr("Copy"), tab)
            button.setObjectName(f"{kind}CopyButton")
            button.setAccessibleName(self.tr("Copy the {language} example").format(language=title))
            button.setAutoDefault(False)
            button.clicked.connect(lambda _checked=False, kind=kind: self.copy(kind))
            row = QHBoxLayout()
            row.addStretch(1)
            row.addWidget(button)
            layout = QVBoxLayout(tab)
            layout.setContentsMargins(6, 6, 6, 6)
            layout.addWidget(editor, 1)
            layout.addLayout(row)
            self.addTab(tab, title)
            self.editors[kind] = editor
            self.copy_buttons[kind] = button

    def set_snippets(self, snippets: dict[str, str]) -> None:
        """The text of each kind ("curl", "python", "javascript")."""
        for kind, editor in self.editors.items():
            text = snippets.get(kind, "")
            if editor.toPlainText() != text:
                editor.setPlainText(text)

    def text(self, kind: str) -> str:
        return self.editors[kind].toPlainText()

    def copy(self, kind: str) -> None:
        clipboard = QGuiApplication.clipboard()
        clipboard.setText(self.text(kind))
        self.copied.emit(kind)
