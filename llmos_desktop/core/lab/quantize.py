"""Quantizing a GGUF: the checks before, the partial file, the proof after, the provenance.

llama.cpp's own quantizer does the work (llama_api.lab_quantize, in the lab worker
process: it can take minutes and a crash must not take the window with it). Around it:

- The source must be a GGUF the bounded reader accepts. F32/F16/BF16 sources are what
  quantization is for; an already quantized source loses quality twice, so it needs the
  user's explicit "lossy" confirmation (``allow_requantize``), as llama-quantize's
  ``--allow-requantize`` does. A source whose type the file does not say counts as
  quantized.
- The output is never an existing file and always ends in ``.gguf``; it is written to a
  hidden partial name (``.NAME.gguf.quantizing.part``) in the same folder, which the model
  library never lists (it lists ``*.gguf`` without hidden names), and becomes ``NAME.gguf``
  by a rename only after it was read back whole and generated a few tokens. A cancelled,
  failed or crashed run leaves at most the partial file, which the worker client removes.
- Free space is checked before (the estimated output size plus a margin, including the
  process's file-size limit, RLIMIT_FSIZE) and while writing (a watcher stops the run
  when what is left no longer fits); a write the disk refuses ends as ``disk_full``.
- The result carries its provenance: source file, its SHA-256, its type, the new type,
  and the time.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmos_desktop.core.lab.types import (
    SOURCE_FILE_TYPES,
    LabError,
    LabProgress,
    QuantizeJob,
    QuantizeResult,
    QuantType,
)
from llmos_desktop.core.models.gguf.reader import ModelFileError, read_gguf_info
from llmos_desktop.core.models.naming import with_quant

__all__ = [
    "DISK_CHECK_INTERVAL",
    "SourceInfo",
    "check_job",
    "check_model_file",
    "default_out",
    "estimate_output_bytes",
    "inspect_source",
    "partial_path",
    "room_for",
    "run_quantize",
]

Report = Callable[[LabProgress], None]

DISK_CHECK_INTERVAL = 0.25  # seconds between free-space checks while writing
_MARGIN_BYTES = 16 * 1024 * 1024  # kept free beyond the estimate, before starting
_HASH_BLOCK = 4 * 1024 * 1024
# Bits per weight of sources, by llama.cpp type name: what the output estimate divides by.
# A quantized type we do not know is taken as 4 bits (so its estimate errs large).
_SOURCE_BITS = {"F32": 32.0, "F16": 16.0, "BF16": 16.0} | {
    q.value: q.bits_per_weight for q in QuantType
}


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What the lab knows of a source file before quantizing it."""

    path: Path
    size_bytes: int
    file_type: str  # "F32", "F16", "BF16", "Q8_0"..., "" when the file does not say
    architecture: str

    @property
    def is_quantized(self) -> bool:
        return self.file_type not in SOURCE_FILE_TYPES.values()


def partial_path(out: Path) -> Path:
    """Where ``out`` is written until it is proven whole: hidden, not ``*.gguf``."""
    return out.with_name(f".{out.name}.quantizing.part")


def default_out(source: Path, qtype: QuantType) -> Path:
    """``model-F16.gguf`` -> ``model-Q4_K_M.gguf``: the quantization the name gives
    replaced (wherever it stands: ``model.Q4_1.gguf`` -> ``model.Q4_0.gguf``, not
    ``model.Q4_1-Q4_0.gguf``), or added."""
    stem = source.name[: -len(".gguf")] if source.name.lower().endswith(".gguf") else source.name
    return source.with_name(f"{with_quant(stem, qtype.value)}.gguf")


def inspect_source(source: Path) -> SourceInfo:
    """The source's type and size from its header, or ``LabError("invalid_source")``."""
    try:
        info = read_gguf_info(source)
    except ModelFileError as exc:
        raise LabError("invalid_source", str(exc)) from exc
    if info.architecture is None:
        raise LabError("invalid_source", f"{source.name} names no model architecture.")
    return SourceInfo(source, info.file_size, info.file_type or "", info.architecture)


def check_model_file(path: Path) -> None:
    """A model to measure must be a GGUF the bounded reader accepts: a file llama.cpp
    would refuse (or crash on) is refused first, with the reader's reason."""
    if not path.is_file():
        raise LabError("invalid_source", f"No model file at {path}.")
    inspect_source(path)


def estimate_output_bytes(source: SourceInfo, qtype: QuantType) -> int:
    """About how big the result will be: the weights at the new bits per weight."""
    bits = _SOURCE_BITS.get(source.file_type, 4.0)
    return int(source.size_bytes * qtype.bits_per_weight / bits * 1.1) + 1024 * 1024


