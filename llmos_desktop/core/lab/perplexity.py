"""Perplexity the way llama.cpp's perplexity tool (llama-perplexity) measures it.

The method, so that our figures compare with the ones people publish:

1. The whole text is tokenized once, with BOS when the model wants one, special tokens
   read as plain text. It must hold at least two chunks (2 * n_ctx tokens).
2. It is cut into ``n_tokens // n_ctx`` chunks of ``n_ctx`` tokens (the rest is dropped);
   each chunk is evaluated on its own, from an empty KV cache, with its first token
   replaced by BOS (when the model wants BOS).
3. Only the second half of each chunk is scored: the logits at positions
   ``first = n_ctx // 2`` .. ``n_ctx - 2`` predict tokens ``first + 1`` .. ``n_ctx - 1``,
   so every scored token has at least half a context before it.
4. Each scored token adds its negative log-likelihood ``nll = logsumexp(logits) -
   logits[token]`` to a running sum and its square to another. PPL = exp(mean nll); its
   uncertainty is llama.cpp's: ``sqrt((mean(nll^2) - mean(nll)^2) / (count - 1)) * PPL``
   (the standard error of the mean nll, carried through exp).

Steps 2-3 run in llama_api.lab_chunk_logits (in the worker process); the scoring
(``score_rows``, ``PerplexityScore``) is plain numpy here, so a test can feed it logits
it computed another way and compare.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from llmos_desktop.core.lab.types import LabError, LabProgress, PerplexityJob, PerplexityResult

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "MAX_TEXT_BYTES",
    "PerplexityScore",
    "bundled_text",
    "chunk_count",
    "chunk_tokens",
    "read_text",
    "run_perplexity",
    "score_rows",
]

Report = Callable[[LabProgress], None]
MAX_TEXT_BYTES = 64 * 1024 * 1024
_ROWS_AT_ONCE = 16  # logits rows turned to float64 at a time (a 262k vocabulary: 32 MiB)


def bundled_text(language: Literal["en", "zh"]) -> Path:
    """The public-domain sample text shipped for ``language`` (resources/lab/texts/)."""
    from llmos_desktop.resources import resource_path

    if language == "en":
        return resource_path("lab", "texts", "en.txt")
    return resource_path("lab", "texts", "zh.txt")


def read_text(job: PerplexityJob) -> str:
    """The job's text: given inline, or read from its file (UTF-8, at most 64 MiB)."""
    if job.text is not None:
        return job.text
    assert job.text_path is not None
    path = job.text_path
    try:
        size = path.stat().st_size
        if size > MAX_TEXT_BYTES:
            raise LabError("invalid_text", f"{path.name} is larger than 64 MiB.")
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError as exc:
        raise LabError("invalid_text", f"No text file at {path}.") from exc
    except UnicodeDecodeError as exc:
        raise LabError("invalid_text", f"{path.name} is not UTF-8 text.") from exc
    except OSError as exc:
        raise LabError("invalid_text", f"{path.name} cannot be read: {exc.strerror}.") from exc


def chunk_count(n_tokens: int, n_ctx: int, max_chunks: int | None = None) -> int:
    """How many chunks of ``n_ctx`` tokens are scored; LabError when fewer than two fit."""
    if n_ctx < 16 or n_ctx % 2:
        raise LabError("invalid_job", "The context size must be an even number, at least 16.")
    if n_tokens < 2 * n_ctx:
        raise LabError(
            "invalid_text",
            f"The text has {n_tokens} tokens; perplexity with a context of {n_ctx} needs "
            f"at least {2 * n_ctx}. Use a longer text or a smaller context.",
        )
    count = n_tokens // n_ctx
    return count if max_chunks is None else min(count, max_chunks)


def chunk_tokens(
    tokens: Sequence[int], index: int, n_ctx: int, add_bos: bool, bos: int
) -> list[int]:
    """Chunk ``index``'s tokens, its first replaced by BOS when the model wants BOS."""
    chunk = list(tokens[index * n_ctx : (index + 1) * n_ctx])
    if add_bos:
        chunk[0] = bos
    return chunk


