"""``LabService``: the one front of the Lab page and of ``llmos lab``.

It puts the lab's parts together so the window and the command line measure the same
way and keep their results in the same place:

- **Quantize, perplexity, speed** go to a lab worker process (worker_client.run_job:
  ``python -m llmos_desktop --lab-worker``), never into the calling process, which may
  be the GUI. Cancelling the awaiting task ends the worker and removes a half-written
  quantization (the worker client does that).
- **A quantized model lands in the model library**: a file written inside the models
  folder is listed by the next scan; one written elsewhere is imported in place. Its
  provenance (source file and its SHA-256, source type, new type, date) is the stored
  quantize record (``provenance``); ``default_out`` puts results in the models folder's
  ``quantized/`` folder, named after the source and the type.
- **Task scores** run a store app (core/apps: ``AppsService``, ``AppRunner``) over a
  dataset on the ``Engine`` this service is given (the window's, or the CLI's own child),
  then score the outputs (score_run.py).
- **Every result is stored** (results.py, ``data/lab``): the model file, its size and
  quantization type, what was measured and when; ``results()`` lists them and
  comparisons name a set of models whose records are shown side by side.

The coroutines run on the caller's loop (qasync's in the window) and never block it:
reading headers, datasets, the apps catalogue and the results store happen on the
loop's executor. The blocking helpers (``prepare_score``, ``model_load``,
``default_out``, ``results``...) are for a caller that is already off the loop.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from llmos_desktop.core.lab.types import (
    BenchJob,
    BenchResult,
    Comparison,
    LabError,
    LabProgress,
    LabRecord,
    LabRecordKind,
    PerplexityJob,
    PerplexityResult,
    QuantizeJob,
    QuantizeResult,
    QuantType,
    ScoreResult,
)
from llmos_desktop.core.text import one_line

if TYPE_CHECKING:
    from llmos_desktop.core.apps.manifest import AppManifest
    from llmos_desktop.core.apps.runner import AppEngine
    from llmos_desktop.core.apps.service import AppsService
    from llmos_desktop.core.engine.contract import ModelLoad
    from llmos_desktop.core.lab.datasets import Dataset
    from llmos_desktop.core.lab.results import ResultStore
    from llmos_desktop.core.lab.scores import Metric
    from llmos_desktop.core.models.service import ModelsService
    from llmos_desktop.core.paths import AppPaths
    from llmos_desktop.core.settings import Settings

__all__ = ["QUANTIZED_FOLDER", "LabService"]

log = logging.getLogger(__name__)

QUANTIZED_FOLDER: Final = "quantized"
"""Where ``default_out`` puts quantized models, under the models folder."""
LAB_LOG: Final = "lab.log"
"""The workers' stderr (llama.cpp's log), in the logs folder."""

ProgressCallback = Callable[[LabProgress], None]


class LabService:
    """The lab (see the module docstring), from the app's paths and settings.

    ``engine``: what task scores run on (the window's Engine; the CLI sets its own with
    ``set_engine``). ``apps`` and ``models``: the window's services, when it has them
    (default: made here and closed with this service). ``worker_command``: the worker's
    command line (tests; default the same interpreter or frozen executable).
    """

    def __init__(
        self,
        paths: AppPaths,
        settings: Settings,
        *,
        engine: AppEngine | None = None,
        apps: AppsService | None = None,
        models: ModelsService | None = None,
        worker_command: Sequence[str] | None = None,
    ) -> None:
        self.paths = paths
        self._settings = settings
        self._engine = engine
        self._apps = apps
        self._own_apps = apps is None
        self._models = models
        self._own_models = models is None
        self._worker_command = list(worker_command) if worker_command is not None else None
        self._lock = threading.RLock()
        self._results: ResultStore | None = None
        self._closed = False

    # --- settings and parts ----------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self._settings

    def update_settings(self, settings: Settings) -> None:
        with self._lock:
            self._settings = settings

    def set_engine(self, engine: AppEngine | None) -> None:
        """The engine task scores run on (None: none, ``score`` then refuses)."""
        self._engine = engine

    def apps(self) -> AppsService:
        with self._lock:
            self._check_open()
            if self._apps is None:
                from llmos_desktop.core.apps.service import AppsService

                self._apps = AppsService(self.paths, self._settings, models=self._models)
            return self._apps

    def models(self) -> ModelsService:
        with self._lock:
            self._check_open()
            if self._models is None:
                from llmos_desktop.core.models.service import ModelsService

                self._models = ModelsService(self.paths, self._settings, resume_downloads=False)
            return self._models

    def store(self) -> ResultStore:
        """The stored results, ``data/lab/results.db`` (blocking the first time: it opens
        the file; ``recovered_from`` then says whether a damaged one was moved aside)."""
        with self._lock:
            self._check_open()
            if self._results is None:
                from llmos_desktop.core.lab.results import ResultStore, default_results_path

                self._results = ResultStore(default_results_path(self.paths.data))
            return self._results

    # --- quantize --------------------------------------------------------------------------

    def default_out(self, source: Path, qtype: QuantType) -> Path:
        """Where a quantization of ``source`` goes when the caller names no file: the
        models folder's ``quantized/`` folder (made here), ``NAME-TYPE.gguf``."""
        from llmos_desktop.core.lab.quantize import default_out

        folder = self.models().library.folder / QUANTIZED_FOLDER
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise LabError("io", f"The folder {folder} cannot be made: {reason}.") from exc
        return folder / default_out(source, qtype).name

    async def quantize(
        self, job: QuantizeJob, on_progress: ProgressCallback | None = None
    ) -> QuantizeResult:
        """Quantize in a worker; the result is in the library and stored with its
        provenance. LabError on failure; cancelling ends the worker (no file is left)."""
        from llmos_desktop.core.lab.worker_client import run_job

        result = await run_job(
            job, on_progress, command=self._worker_command, log_path=self.paths.logs / LAB_LOG
        )
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._register, result)
        return result

    def _register(self, result: QuantizeResult) -> None:
        """The new file into the library (in place when outside the models folder) and
        its record into the store. A failure here is logged: the file is there and whole,
        and the user's run is not undone over a registry write."""
        from llmos_desktop.core.models.types import ModelsError

        library = self.models().library
        try:
            library.import_file(result.path, copy=False)
            library.record_origin(
                result.path,
                source=result.source,
                qtype=result.qtype.value,
                created_at=result.created_at,
                source_sha256=result.source_sha256,
            )
        except ModelsError as exc:
            log.warning("lab: %s was not added to the library: %s", result.path, exc)
        self._keep("quantize", result.path, lambda store: store.add_quantize(result))

    def provenance(self, model_path: Path) -> QuantizeResult | None:
        """How the lab made ``model_path`` (the newest quantize record), or None."""
        wanted = str(Path(model_path).absolute())
        for record in self.results(kind="quantize"):
            if record.model_path == wanted:
                try:
                    return QuantizeResult.from_json(record.result)
                except (ValueError, TypeError, LabError):
                    return None
        return None

    # --- measure ---------------------------------------------------------------------------

    async def perplexity(
        self, job: PerplexityJob, on_progress: ProgressCallback | None = None
    ) -> PerplexityResult:
        """Perplexity in a worker, stored."""
        from llmos_desktop.core.lab.worker_client import run_job

        result = await run_job(
            job, on_progress, command=self._worker_command, log_path=self.paths.logs / LAB_LOG
        )
        text = job.text_path.name if job.text_path is not None else "text"
        await self._keep_async(
            "perplexity", job.model, lambda store: store.add_perplexity(job.model, result, text)
        )
        return result

    async def bench(
        self, job: BenchJob, on_progress: ProgressCallback | None = None
    ) -> BenchResult:
        """Speed in a worker, stored."""
        from llmos_desktop.core.lab.worker_client import run_job

        result = await run_job(
            job, on_progress, command=self._worker_command, log_path=self.paths.logs / LAB_LOG
        )
        await self._keep_async("bench", job.model, lambda store: store.add_bench(job.model, result))
        return result

    # --- score -----------------------------------------------------------------------------

    def prepare_score(
        self, app: str | AppManifest, dataset: Path | Dataset
    ) -> tuple[AppManifest, Dataset]:
        """Blocking: the app (installed or from a catalogue) and the dataset, every pair's
        inputs checked against the app. AppError("not_found") for an unknown app,
        LabError("invalid_dataset") for a dataset that does not fit."""
        from llmos_desktop.core.lab.datasets import Dataset, read_dataset

        manifest = self.apps().find(app) if isinstance(app, str) else app
        data = dataset if isinstance(dataset, Dataset) else read_dataset(Path(dataset))
        data.inputs_for(manifest)
        return manifest, data

    def model_load(self, model: str | Path) -> ModelLoad:
        """Blocking: how ``model`` is loaded for a score: the settings' load options, with
        the library's defaults for that file (as the chat page loads it)."""
        from llmos_desktop.core.engine.contract import ModelLoad

        path = str(Path(model).expanduser().absolute())
        options = self.models().load_options_for(path, self._settings.load)
        return ModelLoad(path=path, **options.model_dump())

    async def score(
        self,
        app: str | AppManifest,
        dataset: Path | Dataset,
        metric: Metric,
        model: str | Path | ModelLoad | None = None,
        on_progress: ProgressCallback | None = None,
        *,
        max_tokens: int | None = None,
    ) -> ScoreResult:
        """Run ``app`` over ``dataset`` on the engine (loading ``model`` first; None: the
        loaded model), score the outputs with ``metric``, store the result."""
        from llmos_desktop.core.engine.contract import ModelLoad
        from llmos_desktop.core.lab.score_run import score_app

        engine = self._engine
        if engine is None:
            raise LabError("invalid_job", "No engine to run the app on.")
        loop = asyncio.get_running_loop()
        manifest, data = await loop.run_in_executor(None, self.prepare_score, app, dataset)
        spec: ModelLoad | None
        if model is None or isinstance(model, ModelLoad):
            spec = model
        else:
            spec = await loop.run_in_executor(None, self.model_load, model)
        if spec is None and engine.loaded is None:
            raise LabError("invalid_job", "No model is loaded: choose one to score with.")
        runner = self.apps().runner(engine)
        run = await score_app(
            runner,
            manifest,
            data,
            [metric],
            model_load=spec,
            max_tokens=max_tokens,
            on_progress=on_progress,
        )
        result = run.result(metric)
        model_path = Path(result.model)
        await self._keep_async(
            "score",
            model_path,
            lambda store: store.add_score(model_path, result, f"on {data.name}"),
        )
        return result

    # --- stored results ----------------------------------------------------------------------

    def results(
        self, *, model: str | Path | None = None, kind: LabRecordKind | None = None
    ) -> list[LabRecord]:
        """Blocking: stored records, newest first (of one model file, of one kind)."""
        wanted = _absolute(model) if model is not None else None
        return list(reversed(self.store().records(wanted, kind)))

    def comparisons(self) -> list[Comparison]:
        """Blocking: the saved comparisons, most recently changed first, each with its
        models' records."""
        return self.store().comparisons()

    def comparison(self, name: str) -> Comparison:
        """Blocking: one saved comparison with its models' current records (so one saved
        earlier shows the measurements made since). LabError("invalid_job") when there
        is none of that name."""
        return self.store().comparison(name)

    def save_comparison(self, name: str, models: Sequence[str | Path]) -> Comparison:
        """Blocking: save a comparison of exactly ``models`` (a saved one of the same name
        is replaced)."""
        return self.store().save_comparison(name, [_absolute(m) for m in models])

    def extend_comparison(self, name: str, models: Sequence[str | Path]) -> Comparison:
        """Blocking: add ``models`` to the saved comparison ``name``."""
        return self.store().extend_comparison(name, [_absolute(m) for m in models])

    def delete_comparison(self, name: str) -> None:
        """Blocking: forget a comparison (its models' records stay)."""
        self.store().delete_comparison(name)

    # --- inside --------------------------------------------------------------------------------

    async def _keep_async(
        self, kind: LabRecordKind, model: Path, add: Callable[[ResultStore], object]
    ) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._keep, kind, model, add)

    def _keep(self, kind: LabRecordKind, model: Path, add: Callable[[ResultStore], object]) -> None:
        """Store a result (``add`` writes it). A store that cannot be written is logged,
        not raised: the caller still gets the result it waited for; only the history
        lacks it."""
        try:
            add(self.store())
        except (OSError, sqlite3.Error, LabError) as exc:
            log.warning(
                "lab: a %s result for %s was not stored: %s", kind, model, one_line(str(exc))
            )

    def _check_open(self) -> None:
        if self._closed:
            raise LabError("invalid_job", "The lab service is closed.")

    # --- life cycle ----------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            results, self._results = self._results, None
            apps, self._apps = self._apps, None
            models, self._models = self._models, None
        if results is not None:
            results.close()
        if apps is not None and self._own_apps:
            apps.close()
        if models is not None and self._own_models:
            models.close()

    def __enter__(self) -> LabService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _absolute(model: str | Path) -> str:
    return str(Path(model).expanduser().absolute())