def room_for(folder: Path, needed: int, *, written: int = 0) -> tuple[bool, int]:
    """(whether ``needed`` more bytes fit in ``folder``, the bytes that still fit).

    Counts the file system's free space and, when ``written`` is given (a file of that
    size is being written), this process's file-size limit (RLIMIT_FSIZE), which the
    kernel enforces with EFBIG as a full disk refuses with ENOSPC.
    """
    free = shutil.disk_usage(folder).free
    if written and sys.platform != "win32":
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        if soft != resource.RLIM_INFINITY:
            free = min(free, max(0, int(soft) - written))
    return free >= needed, free


def check_job(job: QuantizeJob) -> SourceInfo:
    """Every check before a run; the source's description, or a LabError saying why not."""
    source, out = job.source, job.out
    if not source.is_file():
        raise LabError("invalid_source", f"No model file at {source}.")
    info = inspect_source(source)
    if info.is_quantized and not job.allow_requantize:
        kind = info.file_type or "of an unrecorded type"
        raise LabError(
            "requantize_refused",
            f"{source.name} is already quantized ({kind}); quantizing it again loses "
            "quality twice. Confirm that this lossy requantization is wanted "
            "(--allow-requantize).",
        )
    if out.suffix.lower() != ".gguf":
        raise LabError("invalid_job", f"The output must be a .gguf file, not {out.name}.")
    if out.exists():
        raise LabError("out_exists", f"{out} already exists; the lab never overwrites a model.")
    with contextlib.suppress(OSError):
        if out.resolve() == source.resolve():
            raise LabError("invalid_job", "The output cannot be the source file.")
    if not out.parent.is_dir():
        raise LabError("io", f"The folder {out.parent} does not exist.")
    needed = estimate_output_bytes(info, job.qtype) + _MARGIN_BYTES
    fits, free = room_for(out.parent, needed)
    if not fits:
        raise LabError(
            "disk_full",
            f"Not enough free space in {out.parent}: about {_mib(needed)} needed, "
            f"{_mib(free)} free.",
        )
    return info


