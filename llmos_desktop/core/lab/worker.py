"""The lab worker process: one job in, JSON lines out (``python -m llmos_desktop --lab-worker``).

Quantizing, perplexity and speed runs load llama.cpp, take minutes and may crash on a
file no check foresaw, so they never run in the GUI (or CLI) process: worker_client.py
starts this process, writes one job as a JSON line on its stdin, and reads its stdout.

Protocol (stdout, one JSON object per line, UTF-8):

- ``{"type": "started", "pid": N, "kind": "quantize"}`` once the job was read;
- ``{"type": "progress", "fraction": 0.42 | null, "stage": "...", "detail": "..."}``,
  at most about ten a second (stage changes always);
- then exactly one of ``{"type": "result", "result": {...}}`` (the result's to_json()) or
  ``{"type": "error", "kind": "...", "message": "..."}`` (a LabError's), and the process
  exits (0 after a result, 1 after an error).

Everything else (llama.cpp's log, llama-cpp-python's prints) goes to stderr: the real
stdout is kept for the protocol and file descriptor 1 is pointed at stderr before any
library loads, so nothing a C library prints can break a line. The worker ends itself
when its stdin closes (the app is gone). Cancelling is ending this process (the client
terminates it, then kills it); llama.cpp's quantizer cannot be interrupted any other way.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn, TextIO

from llmos_desktop.core.lab.types import (
    BenchJob,
    LabError,
    LabProgress,
    PerplexityJob,
    QuantizeJob,
    job_from_json,
)

__all__ = ["MAX_JOB_BYTES", "fail_now", "worker_main"]

MAX_JOB_BYTES = 80 * 1024 * 1024  # a job with a user's text inline stays below this
_PROGRESS_INTERVAL = 0.1

_out: TextIO | None = None
_out_lock = threading.Lock()
_last_progress = 0.0
_last_stage = ""


def worker_main(args: Sequence[str]) -> int:
    """Run the one job read from stdin; never returns (os._exit: see _finish)."""
    global _out
    if args:
        print("usage: --lab-worker (one JSON job on stdin)", file=sys.stderr)
        return 2
    _out = _take_stdout()
    raw = sys.stdin.buffer.readline(MAX_JOB_BYTES + 1)
    _exit_when_stdin_closes()
    try:
        if len(raw) > MAX_JOB_BYTES:
            raise LabError("invalid_job", "The lab job is too large.")
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LabError("invalid_job", f"The lab job is not JSON: {exc}.") from exc
        job = job_from_json(data)
        _emit({"type": "started", "pid": os.getpid(), "kind": job.kind})
        result = _run(job)
    except LabError as exc:
        _finish({"type": "error", **exc.to_json()}, 1)
    except MemoryError:
        _finish({"type": "error", "kind": "worker_crashed", "message": "Out of memory."}, 1)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        message = f"The lab worker failed: {type(exc).__name__}: {exc}"[:500]
        _finish({"type": "error", "kind": "worker_crashed", "message": message}, 1)
    _finish({"type": "result", "result": result}, 0)


def fail_now(error: LabError) -> NoReturn:
    """Report ``error`` and end the process at once, from any thread (a watcher that saw
    the disk fill up while llama.cpp was writing)."""
    _finish({"type": "error", **error.to_json()}, 1)


def report(progress: LabProgress) -> None:
    """Send progress, thinned to about ten lines a second (stage changes always go)."""
    global _last_progress, _last_stage
    now = time.monotonic()
    final = progress.fraction is not None and progress.fraction >= 1.0
    if progress.stage == _last_stage and not final and now - _last_progress < _PROGRESS_INTERVAL:
        return
    _last_progress, _last_stage = now, progress.stage
    _emit({"type": "progress", **progress.to_json()})


def _run(job: QuantizeJob | PerplexityJob | BenchJob) -> dict[str, Any]:
    if isinstance(job, QuantizeJob):
        from llmos_desktop.core.lab.quantize import run_quantize

        return run_quantize(job, report, stop_now=fail_now).to_json()
    if isinstance(job, PerplexityJob):
        from llmos_desktop.core.lab.perplexity import run_perplexity

        return run_perplexity(job, report).to_json()
    from llmos_desktop.core.lab.bench import run_bench

    return run_bench(job, report).to_json()


def _take_stdout() -> TextIO:
    """A private copy of stdout for the protocol; fd 1 (and sys.stdout) become stderr."""
    sys.stdout.flush()
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return open(protocol_fd, "w", encoding="utf-8", buffering=1)


def _emit(message: dict[str, Any]) -> None:
    line = json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    with _out_lock:
        assert _out is not None
        _out.write(line + "\n")
        _out.flush()


def _finish(message: dict[str, Any], status: int) -> NoReturn:
    """The last line, then os._exit: threads (the stdin watcher) are still running, and
    nothing (llama.cpp's destructors included) needs the interpreter's clean-up."""
    try:
        _emit(message)
    except (OSError, ValueError):
        status = status or 1
    sys.stderr.flush()
    os._exit(status)


def _exit_when_stdin_closes() -> None:
    def watch() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        os._exit(1)

    threading.Thread(target=watch, name="lab-parent-watch", daemon=True).start()
