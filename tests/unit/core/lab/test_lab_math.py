"""The arithmetic of the lab's measurements, checked against the formulas written out.

core/lab/perplexity.py follows llama.cpp's perplexity tool (chunks of n_ctx tokens, BOS
first, the second half scored; PPL = exp(mean nll), +/- = stderr of the mean nll * PPL);
core/lab/bench.py reports llama-bench style medians and spreads. The integration tests
run them on real models; these check the parts that are plain numbers.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from llmos_desktop.core.lab.bench import summary
from llmos_desktop.core.lab.perplexity import (
    PerplexityScore,
    chunk_count,
    chunk_tokens,
    score_rows,
)
from llmos_desktop.core.lab.types import LabError


def _nll(row: list[float], target: int) -> float:
    """-log softmax(row)[target], the long way."""
    total = sum(math.exp(x) for x in row)
    return -math.log(math.exp(row[target]) / total)


def test_score_rows_is_the_negative_log_likelihood_of_each_target() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 3, size=(37, 50)).astype(np.float32)  # more rows than one block
    targets = [int(t) for t in rng.integers(0, 50, size=37)]
    total, total2, count = score_rows(logits, targets)
    expected = [_nll([float(x) for x in logits[i]], t) for i, t in enumerate(targets)]
    assert count == 37
    assert total == pytest.approx(sum(expected), rel=1e-9)
    assert total2 == pytest.approx(sum(e * e for e in expected), rel=1e-9)


def test_large_logits_do_not_overflow() -> None:
    logits = np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32)
    total, _, _ = score_rows(logits, [1])
    assert total == pytest.approx(1000.0, rel=1e-6)


def test_the_estimate_and_its_uncertainty_are_llama_cpps() -> None:
    rng = np.random.default_rng(4)
    score = PerplexityScore()
    nlls: list[float] = []
    for _ in range(3):  # three chunks, as the tool adds them up
        logits = rng.normal(0, 2, size=(10, 20)).astype(np.float32)
        targets = [int(t) for t in rng.integers(0, 20, size=10)]
        score.add(logits, targets)
        nlls += [_nll([float(x) for x in logits[i]], t) for i, t in enumerate(targets)]
    mean = statistics.fmean(nlls)
    ppl = math.exp(mean)
    # perplexity.cpp: nll2/count - nll^2, then sqrt(. / (count - 1)) * ppl
    spread = math.sqrt((statistics.fmean(x * x for x in nlls) - mean * mean) / (len(nlls) - 1))
    assert score.count == 30
    assert score.ppl() == pytest.approx(ppl, rel=1e-9)
    assert score.stderr() == pytest.approx(spread * ppl, rel=1e-6)


def test_chunks_are_whole_contexts_and_two_are_needed() -> None:
    assert chunk_count(1000, 128) == 7
    assert chunk_count(1000, 128, max_chunks=3) == 3
    assert chunk_count(256, 128) == 2
    with pytest.raises(LabError) as caught:
        chunk_count(255, 128)
    assert caught.value.kind == "invalid_text"
    assert "256" in str(caught.value)
    with pytest.raises(LabError):
        chunk_count(10_000, 127)  # an odd context has no second half


def test_each_chunk_starts_with_bos_when_the_model_wants_it() -> None:
    tokens = list(range(100, 120))
    assert chunk_tokens(tokens, 1, 8, True, 2) == [2, *range(109, 116)]
    assert chunk_tokens(tokens, 1, 8, False, 2) == list(range(108, 116))
    assert tokens == list(range(100, 120))  # the text's tokens are not changed


def test_bench_summary_is_the_median_and_the_sample_standard_deviation() -> None:
    samples = [10.0, 12.0, 11.0, 50.0, 11.5]
    median, spread = summary(samples)
    assert median == 11.5
    assert spread == pytest.approx(statistics.stdev(samples))
    assert summary([7.0]) == (7.0, 0.0)
    assert summary([]) == (0.0, 0.0)
