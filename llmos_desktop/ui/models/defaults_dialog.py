"""Per-model load defaults: context size, GPU layers (with "automatic"), threads, template.

Ranges come from the engine contract (``LoadOptions``'s field bounds), so the dialog can
only make values the engine accepts. "Automatic" GPU layers are resolved at load time by
the service from the fit advice for this machine; "the app's default" falls back to the
Settings page's load options.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.engine.contract import MAX_TEMPLATE_OVERRIDE_CHARS, LoadOptions
from llmos_desktop.core.models.types import LocalModel, ModelDefaults
from llmos_desktop.ui.widgets.fields import ComboBox, SpinBox, int_range, plain_label

GPU_AUTO, GPU_DEFAULT, GPU_ALL, GPU_NONE, GPU_CUSTOM = "auto", "default", "all", "none", "custom"


class ModelDefaultsDialog(QDialog):
    """Edits one model's ``ModelDefaults``; ``defaults()`` reads the result."""

    def __init__(self, model: LocalModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelDefaultsDialog")
        self.setWindowTitle(self.tr("Defaults for {name}").format(name=model.name))
        self._model = model
        intro = QLabel(
            self.tr(
                "How {name} is loaded from the library. Leave a value at its default to use "
                "the Settings page's."
            ).format(name=model.name),
            self,
        )
        intro.setTextFormat(Qt.TextFormat.PlainText)
        intro.setWordWrap(True)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        low, high = int_range(LoadOptions, "n_ctx")
        self._context_low = low
        self.context_spin = SpinBox(self)
        self.context_spin.setObjectName("defaultsContextSpin")
        self.context_spin.setRange(0, high)
        self.context_spin.setSingleStep(1024)
        self.context_spin.setGroupSeparatorShown(True)
        self.context_spin.setSuffix(self.tr(" tokens"))
        self.context_spin.setSpecialValueText(self.tr("App default"))
        self._row(form, self.tr("&Context size:"), self.context_spin)
        if model.context_length:
            hint = QLabel(
                self.tr("Trained for {n} tokens.").format(n=f"{model.context_length:,}"), self
            )
            hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
            form.addRow("", hint)

        self.gpu_combo = ComboBox(self)
        self.gpu_combo.setObjectName("defaultsGpuCombo")
        for text, data in (
            (self.tr("Automatic (what fits this computer)"), GPU_AUTO),
            (self.tr("App default"), GPU_DEFAULT),
            (self.tr("All layers"), GPU_ALL),
            (self.tr("None (CPU only)"), GPU_NONE),
            (self.tr("Number of layers"), GPU_CUSTOM),
        ):
            self.gpu_combo.addItem(text, data)
        self._row(form, self.tr("&GPU layers:"), self.gpu_combo)
        self.gpu_spin = SpinBox(self)
        self.gpu_spin.setObjectName("defaultsGpuSpin")
        self.gpu_spin.setRange(1, int_range(LoadOptions, "n_gpu_layers")[1])
        self._row(form, self.tr("&Layers on the GPU:"), self.gpu_spin)

        self.threads_spin = SpinBox(self)
        self.threads_spin.setObjectName("defaultsThreadsSpin")
        self.threads_spin.setRange(0, int_range(LoadOptions, "n_threads")[1])
        self.threads_spin.setSpecialValueText(self.tr("App default"))
        self._row(form, self.tr("CPU &threads:"), self.threads_spin)

        self.template_edit = QPlainTextEdit(self)
        self.template_edit.setObjectName("defaultsTemplateEdit")
        self.template_edit.setPlaceholderText(
            self.tr("Empty: the model's own chat template (or one chosen by its architecture)")
        )
        self.template_edit.setTabChangesFocus(True)
        self.template_edit.setMinimumHeight(90)
        self._row(form, self.tr("Chat te&mplate override:"), self.template_edit)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.error_label = QLabel(self)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        self.gpu_combo.currentIndexChanged.connect(self._on_gpu_combo_changed)
        self._show(model.defaults)

    def _row(self, form: QFormLayout, text: str, field: QWidget) -> None:
        label = QLabel(text, self)
        label.setBuddy(field)
        field.setAccessibleName(plain_label(text))
        form.addRow(label, field)

    def _show(self, defaults: ModelDefaults) -> None:
        self.context_spin.setValue(defaults.n_ctx or 0)
        layers = defaults.n_gpu_layers
        choice = (
            GPU_AUTO
            if layers == "auto"
            else GPU_DEFAULT
            if layers is None
            else GPU_ALL
            if layers == -1
            else GPU_NONE
            if layers == 0
            else GPU_CUSTOM
        )
        self.gpu_combo.setCurrentIndex(self.gpu_combo.findData(choice))
        if isinstance(layers, int) and layers > 0:
            self.gpu_spin.setValue(layers)
        self.threads_spin.setValue(defaults.n_threads or 0)
        self.template_edit.setPlainText(defaults.chat_template or "")
        self._on_gpu_combo_changed()

    def defaults(self) -> ModelDefaults:
        """The values shown, as ModelDefaults (bounded by the contract)."""
        context = self.context_spin.value()
        if 0 < context < self._context_low:
            context = self._context_low
        choice = self.gpu_combo.currentData()
        layers: int | str | None = {
            GPU_AUTO: "auto",
            GPU_DEFAULT: None,
            GPU_ALL: -1,
            GPU_NONE: 0,
        }.get(choice, self.gpu_spin.value())
        template = self.template_edit.toPlainText()
        return ModelDefaults(
            n_ctx=context or None,
            n_gpu_layers=layers,  # type: ignore[arg-type]  # one of the literal's values
            n_threads=self.threads_spin.value() or None,
            chat_template=template if template.strip() else None,
        )

    def _on_gpu_combo_changed(self, *_args: object) -> None:
        self.gpu_spin.setEnabled(self.gpu_combo.currentData() == GPU_CUSTOM)

    def _on_buttons_accepted(self) -> None:
        if len(self.template_edit.toPlainText()) > MAX_TEMPLATE_OVERRIDE_CHARS:
            self.error_label.setText(
                self.tr("The chat template is too long (at most {n} characters).").format(
                    n=MAX_TEMPLATE_OVERRIDE_CHARS
                )
            )
            self.error_label.show()
            return
        self.accept()
