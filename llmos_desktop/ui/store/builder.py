"""Build an app without writing its file: a form for the manifest, a live preview.

The builder edits a *draft* (a plain dict, ``draft()``) with one widget per manifest
field: names and descriptions in English and Simplified Chinese, category, mode, author,
version, licence, the system prompt and the prompt template, the inputs (a list, with an
editor for the selected one), the output schema of a structured app, the sampling and
stop strings, and a recommended model. "Save chat as app" and "Edit a copy" open it with
a draft filled in (``load_draft``); fields the form does not show (an icon, notes on the
models it was tried with, further examples) are kept as they came.

After each change (gathered for ``PREVIEW_DELAY_MS``) the draft is checked the way an
installed app is, off the GUI thread (the ``check`` coroutine the page gives:
``parse_manifest``, then ``validate_inputs`` and ``render_prompt`` in the template
sandbox, with its time and size bounds):

- a refused draft shows the message under the field it names (``AppError.field``, a
  dotted path such as ``inputs.1.choices`` or ``localized.zh_CN.name``), and the input
  it names is selected in the inputs list;
- an accepted one rebuilds the preview form (its inputs, keeping the values typed) and
  shows the prompt the model would get for the preview's values.

Save installs the draft (an app with the same id is replaced, as an update); Export
writes a ``.llmapp`` file. Both are refused while the draft has an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import shiboken6
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.apps.manifest import (
    APP_FORMAT_VERSION,
    AppError,
    AppManifest,
    InputField,
)
from llmos_desktop.ui.store import wording
from llmos_desktop.ui.store.icons import decode_icon
from llmos_desktop.ui.store.inputs import InputForm, error_label
from llmos_desktop.ui.widgets.fields import ComboBox, DoubleSpinBox, SpinBox, plain_label

PREVIEW_DELAY_MS = 250
INPUT_TYPES = ("text", "multiline", "choice", "number", "toggle")
MODES = ("form", "structured", "chat")

RunBlocking = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class DraftCheck:
    """What one check of a draft found (``check_draft``)."""

    app: AppManifest | None  # the draft as an app, when it is valid
    problems: list[tuple[str, str]]  # (field, message) for each field at fault
    inputs: list[InputField]  # the draft's inputs that are valid on their own
    prompt: str | None  # the prompt the preview's values give (None: it did not render)
    prompt_error: str | None


def check_draft(draft: Mapping[str, Any], values: Mapping[str, object]) -> DraftCheck:
    """Check ``draft`` as an installed app is checked, and render its prompt for the
    preview's ``values``. Blocking (the template renders in the sandbox, bounded in
    time), so it runs off the GUI thread.

    The prompt renders even while other fields are wrong (a missing Chinese name does
    not stop the preview): the template alone, over the inputs that are valid.
    """
    from pydantic import ValidationError

    from llmos_desktop.core.apps.manifest import parse_manifest
    from llmos_desktop.core.apps.render import render_source

    app: AppManifest | None = None
    problems: list[tuple[str, str]] = []
    try:
        app = parse_manifest(draft)
    except AppError as exc:
        problems = list(exc.problems)
    inputs: list[InputField] = []
    names: set[str] = set()
    raw_inputs = draft.get("inputs")
    for item in raw_inputs if isinstance(raw_inputs, list) else []:
        try:
            field = InputField.model_validate(item)
        except ValidationError:
            continue
        if field.name not in names:
            names.add(field.name)
            inputs.append(field)
    variables: dict[str, object] = {}
    for field in inputs:
        value = values.get(field.name, field.default)
        if value is None:
            value = False if field.type == "toggle" else None if field.type == "number" else ""
        variables[field.name] = value
    prompt: str | None = None
    prompt_error: str | None = None
    template = draft.get("prompt_template")
    if isinstance(template, str):
        try:
            prompt = render_source(template, variables)
        except AppError as exc:
            prompt_error = exc.message
    return DraftCheck(app, problems, inputs, prompt, prompt_error)


def manifest_categories() -> list[str]:
    """The categories the manifest allows (its ``category`` Literal), in its order."""
    annotation = AppManifest.model_fields["category"].annotation
    values = [str(v) for v in typing.get_args(annotation) if isinstance(v, str)]
    return values or ["other"]


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _split_list(text: str) -> list[str]:
    return [part.strip() for part in text.replace("，", ",").split(",") if part.strip()]


def _number(text: str) -> int | float | None:
    """A number as typed ("" is None); ValueError when it is not one."""
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return value


def _flag(text: str) -> bool | None:
    lowered = text.strip().casefold()
    if not lowered:
        return None
    if lowered in ("true", "yes", "y", "1", "on", "是", "开"):
        return True
    if lowered in ("false", "no", "n", "0", "off", "否", "关"):
        return False
    raise ValueError(text)


def _user_name() -> str:
    """The author a new app starts with: the account's name, when it is plain."""
    import getpass

    try:
        name = getpass.getuser().strip()
    except Exception:  # no user name in the environment or the password database
        name = ""
    return name if name.isprintable() and name and len(name) <= 80 and "<" not in name else "me"


