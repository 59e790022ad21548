"""The dialogs a page has open, each opened without a nested event loop.

``QDialog.exec()`` would run a second event loop inside the slot that opened it, and the
asyncio loop (qasync's) must keep turning while a dialog is up. So pages open dialogs
with ``open()`` and keep them here until they finish: the page can close them when it
shuts down, and tests find them (``dialogs``) to answer them.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog


class OpenDialogs:
    def __init__(self) -> None:
        self._dialogs: list[QDialog] = []

    def open(self, dialog: QDialog, *, delete_on_close: bool = False) -> None:
        """Show ``dialog`` (window-modal, no nested loop) and keep it until it finishes."""
        self._dialogs.append(dialog)
        if delete_on_close:
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _result: self._forget(dialog))
        dialog.open()

    def _forget(self, dialog: QDialog) -> None:
        if dialog in self._dialogs:
            self._dialogs.remove(dialog)

    def showing(self) -> list[QDialog]:
        """The dialogs open now."""
        return list(self._dialogs)

    def close_all(self) -> None:
        for dialog in list(self._dialogs):
            dialog.close()
