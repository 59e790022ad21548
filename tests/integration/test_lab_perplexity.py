"""Perplexity as llama.cpp's perplexity tool measures it, on the real test model.

The expected value is computed here from llama-cpp-python's public API, independently of
the lab's code path (which asks llama.cpp for the scored positions' logits only, through
low-level batches, in the worker process): the whole text tokenized with BOS, cut into
chunks of n_ctx tokens, each chunk's first token replaced by BOS, each chunk evaluated
from an empty cache with every position's logits kept (``logits_all``), and the second
half of each chunk scored with a log-softmax written out in numpy.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
from pathlib import Path

import llama_cpp
import numpy as np
import pytest

from llmos_desktop.core.lab.perplexity import bundled_text
from llmos_desktop.core.lab.types import LabError, LabProgress, PerplexityJob
from llmos_desktop.core.lab.worker_client import run_job
from tests.helpers.tiny_gguf import write_tiny_llama

N_CTX = 128
CHUNKS = 2


def expected_perplexity(model: Path, text: str, n_ctx: int, chunks: int) -> tuple[float, float]:
    """(PPL, its +/-) the way llama-perplexity computes them, from Llama's own scores."""
    with contextlib.redirect_stderr(io.StringIO()):
        llm = llama_cpp.Llama(
            model_path=str(model), n_ctx=n_ctx, n_batch=n_ctx, logits_all=True, verbose=False
        )
    try:
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        assert tokens[0] == llm.token_bos()  # Gemma wants BOS
        first = n_ctx // 2
        nlls: list[float] = []
        for i in range(chunks):
            chunk = tokens[i * n_ctx : (i + 1) * n_ctx]
            chunk[0] = llm.token_bos()
            llm.reset()  # type: ignore[no-untyped-call]
            llm.eval(chunk)
            logits = np.asarray(llm.scores[first : n_ctx - 1], dtype=np.float64)
            top = logits.max(axis=1, keepdims=True)
            log_probs = logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
            targets = chunk[first + 1 : n_ctx]
            nlls += [-float(log_probs[j, t]) for j, t in enumerate(targets)]
    finally:
        llm.close()
    mean = sum(nlls) / len(nlls)
    mean2 = sum(x * x for x in nlls) / len(nlls)
    ppl = math.exp(mean)
    return ppl, math.sqrt((mean2 - mean * mean) / (len(nlls) - 1)) * ppl


@pytest.mark.model
@pytest.mark.slow
def test_perplexity_equals_the_value_from_llama_cpps_logits(model_path: Path) -> None:
    text_path = bundled_text("en")
    seen: list[LabProgress] = []
    job = PerplexityJob(model_path, text_path=text_path, n_ctx=N_CTX, max_chunks=CHUNKS)

    result = asyncio.run(run_job(job, seen.append))

    ppl, stderr = expected_perplexity(model_path, text_path.read_text("utf-8"), N_CTX, CHUNKS)
    assert abs(result.ppl - ppl) < 1e-3, (result.ppl, ppl)
    assert abs(result.ppl_stderr - stderr) < 1e-3, (result.ppl_stderr, stderr)
    assert (result.n_chunks, result.n_ctx) == (CHUNKS, N_CTX)
    assert result.n_tokens_scored == CHUNKS * (N_CTX - N_CTX // 2 - 1)
    assert result.n_tokens_text > 5000 and len(result.chunk_ppls) == CHUNKS
    assert result.chunk_ppls[-1] == result.ppl
    assert 1.0 < result.ppl < 1000.0  # a real language model on real English
    details = [p.detail for p in seen if p.stage == "scoring"]
    assert details[:CHUNKS] == [f"chunk {i}/{CHUNKS}" for i in range(1, CHUNKS + 1)]


@pytest.mark.model
@pytest.mark.slow
def test_the_chinese_sample_text_measures(model_path: Path) -> None:
    job = PerplexityJob(model_path, text_path=bundled_text("zh"), n_ctx=32, max_chunks=2)
    result = asyncio.run(run_job(job))
    assert math.isfinite(result.ppl) and result.ppl > 1.0 and result.ppl_stderr > 0
    assert result.n_tokens_text > 5000  # the whole sample was tokenized


@pytest.mark.model
def test_a_text_too_short_for_two_chunks_is_refused(model_path: Path) -> None:
    job = PerplexityJob(model_path, text="Too short to measure.", n_ctx=128)
    with pytest.raises(LabError) as caught:
        asyncio.run(run_job(job))
    assert caught.value.kind == "invalid_text"
    assert "256" in str(caught.value)


def test_a_text_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    """Refused before any model is loaded."""
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("café crème".encode("latin-1"))
    model = write_tiny_llama(tmp_path / "tiny.gguf")
    with pytest.raises(LabError) as caught:
        asyncio.run(run_job(PerplexityJob(model, text_path=latin1)))
    assert caught.value.kind == "invalid_text"
    assert "UTF-8" in str(caught.value)


def test_the_bundled_texts_are_there_and_long_enough() -> None:
    for language in ("en", "zh"):
        data = bundled_text(language).read_bytes()
        assert 20_000 <= len(data) <= 40_000
        data.decode("utf-8")


def test_batches_smaller_than_the_context_give_the_same_result(tmp_path: Path) -> None:
    """llama-perplexity evaluates a chunk in n_batch pieces; the score must not change
    (the tiny model, in-process: run_perplexity is what the worker runs)."""
    from llmos_desktop.core.lab.perplexity import run_perplexity

    model = write_tiny_llama(tmp_path / "tiny.gguf")
    text = bundled_text("en")
    whole = run_perplexity(PerplexityJob(model, text_path=text, n_ctx=128, max_chunks=2), print)
    pieces = run_perplexity(
        PerplexityJob(model, text_path=text, n_ctx=128, n_batch=32, max_chunks=2), print
    )
    assert pieces.ppl == pytest.approx(whole.ppl, rel=1e-6)
    assert pieces.ppl_stderr == pytest.approx(whole.ppl_stderr, rel=1e-5)
