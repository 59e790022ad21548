"""The Lab's three forms: Quantize, Measure (perplexity, speed) and Score.

Each form only collects what the user chose and asks for a run with a signal; the page
builds the job, runs it through ``LabService`` and shows its progress in the run panel.
The forms know nothing of the service, so they are cheap to build with the window.

- **A model** is chosen from the library (the page fills the list from
  ``ModelLibrary.scan`` off the GUI thread) or, with *Other file…*, any GGUF on disk.
- **Quantize** offers the types of ``QuantType`` with their sizes and what they cost;
  the output defaults to ``<source>-<TYPE>.gguf`` next to the source (the service
  decides; the placeholder says so). Whether the source is already quantized is the
  page's business: it asks for the "lossy" confirmation before the run.
- **Measure** has perplexity (the bundled English or Chinese text, or the user's own
  file; the context size, 512 as llama.cpp's tool) and speed (llama-bench's pp and tg
  sizes, threads, batch, GPU layers, repetitions).
- **Score** runs a store app over a dataset (a bundled one or the user's JSONL) and
  scores it with BLEU, chrF or ROUGE.

Labels are buddies of their fields and every field has an accessible name, so a screen
reader says what each one is; the Tab order follows the form from top to bottom.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.lab.scores import METRICS, Metric
from llmos_desktop.core.lab.types import QuantType
from llmos_desktop.ui.lab import wording
from llmos_desktop.ui.widgets.fields import ComboBox, SpinBox, plain_label

OTHER = "__other__"  # the "Other file…" item's data in the model and text lists


@dataclass(frozen=True)
class ModelItem:
    """A model the forms offer: its file, the name shown and its quantization."""

    path: Path
    name: str
    quant: str | None = None
    size: int | None = None


class ModelChooser(QWidget):
    """A list of the library's models and *Other file…*, which asks for a GGUF file."""

    browse_requested = Signal()  # the page opens a file dialog, then calls add_file
    changed = Signal()

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = ComboBox(self)
        self.combo.setObjectName("labModelCombo")
        self.combo.setAccessibleName(name)
        self.combo.setMinimumContentsLength(28)
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.browse_button = QPushButton(self.tr("Other fi&le…"), self)
        self.browse_button.setObjectName("labBrowseModelButton")
        self.browse_button.setToolTip(self.tr("Choose a GGUF file that is not in the library"))
        self.browse_button.setAutoDefault(False)
        self.browse_button.clicked.connect(self.browse_requested)
        self.combo.currentIndexChanged.connect(lambda _index: self.changed.emit())
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.browse_button)
        self.setFocusProxy(self.combo)
        self._items: list[ModelItem] = []
        self._extra: list[ModelItem] = []  # files chosen with "Other file…"
        self._placeholder()

    def _placeholder(self) -> None:
        if not self._items:
            self.combo.clear()
            self.combo.addItem(self.tr("No model in the library yet"), None)

    def set_models(self, items: list[ModelItem]) -> None:
        """The library's models (files added with *Other file…* stay, and the choice)."""
        current = self.path()
        listed = {m.path for m in items}
        self._items = [*items, *(i for i in self._extra if i.path not in listed)]
        self.combo.blockSignals(True)
        self.combo.clear()
        for item in self._items:
            self.combo.addItem(self._text(item), str(item.path))
        self.combo.blockSignals(False)
        self._placeholder()
        if current is not None:
            self.select(current)
        self.changed.emit()

    def _text(self, item: ModelItem) -> str:
        parts = [item.name]
        if item.quant:
            parts.append(item.quant)
        if item.size:
            parts.append(wording.size_text(item.size))
        return " · ".join(parts)

    def add_file(self, path: Path, quant: str | None = None, size: int | None = None) -> None:
        """A file chosen with *Other file…*: listed (once) and chosen."""
        if all(item.path != path for item in self._items):
            item = ModelItem(path=path, name=path.name, quant=quant, size=size)
            if not self._items:
                self.combo.clear()
            self._items.append(item)
            self._extra.append(item)
            self.combo.addItem(self._text(item), str(path))
        self.select(path)

    def select(self, path: Path) -> bool:
        index = self.combo.findData(str(path))
        if index >= 0:
            self.combo.setCurrentIndex(index)
        return index >= 0

    def path(self) -> Path | None:
        data = self.combo.currentData()
        return Path(data) if isinstance(data, str) else None

    def item(self) -> ModelItem | None:
        path = self.path()
        return next((i for i in self._items if i.path == path), None)


def _start_button(text: str, name: str, parent: QWidget) -> QPushButton:
    button = QPushButton(text, parent)
    button.setObjectName(name)
    button.setAutoDefault(False)
    return button


