"""One chat's own settings: system prompt, sampling, reply length, context size, seed,
and named presets.

The panel edits a copy of the chat's ``ChatOptions`` (core/chat/options.py) and hands
each change to the page (``options_changed``, a moment after the last keystroke), which
saves it in the store off the GUI thread. Every number is bounded by the engine
contract (``field_bounds`` reads SamplingOptions' and LoadOptions' pydantic
constraints), so the panel cannot make a value the engine refuses.

The chat's model is chosen with the model picker at the top of the page (it loads the
model with progress); the panel names it. Presets keep how a chat replies, not which
model: applying one keeps the chat's model.

Built the first time it is shown: its spin boxes are not needed to start the window.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.chat.options import MAX_SYSTEM_PROMPT_CHARS, ChatOptions
from llmos_desktop.core.engine.contract import LoadOptions, SamplingOptions
from llmos_desktop.ui.widgets.fields import (
    DoubleSpinBox,
    SpinBox,
    float_range,
    int_range,
    plain_label,
)

CHANGE_DELAY_MS = 400
SEED_MAX = 2**31 - 1  # QSpinBox holds a C int; the contract allows up to 2**32 - 1


class ChatOptionsPanel(QFrame):
    """The settings of the open chat; see the module docstring."""

    options_changed = Signal(object)  # ChatOptions: the chat's new settings
    preset_saved = Signal(str, object)  # (name, ChatOptions)
    preset_deleted = Signal(str)
    close_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatOptionsPanel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self._options = ChatOptions()
        self._presets: dict[str, ChatOptions] = {}
        self._showing = False
        self._change_timer = QTimer(self)
        self._change_timer.setSingleShot(True)
        self._change_timer.setInterval(CHANGE_DELAY_MS)
        self._change_timer.timeout.connect(self._on_change_timer_timeout)
        self._build()
        self._connect()
        self.show_options(self._options)

    # --- construction -------------------------------------------------------------------

    def _build(self) -> None:
        title = QLabel(self.tr("Chat settings"), self)
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        self.close_button = QToolButton(self)
        self.close_button.setObjectName("closeChatSettings")
        self.close_button.setText("×")
        self.close_button.setToolTip(self.tr("Close the chat settings"))
        self.close_button.setAccessibleName(self.tr("Close the chat settings"))
        self.close_button.setAutoRaise(True)
        self.close_button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.close_button.clicked.connect(self.close_requested)
        header = QHBoxLayout()
        header.addWidget(title, 1)
        header.addWidget(self.close_button)

        content = QWidget(self)
        column = QVBoxLayout(content)
        column.setContentsMargins(0, 0, 6, 0)
        form = QFormLayout()
        column.addLayout(form)
        column.addStretch(1)  # the rows keep their height; the space goes below them
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        self.model_label = QLabel(content)
        self.model_label.setObjectName("chatModel")
        self.model_label.setTextFormat(Qt.TextFormat.PlainText)
        self.model_label.setWordWrap(True)
        self.model_label.setAccessibleName(self.tr("The chat's model"))
        form.addRow(QLabel(self.tr("Model:"), content), self.model_label)
        hint = QLabel(self.tr("Choose and load another with the Model list above."), content)
        hint.setWordWrap(True)
        hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        form.addRow(hint)

        self.system_prompt_edit = QPlainTextEdit(content)
        self.system_prompt_edit.setObjectName("systemPromptEdit")
        self.system_prompt_edit.setTabChangesFocus(True)
        self.system_prompt_edit.setPlaceholderText(self.tr("e.g. You are a helpful assistant."))
        self.system_prompt_edit.setFixedHeight(self.fontMetrics().lineSpacing() * 5 + 12)
        self._row(
            form,
            self.tr("S&ystem prompt:"),
            self.system_prompt_edit,
            self.tr("Sent first in every prompt of this chat; it is never dropped"),
        )
        self.temperature_spin = self._double(content, "temperature", 0.05)
        self._row(
            form,
            self.tr("Temperat&ure:"),
            self.temperature_spin,
            self.tr("Higher is more varied, lower more focused; 0 always picks the likeliest"),
        )
        self.top_p_spin = self._double(content, "top_p", 0.01)
        self._row(
            form,
            self.tr("Top &P:"),
            self.top_p_spin,
            self.tr("Pick only from the likeliest tokens that make up this share"),
        )
        self.top_k_spin = self._int(content, SamplingOptions, "top_k", 1)
        self.top_k_spin.setSpecialValueText(self.tr("Off"))
        self._row(
            form,
            self.tr("Top &K:"),
            self.top_k_spin,
            self.tr("Pick only from this many likeliest tokens (0: no limit)"),
        )
        self.min_p_spin = self._double(content, "min_p", 0.01)
        self._row(
            form,
            self.tr("Min P:"),
            self.min_p_spin,
            self.tr("Drop tokens less likely than this share of the likeliest one"),
        )
        self.repeat_penalty_spin = self._double(content, "repeat_penalty", 0.05)
        self._row(
            form,
            self.tr("Repe&at penalty:"),
            self.repeat_penalty_spin,
            self.tr("Above 1 makes repeating recent text less likely; 1 is off"),
        )
        # 0 stands for "no limit" (None): the reply runs until the context is full.
        self.max_tokens_spin = SpinBox(content)
        self.max_tokens_spin.setObjectName("chatMaxTokensSpin")
        self.max_tokens_spin.setRange(0, int_range(SamplingOptions, "max_tokens")[1])
        self.max_tokens_spin.setSingleStep(128)
        self.max_tokens_spin.setSpecialValueText(self.tr("No limit"))
        self.max_tokens_spin.setGroupSeparatorShown(True)
        self._row(
            form,
            self.tr("Max token&s:"),
            self.max_tokens_spin,
            self.tr("The longest a reply may be, in tokens"),
        )
        # 0 stands for "the app's" (None): the context size of the Settings page.
        low, high = int_range(LoadOptions, "n_ctx")
        self._context_minimum = low
        self.context_spin = SpinBox(content)
        self.context_spin.setObjectName("chatContextSpin")
        self.context_spin.setRange(0, high)
        self.context_spin.setSingleStep(1024)
        self.context_spin.setSpecialValueText(self.tr("App default"))
        self.context_spin.setGroupSeparatorShown(True)
        self.context_spin.setSuffix(self.tr(" tokens"))
        self._row(
            form,
            self.tr("&Context size:"),
            self.context_spin,
            self.tr(
                "Tokens the model sees at once; a change reloads the model at the next message"
            ),
        )
        # -1 stands for "random" (None).
        self.seed_spin = SpinBox(content)
        self.seed_spin.setObjectName("chatSeedSpin")
        self.seed_spin.setRange(-1, SEED_MAX)
        self.seed_spin.setSpecialValueText(self.tr("Random"))
        self._row(
            form,
            self.tr("S&eed:"),
            self.seed_spin,
            self.tr("The same seed and settings give the same reply again"),
        )

        self.preset_combo = QComboBox(content)
        self.preset_combo.setObjectName("presetCombo")
        self.preset_combo.setPlaceholderText(self.tr("No presets yet"))
        self._row(form, self.tr("Sa&ved presets:"), self.preset_combo)
        self.apply_preset_button = QPushButton(self.tr("Apply"), content)
        self.apply_preset_button.setObjectName("applyPresetButton")
        self.apply_preset_button.setAccessibleName(self.tr("Apply the preset to this chat"))
        self.delete_preset_button = QPushButton(self.tr("Delete preset"), content)
        self.delete_preset_button.setObjectName("deletePresetButton")
        preset_row = QHBoxLayout()
        preset_row.addWidget(self.apply_preset_button)
        preset_row.addWidget(self.delete_preset_button)
        preset_row.addStretch(1)
        form.addRow(preset_row)
        self.preset_name_edit = QLineEdit(content)
        self.preset_name_edit.setObjectName("presetNameEdit")
        self.preset_name_edit.setPlaceholderText(self.tr("Name for a new preset"))
        self.preset_name_edit.setAccessibleName(self.tr("Preset name"))
        self.preset_name_edit.setMaxLength(100)
        self.save_preset_button = QPushButton(self.tr("Save as preset"), content)
        self.save_preset_button.setObjectName("savePresetButton")
        save_row = QHBoxLayout()
        save_row.addWidget(self.preset_name_edit, 1)
        save_row.addWidget(self.save_preset_button)
        form.addRow(save_row)

        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        scroll.setWidget(content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 6, 8)
        layout.addLayout(header)
        layout.addWidget(scroll, 1)
        self.setMinimumWidth(280)
        self._update_preset_buttons()

    def _row(self, form: QFormLayout, text: str, field: QWidget, hint: str = "") -> None:
        label = QLabel(text, field.parentWidget())
        label.setBuddy(field)
        field.setAccessibleName(plain_label(text))
        if hint:
            field.setToolTip(hint)
            field.setAccessibleDescription(hint)
        form.addRow(label, field)

    def _double(self, parent: QWidget, name: str, step: float) -> DoubleSpinBox:
        spin = DoubleSpinBox(parent)
        spin.setObjectName("chat_" + name + "Spin")
        spin.setDecimals(2)
        spin.setSingleStep(step)
        spin.setRange(*float_range(SamplingOptions, name, step))
        return spin

    def _int(self, parent: QWidget, model: type[BaseModel], name: str, step: int) -> SpinBox:
        spin = SpinBox(parent)
        spin.setObjectName("chat_" + name + "Spin")
        spin.setRange(*int_range(model, name))
        spin.setSingleStep(step)
        spin.setGroupSeparatorShown(True)
        return spin

    def _spins(self) -> list[QAbstractSpinBox]:
        return [
            self.temperature_spin,
            self.top_p_spin,
            self.top_k_spin,
            self.min_p_spin,
            self.repeat_penalty_spin,
            self.max_tokens_spin,
            self.context_spin,
            self.seed_spin,
        ]

    def _connect(self) -> None:
        for spin in self._spins():
            spin.editingFinished.connect(self._on_field_edited)
            if isinstance(spin, QSpinBox | QDoubleSpinBox):
                spin.valueChanged.connect(self._on_field_edited)
        self.system_prompt_edit.textChanged.connect(self._on_field_edited)
        self.apply_preset_button.clicked.connect(self._on_apply_preset_button_clicked)
        self.delete_preset_button.clicked.connect(self._on_delete_preset_button_clicked)
        self.save_preset_button.clicked.connect(self._on_save_preset_button_clicked)
        self.preset_name_edit.returnPressed.connect(self._on_save_preset_button_clicked)
        self.preset_name_edit.textChanged.connect(self._update_preset_buttons)
        self.preset_combo.currentIndexChanged.connect(self._update_preset_buttons)

    # --- the page's API -----------------------------------------------------------------

    @property
    def options(self) -> ChatOptions:
        """The options as the panel shows them now."""
        return self._options

    def show_options(self, options: ChatOptions) -> None:
        """Show a chat's options (not counted as a change)."""
        self._change_timer.stop()
        self._options = options
        self._showing = True
        try:
            s = options.sampling
            self.model_label.setText(
                Path(options.model_path).name
                if options.model_path
                else self.tr("The model that is loaded")
            )
            self.model_label.setToolTip(options.model_path or "")
            if self.system_prompt_edit.toPlainText() != options.system_prompt:
                self.system_prompt_edit.setPlainText(options.system_prompt)
            self.temperature_spin.setValue(s.temperature)
            self.top_p_spin.setValue(s.top_p)
            self.top_k_spin.setValue(s.top_k)
            self.min_p_spin.setValue(s.min_p)
            self.repeat_penalty_spin.setValue(s.repeat_penalty)
            self.max_tokens_spin.setValue(s.max_tokens or 0)
            self.context_spin.setValue(options.n_ctx or 0)
            self.seed_spin.setValue(-1 if s.seed is None or s.seed > SEED_MAX else s.seed)
        finally:
            self._showing = False

    def set_presets(self, presets: Mapping[str, ChatOptions]) -> None:
        current = self.preset_combo.currentText()
        self._presets = dict(presets)
        self.preset_combo.blockSignals(True)
        try:
            self.preset_combo.clear()
            for name in self._presets:
                self.preset_combo.addItem(name, name)
            index = self.preset_combo.findData(current)
            self.preset_combo.setCurrentIndex(index if index >= 0 else (0 if presets else -1))
        finally:
            self.preset_combo.blockSignals(False)
        self._update_preset_buttons()

    def flush(self) -> None:
        """Hand over a change still waiting for its delay (the page is switching chats)."""
        if self._change_timer.isActive():
            self._change_timer.stop()
            self._on_change_timer_timeout()

    # --- reading the fields ---------------------------------------------------------------

    def _read(self) -> ChatOptions | None:
        prompt = self.system_prompt_edit.toPlainText()[:MAX_SYSTEM_PROMPT_CHARS]
        n_ctx = self.context_spin.value()
        if 0 < n_ctx < self._context_minimum:
            n_ctx = self._context_minimum
        seed = self.seed_spin.value()
        changes: dict[str, Any] = {
            "temperature": round(self.temperature_spin.value(), 4),
            "top_p": round(self.top_p_spin.value(), 4),
            "top_k": self.top_k_spin.value(),
            "min_p": round(self.min_p_spin.value(), 4),
            "repeat_penalty": round(self.repeat_penalty_spin.value(), 4),
            "max_tokens": self.max_tokens_spin.value() or None,
            "seed": None if seed < 0 else seed,
        }
        try:
            options = self._options.with_sampling(**changes)
            return ChatOptions.model_validate(
                {**options.model_dump(), "system_prompt": prompt, "n_ctx": n_ctx or None}
            )
        except ValidationError:
            return None

    # --- slots ----------------------------------------------------------------------------

    def _on_field_edited(self, *_args: object) -> None:
        if not self._showing:
            self._change_timer.start()

    def _on_change_timer_timeout(self) -> None:
        options = self._read()
        if options is None or options == self._options:
            return
        self._options = options
        self.options_changed.emit(options)

    def _on_apply_preset_button_clicked(self) -> None:
        preset = self._presets.get(self.preset_combo.currentText())
        if preset is None:
            return
        self._change_timer.stop()
        options = preset.model_copy(update={"model_path": self._options.model_path})
        self.show_options(options)
        self.options_changed.emit(options)

    def _on_delete_preset_button_clicked(self) -> None:
        name = self.preset_combo.currentText()
        if name:
            self.preset_deleted.emit(name)

    def _on_save_preset_button_clicked(self) -> None:
        name = " ".join(self.preset_name_edit.text().split())
        if not name:
            return
        self.flush()
        self.preset_saved.emit(name, self._options.model_copy(update={"model_path": None}))
        self.preset_name_edit.clear()

    def _update_preset_buttons(self, *_args: object) -> None:
        has_preset = self.preset_combo.count() > 0 and self.preset_combo.currentIndex() >= 0
        self.apply_preset_button.setEnabled(has_preset)
        self.delete_preset_button.setEnabled(has_preset)
        self.save_preset_button.setEnabled(bool(self.preset_name_edit.text().strip()))
