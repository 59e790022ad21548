"""The lab's shared types (core/lab/types.py): what crosses the worker's pipe comes back
the same, and what does not belong there is refused with a clear error."""

from __future__ import annotations

import json
import math
from pathlib import Path

import llama_cpp
import pytest

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
    job_from_json,
)


def test_every_offered_type_has_llama_cpps_own_ftype_number() -> None:
    """The numbers are llama.cpp's LLAMA_FTYPE_MOSTLY_* constants, not our guesses."""
    for qtype in QuantType:
        assert qtype.ftype == getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{qtype.value}")
    offered = {q.value for q in QuantType}
    assert {"Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "IQ4_NL", "IQ4_XS"} <= offered
    # llama-quantize refuses these without an importance matrix: never offered.
    assert not offered & {"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "Q2_K_S"}


def test_type_names_parse_case_insensitively_and_unknown_ones_say_what_is_offered() -> None:
    assert QuantType.parse(" q4_k_m ") is QuantType.Q4_K_M
    with pytest.raises(LabError) as caught:
        QuantType.parse("Q3_K_XXL")
    assert caught.value.kind == "invalid_type"
    assert "Q4_K_M" in str(caught.value)


@pytest.mark.parametrize(
    "job",
    [
        QuantizeJob(Path("/m/a-F16.gguf"), QuantType.IQ4_XS, Path("/m/a.gguf"), True, 3),
        PerplexityJob(Path("/m/a.gguf"), text="上善若水", n_ctx=256, max_chunks=4),
        PerplexityJob(Path("/m/a.gguf"), text_path=Path("/t/en.txt")),
        BenchJob(Path("/m/a.gguf"), n_threads=2, n_batch=128, n_gpu_layers=-1, pp=64, tg=8),
    ],
)
def test_a_job_survives_the_pipe(job: QuantizeJob | PerplexityJob | BenchJob) -> None:
    line = json.dumps(job.to_json(), ensure_ascii=False)
    assert job_from_json(json.loads(line)) == job


def test_results_survive_the_pipe() -> None:
    quantized = QuantizeResult(
        Path("/m/a-Q4_K_M.gguf"),
        QuantType.Q4_K_M,
        1234,
        Path("/m/a-F16.gguf"),
        "ab" * 32,
        2.5,
        "Paris",
        source_type="F16",
        verified_tokens=8,
    )
    assert QuantizeResult.from_json(json.loads(json.dumps(quantized.to_json()))) == quantized
    ppl = PerplexityResult(12.5, 0.25, 3, 189, 128, 4.0, 1000, (13.0, 12.7, 12.5))
    assert PerplexityResult.from_json(json.loads(json.dumps(ppl.to_json()))) == ppl
    bench = BenchResult(900.0, 12.0, 40.0, 1.5, 2, 512, 0, 3, 64, 16, (1.0, 2.0), (3.0,), 1.0)
    assert BenchResult.from_json(json.loads(json.dumps(bench.to_json()))) == bench


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ([], "JSON object"),
        ({"kind": "train"}, "Unknown lab job kind"),
        ({"kind": "bench", "model": "/m.gguf", "reps": 0}, "reps"),
        ({"kind": "bench", "model": "/m.gguf", "pp": True}, "pp"),
        ({"kind": "perplexity", "model": "/m.gguf", "n_ctx": 8, "text": "x"}, "n_ctx"),
        ({"kind": "perplexity", "model": "/m.gguf"}, "either a text file or a text"),
        ({"kind": "quantize", "source": "/a", "out": "/b"}, "qtype"),
    ],
)
def test_a_bad_job_is_refused_with_a_reason(data: object, needle: str) -> None:
    with pytest.raises(LabError) as caught:
        job_from_json(data)
    assert caught.value.kind == "invalid_job"
    assert needle in str(caught.value)


def test_an_unknown_type_in_a_job_is_invalid_type() -> None:
    with pytest.raises(LabError) as caught:
        job_from_json({"kind": "quantize", "source": "/a", "out": "/b", "qtype": "Q9"})
    assert caught.value.kind == "invalid_type"


def test_an_error_line_the_worker_could_not_have_meant_is_a_crash() -> None:
    assert LabError.from_json({"kind": "disk_full", "message": "full"}).kind == "disk_full"
    for garbage in (None, {"kind": "rm -rf", "message": "x"}, {"kind": "io"}, "text"):
        assert LabError.from_json(garbage).kind == "worker_crashed"


def test_progress_fractions_are_clamped_and_nonsense_refused() -> None:
    assert LabProgress.from_json({"fraction": 1.7, "stage": "pp"}).fraction == 1.0
    assert LabProgress.from_json({"fraction": math.nan, "stage": "pp"}).fraction is None
    assert LabProgress.from_json({"fraction": None, "stage": "loading"}).fraction is None
    with pytest.raises(ValueError):
        LabProgress.from_json({"fraction": "half", "stage": "pp"})
