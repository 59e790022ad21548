"""The form an app's inputs become: one field per input, with its label, limits and errors.

An input is text, long text, a choice, a number or a yes/no toggle
(core/apps/manifest.py ``InputField``). Each becomes the widget a person expects, with
the limits the manifest sets (a line edit's maximum length, a spin box's range, only the
listed choices), its default filled in, and an error line under it that stays hidden
until the app's validation (``validate_inputs``) names that input. The values read back
are what ``validate_inputs`` takes; the form itself decides nothing.

Labels and choices come from the manifest: plain text only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.apps.manifest import InputField
from llmos_desktop.ui.store import wording
from llmos_desktop.ui.widgets.fields import ComboBox, DoubleSpinBox, plain_label

MULTILINE_ROWS = 8
NUMBER_LIMIT = 1e12  # a spin box needs some range; the manifest's own is narrower


def error_palette(palette: QPalette) -> QPalette:
    """A label's palette with the error colour for its text (light and dark themes)."""
    dark = palette.color(QPalette.ColorRole.Window).lightness() < 128
    changed = QPalette(palette)
    changed.setColor(QPalette.ColorRole.WindowText, QColor("#ff8a80" if dark else "#b3261e"))
    return changed


def error_label(parent: QWidget) -> QLabel:
    """A hidden plain-text label in the error colour, for the line under a field."""
    label = QLabel(parent)
    label.setObjectName("fieldError")
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setPalette(error_palette(label.palette()))
    label.hide()
    return label


