"""The Settings page: language, theme, how Enter behaves, the chat's default sampling, how
models are loaded, the disk budget for saved conversation states, and where data lives.

Every number is bounded by the engine contract (``field_bounds`` reads the pydantic
constraints of SamplingOptions, LoadOptions and Settings), so the page cannot store a
value the engine would refuse. A change is kept in the shared Settings object at once
and written a moment later (changes in quick succession make one write) by the
window's SettingsWriter, on its worker thread: the GUI thread never waits for the disk.

When each change takes effect: the theme at once; Enter's behaviour at once (the chat
page listens to ``settings_changed``); sampling for the next reply; load options at the
next model load; the language and the disk budget at the next start (the page says so).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFont, QPalette
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.engine.contract import LoadOptions, SamplingOptions
from llmos_desktop.core.paths import AppPaths
from llmos_desktop.core.settings import (
    CHAT_MAX_TOKENS,
    Settings,
    SettingsWriter,
    Theme,
)
from llmos_desktop.ui.i18n import LANGUAGE_NAMES
from llmos_desktop.ui.widgets.banner import MessageBanner
from llmos_desktop.ui.widgets.fields import (
    ComboBox,
    DoubleSpinBox,
    SpinBox,
    float_range,
    int_range,
    plain_label,
)

log = logging.getLogger(__name__)

SAVE_DELAY_MS = 400


class SettingsPage(QWidget):
    """Edits the shared Settings; ``settings_changed(name)`` names each changed field."""

    settings_changed = Signal(str)  # "theme", "enter_sends", "sampling", "load", ...
    settings_saved = Signal()  # a write finished (after any number of changes)

    def __init__(
        self,
        *,
        settings: Settings,
        paths: AppPaths,
        writer: SettingsWriter,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("settingsPage")
        self._settings = settings
        self._paths = paths
        self._writer = writer
        self._save_task: asyncio.Task[None] | None = None
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self._on_save_timer_timeout)
        self._row_labels: list[QLabel] = []

        self._build()
        self._show_settings()
        self._connect()

    # --- construction -------------------------------------------------------------------

    def _build(self) -> None:
        self.title_label = QLabel(self.tr("Settings"), self)
        font = QFont(self.title_label.font())
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.title_label.setFont(font)
        self.banner = MessageBanner(self)

        content = QWidget(self)
        content.setObjectName("settingsContent")
        column = QVBoxLayout(content)
        column.setContentsMargins(0, 0, 12, 0)
        column.setSpacing(12)
        column.addWidget(self._appearance_group(content))
        column.addWidget(self._chat_group(content))
        column.addWidget(self._sampling_group(content))
        column.addWidget(self._loading_group(content))
        column.addWidget(self._storage_group(content))
        column.addStretch(1)
        # One label column for every group, so the fields line up down the page.
        width = max(label.sizeHint().width() for label in self._row_labels)
        for label in self._row_labels:
            label.setMinimumWidth(width)
        # And one width for the number fields: a tidy column, whatever their ranges.
        spin_width = max(spin.sizeHint().width() for spin in self._spins())
        for spin in self._spins():
            spin.setMinimumWidth(spin_width)
        self.reset_button.setMinimumWidth(self.reset_button.sizeHint().width() + 24)

        self.scroll_area = QScrollArea(self)
        self.scroll_area.setObjectName("settingsScroll")
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # its controls take focus
        self.scroll_area.setWidget(content)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 12, 12)
        layout.setSpacing(10)
        layout.addWidget(self.title_label)
        layout.addWidget(self.banner)
        layout.addWidget(self.scroll_area, 1)

    def _form(self, group: QGroupBox) -> QFormLayout:
        form = QFormLayout(group)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        form.setHorizontalSpacing(16)
        form.setVerticalSpacing(8)
        return form

    def _row(self, form: QFormLayout, text: str, field: QWidget, hint: str = "") -> QLabel:
        """A labelled row: the label is the field's buddy (Alt+letter focuses it) and
        its text, without the mnemonic, the field's accessible name."""
        label = QLabel(text, field.parentWidget())
        label.setBuddy(field)
        field.setAccessibleName(plain_label(text))
        if hint:
            field.setAccessibleDescription(hint)
            field.setToolTip(hint)
        form.addRow(label, field)
        self._row_labels.append(label)
        return label

    def _hint(self, form: QFormLayout, text: str, parent: QWidget) -> QLabel:
        hint = QLabel(text, parent)
        hint.setObjectName("settingsHint")
        hint.setTextFormat(Qt.TextFormat.PlainText)
        hint.setWordWrap(True)
        # The palette's dimmer text, in light and dark alike: a note, not a control.
        hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        form.addRow(hint)
        return hint

    def _appearance_group(self, parent: QWidget) -> QGroupBox:
        group = QGroupBox(self.tr("Appearance"), parent)
        form = self._form(group)
        self.language_combo = ComboBox(group)
        self.language_combo.setObjectName("languageCombo")
        self.language_combo.addItem(self.tr("System default"), None)
        for code, name in LANGUAGE_NAMES.items():
            self.language_combo.addItem(name, code)
        self._row(form, self.tr("&Language:"), self.language_combo)
        self.language_hint = self._hint(
            form, self.tr("A new language is used the next time LLMOS Desktop starts."), group
        )
        self.theme_combo = ComboBox(group)
        self.theme_combo.setObjectName("themeCombo")
        for label, theme in (
            (self.tr("System"), "system"),
            (self.tr("Light"), "light"),
            (self.tr("Dark"), "dark"),
        ):
            self.theme_combo.addItem(label, theme)
        self._row(
            form,
            self.tr("&Theme:"),
            self.theme_combo,
            self.tr("System: follow the desktop's light or dark mode"),
        )
        return group

    def _chat_group(self, parent: QWidget) -> QGroupBox:
        group = QGroupBox(self.tr("Chat"), parent)
        form = self._form(group)
        self.enter_sends_check = QCheckBox(
            self.tr("&Enter sends the message (Shift+Enter adds a line)"), group
        )
        self.enter_sends_check.setObjectName("enterSendsCheck")
        self.enter_sends_check.setAccessibleName(plain_label(self.enter_sends_check.text()))
        form.addRow(self.enter_sends_check)
        self._hint(form, self.tr("When off, Ctrl+Enter sends and Enter adds a line."), group)
        return group

    def _sampling_group(self, parent: QWidget) -> QGroupBox:
        group = QGroupBox(self.tr("Default sampling for new chats"), parent)
        form = self._form(group)
        self.temperature_spin = self._double(group, "temperature", 0.05)
        self._row(
            form,
            self.tr("Te&mperature:"),
            self.temperature_spin,
            self.tr("Higher is more varied, lower more focused; 0 always picks the likeliest"),
        )
        self.top_p_spin = self._double(group, "top_p", 0.01)
        self._row(
            form,
            self.tr("Top &P:"),
            self.top_p_spin,
            self.tr("Pick only from the likeliest tokens that make up this share"),
        )
        self.top_k_spin = self._int(group, SamplingOptions, "top_k", 1)
        self.top_k_spin.setSpecialValueText(self.tr("Off"))
        self._row(
            form,
            self.tr("Top &K:"),
            self.top_k_spin,
            self.tr("Pick only from this many likeliest tokens (0: no limit)"),
        )
        self.min_p_spin = self._double(group, "min_p", 0.01)
        self._row(
            form,
            self.tr("M&in P:"),
            self.min_p_spin,
            self.tr("Drop tokens less likely than this share of the likeliest one"),
        )
        self.repeat_penalty_spin = self._double(group, "repeat_penalty", 0.05)
        self._row(
            form,
            self.tr("&Repeat penalty:"),
            self.repeat_penalty_spin,
            self.tr("Above 1 makes repeating recent text less likely; 1 is off"),
        )
        # 0 stands for "no limit" (None): the reply runs until the context is full.
        self.max_tokens_spin = SpinBox(group)
        self.max_tokens_spin.setObjectName("maxTokensSpin")
        self.max_tokens_spin.setRange(0, int_range(SamplingOptions, "max_tokens")[1])
        self.max_tokens_spin.setSingleStep(128)
        self.max_tokens_spin.setSpecialValueText(self.tr("No limit"))
        self.max_tokens_spin.setGroupSeparatorShown(True)
        self._row(
            form,
            self.tr("Ma&x tokens:"),
            self.max_tokens_spin,
            self.tr("The longest a reply may be, in tokens"),
        )
        return group

    def _loading_group(self, parent: QWidget) -> QGroupBox:
        group = QGroupBox(self.tr("Model loading"), parent)
        form = self._form(group)
        self.context_spin = self._int(group, LoadOptions, "n_ctx", 1024)
        self.context_spin.setSuffix(self.tr(" tokens"))
        self._row(
            form,
            self.tr("&Context size:"),
            self.context_spin,
            self.tr("How much of the conversation the model sees; more needs more memory"),
        )
        self.gpu_layers_spin = self._int(group, LoadOptions, "n_gpu_layers", 1)
        self.gpu_layers_spin.setSpecialValueText(self.tr("All"))  # -1
        self._row(
            form,
            self.tr("GP&U layers:"),
            self.gpu_layers_spin,
            self.tr("Layers to run on the GPU (0: none, All: every layer)"),
        )
        # 0 stands for "automatic" (None): llama.cpp uses the physical cores.
        self.threads_spin = SpinBox(group)
        self.threads_spin.setObjectName("threadsSpin")
        self.threads_spin.setRange(0, int_range(LoadOptions, "n_threads")[1])
        self.threads_spin.setSpecialValueText(self.tr("Automatic"))
        self._row(
            form,
            self.tr("CPU thread&s:"),
            self.threads_spin,
            self.tr("Threads for the CPU's share of the work (Automatic: one per core)"),
        )
        self._hint(form, self.tr("These apply the next time a model is loaded."), group)
        self.reset_button = QPushButton(self.tr("Reset sampli&ng and loading to defaults"), group)
        self.reset_button.setObjectName("resetDefaultsButton")
        self.reset_button.setAccessibleName(plain_label(self.reset_button.text()))
        reset_row = QHBoxLayout()
        reset_row.addWidget(self.reset_button)
        reset_row.addStretch(1)
        form.addRow(reset_row)
        return group

    def _storage_group(self, parent: QWidget) -> QGroupBox:
        group = QGroupBox(self.tr("Storage"), parent)
        form = self._form(group)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.kv_disk_spin = self._int(group, Settings, "kv_state_disk_mb", 256)
        self.kv_disk_spin.setSuffix(self.tr(" MB"))
        self.kv_disk_spin.setSpecialValueText(self.tr("Off"))
        self._row(
            form,
            self.tr("Saved conversation st&ates:"),
            self.kv_disk_spin,
            self.tr("Disk space for reopening long conversations without re-reading them"),
        )
        self._hint(
            form,
            self.tr(
                "Long conversations reopen at once when the model's state for them is kept "
                "on disk. 0 turns this off. Applies the next time LLMOS Desktop starts."
            ),
            group,
        )
        self.data_folder_edit, self.open_data_button = self._folder_row(
            form,
            group,
            self.tr("&Data folder:"),
            self.tr("Open the data folder in the file manager"),
            self._paths.data,
            "dataFolder",
        )
        self.models_folder_edit, self.open_models_button = self._folder_row(
            form,
            group,
            self.tr("M&odels folder:"),
            self.tr("Open the models folder in the file manager"),
            self._paths.models,
            "modelsFolder",
        )
        return group

    def _folder_row(
        self, form: QFormLayout, parent: QWidget, text: str, open_text: str, folder: Path, name: str
    ) -> tuple[QLineEdit, QPushButton]:
        row = QWidget(parent)
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        edit = QLineEdit(str(folder), row)
        edit.setObjectName(name + "Edit")
        edit.setReadOnly(True)  # selectable and copyable, not editable
        edit.setMinimumWidth(260)
        edit.setCursorPosition(0)
        button = QPushButton(self.tr("Open in file manager"), row)
        button.setObjectName(name + "OpenButton")
        plain = plain_label(text)
        button.setAccessibleName(open_text)
        button.setEnabled(folder.is_dir())
        button.clicked.connect(lambda: self._open_folder(folder))
        layout.addWidget(edit, 1)
        layout.addWidget(button)
        label = QLabel(text, parent)
        label.setBuddy(edit)
        edit.setAccessibleName(plain)
        form.addRow(label, row)
        self._row_labels.append(label)
        return edit, button

    def _double(self, parent: QWidget, name: str, step: float) -> DoubleSpinBox:
        spin = DoubleSpinBox(parent)
        spin.setObjectName(name + "Spin")
        spin.setDecimals(2)
        spin.setSingleStep(step)
        spin.setRange(*float_range(SamplingOptions, name, step))
        return spin

    def _int(self, parent: QWidget, model: type[BaseModel], name: str, step: int) -> SpinBox:
        spin = SpinBox(parent)
        spin.setObjectName(name + "Spin")
        spin.setRange(*int_range(model, name))
        spin.setSingleStep(step)
        spin.setGroupSeparatorShown(True)
        return spin

    # --- settings <-> widgets -----------------------------------------------------------

    def _spins(self) -> list[QAbstractSpinBox]:
        return [
            self.temperature_spin,
            self.top_p_spin,
            self.top_k_spin,
            self.min_p_spin,
            self.repeat_penalty_spin,
            self.max_tokens_spin,
            self.context_spin,
            self.gpu_layers_spin,
            self.threads_spin,
            self.kv_disk_spin,
        ]

    def _controls(self) -> list[QWidget]:
        return [self.language_combo, self.theme_combo, self.enter_sends_check, *self._spins()]

    def _show_settings(self) -> None:
        """Put the settings' values into the widgets, without counting it as a change."""
        s = self._settings
        blocked = [control.blockSignals(True) for control in self._controls()]
        try:
            self.language_combo.setCurrentIndex(max(0, self.language_combo.findData(s.language)))
            self.theme_combo.setCurrentIndex(max(0, self.theme_combo.findData(s.theme)))
            self.enter_sends_check.setChecked(s.enter_sends)
            self.temperature_spin.setValue(s.sampling.temperature)
            self.top_p_spin.setValue(s.sampling.top_p)
            self.top_k_spin.setValue(s.sampling.top_k)
            self.min_p_spin.setValue(s.sampling.min_p)
            self.repeat_penalty_spin.setValue(s.sampling.repeat_penalty)
            self.max_tokens_spin.setValue(s.sampling.max_tokens or 0)
            self.context_spin.setValue(s.load.n_ctx)
            self.gpu_layers_spin.setValue(s.load.n_gpu_layers)
            self.threads_spin.setValue(s.load.n_threads or 0)
            self.kv_disk_spin.setValue(s.kv_state_disk_mb)
        finally:
            for control, was in zip(self._controls(), blocked, strict=True):
                control.blockSignals(was)

    def _connect(self) -> None:
        self.language_combo.currentIndexChanged.connect(self._on_language_combo_changed)
        self.theme_combo.currentIndexChanged.connect(self._on_theme_combo_changed)
        self.enter_sends_check.toggled.connect(self._on_enter_sends_check_toggled)
        sampling: dict[QSpinBox | QDoubleSpinBox, Callable[[], Any]] = {
            self.temperature_spin: lambda: ("temperature", self.temperature_spin.value()),
            self.top_p_spin: lambda: ("top_p", self.top_p_spin.value()),
            self.top_k_spin: lambda: ("top_k", self.top_k_spin.value()),
            self.min_p_spin: lambda: ("min_p", self.min_p_spin.value()),
            self.repeat_penalty_spin: lambda: ("repeat_penalty", self.repeat_penalty_spin.value()),
            self.max_tokens_spin: lambda: ("max_tokens", self.max_tokens_spin.value() or None),
        }
        for spin, read in sampling.items():
            spin.valueChanged.connect(lambda _v, read=read: self._on_sampling_spin_changed(*read()))
        loading: dict[QSpinBox | QDoubleSpinBox, Callable[[], Any]] = {
            self.context_spin: lambda: ("n_ctx", self.context_spin.value()),
            self.gpu_layers_spin: lambda: ("n_gpu_layers", self.gpu_layers_spin.value()),
            self.threads_spin: lambda: ("n_threads", self.threads_spin.value() or None),
        }
        for spin, read in loading.items():
            spin.valueChanged.connect(lambda _v, read=read: self._on_load_spin_changed(*read()))
        self.kv_disk_spin.valueChanged.connect(self._on_kv_disk_spin_changed)
        self.reset_button.clicked.connect(self._on_reset_button_clicked)

    # --- slots --------------------------------------------------------------------------

    def _on_language_combo_changed(self, _index: int) -> None:
        self._change("language", self.language_combo.currentData())

    def _on_theme_combo_changed(self, _index: int) -> None:
        theme: Theme = self.theme_combo.currentData()
        self._change("theme", theme)

    def _on_enter_sends_check_toggled(self, checked: bool) -> None:
        self._change("enter_sends", checked)

    def _on_sampling_spin_changed(self, name: str, value: Any) -> None:
        values = self._settings.sampling.model_dump()
        values[name] = value
        self._change("sampling", values, SamplingOptions)

    def _on_load_spin_changed(self, name: str, value: Any) -> None:
        values = self._settings.load.model_dump()
        values[name] = value
        self._change("load", values, LoadOptions)

    def _on_kv_disk_spin_changed(self, value: int) -> None:
        self._change("kv_state_disk_mb", value)

    def _on_reset_button_clicked(self) -> None:
        self._settings.sampling = SamplingOptions(max_tokens=CHAT_MAX_TOKENS)
        template = self._settings.load.chat_template  # not on this page: kept
        self._settings.load = LoadOptions(chat_template=template)
        self._show_settings()
        self.settings_changed.emit("sampling")
        self.settings_changed.emit("load")
        self._save_timer.start()

    def _on_save_timer_timeout(self) -> None:
        self._save_task = asyncio.ensure_future(self._save())

    # --- changes and saving -------------------------------------------------------------

    def _change(self, name: str, value: Any, model: type[BaseModel] | None = None) -> None:
        """Set one field of the shared settings (validated), then save a moment later."""
        try:
            setattr(self._settings, name, model(**value) if model is not None else value)
        except ValidationError as exc:
            # The widgets' ranges are the contract's, so this is a bug, not a typo.
            log.error("settings page: %s refused: %s", name, exc)
            self.banner.show_error(
                self.tr("This value was not accepted: {error}").format(error=exc.errors()[0]["msg"])
            )
            self._show_settings()
            return
        self.settings_changed.emit(name)
        self._save_timer.start()

    @property
    def save_pending(self) -> bool:
        return self._save_timer.isActive() or (
            self._save_task is not None and not self._save_task.done()
        )

    async def _save(self) -> None:
        try:
            await asyncio.wrap_future(self._writer.save(self._settings))
        except OSError as exc:
            self.banner.show_error(
                self.tr("Settings could not be saved to {path}: {error}").format(
                    path=self._writer.path, error=exc.strerror or exc
                )
            )
            return
        if self.banner.kind == "error":
            self.banner.clear()
        self.settings_saved.emit()

    async def flush(self) -> None:
        """Write a change that is still waiting for its moment (the window is closing)."""
        if self._save_timer.isActive():
            self._save_timer.stop()
            self._save_task = asyncio.ensure_future(self._save())
        if self._save_task is not None:
            await asyncio.gather(self._save_task, return_exceptions=True)

    def _open_folder(self, folder: Path) -> None:
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.banner.show_error(
                self.tr("No file manager could open {folder}.").format(folder=folder)
            )
