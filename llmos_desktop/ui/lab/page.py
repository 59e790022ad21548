"""The Lab page: quantize a model, measure it, score it, and compare the results.

``LabPage`` puts the forms (forms.py), the run panel (run_panel.py) and the comparison
view (compare_view.py) in front of ``LabService`` (core/lab/service.py), the one front
the CLI uses too. The views render and forward; this page runs the work:

- **Never on the GUI thread.** Reading the library, a source's header, the stored
  results and comparisons, and building the comparison's rows go through
  ``ServiceBridge.call`` (the loop's executor). Runs are the service's coroutines:
  quantization, perplexity and speed run in the lab's worker process, a score on the
  window's engine; the page awaits them as tasks it keeps.
- **One run at a time.** Each run takes every core (and a speed run on a busy machine
  measures the other run), so the Start buttons wait while one runs.
- **Progress** comes as ``LabProgress`` through the callback the service is given. It may
  be called on another thread, so it only emits a signal; Qt queues it to the GUI thread.
- **Cancel** cancels the task: the service terminates the worker and removes a partial
  file, so nothing half-written is ever listed.
- **Requantizing** an already quantized model loses quality twice: the page asks first
  (the source's type is read from its header) and passes the "lossy" confirmation only
  when the user gave it; a refusal from the service (``requantize_refused``) asks too.
- **Results are stored** by the service. After each run the Compare tab is read again,
  so a comparison shows the new figure; saved comparisons are reopened and extended there.
- **Nothing at start-up**: the page reads nothing until it is first shown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.lab.types import (
    BenchJob,
    BenchResult,
    LabError,
    LabProgress,
    PerplexityJob,
    PerplexityResult,
    QuantizeJob,
    QuantizeResult,
    QuantType,
    ScoreResult,
)
from llmos_desktop.ui.lab import wording
from llmos_desktop.ui.lab.compare_view import ALL_MEASURED, ComparisonView
from llmos_desktop.ui.lab.forms import AppItem, MeasureForm, ModelItem, QuantizeForm, ScoreForm
from llmos_desktop.ui.lab.rows import ComparisonRow, build_rows
from llmos_desktop.ui.lab.run_panel import RunPanel
from llmos_desktop.ui.models.bridge import ServiceBridge
from llmos_desktop.ui.status_bar import EngineState
from llmos_desktop.ui.widgets.banner import MessageBanner
from llmos_desktop.ui.widgets.dialogs import OpenDialogs
from llmos_desktop.ui.widgets.title import page_title

if TYPE_CHECKING:
    from llmos_desktop.core.apps.manifest import AppManifest
    from llmos_desktop.core.engine.control.service import Engine
    from llmos_desktop.core.lab.quantize import SourceInfo
    from llmos_desktop.core.lab.scores import Metric
    from llmos_desktop.core.lab.service import LabService
    from llmos_desktop.core.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

QUANTIZE_TAB, MEASURE_TAB, SCORE_TAB, COMPARE_TAB = range(4)


def _library_items(service: LabService) -> list[ModelItem]:
    items = []
    for model in service.models().library.scan():
        if model.is_mmproj or model.error is not None:
            continue
        items.append(ModelItem(model.path, model.name, model.quant, model.size))
    return items


def _source_info(path: Path) -> SourceInfo:
    from llmos_desktop.core.lab.quantize import inspect_source

    return inspect_source(path)


def _default_out_shown(service: LabService, source: Path, qtype: QuantType) -> Path:
    """Where the service writes a quantization when no file is named (made by nothing)."""
    from llmos_desktop.core.lab.quantize import default_out
    from llmos_desktop.core.lab.service import QUANTIZED_FOLDER

    return service.models().library.folder / QUANTIZED_FOLDER / default_out(source, qtype).name


def _score_apps(service: LabService) -> list[AppManifest]:
    """The apps a score can run: every app of the catalogue or installed, but chat apps
    (they open a chat; the lab runs form and structured apps)."""
    return [item.app for item in service.apps().catalogue() if item.app.mode != "chat"]


def _builtin_datasets() -> list[Path]:
    from llmos_desktop.core.lab.datasets import builtin_datasets

    try:
        return list(builtin_datasets().values())
    except FileNotFoundError:
        return []


def _builtin_text(language: str) -> Path:
    from llmos_desktop.core.lab.perplexity import bundled_text

    return bundled_text("zh" if language == "zh" else "en")


class LabPage(QWidget):
    """Quantize / Measure / Score / Compare, with one run at a time; see the docstring."""

    run_finished = Signal(object)  # the result, a LabError, or None (cancelled)
    # A score loads its model into the window's engine and replies there; the window
    # forwards this to the status bar, as it does the chat's and the Store's.
    engine_state_changed = Signal(object, object, object)  # (EngineState, model, progress)
    model_added = Signal(str)  # a quantized model's path: the Models page lists it again
    comparison_shown = Signal()  # the Compare tab shows what the service has now
    # Emitted from whatever thread the service reports on; queued to the GUI thread.
    progress_reported = Signal(object)  # LabProgress

    def __init__(
        self,
        service: LabService,
        settings: Settings,
        parent: QWidget | None = None,
        *,
        engine: Engine | None = None,
    ) -> None:
        """``service``: the lab, with the window's models, apps and engine in it.
        ``engine``: the same engine, whose loaded model the status bar is told after a
        score (None: the page says nothing about the engine)."""
        super().__init__(parent)
        self.setObjectName("labPage")
        self._service = service
        self._settings = settings
        self._engine = engine
        self._scoring: str | None = None  # the model a running score loads and uses
        self.bridge = ServiceBridge(self)
        self._dialogs = OpenDialogs()
        self._started = False
        self._run_task: asyncio.Task[Any] | None = None
        self._cancel_asked = False
        self._refresh_task: asyncio.Task[None] | None = None
        self._refresh_again = False
        self._comparison = ALL_MEASURED
        self._comparison_models: list[str] | None = None
        self._source: SourceInfo | LabError | None = None  # the quantize source's header

        self.title_label = page_title(self.tr("Lab"), self)
        self.banner = MessageBanner(self)

        self.quantize_form = QuantizeForm(self)
        self.measure_form = MeasureForm(self)
        self.score_form = ScoreForm(self)
        self.compare_view = ComparisonView(self)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("labTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.quantize_form, self.tr("&Quantize"))
        self.tabs.addTab(self.measure_form, self.tr("&Measure"))
        self.tabs.addTab(self.score_form, self.tr("&Score"))
        self.tabs.addTab(self.compare_view, self.tr("&Compare"))
        self.tabs.setAccessibleName(self.tr("Lab sections"))
        self.tabs.tabBar().setAccessibleName(self.tr("Lab sections"))
        self.run_panel = RunPanel(self)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 12)
        layout.setSpacing(10)
        layout.addWidget(self.title_label)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.run_panel)
        self._connect()

    def _connect(self) -> None:
        self.progress_reported.connect(self._on_service_progress)
        self.run_panel.cancel_requested.connect(self.cancel)
        quantize = self.quantize_form
        quantize.start_requested.connect(self._on_quantize_form_start_requested)
        quantize.source.browse_requested.connect(
            lambda: self._ask_model_file(quantize.source.add_file)
        )
        quantize.source.changed.connect(self._on_quantize_source_changed)
        quantize.type_combo.currentIndexChanged.connect(lambda _i: self._update_source_note())
        quantize.out_button.clicked.connect(self._on_quantize_out_button_clicked)
        measure = self.measure_form
        measure.perplexity_requested.connect(self._on_measure_form_perplexity_requested)
        measure.bench_requested.connect(self._on_measure_form_bench_requested)
        measure.model.browse_requested.connect(lambda: self._ask_model_file(measure.model.add_file))
        measure.text_browse_requested.connect(self._on_measure_form_text_browse_requested)
        score = self.score_form
        score.start_requested.connect(self._on_score_form_start_requested)
        score.model.browse_requested.connect(lambda: self._ask_model_file(score.model.add_file))
        score.data_browse_requested.connect(self._on_score_form_data_browse_requested)
        view = self.compare_view
        view.comparison_chosen.connect(self._on_compare_view_comparison_chosen)
        view.save_requested.connect(self._on_compare_view_save_requested)
        view.add_requested.connect(self._on_compare_view_add_requested)
        view.remove_requested.connect(self._on_compare_view_remove_requested)
        view.refresh_requested.connect(lambda: self.refresh_comparison())

    # --- public API ---------------------------------------------------------------------

    def start(self) -> None:
        """Read the library, the apps, the datasets and the results (on first show)."""
        if self._started:
            return
        self._started = True
        self.bridge.start(self._load_choices())
        self.refresh_comparison()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.start()

    @property
    def running(self) -> bool:
        return self._run_task is not None and not self._run_task.done()

    @property
    def busy(self) -> bool:
        return self.bridge.busy or self.running

    def cancel(self) -> None:
        """Stop the run (its worker is terminated, a partial file removed)."""
        if self.running:
            assert self._run_task is not None
            self._cancel_asked = True
            self.run_panel.set_cancelling()
            self._run_task.cancel()

    async def shutdown(self) -> None:
        """Cancel the run and every task, and wait for them (the window is closing)."""
        self.cancel()
        self._dialogs.close_all()
        if self._run_task is not None:
            await asyncio.gather(self._run_task, return_exceptions=True)
        await self.bridge.shutdown()

    @property
    def dialogs(self) -> list[QDialog]:
        """The dialogs open now (tests answer them)."""
        return self._dialogs.showing()

    def reload_models(self) -> asyncio.Task[None]:
        """Read the library again (the window calls it when the Models page changed it)."""
        return self.bridge.start(self._load_models())

    # --- choices ------------------------------------------------------------------------

    async def _load_choices(self) -> None:
        await self._load_models()
        await self._load_apps()
        datasets = await self.bridge.call(_builtin_datasets)
        self.score_form.set_datasets(datasets)

    async def _load_models(self) -> None:
        try:
            items = await self.bridge.call(_library_items, self._service)
        except Exception as exc:
            self.banner.show_error(
                self.tr("The library could not be read: {error}").format(error=exc)
            )
            return
        for chooser in (
            self.quantize_form.source,
            self.measure_form.model,
            self.score_form.model,
        ):
            chooser.set_models(items)

    async def _load_apps(self) -> None:
        try:
            apps = await self.bridge.call(_score_apps, self._service)
        except Exception as exc:
            self.banner.show_error(self.tr("The apps could not be read: {error}").format(error=exc))
            return
        from llmos_desktop.ui.store.wording import localized_name, ui_language

        language = ui_language()
        self.score_form.set_apps([AppItem(app.id, localized_name(app, language)) for app in apps])

    def _ask_model_file(self, chosen: Callable[[Path], None]) -> None:
        dialog = QFileDialog(self, self.tr("Choose a model file"), str(Path.home()))
        dialog.setObjectName("labModelFileDialog")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilters([self.tr("GGUF models (*.gguf)"), self.tr("All files (*)")])
        dialog.fileSelected.connect(lambda path: chosen(Path(path)) if path else None)
        self._dialogs.open(dialog, delete_on_close=True)

    def _on_measure_form_text_browse_requested(self) -> None:
        dialog = QFileDialog(self, self.tr("Choose a text"), str(Path.home()))
        dialog.setObjectName("labTextFileDialog")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilters([self.tr("Text files (*.txt)"), self.tr("All files (*)")])
        dialog.fileSelected.connect(
            lambda path: self.measure_form.set_text_file(Path(path)) if path else None
        )
        self._dialogs.open(dialog, delete_on_close=True)

    def _on_score_form_data_browse_requested(self) -> None:
        dialog = QFileDialog(self, self.tr("Choose a dataset"), str(Path.home()))
        dialog.setObjectName("labDataFileDialog")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilters([self.tr("JSON Lines (*.jsonl)"), self.tr("All files (*)")])
        dialog.fileSelected.connect(
            lambda path: self.score_form.add_dataset(Path(path)) if path else None
        )
        self._dialogs.open(dialog, delete_on_close=True)

    def _on_quantize_out_button_clicked(self) -> None:
        form = self.quantize_form
        source = form.source.path()
        start = form.out_path() or (
            _default_out_shown(self._service, source, form.qtype())
            if source is not None
            else Path.home()
        )
        dialog = QFileDialog(self, self.tr("Write the quantized model to"), str(start))
        dialog.setObjectName("labOutFileDialog")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("gguf")
        dialog.setNameFilters([self.tr("GGUF models (*.gguf)")])
        dialog.fileSelected.connect(lambda path: form.out_edit.setText(path) if path else None)
        self._dialogs.open(dialog, delete_on_close=True)

    # --- the quantize source ------------------------------------------------------------

    def _on_quantize_source_changed(self) -> None:
        self._source = None
        self._update_source_note()
        path = self.quantize_form.source.path()
        if path is not None:
            self.bridge.start(self._inspect_source(path))

    async def _inspect_source(self, path: Path) -> None:
        try:
            info: SourceInfo | LabError = await self.bridge.call(_source_info, path)
        except LabError as exc:
            info = exc
        if self.quantize_form.source.path() == path:
            self._source = info
            self._update_source_note()

    def _update_source_note(self) -> None:
        form = self.quantize_form
        source = form.source.path()
        info = self._source
        if source is None:
            form.source_note.setText(self.tr("Choose an F32, F16 or BF16 GGUF file."))
            form.out_edit.setPlaceholderText(
                self.tr("In the models folder (quantized), named after the type")
            )
            return
        qtype = form.qtype()
        form.out_edit.setPlaceholderText(str(_default_out_shown(self._service, source, qtype)))
        if isinstance(info, LabError):
            form.source_note.setText(wording.error_text(info))
            return
        if info is None:
            form.source_note.setText(self.tr("Reading the file…"))
            return
        from llmos_desktop.core.lab.quantize import estimate_output_bytes

        estimate = self.tr("{type}: about {size}.").format(
            type=qtype.value, size=wording.size_text(estimate_output_bytes(info, qtype))
        )
        if info.is_quantized:
            form.source_note.setText(
                self.tr(
                    "This model is already quantized ({type}): quantizing it again loses "
                    "quality twice. You will be asked to confirm."
                ).format(type=info.file_type or self.tr("unknown type"))
                + " "
                + estimate
            )
        else:
            form.source_note.setText(
                self.tr("{type} source, {size}.").format(
                    type=info.file_type, size=wording.size_text(info.size_bytes)
                )
                + " "
                + estimate
            )

    # --- runs ---------------------------------------------------------------------------

    def _begin(self, title: str, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None:
        if self.running:
            work.close()
            self.banner.show_info(self.tr("A run is in progress: wait for it or cancel it."))
            return None
        self.banner.clear()
        self._cancel_asked = False
        self.run_panel.start(title)
        self._set_start_enabled(False)
        self._run_task = asyncio.ensure_future(work)
        self._run_task.add_done_callback(lambda _task: self._set_start_enabled(True))
        return self._run_task

    def _set_start_enabled(self, enabled: bool) -> None:
        for button in (
            self.quantize_form.start_button,
            self.measure_form.perplexity_button,
            self.measure_form.bench_button,
            self.score_form.start_button,
        ):
            button.setEnabled(enabled)

    def _report(self, progress: LabProgress) -> None:
        """The service's progress callback: any thread, so only a signal is emitted."""
        self.progress_reported.emit(progress)

    def _on_service_progress(self, progress: object) -> None:
        if isinstance(progress, LabProgress):
            self.run_panel.set_progress(
                progress.fraction, wording.stage_text(progress.stage, progress.detail)
            )
            if self._scoring is not None and progress.stage == "loading":
                self.engine_state_changed.emit(
                    EngineState.LOADING, self._scoring, progress.fraction
                )
            elif self._scoring is not None and progress.stage == "running":
                self.engine_state_changed.emit(EngineState.REPLYING, self._scoring, None)

    async def _run(
        self,
        work: Coroutine[Any, Any, T],
        describe: Callable[[T], str],
        after: Callable[[T], None] | None = None,
    ) -> T | None:
        """Await ``work``; the run panel shows its result, its error or the cancel, and
        ``after`` (the result's follow-up) runs before ``run_finished`` is emitted."""
        try:
            result = await work
        except asyncio.CancelledError:
            self.run_panel.finish(self.tr("Cancelled; nothing unfinished was kept."))
            self._finished(None)
            if not self._cancel_asked:
                raise
            return None
        except LabError as exc:
            if exc.kind == "cancelled":
                self.run_panel.finish(self.tr("Cancelled; nothing unfinished was kept."))
                self._finished(None)
            else:
                self.run_panel.finish(wording.error_text(exc), error=True)
                self._finished(exc)
            return None
        except Exception as exc:  # the window outlives any surprise
            log.exception("lab run failed")
            self.run_panel.finish(wording.error_text(exc), error=True)
            self._finished(LabError("worker_crashed", str(exc)))
            return None
        self.run_panel.finish(describe(result))
        if after is not None:
            after(result)
        self.refresh_comparison()
        self._finished(result)
        return result

    def _finished(self, outcome: object) -> None:
        """The run is over (its task ends right after): Start works again."""
        self._set_start_enabled(True)
        self.run_finished.emit(outcome)

    # --- quantize -----------------------------------------------------------------------

    def _on_quantize_form_start_requested(self) -> None:
        self.quantize()

    def quantize(self, *, allow_requantize: bool = False) -> asyncio.Task[Any] | None:
        """Quantize the form's source to its type; an already quantized source is asked
        about first (unless ``allow_requantize``, the user's "lossy" confirmation)."""
        form = self.quantize_form
        source = form.source.path()
        if source is None:
            self.banner.show_error(self.tr("Choose the model to quantize."))
            return None
        info = self._known_source()
        if not allow_requantize and info is not None and info.is_quantized:
            self._ask_requantize(info.file_type)
            return None
        qtype = form.qtype()
        title = self.tr("Quantizing {name} to {type}").format(name=source.name, type=qtype.value)
        return self._begin(title, self._quantize(source, qtype, form.out_path(), allow_requantize))

    def _known_source(self) -> SourceInfo | None:
        """The quantize source's header facts, when they were read."""
        info = self._source
        return None if info is None or isinstance(info, LabError) else info

    def _ask_requantize(self, file_type: str) -> None:
        box = QMessageBox(self)
        box.setObjectName("labRequantizeBox")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(self.tr("Requantize a quantized model"))
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(
            self.tr("This model is already quantized ({type}).").format(
                type=file_type or self.tr("unknown type")
            )
        )
        box.setInformativeText(
            self.tr(
                "Quantizing it again is lossy: the result is worse than one made from the "
                "F16 or F32 file. Use the original file if you have it."
            )
        )
        lossy = box.addButton(
            self.tr("Requantize (&lossy)"), QMessageBox.ButtonRole.DestructiveRole
        )
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def finished() -> None:
            if box.clickedButton() is lossy:
                self.quantize(allow_requantize=True)

        box.finished.connect(finished)
        self._dialogs.open(box, delete_on_close=True)

    async def _quantize(
        self, source: Path, qtype: QuantType, out: Path | None, allow_requantize: bool
    ) -> QuantizeResult | None:
        refused = False

        async def work() -> QuantizeResult:
            nonlocal refused
            target: Path = (
                out
                if out is not None
                else await self.bridge.call(self._service.default_out, source, qtype)
            )
            job = QuantizeJob(
                source=source,
                qtype=qtype,
                out=target,
                allow_requantize=allow_requantize,
                n_threads=self._settings.load.n_threads or 0,
            )
            try:
                result: QuantizeResult = await self._service.quantize(job, self._report)
                return result
            except LabError as exc:
                refused = exc.kind == "requantize_refused" and not allow_requantize
                raise

        done = await self._run(work(), self._quantize_text, self._after_quantize)
        if refused:  # the file's header said nothing: the service found it quantized
            known = self._known_source()
            self._ask_requantize(known.file_type if known is not None else "")
        return done

    def _after_quantize(self, result: QuantizeResult) -> None:
        """The new model is in the library: the forms list it, Measure has it chosen."""
        self.model_added.emit(str(result.path))
        self.measure_form.model.add_file(result.path, result.qtype.value, result.size_bytes)
        self.bridge.start(self._load_models())  # the choices stay as they are

    def _quantize_text(self, result: QuantizeResult) -> str:
        reply = " ".join(result.verified_reply.split())[:120]
        return self.tr(
            "Wrote {name} ({type}, {size}) in {seconds} s from {source}. It loaded and "
            "replied “{reply}”. It is in your library; measure it to compare."
        ).format(
            name=result.path.name,
            type=result.qtype.value,
            size=wording.size_text(result.size_bytes),
            seconds=wording.number(result.seconds, 1),
            source=result.source.name,
            reply=reply,
        )

    # --- measure ------------------------------------------------------------------------

    def _on_measure_form_perplexity_requested(self) -> None:
        self.measure_perplexity()

    def measure_perplexity(self) -> asyncio.Task[Any] | None:
        form = self.measure_form
        model = form.model.path()
        if model is None:
            self.banner.show_error(self.tr("Choose the model to measure."))
            return None
        choice, path = form.text_choice()
        text_path = path if path is not None else _builtin_text(choice)
        job = PerplexityJob(
            model=model,
            text_path=text_path,
            n_ctx=form.ctx_spin.value(),
            max_chunks=form.chunks_spin.value() or None,
            n_threads=self._settings.load.n_threads or 0,
        )
        title = self.tr("Perplexity of {name} on {text}").format(
            name=model.name, text=text_path.name
        )
        return self._begin(
            title, self._run(self._service.perplexity(job, self._report), self._perplexity_text)
        )

    def _perplexity_text(self, result: PerplexityResult) -> str:
        return self.tr(
            "Perplexity {ppl} ± {err} (standard error) over {chunks} chunks of {ctx} tokens, "
            "{tokens} tokens scored, in {seconds} s. Lower is better."
        ).format(
            ppl=wording.number(result.ppl, 3),
            err=wording.number(result.ppl_stderr, 3),
            chunks=result.n_chunks,
            ctx=result.n_ctx,
            tokens=result.n_tokens_scored,
            seconds=wording.number(result.seconds, 1),
        )

    def _on_measure_form_bench_requested(self) -> None:
        self.measure_speed()

    def measure_speed(self) -> asyncio.Task[Any] | None:
        form = self.measure_form
        model = form.model.path()
        if model is None:
            self.banner.show_error(self.tr("Choose the model to measure."))
            return None
        if form.pp_spin.value() == 0 and form.tg_spin.value() == 0:
            self.banner.show_error(self.tr("Give a prompt or a generation size above zero."))
            return None
        job = BenchJob(
            model=model,
            n_threads=form.threads_spin.value(),
            n_batch=form.batch_spin.value(),
            n_gpu_layers=form.gpu_spin.value(),
            pp=form.pp_spin.value(),
            tg=form.tg_spin.value(),
            reps=form.reps_spin.value(),
        )
        title = self.tr("Speed of {name}").format(name=model.name)
        return self._begin(
            title, self._run(self._service.bench(job, self._report), self._bench_text)
        )

    def _bench_text(self, result: BenchResult) -> str:
        return self.tr(
            "Prompt processing (pp{pp}): {pp_tps} tokens/s; generation (tg{tg}): {tg_tps} "
            "tokens/s. Median ± spread of {reps} runs, {threads} threads, batch {batch}, "
            "{gpu} GPU layers."
        ).format(
            pp=result.pp,
            tg=result.tg,
            pp_tps=wording.with_error(result.pp_tps_median, result.pp_tps_spread, 1),
            tg_tps=wording.with_error(result.tg_tps_median, result.tg_tps_spread, 1),
            reps=result.reps,
            threads=result.threads,
            batch=result.batch,
            gpu=result.gpu_layers,
        )

    # --- score --------------------------------------------------------------------------

    def _on_score_form_start_requested(self) -> None:
        self.score()

    def score(self) -> asyncio.Task[Any] | None:
        form = self.score_form
        model = form.model.path()
        app_id = form.app_id()
        data = form.dataset()
        if model is None or app_id is None or data is None:
            self.banner.show_error(self.tr("Choose a model, an app and a dataset."))
            return None
        metric = form.chosen_metric()
        title = self.tr("Scoring {app} with {model} ({metric})").format(
            app=app_id, model=model.name, metric=wording.metric_name(metric)
        )
        return self._begin(title, self._score(app_id, data, metric, model))

    async def _score(
        self, app_id: str, data: Path, metric: Metric, model: Path
    ) -> ScoreResult | None:
        self._scoring = model.name
        try:
            return await self._run(
                self._service.score(app_id, data, metric, model, self._report), self._score_text
            )
        finally:
            self._scoring = None
            if self._engine is not None:
                loaded = self._engine.loaded
                self.engine_state_changed.emit(
                    EngineState.READY if loaded is not None else EngineState.NO_MODEL,
                    Path(loaded.path).name if loaded is not None else None,
                    None,
                )

    def _score_text(self, result: ScoreResult) -> str:
        dataset = result.details.get("dataset", "")
        return self.tr("{metric} {score} over {n} pairs of {dataset} (higher is better).").format(
            metric=wording.metric_name(result.metric),
            score=wording.number(result.score, 2),
            n=result.n_pairs,
            dataset=dataset,
        )

    # --- compare ------------------------------------------------------------------------

    def refresh_comparison(self) -> asyncio.Task[None]:
        """Read the stored results and comparisons again and show the chosen one."""
        if self._refresh_task is not None and not self._refresh_task.done():
            self._refresh_again = True
            return self._refresh_task
        self._refresh_task = self.bridge.start(self._refresh())
        return self._refresh_task

    async def _refresh(self) -> None:
        while True:
            self._refresh_again = False
            name = self._comparison
            try:
                comparisons = await self.bridge.call(self._service.comparisons)
                records = await self.bridge.call(self._service.results)
                models: list[str] | None = None
                if name != ALL_MEASURED:
                    chosen = next((c for c in comparisons if c.name == name), None)
                    if chosen is None:
                        name = self._comparison = ALL_MEASURED
                    else:
                        models = list(chosen.models)
                rows = await self.bridge.call(build_rows, records, models)
            except Exception as exc:
                self.banner.show_error(
                    self.tr("The results could not be read: {error}").format(
                        error=wording.error_text(exc)
                    )
                )
                return
            if not self._refresh_again:
                self._comparison_models = models
                self.compare_view.set_comparisons([c.name for c in comparisons], name)
                self.compare_view.set_rows(rows)
                self.comparison_shown.emit()
                return

    def open_comparison(self, name: str) -> asyncio.Task[None]:
        """Show the saved comparison ``name`` (ALL_MEASURED: every measured file)."""
        self._comparison = name
        self.tabs.setCurrentWidget(self.compare_view)
        return self.refresh_comparison()

    def _on_compare_view_comparison_chosen(self, name: str) -> None:
        self.open_comparison(name)

    def save_comparison(self, name: str, models: list[str]) -> asyncio.Task[None]:
        """Keep ``models`` under ``name`` (replacing a comparison of that name), show it."""
        return self.bridge.start(self._save_comparison(name, models))

    async def _save_comparison(self, name: str, models: list[str]) -> None:
        try:
            await self.bridge.call(self._service.save_comparison, name, models)
        except (LabError, OSError, ValueError) as exc:
            self.banner.show_error(
                self.tr("The comparison was not saved: {error}").format(
                    error=wording.error_text(exc)
                )
            )
            return
        self.banner.show_info(self.tr("Comparison “{name}” saved.").format(name=name))
        await self.open_comparison(name)

    def _shown_models(self) -> list[str]:
        return [row.model_path for row in self.compare_view.rows()]

    def _on_compare_view_save_requested(self) -> None:
        models = self.compare_view.selected_paths() or self._shown_models()
        if not models:
            self.banner.show_error(self.tr("There is nothing to compare yet."))
            return
        dialog = QInputDialog(self)
        dialog.setObjectName("labSaveComparisonDialog")
        dialog.setWindowTitle(self.tr("Save the comparison"))
        dialog.setLabelText(
            self.tr("Name for these {n} models (an existing name is replaced):").format(
                n=len(models)
            )
        )
        if self._comparison != ALL_MEASURED:
            dialog.setTextValue(self._comparison)

        def accepted() -> None:
            name = dialog.textValue().strip()
            if name:
                self.save_comparison(name, models)

        dialog.accepted.connect(accepted)
        self._dialogs.open(dialog, delete_on_close=True)

    def _on_compare_view_add_requested(self) -> None:
        self.bridge.start(self._ask_add_models())

    async def _ask_add_models(self) -> None:
        """A list of the files that could join the comparison: every measured file and
        every model of the library that is not in it already."""
        records = await self.bridge.call(self._service.results)
        known = list(dict.fromkeys(r.model_path for r in records))
        items = await self.bridge.call(_library_items, self._service)
        known += [str(i.path) for i in items if str(i.path) not in known]
        shown = set(self._shown_models())
        offered = [path for path in known if path not in shown]
        dialog = QDialog(self)
        dialog.setObjectName("labAddModelsDialog")
        dialog.setWindowTitle(self.tr("Add models to the comparison"))
        listing = QListWidget(dialog)
        listing.setObjectName("labAddModelsList")
        listing.setAccessibleName(self.tr("Models to add"))
        for path in offered:
            item = QListWidgetItem(Path(path).name, listing)
            item.setToolTip(path)
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
        note = QLabel(
            self.tr("Models not measured yet are listed too: measure them to fill their row.")
            if offered
            else self.tr("Every model is in this comparison already."),
            dialog,
        )
        note.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, dialog
        )
        add = buttons.button(QDialogButtonBox.StandardButton.Ok)
        assert isinstance(add, QPushButton)
        add.setText(self.tr("&Add"))
        buttons.accepted.connect(dialog.accept)
        buttons.rejected.connect(dialog.reject)
        layout = QVBoxLayout(dialog)
        layout.addWidget(note)
        layout.addWidget(listing, 1)
        layout.addWidget(buttons)
        dialog.resize(520, 380)

        def accepted() -> None:
            chosen = [
                str(listing.item(i).data(Qt.ItemDataRole.UserRole))
                for i in range(listing.count())
                if listing.item(i).checkState() == Qt.CheckState.Checked
            ]
            if chosen:
                self.add_to_comparison(chosen)

        dialog.accepted.connect(accepted)
        self._dialogs.open(dialog, delete_on_close=True)

    def add_to_comparison(self, models: list[str]) -> asyncio.Task[None] | None:
        """Add ``models`` to the comparison shown (a new one is named first when every
        measured model is shown)."""
        if self._comparison == ALL_MEASURED:
            combined = list(dict.fromkeys([*self._shown_models(), *models]))
            dialog = QInputDialog(self)
            dialog.setObjectName("labSaveComparisonDialog")
            dialog.setWindowTitle(self.tr("Save the comparison"))
            dialog.setLabelText(self.tr("Name for the new comparison:"))
            dialog.accepted.connect(
                lambda: (
                    self.save_comparison(dialog.textValue().strip(), combined)
                    if dialog.textValue().strip()
                    else None
                )
            )
            self._dialogs.open(dialog, delete_on_close=True)
            return None
        return self.bridge.start(self._extend_comparison(self._comparison, models))

    async def _extend_comparison(self, name: str, models: list[str]) -> None:
        try:
            await self.bridge.call(self._service.extend_comparison, name, models)
        except (LabError, OSError, ValueError) as exc:
            self.banner.show_error(
                self.tr("The comparison was not saved: {error}").format(
                    error=wording.error_text(exc)
                )
            )
            return
        await self.open_comparison(name)

    def _on_compare_view_remove_requested(self, paths: list[str]) -> None:
        if self._comparison == ALL_MEASURED or not paths:
            return
        kept = [p for p in (self._comparison_models or []) if p not in set(paths)]
        self.save_comparison(self._comparison, kept)

    def comparison_rows(self) -> list[ComparisonRow]:
        return self.compare_view.rows()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.LanguageChange and self._started:
            self._update_source_note()
