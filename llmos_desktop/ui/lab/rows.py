"""A comparison's rows: one model file each, from the lab's stored records.

The results store (core/lab/results.py) keeps every measurement as a ``LabRecord``; a
comparison shows, for each file, the newest record of each kind: perplexity (with its
standard error), speed (median and spread), and one score per app, dataset and metric.
A file measured again shows its new figure; the old record stays in the store.

Built off the GUI thread (``build_rows`` reads each file's GGUF header for the memory
estimate); no Qt here, so the rows are plain data the view and the tests read.

- **Series**: the model a file was made from, so the quantizations of one model share a
  colour in the plot: the source of a lab quantization (its ``quantize`` record), else
  the file's name without its quantization ("SmolLM2-135M-Instruct.Q4_1" ->
  "SmolLM2-135M-Instruct").
- **Memory**: what loading the file needs, estimated from its header as the Models page
  does (core/models/gguf/memory.py) for the context the perplexity was measured with
  (512 when there is none). A measured figure in a speed record (``memory_bytes``) wins.
- **Comparable**: perplexities measured on different texts or context sizes cannot be
  compared; ``perplexity_labels`` lists what each was measured on, so the view can say so.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos_desktop.core.lab.types import LabRecord
from llmos_desktop.core.models.naming import model_stem, quant_of

DEFAULT_CTX = 512


@dataclass(frozen=True)
class ScoreCell:
    score: float
    n_pairs: int
    label: str  # the dataset's name


@dataclass
class ComparisonRow:
    """One model file in a comparison; None where it was not measured."""

    model_path: str
    name: str
    series: str
    quant: str
    size: int
    memory: int | None = None
    memory_measured: bool = False
    ppl: float | None = None
    ppl_stderr: float | None = None
    ppl_label: str = ""
    ppl_ctx: int | None = None
    pp_tps: float | None = None
    pp_spread: float | None = None
    tg_tps: float | None = None
    tg_spread: float | None = None
    bench_label: str = ""
    scores: dict[str, ScoreCell] = field(default_factory=dict)  # score_key -> cell

    @property
    def key(self) -> str:
        return self.model_path


def score_key(app_id: str, metric: str) -> str:
    return f"{app_id} · {metric}"


def family(path: str) -> str:
    """The model's name without its quantization ("Gemma-3-270M-Q4_K_M" -> "Gemma-3-270M")."""
    stem = model_stem(Path(path).name)
    quant = quant_of(stem)
    if quant is None:
        return stem
    cut = re.sub(
        r"(?:[-_.](?:UD-)?)" + re.escape(quant) + r"(?=$|[-_.])", "", stem, count=1, flags=re.I
    )
    return cut.strip("-_. ") or stem


def _number(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _newest(records: Iterable[LabRecord]) -> list[LabRecord]:
    return sorted(records, key=lambda r: (r.created_at, r.record_id))


def build_rows(
    records: Iterable[LabRecord],
    models: Iterable[str] | None = None,
    *,
    read_memory: bool = True,
) -> list[ComparisonRow]:
    """The rows of ``models`` (all the files the records name when None), in that order.

    A model with no record still gets a row (its size read from disk, when it exists), so
    a comparison shows what is still to be measured.
    """
    ordered = _newest(records)
    wanted = list(dict.fromkeys(models)) if models is not None else None
    rows: dict[str, ComparisonRow] = {}

    def row_for(record: LabRecord | None, path: str) -> ComparisonRow:
        row = rows.get(path)
        if row is None:
            size = record.size_bytes if record is not None else 0
            quant = record.quant_type if record is not None else ""
            row = ComparisonRow(
                model_path=path,
                name=Path(path).name,
                series=family(path),
                quant=quant or (quant_of(Path(path).name) or ""),
                size=size,
            )
            rows[path] = row
        return row

    sources: dict[str, str] = {}
    for record in ordered:
        if wanted is not None and record.model_path not in wanted:
            continue
        row = row_for(record, record.model_path)
        result = record.result
        if record.size_bytes:
            row.size = record.size_bytes
        if record.quant_type:
            row.quant = record.quant_type
        if record.kind == "quantize":
            source = result.get("source")
            if isinstance(source, str) and source:
                sources[record.model_path] = source
        elif record.kind == "perplexity":
            row.ppl = _number(result, "ppl")
            row.ppl_stderr = _number(result, "ppl_stderr")
            ctx = _number(result, "n_ctx")
            row.ppl_ctx = int(ctx) if ctx else None
            row.ppl_label = record.label
        elif record.kind == "bench":
            row.pp_tps = _number(result, "pp_tps_median")
            row.pp_spread = _number(result, "pp_tps_spread")
            row.tg_tps = _number(result, "tg_tps_median")
            row.tg_spread = _number(result, "tg_tps_spread")
            row.bench_label = record.label
            memory = _number(result, "memory_bytes")
            if memory:
                row.memory = int(memory)
                row.memory_measured = True
        elif record.kind == "score":
            score = _number(result, "score")
            app_id = result.get("app_id")
            metric = result.get("metric")
            pairs = _number(result, "n_pairs")
            if score is not None and isinstance(app_id, str) and isinstance(metric, str):
                row.scores[score_key(app_id, metric)] = ScoreCell(
                    score, int(pairs or 0), record.label
                )
    for path, source in sources.items():
        rows[path].series = family(source)
    if wanted is not None:
        for path in wanted:
            if path not in rows:
                row = row_for(None, path)
                with contextlib.suppress(OSError):
                    row.size = Path(path).stat().st_size
        result_rows = [rows[path] for path in wanted]
    else:
        result_rows = list(rows.values())
    if read_memory:
        for row in result_rows:
            if not row.memory_measured:
                row.memory = estimate_memory(row.model_path, row.ppl_ctx or DEFAULT_CTX)
    return result_rows


def estimate_memory(path: str, n_ctx: int) -> int | None:
    """What loading ``path`` with ``n_ctx`` needs, from its header; None if unreadable."""
    from llmos_desktop.core.models.gguf.memory import estimate_memory_bytes
    from llmos_desktop.core.models.gguf.reader import ModelFileError, read_gguf_info

    try:
        return estimate_memory_bytes(read_gguf_info(path), n_ctx)
    except (ModelFileError, OSError, ValueError):
        return None


def score_keys(rows: Iterable[ComparisonRow]) -> list[str]:
    """Every score column the rows have, in a stable order."""
    return sorted({key for row in rows for key in row.scores})


def perplexity_labels(rows: Iterable[ComparisonRow]) -> set[tuple[str, int | None]]:
    """What the rows' perplexities were measured on (text, context): more than one means
    they cannot be compared."""
    return {(row.ppl_label, row.ppl_ctx) for row in rows if row.ppl is not None}
