"""Task scores end to end: a store app run over a dataset on the engine, then scored.

The lab measures an app as a user would get it, so each pair goes through the same path
as ``llmos apps run`` and the Store page: ``AppRunner`` (core/apps/runner.py) on the
``Engine`` service, with the app's own system prompt, template, stop strings and token
limit, in the engine process (never llama.cpp in this one). What differs:

- **Greedy decoding.** The app's temperature is set to 0 for the run. A score compares
  models (or quantizations of one model); with sampling, two runs of the same model
  differ, and that noise would be read as a difference between the models. The rest of
  the app's sampling (repeat penalty, stop strings, ``max_tokens``) is kept.
- **Inputs are checked first.** Every pair's inputs go through the app's validation
  (``Dataset.inputs_for``) before the model is loaded.
- **One failure stops the run** with ``LabError("app_failed")`` naming the pair: a score
  over the pairs that happened to work would not be comparable with another model's.
  Cancelling the awaiting task stops the reply being generated (the runner's Stop).

The outputs are then scored with scores.py (sacrebleu, rouge-score) on an executor
thread: the libraries' import and the scoring take a moment that the GUI's loop must
not wait for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from llmos_desktop.core.lab.scores import METRICS, Metric, MetricScore
from llmos_desktop.core.lab.types import LabError, LabProgress, ScoreResult
from llmos_desktop.core.text import one_line

if TYPE_CHECKING:
    from llmos_desktop.core.apps.manifest import AppManifest
    from llmos_desktop.core.apps.runner import AppRunner
    from llmos_desktop.core.engine.contract import ModelLoad
    from llmos_desktop.core.lab.datasets import Dataset, DatasetPair

__all__ = ["PairOutput", "ScoreRun", "greedy", "run_dataset", "score_app", "score_outputs"]

MAX_OUTPUT_CHARS_KEPT: Final = 4000
"""How much of each output a stored result keeps (the score used all of it)."""

ProgressCallback = Callable[[LabProgress], None]


@dataclass(frozen=True)
class PairOutput:
    """What the app wrote for one pair, and why its reply ended."""

    pair: DatasetPair
    output: str
    stopped_by: str | None = None


@dataclass(frozen=True)
class ScoreRun:
    """An app's outputs over a dataset and their scores, one per metric asked for."""

    app_id: str
    dataset: Dataset
    model: str
    outputs: tuple[PairOutput, ...]
    scores: dict[Metric, MetricScore]
    seconds: float
    max_tokens: int | None = None

    def result(self, metric: Metric) -> ScoreResult:
        """``metric``'s score as the lab stores and shows it (types.ScoreResult): the
        library's details, the dataset, and each pair's output (cut at
        ``MAX_OUTPUT_CHARS_KEPT``)."""
        score = self.scores[metric]
        details: dict[str, Any] = {
            **score.details,
            "lang": score.lang,
            "dataset": self.dataset.name,
            "dataset_path": str(self.dataset.path) if self.dataset.path is not None else None,
            "decoding": "greedy (temperature 0)",
            "max_tokens": self.max_tokens,
            "seconds": self.seconds,
            "outputs": [
                {
                    "line": item.pair.line,
                    "id": item.pair.id,
                    "output": item.output[:MAX_OUTPUT_CHARS_KEPT],
                    "stopped_by": item.stopped_by,
                }
                for item in self.outputs
            ],
        }
        return ScoreResult(
            app_id=self.app_id,
            metric=metric,
            score=score.score,
            n_pairs=score.n_pairs,
            model=self.model,
            details=details,
        )


def greedy(app: AppManifest) -> AppManifest:
    """``app`` with temperature 0 (see the module docstring)."""
    return app.model_copy(update={"sampling": app.sampling.model_copy(update={"temperature": 0.0})})


async def run_dataset(
    runner: AppRunner,
    app: AppManifest,
    dataset: Dataset,
    *,
    model_load: ModelLoad | None = None,
    max_tokens: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> list[PairOutput]:
    """Run ``app`` (greedy) on every pair of ``dataset`` on the runner's engine, loading
    ``model_load`` first when the engine holds another model (None: the loaded one).
    LabError("invalid_dataset") for inputs the app refuses (before anything runs),
    LabError("app_failed") for a run that fails."""
    from llmos_desktop.core.apps.manifest import AppError
    from llmos_desktop.core.apps.runner import AppRunResult

    loop = asyncio.get_running_loop()
    values = await loop.run_in_executor(None, dataset.inputs_for, app)
    chosen = greedy(app)
    report = on_progress or (lambda _progress: None)
    total = len(dataset.pairs)

    def on_load(event: dict[str, Any]) -> None:
        if event.get("type") == "progress":
            value = event.get("progress")
            fraction = float(value) if isinstance(value, int | float) else None
            if fraction is not None:
                fraction = min(1.0, max(0.0, fraction))
            report(LabProgress(fraction, "loading"))

    outputs: list[PairOutput] = []
    for index, (pair, inputs) in enumerate(zip(dataset.pairs, values, strict=True)):
        report(LabProgress(index / total, "running", f"{pair.label} ({index + 1}/{total})"))
        result = AppRunResult(mode=chosen.mode)
        try:
            async for _piece in runner.run(
                chosen,
                inputs,
                model_load=model_load,
                result=result,
                max_tokens=max_tokens,
                on_load_progress=on_load,
            ):
                pass
        except AppError as exc:
            raise LabError(
                "app_failed", f"{app.id} failed on {pair.label}: {one_line(str(exc), 300)}"
            ) from exc
        outputs.append(PairOutput(pair, result.text.strip(), result.chat.stopped_by))
    report(LabProgress(1.0, "running", f"{total}/{total}"))
    return outputs


def score_outputs(
    dataset: Dataset, outputs: Sequence[PairOutput], metrics: Sequence[Metric]
) -> dict[Metric, MetricScore]:
    """Each metric of the outputs against the dataset's references (blocking)."""
    from llmos_desktop.core.lab.scores import score

    hypotheses = [item.output for item in outputs]
    references = [item.pair.references for item in outputs]
    return {metric: score(metric, hypotheses, references, lang=dataset.lang) for metric in metrics}


async def score_app(
    runner: AppRunner,
    app: AppManifest,
    dataset: Dataset,
    metrics: Sequence[Metric],
    *,
    model_load: ModelLoad | None = None,
    max_tokens: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> ScoreRun:
    """``run_dataset``, then ``score_outputs`` off the loop: the whole score run."""
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise LabError(
            "invalid_job",
            f"unknown metric {unknown[0] if unknown else '(none)'!r}: one of {', '.join(METRICS)}",
        )
    started = time.monotonic()
    outputs = await run_dataset(
        runner,
        app,
        dataset,
        model_load=model_load,
        max_tokens=max_tokens,
        on_progress=on_progress,
    )
    seconds = time.monotonic() - started
    if on_progress is not None:
        on_progress(LabProgress(None, "scoring"))
    loop = asyncio.get_running_loop()
    scores = await loop.run_in_executor(None, score_outputs, dataset, outputs, list(metrics))
    loaded = runner.engine.loaded
    model = model_load.path if model_load is not None else loaded.path if loaded else ""
    return ScoreRun(
        app_id=app.id,
        dataset=dataset,
        model=model,
        outputs=tuple(outputs),
        scores=scores,
        seconds=seconds,
        max_tokens=max_tokens,
    )