def score_rows(logits: np.ndarray, targets: Sequence[int]) -> tuple[float, float, int]:
    """(sum of nll, sum of nll^2, count) for rows of logits and the token each predicts."""
    import numpy as np

    if logits.shape[0] != len(targets):
        raise ValueError("one target per row of logits")
    total = 0.0
    total2 = 0.0
    wanted = np.asarray(targets, dtype=np.int64)
    for start in range(0, len(wanted), _ROWS_AT_ONCE):
        rows = np.asarray(logits[start : start + _ROWS_AT_ONCE], dtype=np.float64)
        picked = wanted[start : start + _ROWS_AT_ONCE]
        top = rows.max(axis=1)
        log_sum = top + np.log(np.exp(rows - top[:, None]).sum(axis=1))
        nll = log_sum - rows[np.arange(len(picked)), picked]
        total += float(nll.sum())
        total2 += float((nll * nll).sum())
    return total, total2, len(wanted)


class PerplexityScore:
    """The running sums of llama-perplexity, and the estimate with its uncertainty."""

    def __init__(self) -> None:
        self.nll = 0.0
        self.nll2 = 0.0
        self.count = 0

    def add(self, logits: np.ndarray, targets: Sequence[int]) -> None:
        nll, nll2, count = score_rows(logits, targets)
        self.nll += nll
        self.nll2 += nll2
        self.count += count

    def ppl(self) -> float:
        return math.exp(self.nll / self.count) if self.count else math.nan

    def stderr(self) -> float:
        """llama.cpp's ``+/-``: the standard error of the mean nll, times the PPL."""
        if self.count < 2:
            return math.nan
        mean = self.nll / self.count
        variance = self.nll2 / self.count - mean * mean
        if variance <= 0:
            return 0.0
        return math.sqrt(variance / (self.count - 1)) * self.ppl()


def run_perplexity(job: PerplexityJob, report: Report) -> PerplexityResult:
    """The whole measurement, in the worker process."""
    from llmos_desktop.core.engine.process import llama_api
    from llmos_desktop.core.lab.quantize import check_model_file

    check_model_file(job.model)
    started = time.monotonic()
    text = read_text(job)
    if job.n_ctx < 16 or job.n_ctx % 2:
        raise LabError("invalid_job", "The context size must be an even number, at least 16.")
    n_batch = min(job.n_batch, job.n_ctx)
    report(LabProgress(None, "loading", job.model.name))
    try:
        llm = llama_api.lab_open(
            str(job.model),
            n_ctx=job.n_ctx,
            n_batch=n_batch,
            n_threads=job.n_threads,
            n_gpu_layers=job.n_gpu_layers,
            chatter=io.StringIO(),
        )
    except (ValueError, RuntimeError, OSError) as exc:
        raise LabError("load_failed", f"llama.cpp could not load {job.model.name}: {exc}") from exc
    try:
        report(LabProgress(None, "tokenizing", f"{len(text)} characters"))
        tokens = llama_api.lab_tokenize(llm, text)
        n_chunks = chunk_count(len(tokens), job.n_ctx, job.max_chunks)
        _n_vocab, add_bos, bos = llama_api.lab_vocab(llm)
        first = job.n_ctx // 2
        score = PerplexityScore()
        running: list[float] = []
        for index in range(n_chunks):
            report(LabProgress(index / n_chunks, "scoring", f"chunk {index + 1}/{n_chunks}"))
            chunk = chunk_tokens(tokens, index, job.n_ctx, add_bos, bos)
            try:
                logits: Any = llama_api.lab_chunk_logits(llm, chunk, first, n_batch)
            except RuntimeError as exc:
                raise LabError(
                    "load_failed", f"llama.cpp failed on chunk {index + 1}: {exc}"
                ) from exc
            score.add(logits, chunk[first + 1 :])
            running.append(score.ppl())
    finally:
        llm.close()
    ppl, stderr = score.ppl(), score.stderr()
    if not (math.isfinite(ppl) and math.isfinite(stderr)):
        raise LabError("load_failed", f"{job.model.name} gave non-finite logits.")
    report(LabProgress(1.0, "scoring", f"PPL {ppl:.4f} +/- {stderr:.5f}"))
    return PerplexityResult(
        ppl=ppl,
        ppl_stderr=stderr,
        n_chunks=n_chunks,
        n_tokens_scored=score.count,
        n_ctx=job.n_ctx,
        seconds=time.monotonic() - started,
        n_tokens_text=len(tokens),
        chunk_ppls=tuple(running),
    )
