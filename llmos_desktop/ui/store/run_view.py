"""Running one app: its form on the left, the result on the right.

The form is built from the app's inputs (``inputs.InputForm``), with one button per
example that fills it in. Run hands the values to the StorePage, which validates them
(an error appears under the input it names), renders the prompt and streams the reply
back here:

- a **form** app's reply is Markdown, streamed into a ``MarkdownView`` (the chat's safe
  view: no raw HTML, no resources, links only on a click);
- a **structured** app's reply is JSON: it streams as text while it is written, then the
  validated result replaces it as fields or a table (``result_view``).

Stop ends the generation (the page cancels the task that reads the stream; the engine
stops within a token) and keeps what was written. Copy puts the result on the clipboard
(JSON for a structured result); Save writes it to a file the user picks, off the GUI
thread (the page does the writing).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QFont, QGuiApplication, QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.apps.manifest import AppManifest
from llmos_desktop.core.chat.markdown import MarkdownRenderer
from llmos_desktop.ui.store import wording
from llmos_desktop.ui.store.inputs import InputForm, error_palette
from llmos_desktop.ui.store.result_view import StructuredResultView
from llmos_desktop.ui.widgets.markdown_view import MarkdownView, theme_from_palette

MAX_EXAMPLE_BUTTONS = 6


class LineBreaks:
    """Keeps an app's line breaks when its answer is shown as Markdown.

    Markdown joins the lines of a paragraph; a poem, an address or a list of short lines
    from a small model would run together. So, as the text streams in, a single newline
    in prose becomes a hard break (two spaces before it); fenced and indented code,
    table rows and blank lines are left as they are. Only what is shown changes: Copy
    and Save give the model's own text.
    """

    def __init__(self) -> None:
        self._line: list[str] = []  # the current line so far
        self._fence = False

    def feed(self, text: str) -> str:
        out: list[str] = []
        start = 0
        while True:
            end = text.find("\n", start)
            if end < 0:
                self._line.append(text[start:])
                out.append(text[start:])
                return "".join(out)
            self._line.append(text[start:end])
            out.append(text[start:end])
            line = "".join(self._line)
            self._line = []
            stripped = line.strip()
            if stripped.startswith(("```", "~~~")):
                self._fence = not self._fence
                out.append("\n")
            elif (
                self._fence
                or not stripped
                or stripped.startswith("|")
                or line.startswith(("    ", "\t"))
            ):
                out.append("\n")
            else:
                out.append("  \n")
            start = end + 1


def example_summary(example: Mapping[str, object], limit: int = 80) -> str:
    """An example's values on one line, for a button's tooltip."""
    text = " · ".join(" ".join(str(v).split()) for v in example.values())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class RunView(QWidget):
    """The form, Run / Stop, the result with Copy and Save; see the module docstring."""

    back_requested = Signal()
    run_requested = Signal(dict)  # the form's values
    stop_requested = Signal()
    save_requested = Signal()
    copied = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("storeRunView")
        self.app: AppManifest | None = None
        self._running = False
        self._structured_result: Any = None
        self._text: list[str] = []  # the answer as the model wrote it
        self._breaks = LineBreaks()
        self.example_buttons: list[QPushButton] = []

        self.back_button = QPushButton(self.tr("← &Back"), self)
        self.back_button.setObjectName("runBackButton")
        self.back_button.setAccessibleName(self.tr("Back to the app's page"))
        self.back_button.setAutoDefault(False)
        self.back_shortcut = QShortcut(QKeySequence(QKeySequence.StandardKey.Back), self)
        self.back_shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.title_label = QLabel(self)
        self.title_label.setObjectName("runTitle")
        self.title_label.setTextFormat(Qt.TextFormat.PlainText)
        font = QFont(self.title_label.font())
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title_label.setFont(font)
        self.model_label = QLabel(self)
        self.model_label.setObjectName("runModel")
        self.model_label.setTextFormat(Qt.TextFormat.PlainText)
        self.model_label.setWordWrap(True)
        self.model_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        # --- the form ---
        self.examples_label = QLabel(self.tr("Examples:"), self)
        self.examples_label.setTextFormat(Qt.TextFormat.PlainText)
        self.examples_row = QHBoxLayout()
        self.examples_row.setSpacing(6)
        self.examples_row.addWidget(self.examples_label)
        self.examples_row.addStretch(1)
        self.form = InputForm(self)
        self.form_error = QLabel(self)
        self.form_error.setObjectName("runFormError")
        self.form_error.setTextFormat(Qt.TextFormat.PlainText)
        self.form_error.setWordWrap(True)
        self.form_error.setPalette(error_palette(self.form_error.palette()))
        self.form_error.hide()
        form_box = QWidget(self)
        form_layout = QVBoxLayout(form_box)
        form_layout.setContentsMargins(0, 0, 8, 0)
        form_layout.addWidget(self.form)
        form_layout.addWidget(self.form_error)
        form_layout.addStretch(1)
        self.form_scroll = QScrollArea(self)
        self.form_scroll.setObjectName("runFormScroll")
        self.form_scroll.setWidgetResizable(True)
        self.form_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.form_scroll.setWidget(form_box)
        self.run_button = QPushButton(self.tr("&Run"), self)
        self.run_button.setObjectName("runButton")
        self.run_button.setDefault(True)
        self.run_button.setToolTip(self.tr("Run the app with these inputs (Ctrl+Enter)"))
        self.stop_button = QPushButton(self.tr("&Stop"), self)
        self.stop_button.setObjectName("runStopButton")
        self.stop_button.setToolTip(self.tr("Stop writing (Esc); what was written is kept"))
        self.stop_button.setAutoDefault(False)
        self.reset_button = QPushButton(self.tr("R&eset"), self)
        self.reset_button.setObjectName("runResetButton")
        self.reset_button.setToolTip(self.tr("Every input back to its default"))
        self.reset_button.setAutoDefault(False)
        self.run_shortcut = QShortcut(QKeySequence("Ctrl+Return"), self)
        self.run_shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.stop_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        self.stop_shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)

        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.setSpacing(8)
        left_layout.addLayout(self.examples_row)
        left_layout.addWidget(self.form_scroll, 1)
        run_row = QHBoxLayout()
        run_row.addWidget(self.reset_button)
        run_row.addStretch(1)
        run_row.addWidget(self.stop_button)
        run_row.addWidget(self.run_button)
        left_layout.addLayout(run_row)

        # --- the result ---
        self.result_heading = QLabel(self.tr("Result"), self)
        self.result_heading.setTextFormat(Qt.TextFormat.PlainText)
        heading_font = QFont(self.result_heading.font())
        heading_font.setBold(True)
        self.result_heading.setFont(heading_font)
        self.status_label = QLabel(self)
        self.status_label.setObjectName("runStatus")
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setWordWrap(True)
        self._renderer = MarkdownRenderer(theme_from_palette(self.palette(), self.tr("Copy")))
        self.text_view = MarkdownView(self._renderer, parent=self)
        self.text_view.setObjectName("runResultText")
        self.text_view.setAccessibleName(self.tr("Result"))
        self.text_view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        text_box = QWidget(self)
        text_layout = QVBoxLayout(text_box)
        text_layout.setContentsMargins(8, 8, 8, 8)
        text_layout.addWidget(self.text_view)
        text_layout.addStretch(1)
        self.text_scroll = QScrollArea(self)
        self.text_scroll.setObjectName("runResultScroll")
        self.text_scroll.setWidgetResizable(True)
        self.text_scroll.setWidget(text_box)
        self.text_scroll.setBackgroundRole(QPalette.ColorRole.Base)
        self.text_scroll.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.text_scroll.setAccessibleName(self.tr("Result"))
        self.structured_view = StructuredResultView(self)
        self.structured_scroll = QScrollArea(self)
        self.structured_scroll.setObjectName("runStructuredScroll")
        self.structured_scroll.setWidgetResizable(True)
        self.structured_scroll.setWidget(self.structured_view)
        self.result_stack = QStackedWidget(self)
        self.result_stack.addWidget(self.text_scroll)
        self.result_stack.addWidget(self.structured_scroll)
        self.copy_button = QPushButton(self.tr("&Copy"), self)
        self.copy_button.setObjectName("runCopyButton")
        self.copy_button.setToolTip(self.tr("Copy the result to the clipboard"))
        self.copy_button.setAutoDefault(False)
        self.save_button = QPushButton(self.tr("Sa&ve…"), self)
        self.save_button.setObjectName("runSaveButton")
        self.save_button.setToolTip(self.tr("Save the result to a file"))
        self.save_button.setAutoDefault(False)

        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.setSpacing(6)
        result_head = QHBoxLayout()
        result_head.addWidget(self.result_heading)
        result_head.addWidget(self.status_label, 1)
        result_head.addWidget(self.copy_button)
        result_head.addWidget(self.save_button)
        right_layout.addLayout(result_head)
        right_layout.addWidget(self.result_stack, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("runSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setSizes([400, 600])

        head = QHBoxLayout()
        head.addWidget(self.back_button)
        head.addSpacing(8)
        head.addWidget(self.title_label, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addLayout(head)
        layout.addWidget(self.model_label)
        layout.addWidget(self.splitter, 1)

        self.back_button.clicked.connect(self.back_requested)
        self.back_shortcut.activated.connect(self.back_requested)
        self.run_button.clicked.connect(self._on_run_button_clicked)
        self.run_shortcut.activated.connect(self._on_run_button_clicked)
        self.stop_button.clicked.connect(self.stop_requested)
        self.stop_shortcut.activated.connect(self._on_stop_shortcut_activated)
        self.reset_button.clicked.connect(self._on_reset_button_clicked)
        self.copy_button.clicked.connect(self._on_copy_button_clicked)
        self.save_button.clicked.connect(self.save_requested)
        self._update_buttons()

    # --- public -------------------------------------------------------------------------

    def show_app(self, app: AppManifest) -> None:
        """The form of ``app``, filled with its defaults; the result emptied."""
        self.app = app
        language = wording.ui_language()
        self.title_label.setText(wording.localized_name(app, language))
        self.form.set_inputs(app.inputs, language)
        self._fill_examples(app.examples)
        self.form_error.hide()
        self.clear_result()
        self.set_status("")

    def set_model_text(self, text: str) -> None:
        self.model_label.setText(text)
        self.model_label.setVisible(bool(text))

    def _fill_examples(self, examples: Sequence[Mapping[str, object]]) -> None:
        for button in self.example_buttons:
            self.examples_row.removeWidget(button)
            button.deleteLater()
        self.example_buttons = []
        for number, example in enumerate(examples[:MAX_EXAMPLE_BUTTONS], start=1):
            button = QPushButton(self.tr("Example {n}").format(n=number), self)
            button.setObjectName("runExampleButton")
            button.setToolTip(example_summary(example))
            button.setAutoDefault(False)
            button.clicked.connect(lambda _checked=False, e=example: self.fill_example(e))
            self.examples_row.insertWidget(self.examples_row.count() - 1, button)
            self.example_buttons.append(button)
        self.examples_label.setVisible(bool(self.example_buttons))

    def fill_example(self, example: Mapping[str, object]) -> None:
        self.form.set_values(example, complete=True)
        self.form_error.hide()

    def show_input_error(self, field: str | None, message: str) -> None:
        """Under the input ``field`` names (an input name, or "inputs.NAME"), else below
        the form."""
        name = (field or "").removeprefix("inputs.").split(".")[0]
        self.form.clear_errors()
        self.form_error.hide()
        if name and self.form.show_error(name, message):
            self.form.editors[name].setFocus()
            return
        self.form_error.setText(message)
        self.form_error.show()

    def clear_errors(self) -> None:
        self.form.clear_errors()
        self.form_error.hide()

    # --- the result ---------------------------------------------------------------------

    def clear_result(self) -> None:
        self._structured_result = None
        self._text = []
        self._breaks = LineBreaks()
        self.structured_view.clear()
        self.text_view.set_text("")
        self.result_stack.setCurrentWidget(self.text_scroll)
        self._update_buttons()

    def start_result(self) -> None:
        """A run begins: the result is emptied and streams from now on."""
        self.clear_result()
        self.text_view.set_streaming(True)
        self._running = True
        self._update_buttons()

    def append_text(self, text: str) -> None:
        self._text.append(text)
        self.text_view.append_text(self._breaks.feed(text))
        bar = self.text_scroll.verticalScrollBar()
        if bar.value() >= bar.maximum() - 40:  # follow the end unless the user scrolled up
            bar.setValue(bar.maximum())
        self._update_buttons()

    def finish_result(
        self, structured: Any = None, schema: Mapping[str, Any] | None = None
    ) -> None:
        """The run ended; ``structured``: the validated result of a structured app."""
        self._running = False
        self.text_view.set_streaming(False)
        self.text_view.flush()
        if structured is not None:
            self._structured_result = structured
            self.structured_view.set_result(structured, schema)
            self.result_stack.setCurrentWidget(self.structured_scroll)
        self._update_buttons()

    def set_status(self, text: str, *, error: bool = False) -> None:
        self.status_label.setText(text)
        palette = self.palette()
        self.status_label.setPalette(error_palette(palette) if error else palette)

    @property
    def running(self) -> bool:
        return self._running

    def result_text(self) -> str:
        """What Copy and Save take: the JSON of a structured result, else the text."""
        if self._structured_result is not None:
            return json.dumps(self._structured_result, ensure_ascii=False, indent=2) + "\n"
        return self.text()

    def text(self) -> str:
        """The answer's text as the model wrote it (a structured app's: its JSON text)."""
        if len(self._text) > 1:
            self._text = ["".join(self._text)]
        return self._text[0] if self._text else ""

    def result_is_structured(self) -> bool:
        return self._structured_result is not None

    # --- slots --------------------------------------------------------------------------

    def _update_buttons(self) -> None:
        has_result = bool(self.result_text().strip())
        self.run_button.setEnabled(self.app is not None and not self._running)
        self.stop_button.setEnabled(self._running)
        self.reset_button.setEnabled(not self._running)
        for button in self.example_buttons:
            button.setEnabled(not self._running)
        self.copy_button.setEnabled(has_result)
        self.save_button.setEnabled(has_result and not self._running)

    def _on_run_button_clicked(self) -> None:
        if self.app is None or self._running:
            return
        self.clear_errors()
        self.run_requested.emit(self.form.values())

    def _on_stop_shortcut_activated(self) -> None:
        if self._running:
            self.stop_requested.emit()

    def _on_reset_button_clicked(self) -> None:
        self.form.reset()

    def _on_copy_button_clicked(self) -> None:
        text = self.result_text()
        if text:
            QGuiApplication.clipboard().setText(text)
            self.copied.emit()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "text_view"):
            self._renderer = MarkdownRenderer(theme_from_palette(self.palette(), self.tr("Copy")))
            self.text_view.set_renderer(self._renderer)