def run_quantize(
    job: QuantizeJob, report: Report, *, stop_now: Callable[[LabError], None] | None = None
) -> QuantizeResult:
    """The whole run: checks, hash, quantize, verify, rename.

    ``stop_now`` is called (from a watcher thread) when the disk fills up while llama.cpp
    writes: the worker passes ``worker.fail_now``, which reports and ends the process
    (llama.cpp's quantizer cannot be interrupted otherwise). Without it (in-process use,
    tests) the run goes on until llama.cpp's own write fails, then reports ``disk_full``.
    """
    from llmos_desktop.core.engine.process import llama_api

    started = time.monotonic()
    report(LabProgress(0.0, "checking", job.source.name))
    info = check_job(job)
    sha256 = _sha256(job.source, report)
    partial = partial_path(job.out)
    partial.unlink(missing_ok=True)  # a leftover of a crashed run of the same output
    estimate = estimate_output_bytes(info, job.qtype)

    seen_tensor = threading.Event()
    watcher = _Watcher(partial, estimate, report, seen_tensor, stop_now)

    def on_tensor(done: int, total: int) -> None:
        seen_tensor.set()
        report(LabProgress(done / max(1, total), "quantizing", f"tensor {done + 1}/{total}"))

    report(LabProgress(0.0, "quantizing", job.qtype.value))
    watcher.start()
    try:
        status, errors = llama_api.lab_quantize(
            str(job.source),
            str(partial),
            ftype=job.qtype.ftype,
            n_threads=job.n_threads,
            allow_requantize=job.allow_requantize,
            on_tensor=on_tensor,
        )
    finally:
        watcher.stop()
    try:
        if status != 0:
            raise watcher.disk_full or _failure(job, partial, estimate, errors)
        report(LabProgress(1.0, "quantizing", "all tensors written"))
        report(LabProgress(None, "verifying", "reading the result back"))
        size = _check_whole(job, partial, estimate)
        reply, n_tokens = _generate(partial, job)
        if n_tokens < 1:
            raise LabError("load_failed", f"{job.out.name} loaded but generated nothing.")
        _publish(partial, job.out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    report(LabProgress(1.0, "done", job.out.name))
    return QuantizeResult(
        path=job.out.absolute(),
        qtype=job.qtype,
        size_bytes=size,
        source=job.source.absolute(),
        source_sha256=sha256,
        seconds=time.monotonic() - started,
        verified_reply=reply,
        source_type=info.file_type,
        verified_tokens=n_tokens,
    )


class _Watcher:
    """Checks free space while the quantizer writes (and reports the output's growth when
    llama.cpp's per-tensor log lines do not come)."""

    def __init__(
        self,
        partial: Path,
        estimate: int,
        report: Report,
        seen: threading.Event,
        stop_now: Callable[[LabError], None] | None,
    ) -> None:
        self._stop_now = stop_now
        self._partial = partial
        self._estimate = estimate
        self._report = report
        self._seen = seen
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lab-disk-watch", daemon=True)
        self.disk_full: LabError | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stopped.wait(DISK_CHECK_INTERVAL):
            try:
                written = self._partial.stat().st_size
                remaining = max(0, self._estimate - written)
                fits, free = room_for(
                    self._partial.parent, remaining - self._estimate // 10, written=written
                )
            except OSError:
                continue
            if not fits:
                self.disk_full = LabError(
                    "disk_full",
                    f"The disk filled up while quantizing: about {_mib(remaining)} more "
                    f"needed, {_mib(free)} free.",
                )
                if self._stop_now is not None:
                    self._partial.unlink(missing_ok=True)
                    self._stop_now(self.disk_full)
                return
            if not self._seen.is_set():
                fraction = min(0.99, written / max(1, self._estimate))
                self._report(LabProgress(fraction, "quantizing", f"{_mib(written)} written"))


def _sha256(path: Path, report: Report) -> str:
    digest = hashlib.sha256()
    total = max(1, path.stat().st_size)
    done = 0
    last = 0.0
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
            done += len(block)
            now = time.monotonic()
            if now - last > 0.2:
                last = now
                report(LabProgress(done / total, "checking", "SHA-256 of the source"))
    return digest.hexdigest()


def _failure(job: QuantizeJob, partial: Path, estimate: int, errors: list[str]) -> LabError:
    """Why llama.cpp's quantizer failed: a refused write (disk full, file-size limit) is
    told apart from the rest by whether the rest of the output would still fit."""
    written = partial.stat().st_size if partial.exists() else 0
    fits, free = room_for(job.out.parent, max(1, estimate - written), written=written)
    if written and not fits:
        return LabError(
            "disk_full",
            f"The disk is full: {job.out.name} could not be written ({_mib(free)} free, "
            f"about {_mib(estimate)} needed).",
        )
    detail = errors[-1] if errors else "llama.cpp gave no reason"
    return LabError("quantize_failed", f"Quantizing {job.source.name} failed: {detail}")


def _check_whole(job: QuantizeJob, partial: Path, estimate: int) -> int:
    """The output's size, once its header says all its tensors are there."""
    try:
        info = read_gguf_info(partial)
    except ModelFileError as exc:
        fits, free = room_for(job.out.parent, estimate)
        if not fits:
            raise LabError("disk_full", f"The disk is full ({_mib(free)} free).") from exc
        raise LabError("quantize_failed", f"The quantized file is not whole: {exc}") from exc
    if info.file_size < info.expected_size:
        raise LabError("quantize_failed", "The quantized file is shorter than its header says.")
    return info.file_size


def _generate(partial: Path, job: QuantizeJob) -> tuple[str, int]:
    """Load the result once (CPU, a small context) and let it pick a few tokens."""
    from llmos_desktop.core.engine.process import llama_api

    chatter = io.StringIO()
    try:
        llm = llama_api.lab_open(
            str(partial),
            n_ctx=256,
            n_batch=64,
            n_threads=job.n_threads,
            n_gpu_layers=0,
            chatter=chatter,
        )
    except (ValueError, RuntimeError, OSError) as exc:
        raise LabError("load_failed", f"llama.cpp could not load {job.out.name}: {exc}") from exc
    try:
        return llama_api.lab_greedy_reply(llm, job.verify_prompt, job.verify_tokens)
    except (ValueError, RuntimeError) as exc:
        raise LabError("load_failed", f"{job.out.name} could not generate: {exc}") from exc
    finally:
        llm.close()


def _publish(partial: Path, out: Path) -> None:
    """``partial`` becomes ``out``, never replacing a file that appeared there meanwhile."""
    try:
        os.link(partial, out)
    except FileExistsError as exc:
        raise LabError("out_exists", f"{out} appeared while quantizing; nothing replaced.") from exc
    except OSError:
        if out.exists():
            raise LabError("out_exists", f"{out} appeared while quantizing.") from None
        os.replace(partial, out)  # a file system without hard links (FAT, exFAT)
        return
    partial.unlink(missing_ok=True)


def _mib(n: int) -> str:
    return f"{max(0, n) / (1024 * 1024):.1f} MiB"