def _spin(parent: QWidget, low: int, high: int, value: int, name: str) -> SpinBox:
    spin = SpinBox(parent)
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setAccessibleName(name)
    return spin


def _row(form: QFormLayout, label: str, field: QWidget, parent: QWidget) -> QLabel:
    """A labelled row whose label is the field's buddy and names it for screen readers."""
    caption = QLabel(label, parent)
    caption.setBuddy(field)
    if not field.accessibleName():
        field.setAccessibleName(plain_label(label))
    form.addRow(caption, field)
    return caption


def _fill_measure_box(
    box: QGroupBox, explanation: str, rows: list[tuple[str, QWidget]], button: QPushButton
) -> None:
    """A measurement's group: what it measures, its fields, its Start button at the right."""
    explain = QLabel(explanation, box)
    explain.setWordWrap(True)
    form = QFormLayout()
    for label, field in rows:
        _row(form, label, field, box)
    layout = QVBoxLayout(box)
    layout.addWidget(explain)
    layout.addLayout(form)
    buttons = QHBoxLayout()
    buttons.addStretch(1)
    buttons.addWidget(button)
    layout.addLayout(buttons)
    layout.addStretch(1)


class QuantizeForm(QWidget):
    """Source, type and output; ``start_requested`` when Quantize is pressed."""

    start_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("labQuantizeForm")
        self.intro = QLabel(
            self.tr(
                "Make a smaller, faster copy of a model from its F32, F16 or BF16 file. "
                "The copy is loaded once to check that it works, then it is in your library."
            ),
            self,
        )
        self.intro.setWordWrap(True)
        self.source = ModelChooser(self.tr("Source model"), self)
        self.source_note = QLabel(self)
        self.source_note.setObjectName("labSourceNote")
        self.source_note.setTextFormat(Qt.TextFormat.PlainText)
        self.source_note.setWordWrap(True)
        self.type_combo = ComboBox(self)
        self.type_combo.setObjectName("labTypeCombo")
        for qtype in QuantType:
            self.type_combo.addItem(
                self.tr("{type} — {description}, about {bits} bits per weight").format(
                    type=qtype.value,
                    description=wording.type_description(qtype),
                    bits=wording.number(qtype.bits_per_weight, 1),
                ),
                qtype.value,
            )
        self.type_combo.setCurrentIndex(self.type_combo.findData(QuantType.Q4_K_M.value))
        self.out_edit = QLineEdit(self)
        self.out_edit.setObjectName("labOutEdit")
        self.out_edit.setClearButtonEnabled(True)
        self.out_edit.setPlaceholderText(
            self.tr("In the models folder (quantized), named after the type")
        )
        self.out_button = QPushButton(self.tr("Choos&e…"), self)
        self.out_button.setObjectName("labOutButton")
        self.out_button.setAutoDefault(False)
        self.out_button.setAccessibleName(self.tr("Choose where to write the quantized model"))
        out_row = QWidget(self)
        out_layout = QHBoxLayout(out_row)
        out_layout.setContentsMargins(0, 0, 0, 0)
        out_layout.addWidget(self.out_edit, 1)
        out_layout.addWidget(self.out_button)
        out_row.setFocusProxy(self.out_edit)
        self.start_button = _start_button(self.tr("&Quantize"), "labQuantizeButton", self)

        form = QFormLayout()
        _row(form, self.tr("&Source:"), self.source, self)
        form.addRow("", self.source_note)
        _row(form, self.tr("&Type:"), self.type_combo, self)
        caption = _row(form, self.tr("&Output file:"), out_row, self)
        caption.setBuddy(self.out_edit)
        self.out_edit.setAccessibleName(self.tr("Output file"))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.start_button.clicked.connect(self.start_requested)
        self.setTabOrder(self.source.combo, self.source.browse_button)
        self.setTabOrder(self.source.browse_button, self.type_combo)
        self.setTabOrder(self.type_combo, self.out_edit)
        self.setTabOrder(self.out_edit, self.out_button)
        self.setTabOrder(self.out_button, self.start_button)

    def qtype(self) -> QuantType:
        return QuantType(self.type_combo.currentData())

    def set_qtype(self, qtype: QuantType) -> None:
        self.type_combo.setCurrentIndex(self.type_combo.findData(qtype.value))

    def out_path(self) -> Path | None:
        text = self.out_edit.text().strip()
        return Path(text).expanduser() if text else None


