"""Speed runs for real (llama-bench's pp/tg method), in the lab worker, on the tiny model.

Small sizes keep the suite quick (the CLI defaults to pp512/tg128, 5 repetitions); what is
checked is what a user reads: a positive rate for each test, the median and spread of the
runs that were made, and the settings that were used.
"""

from __future__ import annotations

import asyncio
import statistics
from pathlib import Path

import pytest

from llmos_desktop.core.lab.types import BenchJob, LabError, LabProgress
from llmos_desktop.core.lab.worker_client import run_job
from tests.helpers.tiny_gguf import write_tiny_llama


def test_prompt_and_generation_speed_are_medians_of_the_repetitions(tmp_path: Path) -> None:
    model = write_tiny_llama(tmp_path / "tiny-F32.gguf")
    seen: list[LabProgress] = []
    job = BenchJob(model, n_threads=1, n_batch=32, pp=64, tg=16, reps=3)

    result = asyncio.run(run_job(job, seen.append))

    assert (result.pp, result.tg, result.reps) == (64, 16, 3)
    assert (result.threads, result.batch, result.gpu_layers) == (1, 32, 0)
    assert len(result.pp_tps_samples) == len(result.tg_tps_samples) == 3
    assert all(rate > 0 for rate in result.pp_tps_samples + result.tg_tps_samples)
    assert result.pp_tps_median == statistics.median(result.pp_tps_samples)
    assert result.tg_tps_median == statistics.median(result.tg_tps_samples)
    assert result.pp_tps_spread == pytest.approx(statistics.stdev(result.pp_tps_samples))
    assert result.tg_tps_spread == pytest.approx(statistics.stdev(result.tg_tps_samples))
    stages = {p.stage for p in seen}
    assert {"loading", "warmup", "pp", "tg"} <= stages


def test_generation_only(tmp_path: Path) -> None:
    model = write_tiny_llama(tmp_path / "tiny-F32.gguf")
    result = asyncio.run(run_job(BenchJob(model, n_threads=1, pp=0, tg=8, reps=2)))
    assert result.pp_tps_samples == () and result.pp_tps_median == 0.0
    assert len(result.tg_tps_samples) == 2 and result.tg_tps_median > 0


def test_a_file_that_is_no_model_is_a_load_failure(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(LabError) as caught:
        asyncio.run(run_job(BenchJob(broken, pp=8, tg=0, reps=1)))
    assert caught.value.kind == "invalid_source"
    assert "\n" not in str(caught.value)
