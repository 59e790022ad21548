"""What an empty library shows: a few small instruct models that suit this computer.

The list is curated (resources/models/recommended.json, read by core/models/recommended.py
and filtered by this machine's memory off the GUI thread); it names repositories and
files only. Sizes and checksums come from the Hub when a download starts, so nothing here
claims a size. Each recommendation has a Download button; the page starts the download.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.models.types import MachineMemory, Recommendation
from llmos_desktop.ui.models import wording


class RecommendationCard(QFrame):
    """One recommended model: title, what it is, where it comes from, Download."""

    download_requested = Signal(object)  # Recommendation

    def __init__(self, item: Recommendation, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("recommendationCard")
        self.item = item
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title_label = _plain(item.title, self)
        font = QFont(self.title_label.font())
        font.setBold(True)
        self.title_label.setFont(font)
        self.summary_label = _plain(item.summary, self)
        self.summary_label.setWordWrap(True)
        source = f"{item.repo_id} · {item.file}"
        if item.licence:
            source += " · " + self.tr("licence: {licence}").format(licence=item.licence)
        self.source_label = _plain(source, self)
        self.source_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.source_label.setWordWrap(True)
        self.download_button = QPushButton(self.tr("Download"), self)
        self.download_button.setObjectName("recommendationDownloadButton")
        self.download_button.setAccessibleName(self.tr("Download {title}").format(title=item.title))
        self.download_button.setAutoDefault(False)
        self.download_button.clicked.connect(lambda: self.download_requested.emit(self.item))
        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.title_label)
        text.addWidget(self.summary_label)
        text.addWidget(self.source_label)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.addLayout(text, 1)
        layout.addWidget(self.download_button, 0, Qt.AlignmentFlag.AlignVCenter)

    def set_busy(self, busy: bool) -> None:
        self.download_button.setEnabled(not busy)


class FirstRunPanel(QWidget):
    """The empty library: recommendations, or a way to the Hub and to import a file."""

    download_requested = Signal(object)  # Recommendation
    browse_requested = Signal()
    import_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstRunPanel")
        self.title_label = _plain(self.tr("Your library is empty"), self)
        font = QFont(self.title_label.font())
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title_label.setFont(font)
        self.intro_label = _plain(
            self.tr(
                "Get a model to chat with. These small instruct models suit this computer; "
                "their size and checksum come from the Hub when the download starts."
            ),
            self,
        )
        self.intro_label.setWordWrap(True)
        self.machine_label = _plain("", self)
        self.machine_label.setObjectName("firstRunMachine")
        self.machine_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.status_label = _plain(self.tr("Looking for models that fit this computer…"), self)
        self.status_label.setObjectName("firstRunStatus")
        self.status_label.setWordWrap(True)

        self.cards: list[RecommendationCard] = []
        self._cards_box = QWidget(self)
        self._cards_layout = QVBoxLayout(self._cards_box)
        self._cards_layout.setContentsMargins(0, 0, 0, 0)
        self._cards_layout.setSpacing(8)
        self._cards_layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        scroll.setWidget(self._cards_box)

        self.browse_button = QPushButton(self.tr("&Browse the Hub…"), self)
        self.browse_button.setObjectName("firstRunBrowseButton")
        self.browse_button.setAutoDefault(False)
        self.import_button = QPushButton(self.tr("Import a GG&UF file…"), self)
        self.import_button.setObjectName("firstRunImportButton")
        self.import_button.setAutoDefault(False)
        self.browse_button.clicked.connect(self.browse_requested)
        self.import_button.clicked.connect(self.import_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.browse_button)
        buttons.addWidget(self.import_button)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 8, 4, 4)
        layout.setSpacing(8)
        layout.addWidget(self.title_label)
        layout.addWidget(self.intro_label)
        layout.addWidget(self.machine_label)
        layout.addWidget(self.status_label)
        layout.addWidget(scroll, 1)
        layout.addLayout(buttons)

    def set_starter_only(self, starter_only: bool) -> None:
        """The library has only the starter model (not empty, but only just)."""
        if starter_only:
            self.title_label.setText(self.tr("Get a better model"))
            self.intro_label.setText(
                self.tr(
                    "LLMOS Desktop comes with a very small starter model. These instruct "
                    "models suit this computer and answer far better; their size and "
                    "checksum come from the Hub when the download starts."
                )
            )
        else:
            self.title_label.setText(self.tr("Your library is empty"))
            self.intro_label.setText(
                self.tr(
                    "Get a model to chat with. These small instruct models suit this "
                    "computer; their size and checksum come from the Hub when the download "
                    "starts."
                )
            )

    def set_machine(self, machine: MachineMemory) -> None:
        ram = wording.size_text(machine.ram_total)
        if machine.unified:
            text = self.tr("This computer: {ram} of memory shared with its GPU.").format(ram=ram)
        elif machine.vram_total:
            text = self.tr("This computer: {ram} of memory and a GPU with {vram}.").format(
                ram=ram, vram=wording.size_text(machine.vram_total)
            )
        else:
            text = self.tr("This computer: {ram} of memory, no GPU used.").format(ram=ram)
        self.machine_label.setText(text)

    def set_recommendations(self, items: Sequence[Recommendation]) -> None:
        for card in self.cards:
            card.deleteLater()
        self.cards = []
        for item in items:
            card = RecommendationCard(item, self._cards_box)
            card.download_requested.connect(self.download_requested)
            self._cards_layout.insertWidget(self._cards_layout.count() - 1, card)
            self.cards.append(card)
        if items:
            self.status_label.hide()
        else:
            self.status_label.setText(
                self.tr(
                    "None of the recommended models fits this computer's memory. Browse the "
                    "Hub for a smaller one, or import a GGUF file."
                )
            )
            self.status_label.show()

    def show_error(self, message: str) -> None:
        self.status_label.setText(message)
        self.status_label.show()


def _plain(text: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label
