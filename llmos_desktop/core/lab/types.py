"""The data of the model lab, defined once for the worker, the service, the page and the CLI.

The lab's heavy work (quantizing, perplexity, speed runs) happens in a separate worker
process (core/lab/worker.py) that loads llama.cpp; jobs go to it and results come back as
JSON, so every job and result here has ``to_json()``/``from_json()`` and the ``from_json``
side checks what it reads (the worker's output is input we do not trust blindly: a crash
can leave half a line). Nothing here imports Qt or llama_cpp, so the types cost nothing at
start-up and the GUI process may import them freely.

Sizes are bytes, times are seconds (``float``) or UTC ``datetime``s, rates are tokens per
second, quantization names are llama.cpp's (``Q4_K_M``, ``IQ4_XS``...).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Literal, cast

__all__ = [
    "SOURCE_FILE_TYPES",
    "BenchJob",
    "BenchResult",
    "Comparison",
    "LabError",
    "LabErrorKind",
    "LabJob",
    "LabProgress",
    "LabRecord",
    "LabRecordKind",
    "PerplexityJob",
    "PerplexityResult",
    "QuantType",
    "QuantizeJob",
    "QuantizeResult",
    "ScoreResult",
    "job_from_json",
]

LabErrorKind = Literal[
    "invalid_source",  # not a GGUF llama.cpp loads, missing, unreadable
    "invalid_type",  # a quantization type the lab does not offer
    "invalid_text",  # a perplexity text that is missing, not UTF-8, or too short
    "invalid_job",  # a job with values out of range (n_ctx, reps, threads...)
    "invalid_dataset",  # a score dataset that is not the JSONL the lab reads
    "requantize_refused",  # the source is already quantized and "lossy" was not confirmed
    "out_exists",  # the output file exists (the lab never overwrites a model)
    "disk_full",  # not enough free space, before or while writing
    "cancelled",  # the user stopped the run
    "worker_crashed",  # the worker process died or wrote something unreadable
    "load_failed",  # llama.cpp could not load the model (or the quantized result)
    "quantize_failed",  # llama.cpp's quantizer reported a failure
    "io",  # the disk failed otherwise (permissions, a removed folder)
    "app_failed",  # a store app run failed while scoring
]

_ERROR_KINDS: frozenset[str] = frozenset(LabErrorKind.__args__)  # type: ignore[attr-defined]


class LabError(Exception):
    """A failure of a lab run, with a one-line message fit for a user.

    ``kind`` lets the page and the CLI decide what to offer (the "lossy" confirmation for
    ``requantize_refused``, nothing to retry for ``cancelled``); ``str(error)`` is the
    message.
    """

    def __init__(self, kind: LabErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: LabErrorKind = kind
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[type[LabError], tuple[str, str]]:
        return (type(self), (self.kind, self.message))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message}

    @classmethod
    def from_json(cls, data: object) -> LabError:
        """The error the worker reported; anything unreadable becomes ``worker_crashed``."""
        if isinstance(data, Mapping):
            kind = data.get("kind")
            message = data.get("message")
            if isinstance(kind, str) and kind in _ERROR_KINDS and isinstance(message, str):
                return cls(cast(LabErrorKind, kind), message[:2000])
        return cls("worker_crashed", "The lab worker reported an error it could not describe.")


# --- quantization types -----------------------------------------------------------------


class QuantType(Enum):
    """The quantization types the lab offers, named as llama.cpp names them.

    The value is the name; ``ftype`` is llama.cpp's ``LLAMA_FTYPE_MOSTLY_*`` number (what
    ``llama_model_quantize_params.ftype`` takes). The IQ types offered are the ones
    llama.cpp's quantize tool accepts without an importance matrix (IQ1_*, IQ2_* and Q2_K_S
    refuse to run without one, see tools/quantize/quantize.cpp), so none is offered here.
    """

    Q8_0 = "Q8_0"
    Q6_K = "Q6_K"
    Q5_K_M = "Q5_K_M"
    Q4_K_M = "Q4_K_M"
    Q4_0 = "Q4_0"
    IQ4_NL = "IQ4_NL"
    IQ4_XS = "IQ4_XS"
    IQ3_M = "IQ3_M"
    IQ3_S = "IQ3_S"

    @property
    def ftype(self) -> int:
        return _FTYPES[self]

    @property
    def bits_per_weight(self) -> float:
        """Roughly how many bits each weight takes (llama.cpp's quantize tool's figures)."""
        return _BPW[self]

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]

    @classmethod
    def parse(cls, name: str) -> QuantType:
        """The type named ``name`` (case-insensitive), or a ``LabError("invalid_type")``."""
        key = name.strip().upper()
        for qtype in cls:
            if qtype.value == key:
                return qtype
        offered = ", ".join(q.value for q in cls)
        raise LabError("invalid_type", f"Unknown quantization type {name!r}; offered: {offered}.")


_FTYPES: dict[QuantType, int] = {
    QuantType.Q8_0: 7,
    QuantType.Q6_K: 18,
    QuantType.Q5_K_M: 17,
    QuantType.Q4_K_M: 15,
    QuantType.Q4_0: 2,
    QuantType.IQ4_NL: 25,
    QuantType.IQ4_XS: 30,
    QuantType.IQ3_M: 27,
    QuantType.IQ3_S: 26,
}
_BPW: dict[QuantType, float] = {
    QuantType.Q8_0: 8.5,
    QuantType.Q6_K: 6.56,
    QuantType.Q5_K_M: 5.67,
    QuantType.Q4_K_M: 4.89,
    QuantType.Q4_0: 4.5,
    QuantType.IQ4_NL: 4.5,
    QuantType.IQ4_XS: 4.25,
    QuantType.IQ3_M: 3.66,
    QuantType.IQ3_S: 3.44,
}
_DESCRIPTIONS: dict[QuantType, str] = {
    QuantType.Q8_0: "8-bit, nearly lossless",
    QuantType.Q6_K: "6-bit K-quant, very small loss",
    QuantType.Q5_K_M: "5-bit K-quant, small loss",
    QuantType.Q4_K_M: "4-bit K-quant, the usual balance",
    QuantType.Q4_0: "4-bit legacy, fast on some back ends",
    QuantType.IQ4_NL: "4-bit non-linear",
    QuantType.IQ4_XS: "4.25-bit i-quant",
    QuantType.IQ3_M: "3-bit i-quant, noticeable loss without an importance matrix",
    QuantType.IQ3_S: "3-bit i-quant, noticeable loss without an importance matrix",
}

#: The GGUF ``general.file_type`` values of the sources the lab quantizes without asking:
#: all-F32, mostly-F16, mostly-BF16. Anything else is already quantized (requantizing is
#: lossy and needs ``allow_requantize``).
SOURCE_FILE_TYPES: dict[int, str] = {0: "F32", 1: "F16", 32: "BF16"}


# --- progress ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabProgress:
    """How far a run is: ``fraction`` in [0, 1] or ``None`` when unknown; ``stage`` a word.

    Stages: ``checking``, ``quantizing``, ``verifying`` (quantize); ``loading``,
    ``tokenizing``, ``scoring`` (perplexity); ``warmup``, ``pp``, ``tg`` (bench); ``running``
    (score). ``detail`` is a short human line (``"tensor 12/201"``, ``"chunk 3/10"``).
    """

    fraction: float | None
    stage: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"fraction": self.fraction, "stage": self.stage, "detail": self.detail}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LabProgress:
        fraction = data.get("fraction")
        if isinstance(fraction, bool) or not isinstance(fraction, int | float | None):
            raise ValueError("fraction")
        if fraction is not None:
            fraction = min(1.0, max(0.0, float(fraction))) if math.isfinite(fraction) else None
        return cls(fraction, _str(data, "stage", 40), _str(data, "detail", 200, ""))


# --- jobs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuantizeJob:
    """Quantize ``source`` (an F32/F16/BF16 GGUF) to ``qtype``, writing ``out``.

    ``allow_requantize`` is the user's "lossy" confirmation for a source that is already
    quantized. ``n_threads`` 0 lets llama.cpp choose. ``verify_prompt`` is what the result
    is asked once, to prove it loads and generates.
    """

    source: Path
    qtype: QuantType
    out: Path
    allow_requantize: bool = False
    n_threads: int = 0
    verify_prompt: str = "The capital of France is"
    verify_tokens: int = 8

    kind: Literal["quantize"] = field(default="quantize", init=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "quantize",
            "source": str(self.source),
            "qtype": self.qtype.value,
            "out": str(self.out),
            "allow_requantize": self.allow_requantize,
            "n_threads": self.n_threads,
            "verify_prompt": self.verify_prompt,
            "verify_tokens": self.verify_tokens,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QuantizeJob:
        return cls(
            source=Path(_str(data, "source", 4096)),
            qtype=QuantType.parse(_str(data, "qtype", 20)),
            out=Path(_str(data, "out", 4096)),
            allow_requantize=_bool(data, "allow_requantize", False),
            n_threads=_int(data, "n_threads", 0, 0, 1024),
            verify_prompt=_str(data, "verify_prompt", 2000, "The capital of France is"),
            verify_tokens=_int(data, "verify_tokens", 8, 1, 256),
        )


@dataclass(frozen=True, slots=True)
class PerplexityJob:
    """Perplexity of ``model`` on a text, the way llama.cpp's perplexity tool measures it.

    Exactly one of ``text_path`` and ``text`` is given. The text is cut into chunks of
    ``n_ctx`` tokens; in each, the second half is scored (see core/lab/perplexity.py).
    ``max_chunks`` bounds the run (``None``: every whole chunk of the text).
    """

    model: Path
    text_path: Path | None = None
    text: str | None = None
    n_ctx: int = 512
    n_batch: int = 512
    n_threads: int = 0
    n_gpu_layers: int = 0
    max_chunks: int | None = None

    kind: Literal["perplexity"] = field(default="perplexity", init=False)

    def __post_init__(self) -> None:
        if (self.text_path is None) == (self.text is None):
            raise LabError("invalid_job", "Give either a text file or a text, not both.")

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "perplexity",
            "model": str(self.model),
            "text_path": None if self.text_path is None else str(self.text_path),
            "text": self.text,
            "n_ctx": self.n_ctx,
            "n_batch": self.n_batch,
            "n_threads": self.n_threads,
            "n_gpu_layers": self.n_gpu_layers,
            "max_chunks": self.max_chunks,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PerplexityJob:
        text_path = data.get("text_path")
        text = data.get("text")
        max_chunks = data.get("max_chunks")
        return cls(
            model=Path(_str(data, "model", 4096)),
            text_path=None if text_path is None else Path(_str(data, "text_path", 4096)),
            text=None if text is None else _str(data, "text", 64 * 1024 * 1024),
            n_ctx=_int(data, "n_ctx", 512, 16, 1 << 20),
            n_batch=_int(data, "n_batch", 512, 1, 1 << 20),
            n_threads=_int(data, "n_threads", 0, 0, 1024),
            n_gpu_layers=_int(data, "n_gpu_layers", 0, -1, 100000),
            max_chunks=None if max_chunks is None else _int(data, "max_chunks", 1, 1, 1 << 20),
        )


@dataclass(frozen=True, slots=True)
class BenchJob:
    """Speed of ``model`` like llama-bench: ``pp`` prompt tokens, ``tg`` generated tokens.

    Each test runs ``reps`` times after one warm-up; ``n_threads`` 0 means the engine's
    default (the physical cores); ``n_gpu_layers`` -1 means all.
    """

    model: Path
    n_threads: int = 0
    n_batch: int = 512
    n_gpu_layers: int = 0
    pp: int = 512
    tg: int = 128
    reps: int = 5

    kind: Literal["bench"] = field(default="bench", init=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "bench",
            "model": str(self.model),
            "n_threads": self.n_threads,
            "n_batch": self.n_batch,
            "n_gpu_layers": self.n_gpu_layers,
            "pp": self.pp,
            "tg": self.tg,
            "reps": self.reps,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BenchJob:
        return cls(
            model=Path(_str(data, "model", 4096)),
            n_threads=_int(data, "n_threads", 0, 0, 1024),
            n_batch=_int(data, "n_batch", 512, 1, 1 << 20),
            n_gpu_layers=_int(data, "n_gpu_layers", 0, -1, 100000),
            pp=_int(data, "pp", 512, 0, 1 << 16),
            tg=_int(data, "tg", 128, 0, 1 << 16),
            reps=_int(data, "reps", 5, 1, 100),
        )


LabJob = QuantizeJob | PerplexityJob | BenchJob


def job_from_json(data: object) -> LabJob:
    """The job a JSON object describes, or ``LabError("invalid_job")``."""
    if not isinstance(data, Mapping):
        raise LabError("invalid_job", "A lab job must be a JSON object.")
    kind = data.get("kind")
    try:
        if kind == "quantize":
            return QuantizeJob.from_json(data)
        if kind == "perplexity":
            return PerplexityJob.from_json(data)
        if kind == "bench":
            return BenchJob.from_json(data)
    except (ValueError, TypeError) as exc:
        raise LabError("invalid_job", f"Bad lab job field: {exc}.") from exc
    raise LabError("invalid_job", f"Unknown lab job kind {kind!r}.")


# --- results ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuantizeResult:
    """A finished quantization: the new file, and the proof that it loads and generates."""

    path: Path
    qtype: QuantType
    size_bytes: int
    source: Path
    source_sha256: str | None
    seconds: float
    verified_reply: str
    source_type: str = ""  # the source's own type: "F32", "F16", "BF16", or "Q8_0"...
    verified_tokens: int = 0  # tokens the result generated when it was loaded once
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "qtype": self.qtype.value,
            "size_bytes": self.size_bytes,
            "source": str(self.source),
            "source_sha256": self.source_sha256,
            "seconds": self.seconds,
            "verified_reply": self.verified_reply,
            "source_type": self.source_type,
            "verified_tokens": self.verified_tokens,
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QuantizeResult:
        sha = data.get("source_sha256")
        return cls(
            path=Path(_str(data, "path", 4096)),
            qtype=QuantType.parse(_str(data, "qtype", 20)),
            size_bytes=_int(data, "size_bytes", 0, 0, 1 << 62),
            source=Path(_str(data, "source", 4096)),
            source_sha256=None if sha is None else _str(data, "source_sha256", 64),
            seconds=_float(data, "seconds"),
            verified_reply=_str(data, "verified_reply", 10000),
            source_type=_str(data, "source_type", 20, ""),
            verified_tokens=_int(data, "verified_tokens", 0, 0, 1 << 20),
            created_at=_time(data, "created_at"),
        )


@dataclass(frozen=True, slots=True)
class PerplexityResult:
    """Perplexity and its standard error (llama.cpp's ``PPL = x +/- y``)."""

    ppl: float
    ppl_stderr: float
    n_chunks: int
    n_tokens_scored: int
    n_ctx: int
    seconds: float
    n_tokens_text: int = 0  # how many tokens the whole text had
    chunk_ppls: tuple[float, ...] = ()  # running estimate after each chunk, as the tool prints

    def to_json(self) -> dict[str, Any]:
        return {
            "ppl": self.ppl,
            "ppl_stderr": self.ppl_stderr,
            "n_chunks": self.n_chunks,
            "n_tokens_scored": self.n_tokens_scored,
            "n_ctx": self.n_ctx,
            "seconds": self.seconds,
            "n_tokens_text": self.n_tokens_text,
            "chunk_ppls": list(self.chunk_ppls),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PerplexityResult:
        chunks = data.get("chunk_ppls", [])
        if not isinstance(chunks, list):
            raise ValueError("chunk_ppls")
        return cls(
            ppl=_float(data, "ppl"),
            ppl_stderr=_float(data, "ppl_stderr"),
            n_chunks=_int(data, "n_chunks", 0, 0, 1 << 40),
            n_tokens_scored=_int(data, "n_tokens_scored", 0, 0, 1 << 40),
            n_ctx=_int(data, "n_ctx", 0, 0, 1 << 40),
            seconds=_float(data, "seconds"),
            n_tokens_text=_int(data, "n_tokens_text", 0, 0, 1 << 40),
            chunk_ppls=tuple(float(x) for x in chunks[:100000]),
        )


@dataclass(frozen=True, slots=True)
class BenchResult:
    """Tokens per second: the median over ``reps`` runs and the spread (sample std. dev.).

    ``pp_tps_samples``/``tg_tps_samples`` are the individual runs, for anyone who wants
    another statistic. A test with size 0 (``pp=0`` or ``tg=0``) reports 0.0 and no samples.
    """

    pp_tps_median: float
    pp_tps_spread: float
    tg_tps_median: float
    tg_tps_spread: float
    threads: int
    batch: int
    gpu_layers: int
    reps: int
    pp: int = 512
    tg: int = 128
    pp_tps_samples: tuple[float, ...] = ()
    tg_tps_samples: tuple[float, ...] = ()
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "pp_tps_median": self.pp_tps_median,
            "pp_tps_spread": self.pp_tps_spread,
            "tg_tps_median": self.tg_tps_median,
            "tg_tps_spread": self.tg_tps_spread,
            "threads": self.threads,
            "batch": self.batch,
            "gpu_layers": self.gpu_layers,
            "reps": self.reps,
            "pp": self.pp,
            "tg": self.tg,
            "pp_tps_samples": list(self.pp_tps_samples),
            "tg_tps_samples": list(self.tg_tps_samples),
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BenchResult:
        return cls(
            pp_tps_median=_float(data, "pp_tps_median"),
            pp_tps_spread=_float(data, "pp_tps_spread"),
            tg_tps_median=_float(data, "tg_tps_median"),
            tg_tps_spread=_float(data, "tg_tps_spread"),
            threads=_int(data, "threads", 0, 0, 1024),
            batch=_int(data, "batch", 0, 0, 1 << 20),
            gpu_layers=_int(data, "gpu_layers", 0, -1, 100000),
            reps=_int(data, "reps", 0, 0, 1000),
            pp=_int(data, "pp", 512, 0, 1 << 16),
            tg=_int(data, "tg", 128, 0, 1 << 16),
            pp_tps_samples=_floats(data, "pp_tps_samples"),
            tg_tps_samples=_floats(data, "tg_tps_samples"),
            seconds=_float(data, "seconds", 0.0),
        )


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """A task score: ``metric`` (``bleu``, ``chrf``, ``rouge``...) of an app over pairs."""

    app_id: str
    metric: str
    score: float
    n_pairs: int
    model: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "metric": self.metric,
            "score": self.score,
            "n_pairs": self.n_pairs,
            "model": self.model,
            "details": self.details,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScoreResult:
        details = data.get("details", {})
        if not isinstance(details, dict):
            raise ValueError("details")
        return cls(
            app_id=_str(data, "app_id", 200),
            metric=_str(data, "metric", 40),
            score=_float(data, "score"),
            n_pairs=_int(data, "n_pairs", 0, 0, 1 << 40),
            model=_str(data, "model", 4096),
            details=details,
        )


# --- stored results ---------------------------------------------------------------------

LabRecordKind = Literal["perplexity", "bench", "score", "quantize"]


@dataclass(frozen=True, slots=True)
class LabRecord:
    """One stored measurement (core/lab/results.py keeps them).

    ``model_path`` and ``size_bytes`` identify the file measured; ``quant_type`` is its
    llama.cpp type name (``"Q4_K_M"``, ``"F16"``; ``""`` when unknown); ``result`` is the
    result's ``to_json()``; ``label`` says what was measured on (the text's name, the
    dataset's name, ``"pp512/tg128"``). ``record_id`` is given by the store (0 before).
    """

    model_path: str
    size_bytes: int
    quant_type: str
    kind: LabRecordKind
    result: dict[str, Any]
    created_at: datetime
    label: str = ""
    record_id: int = 0

    @property
    def model_name(self) -> str:
        return Path(self.model_path).name


@dataclass(frozen=True, slots=True)
class Comparison:
    """A saved comparison: a name, the model files in it, and their records."""

    name: str
    models: tuple[str, ...]
    records: tuple[LabRecord, ...] = ()


# --- reading JSON fields ------------------------------------------------------------------

_MISSING: Any = object()


def _str(data: Mapping[str, Any], key: str, limit: int, default: str = _MISSING) -> str:
    value = data.get(key, default)
    if value is _MISSING or not isinstance(value, str):
        raise ValueError(key)
    if len(value) > limit:
        raise ValueError(f"{key} is too long")
    return value


def _int(data: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{key} must be a whole number from {low} to {high}")
    return value


def _float(data: Mapping[str, Any], key: str, default: float = _MISSING) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(key)
    return float(value)


def _floats(data: Mapping[str, Any], key: str) -> tuple[float, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or len(value) > 10000:
        raise ValueError(key)
    return tuple(float(x) for x in value if isinstance(x, int | float) and not isinstance(x, bool))


def _bool(data: Mapping[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(key)
    return value


def _time(data: Mapping[str, Any], key: str) -> datetime:
    value = data.get(key)
    if not isinstance(value, str):
        return datetime.now(UTC)
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
