"""Speed tests the way llama-bench runs them: prompt processing (pp) and generation (tg).

- ``pp N``: N tokens (BOS first when the model wants it, then random tokens) evaluated
  from an empty KV cache in batches of ``n_batch``; tokens/s = N / seconds.
- ``tg N``: N tokens decoded one at a time, each from the one before (no sampler: the
  model's cost, not the sampler's); tokens/s = N / seconds.
- One warm-up run of each first (not counted), then ``reps`` runs of each, reported as
  the median and the spread (the sample standard deviation, llama-bench's ``+/-``), with
  the threads, batch size and GPU layers that were used. The context is pp + tg tokens,
  as llama-bench sizes it.

The timed decoding is llama_api.lab_time_prompt/lab_time_generation (worker process);
the statistics (``summary``) are here.
"""

from __future__ import annotations

import io
import random
import statistics
import time
from collections.abc import Callable, Sequence

from llmos_desktop.core.lab.types import BenchJob, BenchResult, LabError, LabProgress

__all__ = ["run_bench", "summary"]

Report = Callable[[LabProgress], None]


def summary(samples: Sequence[float]) -> tuple[float, float]:
    """(median, sample standard deviation) of tokens/s samples; (0, 0) with none."""
    if not samples:
        return 0.0, 0.0
    spread = statistics.stdev(samples) if len(samples) > 1 else 0.0
    return float(statistics.median(samples)), float(spread)


def run_bench(job: BenchJob, report: Report) -> BenchResult:
    """The whole speed test, in the worker process."""
    from llmos_desktop.core.engine.process import llama_api
    from llmos_desktop.core.lab.quantize import check_model_file

    check_model_file(job.model)
    if job.pp + job.tg < 1:
        raise LabError("invalid_job", "A speed test needs a prompt size or a generation size.")
    started = time.monotonic()
    report(LabProgress(None, "loading", job.model.name))
    try:
        llm = llama_api.lab_open(
            str(job.model),
            n_ctx=max(16, job.pp + job.tg),
            n_batch=job.n_batch,
            n_threads=job.n_threads,
            n_gpu_layers=job.n_gpu_layers,
            chatter=io.StringIO(),
        )
    except (ValueError, RuntimeError, OSError) as exc:
        raise LabError("load_failed", f"llama.cpp could not load {job.model.name}: {exc}") from exc
    try:
        n_vocab, add_bos, bos = llama_api.lab_vocab(llm)
        threads, _threads_batch = llama_api.lab_threads(llm)
        rng = random.Random(1234)  # llama-bench uses std::rand: random tokens, fixed here

        def tokens(n: int) -> list[int]:
            picked = [rng.randrange(n_vocab) for _ in range(n)]
            if picked and add_bos:
                picked[0] = bos
            return picked

        prompt, generated = tokens(job.pp), tokens(job.tg)
        report(LabProgress(None, "warmup", ""))
        try:
            if job.pp:
                llama_api.lab_time_prompt(llm, prompt, job.n_batch)
            if job.tg:
                llama_api.lab_time_generation(llm, generated[:1])
            pp_samples: list[float] = []
            tg_samples: list[float] = []
            for rep in range(job.reps):
                if job.pp:
                    report(LabProgress(rep / job.reps, "pp", f"pp{job.pp} run {rep + 1}"))
                    seconds = llama_api.lab_time_prompt(llm, prompt, job.n_batch)
                    pp_samples.append(job.pp / max(seconds, 1e-9))
                if job.tg:
                    report(LabProgress(rep / job.reps, "tg", f"tg{job.tg} run {rep + 1}"))
                    seconds = llama_api.lab_time_generation(llm, generated)
                    tg_samples.append(job.tg / max(seconds, 1e-9))
        except RuntimeError as exc:
            raise LabError("load_failed", f"llama.cpp failed during the speed test: {exc}") from exc
    finally:
        llm.close()
    pp_median, pp_spread = summary(pp_samples)
    tg_median, tg_spread = summary(tg_samples)
    report(LabProgress(1.0, "tg" if job.tg else "pp", "done"))
    return BenchResult(
        pp_tps_median=pp_median,
        pp_tps_spread=pp_spread,
        tg_tps_median=tg_median,
        tg_tps_spread=tg_spread,
        threads=threads,
        batch=job.n_batch,
        gpu_layers=job.n_gpu_layers,
        reps=job.reps,
        pp=job.pp,
        tg=job.tg,
        pp_tps_samples=tuple(pp_samples),
        tg_tps_samples=tuple(tg_samples),
        seconds=time.monotonic() - started,
    )
