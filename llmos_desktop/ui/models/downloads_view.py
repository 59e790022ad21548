"""The downloads list: one row per file, with a progress bar, speed, time left, and
pause / resume / cancel; an error in words (and, for a token problem, a way to a token).

The rows are driven by ``DownloadProgress`` snapshots only (``update``): the page
forwards them from the DownloadManager's listener, marshalled to the GUI thread by the
ServiceBridge. A row never asks the manager anything; its buttons are signals with the
download's id, and the page runs the call off the GUI thread.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.models.types import DownloadProgress
from llmos_desktop.ui.models import wording
from llmos_desktop.ui.models.library_view import error_colour

ACTIVE = frozenset({"queued", "downloading", "retrying", "verifying"})
FINISHED = frozenset({"done", "failed", "cancelled"})


class DownloadRow(QFrame):
    """One download."""

    pause_requested = Signal(str)
    resume_requested = Signal(str)
    cancel_requested = Signal(str)
    token_requested = Signal()

    def __init__(self, progress: DownloadProgress, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("downloadRow")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.id = progress.id
        self.progress = progress
        name = progress.path.rsplit("/", 1)[-1]
        self.name_label = _plain(name, self)
        font = QFont(self.name_label.font())
        font.setBold(True)
        self.name_label.setFont(font)
        self.repo_label = _plain(progress.repo_id, self)
        self.repo_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.bar = QProgressBar(self)
        self.bar.setObjectName("downloadProgress")
        self.bar.setAccessibleName(self.tr("Progress of {name}").format(name=name))
        self.bar.setTextVisible(True)
        self.status_label = _plain("", self)
        self.status_label.setObjectName("downloadStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.pause_button = self._button("downloadPauseButton")
        self.cancel_button = self._button("downloadCancelButton")
        self.cancel_button.setText(self.tr("Cancel"))
        self.cancel_button.setAccessibleName(
            self.tr("Cancel the download of {name}").format(name=name)
        )
        self.token_button = self._button("downloadTokenButton")
        self.token_button.setText(self.tr("Enter a token…"))
        self.token_button.setAccessibleName(self.tr("Enter a Hugging Face token"))
        self._name = name

        head = QHBoxLayout()
        head.setSpacing(8)
        head.addWidget(self.name_label)
        head.addWidget(self.repo_label, 1)
        head.addWidget(self.token_button)
        head.addWidget(self.pause_button)
        head.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(4)
        layout.addLayout(head)
        layout.addWidget(self.bar)
        layout.addWidget(self.status_label)

        self.pause_button.clicked.connect(self._on_pause_button_clicked)
        self.cancel_button.clicked.connect(lambda: self.cancel_requested.emit(self.id))
        self.token_button.clicked.connect(self.token_requested)
        self.update_progress(progress)

    def _button(self, name: str) -> QPushButton:
        button = QPushButton(self)
        button.setObjectName(name)
        button.setAutoDefault(False)
        return button

    def update_progress(self, progress: DownloadProgress) -> None:
        self.progress = progress
        status = progress.status
        if progress.total:
            self.bar.setRange(0, 1000)
            self.bar.setValue(min(1000, round(1000 * progress.received / progress.total)))
            self.bar.setFormat(f"{100 * progress.received / progress.total:.1f} %")
        elif status in ("downloading", "retrying", "verifying"):
            self.bar.setRange(0, 0)  # busy: the size is not known
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(1000 if status == "done" else 0)
        if status == "done":
            self.bar.setValue(1000)
            self.bar.setFormat("100 %")
        self.status_label.setText(wording.download_status_text(progress))
        if status == "failed":
            self.status_label.setStyleSheet(f"color: {error_colour(self.palette()).name()};")
        else:
            self.status_label.setStyleSheet("")
        # Pause while it runs; Resume when paused (or failed: the bytes on disk are kept).
        if status in ("paused", "failed"):
            text = self.tr("Resume") if status == "paused" else self.tr("Retry")
            self.pause_button.setText(text)
            self.pause_button.setAccessibleName(
                self.tr("{action} the download of {name}").format(action=text, name=self._name)
            )
            self.pause_button.setVisible(True)
        elif status in ACTIVE:
            self.pause_button.setText(self.tr("Pause"))
            self.pause_button.setAccessibleName(
                self.tr("Pause the download of {name}").format(name=self._name)
            )
            self.pause_button.setVisible(True)
            self.pause_button.setEnabled(status != "verifying")
        else:
            self.pause_button.setVisible(False)
        if status in ("paused", "failed"):
            self.pause_button.setEnabled(True)
        self.cancel_button.setVisible(status not in FINISHED)
        self.token_button.setVisible(
            status == "failed"
            and progress.error is not None
            and progress.error.kind in ("auth", "gated")
        )

    def _on_pause_button_clicked(self) -> None:
        if self.progress.status in ("paused", "failed"):
            self.resume_requested.emit(self.id)
        else:
            self.pause_requested.emit(self.id)


class DownloadsView(QWidget):
    """Every download of this session (and those resumed from the last), newest first."""

    pause_requested = Signal(str)
    resume_requested = Signal(str)
    cancel_requested = Signal(str)
    token_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("downloadsView")
        self.rows: dict[str, DownloadRow] = {}
        self.empty_label = _plain(
            self.tr(
                "No downloads. Find a model under Discover, or pick one of the recommended "
                "models in the empty library."
            ),
            self,
        )
        self.empty_label.setWordWrap(True)
        self.empty_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self._box = QWidget(self)
        self._box.setObjectName("downloadsBox")
        self._list = QVBoxLayout(self._box)
        self._list.setContentsMargins(0, 0, 0, 0)
        self._list.setSpacing(8)
        self._list.addWidget(self.empty_label)
        self._list.addStretch(1)
        self.scroll_area = QScrollArea(self)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.scroll_area.setWidget(self._box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scroll_area)

    def show_progress(self, progress: DownloadProgress) -> DownloadRow:
        """Show the newest snapshot of one download (a new row for a new download)."""
        row = self.rows.get(progress.id)
        if row is None:
            row = DownloadRow(progress, self._box)
            row.pause_requested.connect(self.pause_requested)
            row.resume_requested.connect(self.resume_requested)
            row.cancel_requested.connect(self.cancel_requested)
            row.token_requested.connect(self.token_requested)
            self._list.insertWidget(1, row)  # newest first, after the (hidden) empty label
            self.rows[progress.id] = row
            self.empty_label.hide()
        else:
            row.update_progress(progress)
        return row

    def remove(self, download_id: str) -> None:
        row = self.rows.pop(download_id, None)
        if row is not None:
            self._list.removeWidget(row)
            row.deleteLater()
        self.empty_label.setVisible(not self.rows)

    def active_count(self) -> int:
        return sum(1 for row in self.rows.values() if row.progress.status in ACTIVE)


def _plain(text: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label
