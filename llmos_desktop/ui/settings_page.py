"""The Settings page: language, theme, how Enter behaves, the chat's default sampling, how
models are loaded, the disk budget for saved conversation states, where data lives, and
the models folder and how the Hugging Face Hub is reached (endpoint, proxy, token), and
the remote engines (ui/settings_engines.py: OpenAI-compatible servers the chat can use).

Every number is bounded by the engine contract (``field_bounds`` reads the pydantic
constraints of SamplingOptions, LoadOptions and Settings), so the page cannot store a
value the engine would refuse. A change is kept in the shared Settings object at once
and written a moment later (changes in quick succession make one write) by the
window's SettingsWriter, on its worker thread: the GUI thread never waits for the disk.

When each change takes effect: the theme at once; Enter's behaviour at once (the chat
page listens to ``settings_changed``); sampling for the next reply; load options at the
next model load; the language and the disk budget at the next start (the page says so).
The models folder, the Hub endpoint and the proxy apply at once (the Models page listens
to ``settings_changed``). The Hugging Face token is not a setting: it is kept by the
``TokenStore`` (the system keyring, else a private file), set and cleared off the GUI
thread, and never shown again once saved.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import shiboken6
from pydantic import BaseModel, ValidationError
from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
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
from llmos_desktop.ui.widgets.dialogs import OpenDialogs
from llmos_desktop.ui.widgets.fields import (
    ComboBox,
    DoubleSpinBox,
    SpinBox,
    float_range,
    int_range,
    plain_label,
)
from llmos_desktop.ui.widgets.form_page import (
    align_labels,
    form_hint,
    frame_page,
    group_form,
    scroll_column,
)
from llmos_desktop.ui.widgets.title import page_title

if TYPE_CHECKING:
    from llmos_desktop.core.engines.service import EnginesService
    from llmos_desktop.core.models.hub_token import TokenStore
    from llmos_desktop.ui.settings_engines import EnginesSection

# Sample addresses shown in empty fields: not words, so not translated.
ENDPOINT_EXAMPLE = "https://hub.example.com"
PROXY_EXAMPLE = "http://proxy.example:8080"
CATALOGUE_EXAMPLE = "owner/llm-apps"

log = logging.getLogger(__name__)

SAVE_DELAY_MS = 400
# The Hub endpoints offered by name (core/models/hub.py has the same two).
HUGGING_FACE = "https://huggingface.co"
CHINA_MIRROR = "https://hf-mirror.com"
_CUSTOM = "custom"
_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


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
        token_store: TokenStore | None = None,
        environ: Mapping[str, str] | None = None,
        engines: EnginesService | None = None,
        parent: QWidget | None = None,
    ) -> None:
        """``engines``: the remote engines' service (the section is there only with it)."""
        super().__init__(parent)
        self.setObjectName("settingsPage")
        self._engines = engines
        self.engines_section: EnginesSection | None = None
        self._settings = settings
        self._paths = paths
        self._writer = writer
        self._token_store = token_store
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        self._token_task: asyncio.Task[None] | None = None
        self._dialogs = OpenDialogs()
        self._save_task: asyncio.Task[None] | None = None
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self._on_save_timer_timeout)
        self._row_labels: list[QLabel] = []

        self._build()
        self.show_settings()
        self._connect()
        # The token's state is read off the GUI thread once the event loop runs.
        QTimer.singleShot(0, self._on_token_timer_timeout)

    # --- construction -------------------------------------------------------------------

    def _build(self) -> None:
        self.title_label = page_title(self.tr("Settings"), self)
        self.banner = MessageBanner(self)

        content, column = scroll_column(self, "settings")
        column.addWidget(self._appearance_group(content))
        column.addWidget(self._chat_group(content))
        column.addWidget(self._sampling_group(content))
        column.addWidget(self._loading_group(content))
        column.addWidget(self._storage_group(content))
        column.addWidget(self._hub_group(content))
        if self._engines is not None:
            from llmos_desktop.ui.settings_engines import EnginesSection

            self.engines_section = EnginesSection(self._engines, content)
            column.addWidget(self.engines_section)
        column.addStretch(1)
        align_labels(self._row_labels)
        # And one width for the number fields: a tidy column, whatever their ranges.
        spin_width = max(spin.sizeHint().width() for spin in self._spins())
        for spin in self._spins():
            spin.setMinimumWidth(spin_width)
        self.reset_button.setMinimumWidth(self.reset_button.sizeHint().width() + 24)

        self.scroll_area = frame_page(self, "settings", content, self.title_label, self.banner)

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
        return form_hint(form, text, parent, "settingsHint")

    def _appearance_group(self, parent: QWidget) -> QGroupBox:
        group = QGroupBox(self.tr("Appearance"), parent)
        form = group_form(group, fields_grow=False)
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
        form = group_form(group, fields_grow=False)
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
        form = group_form(group, fields_grow=False)
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
        form = group_form(group, fields_grow=False)
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
        form = group_form(group, fields_grow=True)
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
        return group

    def _hub_group(self, parent: QWidget) -> QGroupBox:
        group = QGroupBox(self.tr("Models and the Hugging Face Hub"), parent)
        form = group_form(group, fields_grow=True)
        self._hub_form = form

        folder_row = QWidget(group)
        folder_layout = QHBoxLayout(folder_row)
        folder_layout.setContentsMargins(0, 0, 0, 0)
        self.models_folder_edit = QLineEdit(folder_row)
        self.models_folder_edit.setObjectName("modelsFolderEdit")
        self.models_folder_edit.setReadOnly(True)
        self.models_folder_edit.setMinimumWidth(260)
        self.open_models_button = QPushButton(self.tr("Open in file manager"), folder_row)
        self.open_models_button.setObjectName("modelsFolderOpenButton")
        self.open_models_button.setAccessibleName(
            self.tr("Open the models folder in the file manager")
        )
        self.choose_models_button = QPushButton(self.tr("Bro&wse…"), folder_row)
        self.choose_models_button.setObjectName("modelsFolderChooseButton")
        self.choose_models_button.setAccessibleName(self.tr("Choose another models folder"))
        self.default_models_button = QPushButton(self.tr("Default"), folder_row)
        self.default_models_button.setObjectName("modelsFolderDefaultButton")
        self.default_models_button.setAccessibleName(
            self.tr("Use the default models folder in the data folder")
        )
        for widget in (
            self.models_folder_edit,
            self.open_models_button,
            self.choose_models_button,
            self.default_models_button,
        ):
            folder_layout.addWidget(widget, 1 if widget is self.models_folder_edit else 0)
        label = QLabel(self.tr("M&odels folder:"), group)
        label.setBuddy(self.models_folder_edit)
        self.models_folder_edit.setAccessibleName(plain_label(label.text()))
        form.addRow(label, folder_row)
        self._row_labels.append(label)
        self._hint(
            form,
            self.tr(
                "Where downloads and copied-in models go. Models already in the old folder "
                "stay there."
            ),
            group,
        )

        self.endpoint_combo = ComboBox(group)
        self.endpoint_combo.setObjectName("hubEndpointCombo")
        env = self._environ.get("HF_ENDPOINT", "").strip()
        self.endpoint_combo.addItem(
            self.tr("Default ({address})").format(address=env or HUGGING_FACE), None
        )
        self.endpoint_combo.addItem(
            self.tr("Mirror for mainland China (hf-mirror.com)"), CHINA_MIRROR
        )
        self.endpoint_combo.addItem(self.tr("Another address"), _CUSTOM)
        self._row(
            form,
            self.tr("Hu&b endpoint:"),
            self.endpoint_combo,
            self.tr("Where models are searched for and downloaded from"),
        )
        self.endpoint_edit = QLineEdit(group)
        self.endpoint_edit.setObjectName("hubEndpointEdit")
        self.endpoint_edit.setPlaceholderText(ENDPOINT_EXAMPLE)
        self.endpoint_edit.setAccessibleName(self.tr("Hub endpoint address"))
        self.endpoint_edit.setMaxLength(2048)
        form.addRow("", self.endpoint_edit)
        self.endpoint_hint = self._hint(
            form,
            self.tr(
                "The default is huggingface.co, or the HF_ENDPOINT environment variable when "
                "it is set. Where the Hub is hard to reach, as often in mainland China, "
                "choose the mirror."
            ),
            group,
        )

        self.proxy_combo = ComboBox(group)
        self.proxy_combo.setObjectName("httpProxyCombo")
        self.proxy_combo.addItem(self.tr("The system's proxy settings"), None)
        self.proxy_combo.addItem(self.tr("No proxy"), "")
        self.proxy_combo.addItem(self.tr("This proxy"), _CUSTOM)
        self._row(
            form,
            self.tr("HTTP prox&y:"),
            self.proxy_combo,
            self.tr("The proxy for the Hub; TLS certificates are always checked"),
        )
        self.proxy_edit = QLineEdit(group)
        self.proxy_edit.setObjectName("httpProxyEdit")
        self.proxy_edit.setPlaceholderText(PROXY_EXAMPLE)
        self.proxy_edit.setAccessibleName(self.tr("Proxy address"))
        self.proxy_edit.setMaxLength(2048)
        form.addRow("", self.proxy_edit)

        token_row = QWidget(group)
        token_layout = QHBoxLayout(token_row)
        token_layout.setContentsMargins(0, 0, 0, 0)
        self.token_label = QLabel(self.tr("Checking…"), token_row)
        self.token_label.setObjectName("hubTokenState")
        self.token_label.setTextFormat(Qt.TextFormat.PlainText)
        self.set_token_button = QPushButton(self.tr("Set token…"), token_row)
        self.set_token_button.setObjectName("hubTokenSetButton")
        self.set_token_button.setAccessibleName(self.tr("Set a Hugging Face token"))
        self.clear_token_button = QPushButton(self.tr("Clear"), token_row)
        self.clear_token_button.setObjectName("hubTokenClearButton")
        self.clear_token_button.setAccessibleName(self.tr("Clear the Hugging Face token"))
        self.clear_token_button.setEnabled(False)
        token_layout.addWidget(self.token_label, 1)
        token_layout.addWidget(self.set_token_button)
        token_layout.addWidget(self.clear_token_button)
        token_title = QLabel(self.tr("Hugging Face token:"), group)
        token_title.setBuddy(self.set_token_button)
        form.addRow(token_title, token_row)
        self._row_labels.append(token_title)
        self._hint(
            form,
            self.tr(
                "For gated and private repositories. Kept in the system keyring (or a file "
                "only you can read) and sent only to the Hub endpoint."
            ),
            group,
        )

        self.catalogue_edit = QLineEdit(group)
        self.catalogue_edit.setObjectName("appsCatalogueEdit")
        self.catalogue_edit.setPlaceholderText(CATALOGUE_EXAMPLE)
        self.catalogue_edit.setMaxLength(200)
        self.catalogue_edit.setClearButtonEnabled(True)
        self.catalogue_edit.editingFinished.connect(self._on_catalogue_edit_finished)
        self._row(
            form,
            self.tr("Apps catalogue:"),
            self.catalogue_edit,
            self.tr("A Hugging Face repository of LLM apps for the Store (empty: none)"),
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
        return [
            self.language_combo,
            self.theme_combo,
            self.enter_sends_check,
            *self._spins(),
            self.endpoint_combo,
            self.endpoint_edit,
            self.proxy_combo,
            self.proxy_edit,
        ]

    def show_settings(self) -> None:
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
            self._show_hub_settings()
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
        self.open_models_button.clicked.connect(self._on_open_models_button_clicked)
        self.choose_models_button.clicked.connect(self._on_choose_models_button_clicked)
        self.default_models_button.clicked.connect(self._on_default_models_button_clicked)
        self.endpoint_combo.currentIndexChanged.connect(self._on_endpoint_combo_changed)
        self.endpoint_edit.editingFinished.connect(self._on_endpoint_edit_finished)
        self.proxy_combo.currentIndexChanged.connect(self._on_proxy_combo_changed)
        self.proxy_edit.editingFinished.connect(self._on_proxy_edit_finished)
        self.set_token_button.clicked.connect(self._on_set_token_button_clicked)
        self.clear_token_button.clicked.connect(self._on_clear_token_button_clicked)

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
        self.show_settings()
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
            self.show_settings()
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
        if self._token_task is not None:
            await asyncio.gather(self._token_task, return_exceptions=True)
        if self.engines_section is not None:
            await self.engines_section.shutdown()

    # --- models and the Hub ---------------------------------------------------------------

    def _show_hub_settings(self) -> None:
        """The Hub section's widgets from the settings (signals already blocked)."""
        s = self._settings
        folder = s.models_folder(self._paths)
        self.models_folder_edit.setText(str(folder))
        self.models_folder_edit.setCursorPosition(0)
        self.open_models_button.setEnabled(folder.is_dir())
        self.default_models_button.setEnabled(s.models_dir is not None)
        endpoint = s.hub_endpoint
        choice = None if endpoint is None else CHINA_MIRROR if endpoint == CHINA_MIRROR else _CUSTOM
        self.endpoint_combo.setCurrentIndex(self.endpoint_combo.findData(choice))
        self.endpoint_edit.setText(endpoint if choice == _CUSTOM and endpoint else "")
        self._show_custom(self.endpoint_edit, choice == _CUSTOM)
        proxy = s.http_proxy
        proxy_choice = None if proxy is None else "" if proxy == "" else _CUSTOM
        self.proxy_combo.setCurrentIndex(self.proxy_combo.findData(proxy_choice))
        self.proxy_edit.setText(proxy or "")
        self._show_custom(self.proxy_edit, proxy_choice == _CUSTOM)
        self.catalogue_edit.setText(s.apps_catalogue_repo or "")

    def _show_custom(self, edit: QLineEdit, shown: bool) -> None:
        """An address field is there only while "another address" is chosen."""
        self._hub_form.setRowVisible(edit, shown)
        edit.setEnabled(shown)

    def _on_open_models_button_clicked(self) -> None:
        self._open_folder(self._settings.models_folder(self._paths))

    def _on_choose_models_button_clicked(self) -> None:
        folder = self._settings.models_folder(self._paths)
        dialog = QFileDialog(self, self.tr("Choose the models folder"), str(folder))
        dialog.setObjectName("modelsFolderDialog")
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(self._on_models_folder_selected)
        self._open_dialog(dialog)

    def _on_models_folder_selected(self, path: str) -> None:
        if path:
            self.set_models_folder(Path(path))

    def _on_default_models_button_clicked(self) -> None:
        self.set_models_folder(None)

    def set_models_folder(self, folder: Path | None) -> None:
        """Use ``folder`` for models (None: the default, in the data folder)."""
        value = None if folder is None or folder == self._paths.models else str(folder)
        if value == self._settings.models_dir:
            return
        self._change("models_dir", value)
        self.show_settings()

    def _on_endpoint_combo_changed(self, _index: int) -> None:
        choice = self.endpoint_combo.currentData()
        self._show_custom(self.endpoint_edit, choice == _CUSTOM)
        if choice == _CUSTOM:
            self.endpoint_edit.setFocus()
            if self.endpoint_edit.text().strip():
                self._on_endpoint_edit_finished()
            return
        if choice != self._settings.hub_endpoint:
            self._change("hub_endpoint", choice)

    def _on_endpoint_edit_finished(self) -> None:
        if self.endpoint_combo.currentData() != _CUSTOM:
            return
        text = self.endpoint_edit.text().strip()
        if not text:
            return
        from llmos_desktop.core.models.hub import resolve_endpoint
        from llmos_desktop.core.models.types import ModelsError

        try:
            endpoint = resolve_endpoint(text, environ={})
        except ModelsError:
            self.banner.show_error(
                self.tr(
                    "The Hub endpoint must be an http:// or https:// address such as "
                    "https://huggingface.co."
                )
            )
            return
        if self.banner.kind == "error":
            self.banner.clear()
        if endpoint != self._settings.hub_endpoint:
            self._change("hub_endpoint", endpoint)
        self.endpoint_edit.setText(endpoint)

    def _on_proxy_combo_changed(self, _index: int) -> None:
        choice = self.proxy_combo.currentData()
        self._show_custom(self.proxy_edit, choice == _CUSTOM)
        if choice == _CUSTOM:
            self.proxy_edit.setFocus()
            if self.proxy_edit.text().strip():
                self._on_proxy_edit_finished()
            return
        if choice != self._settings.http_proxy:
            self._change("http_proxy", choice)

    def _on_proxy_edit_finished(self) -> None:
        if self.proxy_combo.currentData() != _CUSTOM:
            return
        text = self.proxy_edit.text().strip()
        if not text:
            return
        if not valid_proxy(text):
            self.banner.show_error(
                self.tr(
                    "The proxy must be an address such as http://proxy.example:8080 "
                    "(http, https or socks5)."
                )
            )
            return
        if self.banner.kind == "error":
            self.banner.clear()
        if text != self._settings.http_proxy:
            self._change("http_proxy", text)

    def _on_catalogue_edit_finished(self) -> None:
        from llmos_desktop.core.models.hub import check_repo_id
        from llmos_desktop.core.models.types import ModelsError

        text = self.catalogue_edit.text().strip()
        if text:
            try:
                check_repo_id(text)
            except ModelsError:
                self.banner.show_error(
                    self.tr("The apps catalogue must be a repository such as owner/name.")
                )
                return
        if self.banner.kind == "error":
            self.banner.clear()
        value = text or None
        if value != self._settings.apps_catalogue_repo:
            self._change("apps_catalogue_repo", value)

    # --- the token ------------------------------------------------------------------------

    def token_store(self) -> TokenStore:
        """The token store: the one given, else the one the models service uses."""
        if self._token_store is None:
            from llmos_desktop.core.models.hub_token import TokenStore
            from llmos_desktop.core.models.service import TOKEN_FILE

            self._token_store = TokenStore(self._paths.config / TOKEN_FILE)
        return self._token_store

    @property
    def token_busy(self) -> bool:
        return self._token_task is not None and not self._token_task.done()

    def _on_token_timer_timeout(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # built without a running loop (a script): wait for it
            QTimer.singleShot(50, self._on_token_timer_timeout)
            return
        self._token_task = asyncio.ensure_future(self._token_call(None))

    def _on_set_token_button_clicked(self) -> None:
        from llmos_desktop.ui.models.token_dialog import TokenDialog

        dialog = TokenDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._start_token_call(("set", dialog.token())))
        self._open_dialog(dialog)

    def _on_clear_token_button_clicked(self) -> None:
        self._start_token_call(("clear", ""))

    def _start_token_call(self, change: tuple[str, str]) -> None:
        self._token_task = asyncio.ensure_future(self._token_call(change))

    async def _token_call(self, change: tuple[str, str] | None) -> None:
        """Set or clear the token (or only read where it is), off the GUI thread."""
        if change is not None:  # reading where it is changes nothing: the buttons stay
            self.set_token_button.setEnabled(False)
            self.clear_token_button.setEnabled(False)
        loop = asyncio.get_running_loop()
        try:
            store = await loop.run_in_executor(None, self.token_store)
            if change is not None:
                action, token = change
                if action == "set":
                    await loop.run_in_executor(None, store.set, token)
                else:
                    await loop.run_in_executor(None, store.clear)
            where = await loop.run_in_executor(None, store.where)
        except Exception as exc:
            log.warning("settings page: the token could not be changed: %s", exc)
            if shiboken6.isValid(self.token_label):
                self.token_label.setText(self.tr("The token could not be read or saved."))
                self.banner.show_error(
                    self.tr("The token was not saved: {error}").format(error=exc)
                )
                self.set_token_button.setEnabled(True)
            return
        if not shiboken6.isValid(self.token_label):
            return  # the page was closed meanwhile
        self.token_label.setText(
            self.tr("No token")
            if where is None
            else self.tr("A token is kept in the system keyring")
            if where == "keyring"
            else self.tr("A token is kept in a file only you can read")
        )
        self.set_token_button.setEnabled(True)
        self.clear_token_button.setEnabled(where is not None)
        if change is not None:
            self.settings_changed.emit("hf_token")

    def _open_dialog(self, dialog: QDialog) -> None:
        self._dialogs.open(dialog)

    @property
    def dialogs(self) -> list[QDialog]:
        """The dialogs open now (tests answer them)."""
        return self._dialogs.showing()

    def _open_folder(self, folder: Path) -> None:
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.banner.show_error(
                self.tr("No file manager could open {folder}.").format(folder=folder)
            )


def valid_proxy(proxy: str) -> bool:
    """An http(s) or socks5 proxy URL with a host (what the Hub client accepts)."""
    if not proxy.isprintable() or any(c.isspace() for c in proxy):
        return False
    try:
        parts = urlsplit(proxy)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return False
    return parts.scheme.lower() in _PROXY_SCHEMES and bool(parts.hostname)
