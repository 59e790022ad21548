"""The strip under the Lab's forms that shows the one run in progress: stage, progress, Cancel.

One run at a time: quantization, perplexity and speed runs each take a llama.cpp worker
process and every core the machine has, so a second run would only slow both and make
the speed figures wrong. The panel says what runs, how far it is (a busy bar when the
worker cannot tell), and keeps the last result or error in plain text (a file name or a
worker's message is untrusted text).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class RunPanel(QFrame):
    """Stage text, a progress bar and Cancel while a run is on; the outcome after it."""

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("labRunPanel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title_label = QLabel(self)
        self.title_label.setObjectName("labRunTitle")
        self.title_label.setTextFormat(Qt.TextFormat.PlainText)
        font = self.title_label.font()
        font.setBold(True)
        self.title_label.setFont(font)
        self.stage_label = QLabel(self)
        self.stage_label.setObjectName("labRunStage")
        self.stage_label.setTextFormat(Qt.TextFormat.PlainText)
        self.stage_label.setWordWrap(True)
        self.stage_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar(self)
        self.progress.setObjectName("labRunProgress")
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setAccessibleName(self.tr("Progress of the run"))
        self.cancel_button = QPushButton(self.tr("&Cancel"), self)
        self.cancel_button.setObjectName("labCancelButton")
        self.cancel_button.setToolTip(self.tr("Stop the run; a partial file is removed"))
        self.cancel_button.setAutoDefault(False)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.result_label = QLabel(self)
        self.result_label.setObjectName("labRunResult")
        self.result_label.setTextFormat(Qt.TextFormat.PlainText)
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addWidget(self.title_label)
        layout.addWidget(self.stage_label)
        layout.addLayout(row)
        layout.addWidget(self.result_label)
        self.error = False
        self.running = False
        self.hide()

    def start(self, title: str) -> None:
        """A run begins: ``title`` says what it does."""
        self.running = True
        self.error = False
        self.title_label.setText(title)
        self.stage_label.setText(self.tr("Starting…"))
        self.result_label.clear()
        self.result_label.hide()
        self.progress.setRange(0, 0)  # busy until the worker says how far it is
        self.progress.show()
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)
        self.show()

    def set_progress(self, fraction: float | None, stage: str) -> None:
        if not self.running:
            return
        if stage:
            self.stage_label.setText(stage)
        if fraction is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(max(0.0, min(1.0, fraction)) * 1000))
        self.progress.setAccessibleDescription(self.stage_label.text())

    @property
    def fraction(self) -> float | None:
        """How far the bar is (None while it is a busy bar)."""
        if self.progress.maximum() == 0:
            return None
        return self.progress.value() / self.progress.maximum()

    def set_cancelling(self) -> None:
        self.cancel_button.setEnabled(False)
        self.stage_label.setText(self.tr("Cancelling…"))

    def finish(self, text: str, *, error: bool = False) -> None:
        """The run ended: ``text`` is its result, or why it failed or stopped."""
        self.running = False
        self.error = error
        self.progress.hide()
        self.cancel_button.hide()
        self.stage_label.clear()
        self.result_label.setText(text)
        self.result_label.setProperty("error", error)
        self.result_label.setAccessibleName(
            self.tr("Error") if error else self.tr("Result of the run")
        )
        self.result_label.show()
        self.show()