class _LimitedTextEdit(QPlainTextEdit):
    """Long text with a maximum length (QPlainTextEdit has none of its own): what is
    pasted past the limit is cut, so the value never exceeds what the app accepts."""

    def __init__(self, max_length: int | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.max_length = max_length
        self.setTabChangesFocus(True)  # Tab moves on, as in every other field of a form
        self.textChanged.connect(self._on_text_changed)

    def _on_text_changed(self) -> None:
        limit = self.max_length
        if limit is None:
            return
        text = self.toPlainText()
        if len(text) > limit:
            cursor = self.textCursor()
            position = min(cursor.position(), limit)
            with QSignalBlocker(self):
                self.setPlainText(text[:limit])
            cursor = self.textCursor()
            cursor.setPosition(position)
            self.setTextCursor(cursor)
            self.textChanged.emit()


class InputForm(QWidget):
    """The fields of ``inputs``; ``values()`` reads them, ``show_errors`` marks them."""

    values_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("appInputForm")
        self._inputs: list[InputField] = []
        self._language = "en"
        self.editors: dict[str, QWidget] = {}
        self.errors: dict[str, QLabel] = {}
        self.labels: dict[str, QLabel] = {}
        self._layout = QFormLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self._layout.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        self._layout.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        self.empty_label: QLabel | None = None

    # --- building -----------------------------------------------------------------------

    def set_inputs(self, inputs: Sequence[InputField], language: str) -> None:
        """One row per input, each filled with its default."""
        while self._layout.rowCount():
            self._layout.removeRow(0)
        self.empty_label = None
        self._inputs = list(inputs)
        self._language = language
        self.editors = {}
        self.errors = {}
        self.labels = {}
        if not self._inputs:
            self.empty_label = QLabel(self.tr("This app has no inputs."), self)
            self.empty_label.setTextFormat(Qt.TextFormat.PlainText)
            self._layout.addRow(self.empty_label)
            return
        for field in self._inputs:
            editor = self._editor(field)
            editor.setObjectName(f"input_{field.name}")
            text = wording.input_label(field, language)
            label = QLabel((text + " *") if field.required else text, self)
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setWordWrap(True)
            label.setBuddy(editor)
            spoken = plain_label(text)
            editor.setAccessibleName(spoken)
            if field.required:
                editor.setAccessibleDescription(self.tr("Required"))
                label.setToolTip(self.tr("Required"))
            error = error_label(self)
            error.setObjectName(f"inputError_{field.name}")
            cell = QWidget(self)
            column = QVBoxLayout(cell)
            column.setContentsMargins(0, 0, 0, 0)
            column.setSpacing(2)
            column.addWidget(editor)
            hint = field.display_help(language)
            if hint:
                help_label = QLabel(hint, cell)
                help_label.setTextFormat(Qt.TextFormat.PlainText)
                help_label.setWordWrap(True)
                help_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
                column.addWidget(help_label)
                editor.setToolTip(hint)
            column.addWidget(error)
            self._layout.addRow(label, cell)
            self.editors[field.name] = editor
            self.errors[field.name] = error
            self.labels[field.name] = label
        self.reset()

    def _editor(self, field: InputField) -> QWidget:
        kind = field.type
        if kind == "multiline":
            edit = _LimitedTextEdit(field.length_limit, self)
            rows = MULTILINE_ROWS
            edit.setMinimumHeight(edit.fontMetrics().lineSpacing() * rows + 12)
            edit.textChanged.connect(self.values_changed)
            return edit
        if kind == "choice":
            combo = ComboBox(self)
            for choice in field.choices:
                combo.addItem(choice.display(self._language), choice.value)
            combo.currentIndexChanged.connect(self.values_changed)
            return combo
        if kind == "number":
            spin = DoubleSpinBox(self)
            integral = field.integer
            spin.setDecimals(0 if integral else 3)
            low = float(field.min) if field.min is not None else -NUMBER_LIMIT
            high = float(field.max) if field.max is not None else NUMBER_LIMIT
            spin.setRange(low, high)
            spin.setProperty("integral", integral)
            spin.valueChanged.connect(self.values_changed)
            return spin
        if kind == "toggle":
            box = QCheckBox(self)
            box.toggled.connect(self.values_changed)
            return box
        line = QLineEdit(self)
        line.setMaxLength(field.length_limit)
        line.textChanged.connect(self.values_changed)
        return line

    # --- values -------------------------------------------------------------------------

    @property
    def inputs(self) -> list[InputField]:
        return list(self._inputs)

    def reset(self) -> None:
        """Every field back to its default (empty where it has none)."""
        self.set_values({f.name: f.default for f in self._inputs}, complete=True)

    def set_values(self, values: Mapping[str, object], *, complete: bool = False) -> None:
        """Fill the fields named in ``values`` (an example); ``complete``: the others are
        emptied too."""
        for field in self._inputs:
            if field.name not in values and not complete:
                continue
            self._set(field, values.get(field.name))
        self.clear_errors()
        self.values_changed.emit()

    def _set(self, field: InputField, value: object) -> None:
        editor = self.editors[field.name]
        with QSignalBlocker(editor):
            if isinstance(editor, QPlainTextEdit):
                editor.setPlainText("" if value is None else str(value))
            elif isinstance(editor, ComboBox):
                index = editor.findData(value) if value is not None else -1
                if index < 0 and value is not None:
                    index = editor.findText(str(value))
                editor.setCurrentIndex(index if index >= 0 else (0 if editor.count() else -1))
            elif isinstance(editor, DoubleSpinBox):
                number = value if isinstance(value, int | float) else None
                if number is None or isinstance(number, bool) or not math.isfinite(number):
                    number = max(editor.minimum(), min(0.0, editor.maximum()))
                editor.setValue(float(number))
            elif isinstance(editor, QCheckBox):
                editor.setChecked(bool(value))
            elif isinstance(editor, QLineEdit):
                editor.setText("" if value is None else str(value))

    def values(self) -> dict[str, object]:
        """What the form holds, typed as the manifest's inputs expect; an empty text is
        left out (so a required one is reported missing)."""
        values: dict[str, object] = {}
        for field in self._inputs:
            editor = self.editors[field.name]
            value: Any
            if isinstance(editor, QPlainTextEdit):
                value = editor.toPlainText()
            elif isinstance(editor, ComboBox):
                value = editor.currentData() if editor.currentIndex() >= 0 else None
            elif isinstance(editor, DoubleSpinBox):
                number = editor.value()
                value = round(number) if editor.property("integral") else number
            elif isinstance(editor, QCheckBox):
                value = editor.isChecked()
            elif isinstance(editor, QLineEdit):
                value = editor.text()
            else:  # pragma: no cover - every editor is one of the above
                continue
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            values[field.name] = value
        return values

    # --- errors -------------------------------------------------------------------------

    def show_error(self, name: str, message: str) -> bool:
        """The error under input ``name``; False when there is no such input."""
        label = self.errors.get(name)
        if label is None:
            return False
        label.setText(message)
        label.show()
        self.editors[name].setAccessibleDescription(message)
        return True

    def clear_errors(self) -> None:
        for name, label in self.errors.items():
            label.clear()
            label.hide()
            field = next((f for f in self._inputs if f.name == name), None)
            required = field is not None and field.required
            self.editors[name].setAccessibleDescription(self.tr("Required") if required else "")

    def error_text(self, name: str) -> str:
        """The error shown under input ``name`` ("" when none)."""
        label = self.errors.get(name)
        return "" if label is None or label.isHidden() else label.text()

    def focus_first(self) -> None:
        for field in self._inputs:
            self.editors[field.name].setFocus()
            return