class MeasureForm(QWidget):
    """Perplexity (text, context) and speed (sizes, threads...); one Start for each."""

    perplexity_requested = Signal()
    bench_requested = Signal()
    text_browse_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("labMeasureForm")
        self.model = ModelChooser(self.tr("Model to measure"), self)
        model_form = QFormLayout()
        _row(model_form, self.tr("&Model:"), self.model, self)

        self.perplexity_box = QGroupBox(self.tr("Perplexity"), self)
        self.perplexity_box.setObjectName("labPerplexityBox")
        self.text_combo = ComboBox(self.perplexity_box)
        self.text_combo.setObjectName("labTextCombo")
        self.text_combo.addItem(self.tr("English sample (bundled)"), "en")
        self.text_combo.addItem(self.tr("Chinese sample (bundled)"), "zh")
        self.text_combo.addItem(self.tr("Your own text file…"), OTHER)
        self.text_combo.activated.connect(self._on_text_combo_activated)
        self._text_index = 0
        self.ctx_spin = _spin(self.perplexity_box, 64, 32768, 512, "")
        self.ctx_spin.setObjectName("labCtxSpin")
        self.ctx_spin.setSingleStep(128)
        self.ctx_spin.setSuffix(self.tr(" tokens"))
        self.chunks_spin = _spin(self.perplexity_box, 0, 100000, 0, "")
        self.chunks_spin.setObjectName("labChunksSpin")
        self.chunks_spin.setSpecialValueText(self.tr("the whole text"))
        self.perplexity_button = _start_button(
            self.tr("Measure &perplexity"), "labPerplexityButton", self.perplexity_box
        )
        _fill_measure_box(
            self.perplexity_box,
            self.tr(
                "How surprised the model is by a text it has not seen: lower is better. "
                "Compare figures measured on the same text with the same context only."
            ),
            [
                (self.tr("&Text:"), self.text_combo),
                (self.tr("&Context:"), self.ctx_spin),
                (self.tr("C&hunks at most:"), self.chunks_spin),
            ],
            self.perplexity_button,
        )

        self.bench_box = QGroupBox(self.tr("Speed"), self)
        self.bench_box.setObjectName("labBenchBox")
        self.pp_spin = _spin(self.bench_box, 0, 8192, 512, "")
        self.pp_spin.setObjectName("labPpSpin")
        self.tg_spin = _spin(self.bench_box, 0, 4096, 128, "")
        self.tg_spin.setObjectName("labTgSpin")
        self.reps_spin = _spin(self.bench_box, 1, 50, 5, "")
        self.reps_spin.setObjectName("labRepsSpin")
        self.threads_spin = _spin(self.bench_box, 0, 256, 0, "")
        self.threads_spin.setObjectName("labThreadsSpin")
        self.threads_spin.setSpecialValueText(self.tr("automatic"))
        self.batch_spin = _spin(self.bench_box, 1, 8192, 512, "")
        self.batch_spin.setObjectName("labBatchSpin")
        self.gpu_spin = _spin(self.bench_box, -1, 1000, 0, "")
        self.gpu_spin.setObjectName("labGpuSpin")
        self.gpu_spin.setSpecialValueText(self.tr("all"))
        self.bench_button = _start_button(
            self.tr("Measure &speed"), "labBenchButton", self.bench_box
        )
        _fill_measure_box(
            self.bench_box,
            self.tr(
                "Prompt processing and generation in tokens per second, as llama-bench "
                "measures them (pp512, tg128), repeated: the median and the spread."
            ),
            [
                (self.tr("Prompt t&okens (pp):"), self.pp_spin),
                (self.tr("&Generated tokens (tg):"), self.tg_spin),
                (self.tr("&Repetitions:"), self.reps_spin),
                (self.tr("Thre&ads:"), self.threads_spin),
                (self.tr("&Batch:"), self.batch_spin),
                (self.tr("GP&U layers:"), self.gpu_spin),
            ],
            self.bench_button,
        )

        boxes = QHBoxLayout()
        boxes.addWidget(self.perplexity_box, 1)
        boxes.addWidget(self.bench_box, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(model_form)
        layout.addLayout(boxes)
        layout.addStretch(1)
        self.perplexity_button.clicked.connect(self.perplexity_requested)
        self.bench_button.clicked.connect(self.bench_requested)
        self._text_file: Path | None = None
        order: list[QWidget] = [
            self.model.combo,
            self.model.browse_button,
            self.text_combo,
            self.ctx_spin,
            self.chunks_spin,
            self.perplexity_button,
            self.pp_spin,
            self.tg_spin,
            self.reps_spin,
            self.threads_spin,
            self.batch_spin,
            self.gpu_spin,
            self.bench_button,
        ]
        for first, second in itertools.pairwise(order):
            self.setTabOrder(first, second)

    def _on_text_combo_activated(self, index: int) -> None:
        if self.text_combo.itemData(index) == OTHER:
            # Back to the text chosen before until a file is picked (set_text_file).
            self.text_combo.setCurrentIndex(self._text_index)
            self.text_browse_requested.emit()
        else:
            self._text_index = index

    def set_text_file(self, path: Path) -> None:
        """The user's own text: listed under its name and chosen."""
        self._text_file = path
        index = self.text_combo.findData("file")
        label = self.tr("Your text: {name}").format(name=path.name)
        if index < 0:
            self.text_combo.insertItem(2, label, "file")
            index = 2
        else:
            self.text_combo.setItemText(index, label)
        self.text_combo.setCurrentIndex(index)
        self._text_index = index

    def text_choice(self) -> tuple[str, Path | None]:
        """("en" | "zh", None) for a bundled text, ("file", path) for the user's."""
        data = self.text_combo.currentData()
        if data == "file" and self._text_file is not None:
            return "file", self._text_file
        if data in ("en", "zh"):
            return str(data), None
        return "en", None


@dataclass(frozen=True)
class AppItem:
    id: str
    name: str


class ScoreForm(QWidget):
    """Model, app, dataset and metric; ``start_requested`` when Score is pressed."""

    start_requested = Signal()
    data_browse_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("labScoreForm")
        self.intro = QLabel(
            self.tr(
                "Run a store app (translation, summaries) over pairs of input and reference, "
                "and score its answers: BLEU and chrF (sacrebleu), ROUGE (rouge-score)."
            ),
            self,
        )
        self.intro.setWordWrap(True)
        self.model = ModelChooser(self.tr("Model that runs the app"), self)
        self.app_combo = ComboBox(self)
        self.app_combo.setObjectName("labAppCombo")
        self.data_combo = ComboBox(self)
        self.data_combo.setObjectName("labDataCombo")
        self.data_combo.activated.connect(self._on_data_combo_activated)
        self.metric_combo = ComboBox(self)
        self.metric_combo.setObjectName("labMetricCombo")
        for metric in ("bleu", "chrf", "rouge"):
            self.metric_combo.addItem(wording.metric_name(metric), metric)
        self.start_button = _start_button(self.tr("&Score"), "labScoreButton", self)
        form = QFormLayout()
        _row(form, self.tr("&Model:"), self.model, self)
        _row(form, self.tr("&App:"), self.app_combo, self)
        _row(form, self.tr("&Dataset:"), self.data_combo, self)
        _row(form, self.tr("M&etric:"), self.metric_combo, self)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.start_button.clicked.connect(self.start_requested)
        self._datasets: list[Path] = []
        self._data_index = 0
        order: list[QWidget] = [
            self.model.combo,
            self.model.browse_button,
            self.app_combo,
            self.data_combo,
            self.metric_combo,
            self.start_button,
        ]
        for first, second in itertools.pairwise(order):
            self.setTabOrder(first, second)
        self.set_datasets([])
        self.set_apps([])

    def set_apps(self, apps: list[AppItem]) -> None:
        current = self.app_combo.currentData()
        self.app_combo.clear()
        for app in apps:
            self.app_combo.addItem(
                self.tr("{name} ({id})").format(name=app.name, id=app.id), app.id
            )
        if not apps:
            self.app_combo.addItem(self.tr("No app available"), None)
        index = self.app_combo.findData(current)
        if index >= 0:
            self.app_combo.setCurrentIndex(index)

    def set_datasets(self, paths: list[Path], chosen: Path | None = None) -> None:
        """The bundled datasets (and the user's files added since), then *Your own file…*."""
        current = chosen or self.dataset()
        known = list(dict.fromkeys([*paths, *self._datasets]))
        self._datasets = known
        self.data_combo.clear()
        for path in known:
            self.data_combo.addItem(path.name, str(path))
        self.data_combo.addItem(self.tr("Your own JSONL file…"), OTHER)
        if current is not None:
            index = self.data_combo.findData(str(current))
            if index >= 0:
                self.data_combo.setCurrentIndex(index)
        self._data_index = self.data_combo.currentIndex()

    def add_dataset(self, path: Path) -> None:
        self.set_datasets([path], chosen=path)

    def _on_data_combo_activated(self, index: int) -> None:
        if self.data_combo.itemData(index) == OTHER:
            # Back to the dataset chosen before until a file is picked (add_dataset).
            self.data_combo.setCurrentIndex(self._data_index)
            self.data_browse_requested.emit()
        else:
            self._data_index = index

    def app_id(self) -> str | None:
        data = self.app_combo.currentData()
        return data if isinstance(data, str) else None

    def dataset(self) -> Path | None:
        data = self.data_combo.currentData() if hasattr(self, "data_combo") else None
        return Path(data) if isinstance(data, str) and data != OTHER else None

    def chosen_metric(self) -> Metric:
        data = self.metric_combo.currentData()
        return cast("Metric", data if data in METRICS else "bleu")