class DraftError(Exception):
    """A value the form itself cannot read (not a number, not JSON), at ``field``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _field_row(form: QFormLayout, label_text: str, editor: QWidget, parent: QWidget) -> QLabel:
    """A labelled row with an error line under the editor; the error label."""
    label = QLabel(label_text, parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setBuddy(editor)
    editor.setAccessibleName(plain_label(label_text))
    cell = QWidget(parent)
    column = QVBoxLayout(cell)
    column.setContentsMargins(0, 0, 0, 0)
    column.setSpacing(2)
    column.addWidget(editor)
    error = error_label(cell)  # its parent is the row's field: setRowVisible takes it
    column.addWidget(error)
    form.addRow(label, cell)
    return error


class InputsEditor(QWidget):
    """The app's inputs: a list of names, and the selected input's fields under it."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.inputs: list[dict[str, Any]] = []
        self._problems: list[tuple[list[str], str]] = []
        self.list = QListWidget(self)
        self.list.setObjectName("builderInputList")
        self.list.setAccessibleName(self.tr("Inputs"))
        self.list.setMaximumHeight(120)
        self.add_button = QPushButton(self.tr("&Add input"), self)
        self.add_button.setObjectName("builderAddInput")
        self.add_button.setAutoDefault(False)
        self.remove_button = QPushButton(self.tr("Remove input"), self)
        self.remove_button.setObjectName("builderRemoveInput")
        self.remove_button.setAutoDefault(False)
        self.list_error = error_label(self)

        self.detail = QWidget(self)
        form = QFormLayout(self.detail)
        form.setContentsMargins(0, 4, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.name_edit = QLineEdit(self.detail)
        self.name_edit.setObjectName("builderInputName")
        self.name_edit.setPlaceholderText(self.tr("used in the template: {{ name }}"))
        self.type_combo = ComboBox(self.detail)
        self.type_combo.setObjectName("builderInputType")
        for kind in INPUT_TYPES:
            self.type_combo.addItem(wording.input_type_text(kind), kind)
        self.label_edit = QLineEdit(self.detail)
        self.label_edit.setObjectName("builderInputLabel")
        self.label_zh_edit = QLineEdit(self.detail)
        self.label_zh_edit.setObjectName("builderInputLabelZh")
        self.required_box = QCheckBox(self.tr("The app cannot run without it"), self.detail)
        self.required_box.setObjectName("builderInputRequired")
        self.default_edit = QLineEdit(self.detail)
        self.default_edit.setObjectName("builderInputDefault")
        self.choices_edit = QLineEdit(self.detail)
        self.choices_edit.setObjectName("builderInputChoices")
        self.choices_edit.setPlaceholderText(self.tr("comma separated: short, medium, long"))
        self.min_edit = QLineEdit(self.detail)
        self.min_edit.setObjectName("builderInputMin")
        self.max_edit = QLineEdit(self.detail)
        self.max_edit.setObjectName("builderInputMax")
        self.max_length_edit = QLineEdit(self.detail)
        self.max_length_edit.setObjectName("builderInputMaxLength")
        self.integer_box = QCheckBox(self.tr("Whole numbers only"), self.detail)
        self.integer_box.setObjectName("builderInputInteger")
        self.errors: dict[str, QLabel] = {
            "name": _field_row(form, self.tr("Name:"), self.name_edit, self.detail),
            "type": _field_row(form, self.tr("Kind:"), self.type_combo, self.detail),
            "label": _field_row(form, self.tr("Label (English):"), self.label_edit, self.detail),
            "label.zh_CN": _field_row(
                form, self.tr("Label (Chinese):"), self.label_zh_edit, self.detail
            ),
            "required": _field_row(form, self.tr("Required:"), self.required_box, self.detail),
            "default": _field_row(form, self.tr("Default:"), self.default_edit, self.detail),
            "choices": _field_row(form, self.tr("Choices:"), self.choices_edit, self.detail),
            "min": _field_row(form, self.tr("Minimum:"), self.min_edit, self.detail),
            "max": _field_row(form, self.tr("Maximum:"), self.max_edit, self.detail),
            "integer": _field_row(form, self.tr("Integer:"), self.integer_box, self.detail),
            "max_length": _field_row(
                form, self.tr("Longest text:"), self.max_length_edit, self.detail
            ),
        }
        self._rows = {
            "choices": self.choices_edit,
            "min": self.min_edit,
            "max": self.max_edit,
            "integer": self.integer_box,
            "max_length": self.max_length_edit,
        }
        self._form = form

        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addWidget(self.list_error)
        layout.addLayout(buttons)
        layout.addWidget(self.detail)

        self.list.currentRowChanged.connect(self._on_list_current_row_changed)
        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        for edit in (
            self.name_edit,
            self.label_edit,
            self.label_zh_edit,
            self.default_edit,
            self.choices_edit,
            self.min_edit,
            self.max_edit,
            self.max_length_edit,
        ):
            edit.textEdited.connect(self._on_detail_edited)
        self.type_combo.currentIndexChanged.connect(self._on_detail_edited)
        self.required_box.toggled.connect(self._on_detail_edited)
        self.integer_box.toggled.connect(self._on_detail_edited)
        self._show_selected()

    # --- the list -----------------------------------------------------------------------

    def set_inputs(self, inputs: list[dict[str, Any]]) -> None:
        self.inputs = [dict(i) for i in inputs]
        self._problems = []
        self._refill_list(0 if self.inputs else -1)

    def _refill_list(self, select: int) -> None:
        with QSignalBlocker(self.list):
            self.list.clear()
            for item in self.inputs:
                self.list.addItem(self._list_text(item))
            self.list.setCurrentRow(select)
        self._show_selected()

    def _list_text(self, item: Mapping[str, Any]) -> str:
        name = str(item.get("name") or "") or self.tr("(no name)")
        return f"{name} — {wording.input_type_text(str(item.get('type', 'text')))}"

    def select(self, index: int) -> None:
        if 0 <= index < len(self.inputs):
            self.list.setCurrentRow(index)

    def _on_list_current_row_changed(self, _row: int) -> None:
        self._show_selected()

    def _on_add_button_clicked(self) -> None:
        taken = {str(i.get("name")) for i in self.inputs}
        number = len(self.inputs) + 1
        while f"input_{number}" in taken:
            number += 1
        self.inputs.append(
            {
                "name": f"input_{number}",
                "type": "text",
                "label": {"en": self.tr("Input {n}").format(n=number)},
                "required": False,
            }
        )
        self._problems = []
        self._refill_list(len(self.inputs) - 1)
        self.name_edit.setFocus()
        self.name_edit.selectAll()
        self.changed.emit()

    def _on_remove_button_clicked(self) -> None:
        row = self.list.currentRow()
        if 0 <= row < len(self.inputs):
            del self.inputs[row]
            self._problems = []
            self._refill_list(min(row, len(self.inputs) - 1))
            self.changed.emit()

    # --- the selected input -------------------------------------------------------------

    def _show_selected(self, *, keep_problems: bool = True) -> None:
        row = self.list.currentRow()
        item = self.inputs[row] if 0 <= row < len(self.inputs) else None
        self.detail.setEnabled(item is not None)
        self.remove_button.setEnabled(item is not None)
        editors: list[QWidget] = [
            self.name_edit,
            self.label_edit,
            self.label_zh_edit,
            self.default_edit,
            self.choices_edit,
            self.min_edit,
            self.max_edit,
            self.max_length_edit,
            self.type_combo,
            self.required_box,
            self.integer_box,
        ]
        blockers = [QSignalBlocker(e) for e in editors]
        try:
            if item is None:
                for edit in editors:
                    if isinstance(edit, QLineEdit):
                        edit.clear()
                return
            labels = _mapping(item.get("label"))
            self.name_edit.setText(str(item.get("name") or ""))
            index = self.type_combo.findData(item.get("type", "text"))
            self.type_combo.setCurrentIndex(max(0, index))
            self.label_edit.setText(str(labels.get("en", "")))
            self.label_zh_edit.setText(str(labels.get("zh_CN", "")))
            self.required_box.setChecked(bool(item.get("required")))
            default = item.get("_default", item.get("default"))
            if isinstance(default, bool):
                self.default_edit.setText("true" if default else "false")
            else:
                self.default_edit.setText("" if default is None else str(default))
            if "_choices" in item:
                self.choices_edit.setText(str(item["_choices"]))
            else:
                choices = item.get("choices") or []
                self.choices_edit.setText(
                    ", ".join(
                        str(c.get("value")) if isinstance(c, Mapping) else str(c) for c in choices
                    )
                )
            self.integer_box.setChecked(bool(item.get("integer")))
            for key, edit in (
                ("min", self.min_edit),
                ("max", self.max_edit),
                ("max_length", self.max_length_edit),
            ):
                value = item.get("_" + key, item.get(key))
                edit.setText("" if value is None else str(value))
        finally:
            del blockers
        self._show_rows_for(str(item.get("type", "text")) if item is not None else "text")
        if keep_problems:
            self._apply_problems()

    def _show_rows_for(self, kind: str) -> None:
        shown = {
            "choices": kind == "choice",
            "min": kind == "number",
            "max": kind == "number",
            "integer": kind == "number",
            "max_length": kind in ("text", "multiline"),
        }
        for key, visible in shown.items():
            cell = self.errors[key].parentWidget()
            if cell is not None:
                self._form.setRowVisible(cell, visible)

    def _on_detail_edited(self, *_args: object) -> None:
        row = self.list.currentRow()
        if not 0 <= row < len(self.inputs):
            return
        kind = str(self.type_combo.currentData())
        before = self.inputs[row]
        # What the editor does not show (help texts, choice labels) is kept.
        item: dict[str, Any] = {k: v for k, v in before.items() if k in ("help", "_choice_labels")}
        if "_choice_labels" not in item:
            item["_choice_labels"] = {
                str(c.get("value")): c.get("label")
                for c in before.get("choices") or []
                if isinstance(c, Mapping) and c.get("label")
            }
        labels = dict(before.get("label") or {})
        labels["en"] = self.label_edit.text().strip()
        if self.label_zh_edit.text().strip():
            labels["zh_CN"] = self.label_zh_edit.text().strip()
        else:
            labels.pop("zh_CN", None)
        item.update(
            {
                "name": self.name_edit.text().strip(),
                "type": kind,
                "label": labels,
                "required": self.required_box.isChecked(),
                "integer": self.integer_box.isChecked(),
                # Raw text until values() reads it: a half-typed number is no error yet.
                "_default": self.default_edit.text(),
                "_choices": self.choices_edit.text(),
                "_min": self.min_edit.text(),
                "_max": self.max_edit.text(),
                "_max_length": self.max_length_edit.text(),
            }
        )
        self.inputs[row] = item
        self.list.item(row).setText(self._list_text(item))
        self._show_rows_for(kind)
        self.changed.emit()

    # --- reading ------------------------------------------------------------------------

    def values(self) -> list[dict[str, Any]]:
        """The inputs as the manifest writes them; DraftError names a value that is not
        one (``inputs.N.field``)."""
        result: list[dict[str, Any]] = []
        for index, item in enumerate(self.inputs):
            result.append(self._value(index, item))
        return result

    def _value(self, index: int, item: Mapping[str, Any]) -> dict[str, Any]:
        kind = str(item.get("type", "text"))
        out: dict[str, Any] = {
            "name": item.get("name", ""),
            "type": kind,
            "label": dict(item.get("label") or {}),
            "required": bool(item.get("required")),
        }
        if item.get("help"):
            out["help"] = item["help"]
        if "_default" not in item:  # as loaded: already typed
            for key in ("default", "choices", "min", "max", "max_length", "integer"):
                if item.get(key) is not None:
                    out[key] = item[key]
            return out
        raw = {key[1:]: value for key, value in item.items() if key.startswith("_")}
        if kind == "number" and item.get("integer"):
            out["integer"] = True
        where = f"inputs.{index}"
        default: str | bool | float | None
        try:
            default_text = str(raw.get("default", ""))
            if kind == "number":
                default = _number(default_text)
            elif kind == "toggle":
                default = _flag(default_text)
            else:
                default = default_text if default_text else None
        except ValueError:
            raise DraftError(
                f"{where}.default",
                self.tr("Not a number.") if kind == "number" else self.tr("Write yes or no."),
            ) from None
        if default is not None:
            out["default"] = default
        if kind == "choice":
            labels = item.get("_choice_labels") or {}
            out["choices"] = [
                {"value": value, **({"label": labels[value]} if labels.get(value) else {})}
                for value in _split_list(str(raw.get("choices", "")))
            ]
        if kind == "number":
            for key in ("min", "max"):
                try:
                    number = _number(str(raw.get(key, "")))
                except ValueError:
                    raise DraftError(f"{where}.{key}", self.tr("Not a number.")) from None
                if number is not None:
                    out[key] = number
        if kind in ("text", "multiline"):
            try:
                length = _number(str(raw.get("max_length", "")))
            except ValueError:
                length = -1
            if length is not None:
                if not isinstance(length, int) or length < 1:
                    raise DraftError(f"{where}.max_length", self.tr("A whole number above 0."))
                out["max_length"] = length
        return out

    # --- errors -------------------------------------------------------------------------

    def clear_errors(self) -> None:
        self._problems = []
        self._hide_errors()

    def _hide_errors(self) -> None:
        for label in (*self.errors.values(), self.list_error):
            label.clear()
            label.hide()

    def show_errors(self, problems: list[tuple[list[str], str]]) -> None:
        """Problems of the inputs; each ``path`` is what follows "inputs" in the field
        (the input's index, then its field). The first input at fault is selected and
        each of its errors shown next to its field; the others are listed under the list.
        """
        self._problems = list(problems)
        indices = [int(p[0]) for p, _ in problems if p and p[0].isdigit()]
        first = next((i for i in indices if i < len(self.inputs)), None)
        if first is not None and first != self.list.currentRow():
            with QSignalBlocker(self.list):
                self.list.setCurrentRow(first)
            self._show_selected(keep_problems=True)
        self._apply_problems()

    def _apply_problems(self) -> None:
        self._hide_errors()
        row = self.list.currentRow()
        others: list[str] = []
        for path, message in self._problems:
            if path and path[0].isdigit() and int(path[0]) == row and len(path) > 1:
                label = self.errors.get(".".join(path[1:3])) or self.errors.get(path[1])
                if label is not None:
                    label.setText(message)
                    label.show()
                    continue
            if path and path[0].isdigit() and int(path[0]) < len(self.inputs):
                name = str(self.inputs[int(path[0])].get("name") or "") or path[0]
                field = ".".join(path[1:])
                others.append(f"{name}{'.' + field if field else ''}: {message}")
            else:
                others.append(message)
        if others:
            self.list_error.setText("\n".join(others))
            self.list_error.show()

    def error_text(self) -> str:
        """Every error shown in the inputs editor, joined (tests read it)."""
        return "\n".join(
            label.text() for label in (*self.errors.values(), self.list_error) if label.isVisible()
        )


class BuilderView(QWidget):
    """The draft's form, the preview, Save and Export; see the module docstring."""

    save_requested = Signal(object)  # AppManifest
    icon_requested = Signal()  # "Choose…": the page asks for a PNG file (set_icon)
    export_requested = Signal(object)  # AppManifest
    checked = Signal()  # a check of the draft finished (the preview or an error is shown)

    def __init__(self, run_blocking: RunBlocking, parent: QWidget | None = None) -> None:
        """``run_blocking(func, *args)``: runs ``func`` off the GUI thread (the page's
        ServiceBridge.call)."""
        super().__init__(parent)
        self.setObjectName("storeBuilder")
        self._run_blocking = run_blocking
        self._extra: dict[str, Any] = {}
        self._app: AppManifest | None = None
        self._preview_inputs: list[dict[str, Any]] | None = None
        self._pending_example: Mapping[str, Any] | None = None
        self._icon_error: str | None = None
        self._generation = 0
        self._check_task: asyncio.Task[None] | None = None
        self.error_field: str | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self._on_timer_timeout)

        # --- about the app ---
        about = QGroupBox(self.tr("About the app"), self)
        about_form = QFormLayout(about)
        about_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.name_edit = QLineEdit(about)
        self.name_edit.setObjectName("builderName")
        self.name_zh_edit = QLineEdit(about)
        self.name_zh_edit.setObjectName("builderNameZh")
        self.description_edit = QPlainTextEdit(about)
        self.description_edit.setObjectName("builderDescription")
        self.description_edit.setTabChangesFocus(True)
        self.description_edit.setFixedHeight(self.fontMetrics().lineSpacing() * 3 + 14)
        self.description_zh_edit = QPlainTextEdit(about)
        self.description_zh_edit.setObjectName("builderDescriptionZh")
        self.description_zh_edit.setTabChangesFocus(True)
        self.description_zh_edit.setFixedHeight(self.fontMetrics().lineSpacing() * 3 + 14)
        self.id_edit = QLineEdit(about)
        self.id_edit.setObjectName("builderId")
        self.id_edit.setPlaceholderText(self.tr("org.example.my-app"))
        self.category_combo = ComboBox(about)
        self.category_combo.setObjectName("builderCategory")
        for category in manifest_categories():
            self.category_combo.addItem(wording.category_text(category), category)
        self.mode_combo = ComboBox(about)
        self.mode_combo.setObjectName("builderMode")
        for mode in MODES:
            self.mode_combo.addItem(wording.mode_text(mode), mode)
        self.author_edit = QLineEdit(about)
        self.author_edit.setObjectName("builderAuthor")
        self.version_edit = QLineEdit(about)
        self.version_edit.setObjectName("builderVersion")
        self.licence_edit = QLineEdit(about)
        self.licence_edit.setObjectName("builderLicence")
        self.tags_edit = QLineEdit(about)
        self.tags_edit.setObjectName("builderTags")
        self.tags_edit.setPlaceholderText(self.tr("comma separated"))
        icon_row = QWidget(about)
        icon_layout = QHBoxLayout(icon_row)
        icon_layout.setContentsMargins(0, 0, 0, 0)
        self.icon_preview = QLabel(icon_row)
        self.icon_preview.setObjectName("builderIconPreview")
        self.icon_preview.setFixedSize(32, 32)
        self.icon_button = QPushButton(self.tr("C&hoose…"), icon_row)
        self.icon_button.setObjectName("builderIconButton")
        self.icon_button.setToolTip(self.tr("A PNG of at most 256 × 256 pixels and 64 KiB"))
        self.icon_button.setAutoDefault(False)
        self.icon_clear_button = QPushButton(self.tr("No icon"), icon_row)
        self.icon_clear_button.setObjectName("builderIconClearButton")
        self.icon_clear_button.setAutoDefault(False)
        icon_layout.addWidget(self.icon_preview)
        icon_layout.addWidget(self.icon_button)
        icon_layout.addWidget(self.icon_clear_button)
        icon_layout.addStretch(1)
        self.errors: dict[str, QLabel] = {
            "name": _field_row(about_form, self.tr("&Name (English):"), self.name_edit, about),
            "localized.zh_CN.name": _field_row(
                about_form, self.tr("Name (Chinese):"), self.name_zh_edit, about
            ),
            "description": _field_row(
                about_form, self.tr("&Description (English):"), self.description_edit, about
            ),
            "localized.zh_CN.description": _field_row(
                about_form, self.tr("Description (Chinese):"), self.description_zh_edit, about
            ),
            "id": _field_row(about_form, self.tr("&Id:"), self.id_edit, about),
            "category": _field_row(about_form, self.tr("Category:"), self.category_combo, about),
            "mode": _field_row(about_form, self.tr("&Mode:"), self.mode_combo, about),
            "author": _field_row(about_form, self.tr("Author:"), self.author_edit, about),
            "version": _field_row(about_form, self.tr("Version:"), self.version_edit, about),
            "licence": _field_row(about_form, self.tr("Licence:"), self.licence_edit, about),
            "tags": _field_row(about_form, self.tr("Tags:"), self.tags_edit, about),
            "icon": _field_row(about_form, self.tr("Icon:"), icon_row, about),
        }

        # --- the prompt ---
        prompt = QGroupBox(self.tr("Prompt"), self)
        prompt_form = QFormLayout(prompt)
        prompt_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.system_edit = QPlainTextEdit(prompt)
        self.system_edit.setObjectName("builderSystemPrompt")
        self.system_edit.setTabChangesFocus(True)
        self.system_edit.setFixedHeight(self.fontMetrics().lineSpacing() * 4 + 14)
        self.template_edit = QPlainTextEdit(prompt)
        self.template_edit.setObjectName("builderTemplate")
        self.template_edit.setTabChangesFocus(True)
        self.template_edit.setFont(mono)
        self.template_edit.setMinimumHeight(self.fontMetrics().lineSpacing() * 6 + 14)
        self.template_edit.setPlaceholderText(
            self.tr("Translate into {{ language }}:\n\n{{ text }}")
        )
        self.temperature_spin = DoubleSpinBox(prompt)
        self.temperature_spin.setObjectName("builderTemperature")
        self.temperature_spin.setRange(0.0, 2.0)
        self.temperature_spin.setSingleStep(0.1)
        self.temperature_spin.setDecimals(2)
        self.max_tokens_spin = SpinBox(prompt)
        self.max_tokens_spin.setObjectName("builderMaxTokens")
        self.max_tokens_spin.setRange(1, 32_768)
        self.stop_edit = QLineEdit(prompt)
        self.stop_edit.setObjectName("builderStop")
        self.stop_edit.setPlaceholderText(self.tr("comma separated; empty: none"))
        self.errors.update(
            {
                "system_prompt": _field_row(
                    prompt_form, self.tr("&System prompt:"), self.system_edit, prompt
                ),
                "prompt_template": _field_row(
                    prompt_form, self.tr("&Template:"), self.template_edit, prompt
                ),
                "sampling.temperature": _field_row(
                    prompt_form, self.tr("Temperature:"), self.temperature_spin, prompt
                ),
                "sampling.max_tokens": _field_row(
                    prompt_form, self.tr("Longest answer (tokens):"), self.max_tokens_spin, prompt
                ),
                "stop": _field_row(prompt_form, self.tr("Stop at:"), self.stop_edit, prompt),
            }
        )
        self.sampling_error = self.errors["sampling.temperature"]

        # --- the inputs ---
        inputs_box = QGroupBox(self.tr("Inputs"), self)
        inputs_layout = QVBoxLayout(inputs_box)
        self.inputs_editor = InputsEditor(inputs_box)
        inputs_layout.addWidget(self.inputs_editor)

        # --- output and model ---
        output = QGroupBox(self.tr("Output and model"), self)
        output_form = QFormLayout(output)
        output_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.schema_edit = QPlainTextEdit(output)
        self.schema_edit.setObjectName("builderSchema")
        self.schema_edit.setTabChangesFocus(True)
        self.schema_edit.setFont(mono)
        self.schema_edit.setMinimumHeight(self.fontMetrics().lineSpacing() * 6 + 14)
        self.schema_edit.setPlaceholderText(self.tr('{"type": "object", "properties": {…}}'))
        self.model_repo_edit = QLineEdit(output)
        self.model_repo_edit.setObjectName("builderModelRepo")
        self.model_repo_edit.setPlaceholderText(self.tr("owner/name-GGUF"))
        self.model_file_edit = QLineEdit(output)
        self.model_file_edit.setObjectName("builderModelFile")
        self.model_context_spin = SpinBox(output)
        self.model_context_spin.setObjectName("builderModelContext")
        self.model_context_spin.setRange(0, 1_048_576)
        self.model_context_spin.setSingleStep(512)
        self.errors.update(
            {
                "output_schema": _field_row(
                    output_form, self.tr("Output &schema (JSON):"), self.schema_edit, output
                ),
                "recommended_models.0.repo_id": _field_row(
                    output_form, self.tr("Recommended model:"), self.model_repo_edit, output
                ),
                "recommended_models.0.file": _field_row(
                    output_form, self.tr("Its file:"), self.model_file_edit, output
                ),
                "recommended_models.0.min_context": _field_row(
                    output_form, self.tr("Context it needs:"), self.model_context_spin, output
                ),
            }
        )
        self._schema_row = self.errors["output_schema"].parentWidget()
        self._output_form = output_form

        form_body = QWidget(self)
        form_layout = QVBoxLayout(form_body)
        form_layout.setContentsMargins(0, 0, 8, 0)
        self.general_error = error_label(form_body)
        self.general_error.setObjectName("builderError")
        form_layout.addWidget(self.general_error)
        for box in (about, prompt, inputs_box, output):
            form_layout.addWidget(box)
        form_layout.addStretch(1)
        self.form_scroll = QScrollArea(self)
        self.form_scroll.setObjectName("builderFormScroll")
        self.form_scroll.setWidgetResizable(True)
        self.form_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.form_scroll.setWidget(form_body)

        # --- the preview ---
        preview = QWidget(self)
        preview_layout = QVBoxLayout(preview)
        preview_layout.setContentsMargins(8, 0, 0, 0)
        heading = QLabel(self.tr("Preview"), preview)
        heading.setTextFormat(Qt.TextFormat.PlainText)
        bold = QFont(heading.font())
        bold.setBold(True)
        heading.setFont(bold)
        hint = QLabel(self.tr("Try values here; the prompt below is what the model gets."), preview)
        hint.setTextFormat(Qt.TextFormat.PlainText)
        hint.setWordWrap(True)
        self.preview_form = InputForm(preview)
        self.keep_example_box = QCheckBox(
            self.tr("Keep these values as the app's example"), preview
        )
        self.keep_example_box.setObjectName("builderKeepExample")
        self.keep_example_box.setChecked(True)
        self.preview_text = QPlainTextEdit(preview)
        self.preview_text.setObjectName("builderPreview")
        self.preview_text.setReadOnly(True)
        self.preview_text.setFont(mono)
        self.preview_text.setAccessibleName(self.tr("Rendered prompt"))
        self.preview_status = QLabel(preview)
        self.preview_status.setObjectName("builderPreviewStatus")
        self.preview_status.setTextFormat(Qt.TextFormat.PlainText)
        self.preview_status.setWordWrap(True)
        preview_layout.addWidget(heading)
        preview_layout.addWidget(hint)
        preview_layout.addWidget(self.preview_form)
        preview_layout.addWidget(self.keep_example_box)
        preview_layout.addWidget(self.preview_status)
        preview_layout.addWidget(self.preview_text, 1)

        self.new_button = QPushButton(self.tr("&New app"), self)
        self.new_button.setObjectName("builderNewButton")
        self.new_button.setAutoDefault(False)
        self.export_button = QPushButton(self.tr("E&xport .llmapp…"), self)
        self.export_button.setObjectName("builderExportButton")
        self.export_button.setAutoDefault(False)
        self.save_button = QPushButton(self.tr("&Save and install"), self)
        self.save_button.setObjectName("builderSaveButton")
        self.save_button.setAutoDefault(False)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("builderSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.form_scroll)
        self.splitter.addWidget(preview)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        buttons = QHBoxLayout()
        buttons.addWidget(self.new_button)
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter, 1)
        layout.addLayout(buttons)

        for line in (
            self.name_edit,
            self.name_zh_edit,
            self.id_edit,
            self.author_edit,
            self.version_edit,
            self.licence_edit,
            self.tags_edit,
            self.stop_edit,
            self.model_repo_edit,
            self.model_file_edit,
        ):
            line.textEdited.connect(self._on_form_changed)
        for text in (
            self.description_edit,
            self.description_zh_edit,
            self.system_edit,
            self.template_edit,
            self.schema_edit,
        ):
            text.textChanged.connect(self._on_form_changed)
        self.category_combo.currentIndexChanged.connect(self._on_form_changed)
        self.mode_combo.currentIndexChanged.connect(self._on_form_changed)
        self.temperature_spin.valueChanged.connect(self._on_form_changed)
        self.max_tokens_spin.valueChanged.connect(self._on_form_changed)
        self.model_context_spin.valueChanged.connect(self._on_form_changed)
        self.inputs_editor.changed.connect(self._on_form_changed)
        self.preview_form.values_changed.connect(self._on_form_changed)
        self.new_button.clicked.connect(self._on_new_button_clicked)
        self.icon_button.clicked.connect(self.icon_requested)
        self.icon_clear_button.clicked.connect(lambda: self.set_icon(None))
        self.save_button.clicked.connect(self._on_save_button_clicked)
        self.export_button.clicked.connect(self._on_export_button_clicked)
        self.load_draft(self.blank_draft())

    # --- the draft ----------------------------------------------------------------------

    def blank_draft(self) -> dict[str, Any]:
        """What "New app" starts from: one text input and a template that uses it; valid
        as it is, so the preview shows at once."""
        name = self.tr("My app")
        description = self.tr("Describe what the app does.")
        return {
            "format_version": APP_FORMAT_VERSION,
            "id": "my-app",
            "name": name,
            "version": "1.0.0",
            "author": _user_name(),
            "description": description,
            "category": "other" if "other" in manifest_categories() else manifest_categories()[0],
            "tags": [],
            "localized": {
                "en": {"name": name, "description": description},
                "zh_CN": {"name": name, "description": description},
            },
            "mode": "form",
            "inputs": [
                {
                    "name": "text",
                    "type": "multiline",
                    "label": {"en": self.tr("Text")},
                    "required": True,
                }
            ],
            "prompt_template": "{{ text }}",
            "system_prompt": "",
            "sampling": {"temperature": 0.7, "max_tokens": 512},
            "stop": [],
            "output_schema": None,
            "examples": [],
            "recommended_models": [],
            "licence": "CC0-1.0",
            "works_well_with": [],
        }

    def load_draft(self, draft: Mapping[str, Any] | AppManifest) -> None:
        """Fill the form from ``draft`` (a manifest, or a dict of its fields)."""
        data: dict[str, Any] = (
            draft.model_dump(mode="json") if isinstance(draft, AppManifest) else dict(draft)
        )
        shown = {
            "format_version",
            "id",
            "name",
            "version",
            "author",
            "description",
            "category",
            "tags",
            "localized",
            "mode",
            "inputs",
            "prompt_template",
            "system_prompt",
            "stop",
            "output_schema",
            "licence",
        }
        self._extra = {k: v for k, v in data.items() if k not in shown}
        self._icon_error = None
        self._show_icon()
        localized = _mapping(data.get("localized"))
        zh = _mapping(localized.get("zh_CN"))
        en = _mapping(localized.get("en"))
        sampling = _mapping(data.get("sampling"))
        models = data.get("recommended_models") or []
        model = _mapping(models[0] if models else None)
        schema = data.get("output_schema")
        widgets: list[QWidget] = [
            self.name_edit,
            self.name_zh_edit,
            self.description_edit,
            self.description_zh_edit,
            self.id_edit,
            self.category_combo,
            self.mode_combo,
            self.author_edit,
            self.version_edit,
            self.licence_edit,
            self.tags_edit,
            self.system_edit,
            self.template_edit,
            self.temperature_spin,
            self.max_tokens_spin,
            self.stop_edit,
            self.schema_edit,
            self.model_repo_edit,
            self.model_file_edit,
            self.model_context_spin,
        ]
        blockers = [QSignalBlocker(w) for w in widgets]
        try:
            self.name_edit.setText(str(en.get("name") or data.get("name") or ""))
            self.name_zh_edit.setText(str(zh.get("name") or ""))
            self.description_edit.setPlainText(
                str(en.get("description") or data.get("description") or "")
            )
            self.description_zh_edit.setPlainText(str(zh.get("description") or ""))
            self.id_edit.setText(str(data.get("id") or ""))
            self.category_combo.setCurrentIndex(
                max(0, self.category_combo.findData(data.get("category")))
            )
            self.mode_combo.setCurrentIndex(max(0, self.mode_combo.findData(data.get("mode"))))
            self.author_edit.setText(str(data.get("author") or ""))
            self.version_edit.setText(str(data.get("version") or "1.0.0"))
            self.licence_edit.setText(str(data.get("licence") or ""))
            self.tags_edit.setText(", ".join(str(t) for t in data.get("tags") or []))
            self.system_edit.setPlainText(str(data.get("system_prompt") or ""))
            self.template_edit.setPlainText(str(data.get("prompt_template") or ""))
            temperature = sampling.get("temperature")
            self.temperature_spin.setValue(
                float(temperature) if isinstance(temperature, int | float) else 0.7
            )
            max_tokens = sampling.get("max_tokens")
            self.max_tokens_spin.setValue(int(max_tokens) if isinstance(max_tokens, int) else 512)
            self.stop_edit.setText(", ".join(str(s) for s in data.get("stop") or []))
            self.schema_edit.setPlainText(
                json.dumps(schema, ensure_ascii=False, indent=2) if schema is not None else ""
            )
            self.model_repo_edit.setText(str(model.get("repo_id") or ""))
            self.model_file_edit.setText(str(model.get("file") or ""))
            context = model.get("min_context")
            self.model_context_spin.setValue(int(context) if isinstance(context, int) else 0)
        finally:
            del blockers
        self.inputs_editor.set_inputs(list(data.get("inputs") or []))
        examples = data.get("examples") or []
        self._preview_inputs = None
        self._pending_example = (
            examples[0] if examples and isinstance(examples[0], Mapping) else None
        )
        self._update_mode_rows()
        self.schedule_check(immediately=True)

    def set_icon(self, uri: str | None) -> None:
        """The app's icon: a ``data:image/png;base64,...`` URI that core/apps/icon.py
        accepted (the page checks the file), or None for none."""
        self._icon_error = None
        if uri is None:
            self._extra.pop("icon", None)
        else:
            self._extra["icon"] = uri
        self._show_icon()
        self.schedule_check()

    def show_icon_error(self, message: str) -> None:
        """Why the chosen file is not an icon; it stays until another icon is chosen."""
        self._icon_error = message
        label = self.errors["icon"]
        label.setText(message)
        label.show()

    def _show_icon(self) -> None:
        uri = self._extra.get("icon")
        pixmap = decode_icon(uri if isinstance(uri, str) else None, 32)
        if pixmap is None:
            self.icon_preview.clear()
            self.icon_preview.setText(self.tr("none"))
        else:
            self.icon_preview.setPixmap(pixmap)
        self.icon_clear_button.setEnabled(isinstance(uri, str))

    def draft(self) -> dict[str, Any]:
        """The manifest the form describes; DraftError for a value the form cannot read."""
        name = self.name_edit.text().strip()
        description = self.description_edit.toPlainText().strip()
        localized: dict[str, dict[str, str]] = {"en": {"name": name, "description": description}}
        zh_name = self.name_zh_edit.text().strip()
        zh_description = self.description_zh_edit.toPlainText().strip()
        if zh_name or zh_description:
            localized["zh_CN"] = {"name": zh_name, "description": zh_description}
        mode = str(self.mode_combo.currentData())
        schema_text = self.schema_edit.toPlainText().strip()
        schema: Any = None
        if mode == "structured" and schema_text:
            try:
                schema = json.loads(schema_text)
            except ValueError as exc:
                raise DraftError(
                    "output_schema", self.tr("Not JSON: {error}").format(error=exc)
                ) from None
        sampling = {
            k: v for k, v in dict(self._extra.get("sampling") or {}).items() if v is not None
        }
        sampling["temperature"] = round(self.temperature_spin.value(), 2)
        sampling["max_tokens"] = self.max_tokens_spin.value()
        models = list(self._extra.get("recommended_models") or [])
        repo = self.model_repo_edit.text().strip()
        file = self.model_file_edit.text().strip()
        first: dict[str, Any] | None = None
        if repo or file:
            first = {"repo_id": repo, "file": file}
            if self.model_context_spin.value():
                first["min_context"] = self.model_context_spin.value()
        models = ([first] if first is not None else []) + list(models[1:])
        examples = list(self._extra.get("examples") or [])
        if self.keep_example_box.isChecked() and self._preview_inputs is not None:
            values = self.preview_form.values()
            required = {f.name for f in self.preview_form.inputs if f.required}
            if values and required <= set(values):
                examples = [values, *examples[1:]]
        draft: dict[str, Any] = {
            **{k: v for k, v in self._extra.items() if k not in ("sampling",)},
            "format_version": APP_FORMAT_VERSION,
            "id": self.id_edit.text().strip(),
            "name": name,
            "version": self.version_edit.text().strip(),
            "author": self.author_edit.text().strip(),
            "description": description,
            "category": self.category_combo.currentData(),
            "tags": _split_list(self.tags_edit.text()),
            "localized": localized,
            "mode": mode,
            "inputs": self.inputs_editor.values(),
            "prompt_template": self.template_edit.toPlainText(),
            "system_prompt": self.system_edit.toPlainText(),
            "sampling": sampling,
            "stop": _split_list(self.stop_edit.text()),
            "output_schema": schema,
            "examples": examples,
            "recommended_models": models,
            "licence": self.licence_edit.text().strip(),
        }
        return draft

    # --- checking -----------------------------------------------------------------------

    @property
    def app(self) -> AppManifest | None:
        """The draft as an app, when its last check passed."""
        return self._app

    @property
    def checking(self) -> bool:
        return self._timer.isActive() or (
            self._check_task is not None and not self._check_task.done()
        )

    def schedule_check(self, *, immediately: bool = False) -> None:
        """Check the draft soon; a check still running is now out of date (dropped)."""
        self._generation += 1
        self._app = None
        self._update_buttons()
        self._timer.start(0 if immediately else PREVIEW_DELAY_MS)

    def _on_form_changed(self, *_args: object) -> None:
        self._update_mode_rows()
        self.schedule_check()

    def _update_mode_rows(self) -> None:
        structured = self.mode_combo.currentData() == "structured"
        self._output_form.setRowVisible(self._schema_row, structured)

    def _on_timer_timeout(self) -> None:
        if self._check_task is not None and not self._check_task.done():
            self._check_task.cancel()
        self._check_task = asyncio.ensure_future(self._run_check())

    async def _run_check(self) -> None:
        if not shiboken6.isValid(self.general_error):
            return  # the page was deleted without a shutdown (a window closed by Qt alone)
        try:
            draft = self.draft()
        except DraftError as exc:
            self.clear_errors()
            self._show_problems([(exc.field, exc.message)])
            self.checked.emit()
            return
        values = self.preview_form.values() if self._preview_inputs is not None else {}
        if self._pending_example is not None:
            values = dict(self._pending_example)
        generation = self._generation
        result: DraftCheck = await self._run_blocking(check_draft, draft, values)
        if generation != self._generation or not shiboken6.isValid(self.general_error):
            return  # the form changed meanwhile (the next check shows it), or it is gone
        self.clear_errors()
        self._sync_preview_form(result.inputs)
        self.preview_text.setPlainText(result.prompt or "")
        self._app = result.app
        if result.app is not None:
            self.preview_status.setText(self.tr("The app is valid."))
        else:
            self._show_problems(result.problems)
        if result.prompt_error:
            self.preview_status.setText(
                self.tr("The prompt does not render: {error}").format(error=result.prompt_error)
            )
        self._update_buttons()
        self.checked.emit()

    def _sync_preview_form(self, inputs: list[InputField]) -> None:
        """The preview's fields follow the draft's (valid) inputs; typed values stay."""
        dumped = [field.model_dump(mode="json") for field in inputs]
        if dumped == self._preview_inputs and self._pending_example is None:
            return
        kept = self.preview_form.values() if self._pending_example is None else {}
        with QSignalBlocker(self.preview_form):
            self.preview_form.set_inputs(inputs, wording.ui_language())
            if self._pending_example is not None:
                self.preview_form.set_values(self._pending_example)
            else:
                self.preview_form.set_values(kept)
        self._pending_example = None
        self._preview_inputs = dumped

    def _show_problems(self, problems: list[tuple[str, str]]) -> None:
        """Each message next to the field it names (the closest one shown), else on top."""
        self._app = None
        self.preview_status.setText(self.tr("The app is not valid yet: see the form."))
        shown: dict[QLabel, list[str]] = {}
        inputs: list[tuple[list[str], str]] = []
        general: list[str] = []
        for field, message in problems:
            parts = [p for p in field.split(".") if p]
            if parts[:1] == ["inputs"]:
                inputs.append((parts[1:], message))
                continue
            if parts[:1] == ["examples"]:
                name = parts[2] if len(parts) > 2 else ""
                if not self.preview_form.show_error(name, message):
                    general.append(f"{field}: {message}")
                continue
            label = self._label_for(parts)
            if label is None:
                general.append(f"{field}: {message}" if field else message)
            else:
                shown.setdefault(label, []).append(message)
        for label, messages in shown.items():
            label.setText("\n".join(messages))
            label.show()
        if inputs:
            self.inputs_editor.show_errors(inputs)
        if general:
            self._general("\n".join(general))
        self.error_field = problems[0][0] if problems else None
        first = next(iter(shown), None)
        if first is not None:
            self.form_scroll.ensureWidgetVisible(first)

    def _label_for(self, parts: list[str]) -> QLabel | None:
        aliases = {
            "localized.en.name": "name",
            "localized.en.description": "description",
            "localized.en": "name",
            "localized": "localized.zh_CN.name",
            "localized.zh_CN": "localized.zh_CN.name",
            "sampling": "sampling.temperature",
            "recommended_models": "recommended_models.0.repo_id",
        }
        if parts[:1] == ["recommended_models"]:
            parts = ["recommended_models", "0", *parts[2:3]]
        if parts[:1] == ["sampling"] and parts[1:2] not in (["temperature"], ["max_tokens"]):
            parts = ["sampling"]
        for length in range(len(parts), 0, -1):
            key = ".".join(parts[:length])
            key = aliases.get(key, key)
            label = self.errors.get(key)
            if label is not None:
                return label
        return None

    def _general(self, message: str) -> None:
        self.general_error.setText(message)
        self.general_error.show()

    def clear_errors(self) -> None:
        self.error_field = None
        for label in (*self.errors.values(), self.general_error):
            label.clear()
            label.hide()
        self.inputs_editor.clear_errors()
        self.preview_form.clear_errors()
        if self._icon_error:
            self.show_icon_error(self._icon_error)

    def error_for(self, field: str) -> str:
        """The error shown next to ``field`` (a key of ``errors``), "" when none."""
        label = self.errors.get(field)
        return label.text() if label is not None and label.isVisible() else ""

    def _update_buttons(self) -> None:
        valid = self._app is not None
        self.save_button.setEnabled(valid)
        self.export_button.setEnabled(valid)

    # --- slots --------------------------------------------------------------------------

    def _on_new_button_clicked(self) -> None:
        self.load_draft(self.blank_draft())

    def _on_save_button_clicked(self) -> None:
        if self._app is not None:
            self.save_requested.emit(self._app)

    def _on_export_button_clicked(self) -> None:
        if self._app is not None:
            self.export_requested.emit(self._app)

    async def shutdown(self) -> None:
        with contextlib.suppress(RuntimeError):  # the widget may be deleted already
            self._timer.stop()
        task = self._check_task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
