"""Starting the lab worker process, reading its lines, cancelling it (the app/CLI side).

``await run_job(job, on_progress)`` starts ``python -m llmos_desktop --lab-worker`` (a
frozen app: its own executable with the flag), writes the job on its stdin and reads its
JSON lines (see worker.py for the protocol). ``on_progress`` is called on the event loop's
thread, so a Qt slot may update widgets from it. Cancelling the awaiting task ends the
worker (terminate, then kill after a grace period) and, for a quantization, removes the
partial output file; a worker that dies or writes something unreadable becomes
``LabError("worker_crashed")`` with a one-line reason (its exit status and the last line
it wrote to stderr).

The pipes are read by two small threads that hand lines to the loop with
``call_soon_threadsafe``: this works the same under asyncio and qasync (whose loop has no
subprocess support of its own), and never blocks the loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, overload

from llmos_desktop.core.engine.llama_env import llama_process_env
from llmos_desktop.core.lab.types import (
    BenchJob,
    BenchResult,
    LabError,
    LabJob,
    LabProgress,
    PerplexityJob,
    PerplexityResult,
    QuantizeJob,
    QuantizeResult,
)

__all__ = ["TERMINATE_GRACE", "LabWorkerRun", "run_job", "worker_command"]

TERMINATE_GRACE = 3.0  # seconds between terminate and kill
_MAX_LINE = 1 << 24
_STDERR_TAIL = 40

ProgressCallback = Callable[[LabProgress], None]
LabResult = QuantizeResult | PerplexityResult | BenchResult


def worker_command() -> list[str]:
    """The same interpreter (or the same frozen executable) with the lab worker flag."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--lab-worker"]
    return [sys.executable, "-m", "llmos_desktop", "--lab-worker"]


class LabWorkerRun:
    """One worker process for one job: started by ``start``, ended by ``stop``."""

    def __init__(
        self,
        job: LabJob,
        *,
        command: Sequence[str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.job = job
        self.command = list(command) if command is not None else worker_command()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL)
        self._stderr_done = threading.Event()

    def start(self, on_line: Callable[[bytes | None], None]) -> None:
        """Start the worker, send the job; ``on_line`` gets each stdout line, then None
        (from a reader thread)."""
        creationflags = getattr(subprocess, "CREATE_NO_WINDOW", 0)
        try:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=llama_process_env(os.environ),
                creationflags=creationflags,
            )
        except OSError as exc:
            raise LabError("worker_crashed", f"The lab worker could not start: {exc}") from exc
        process = self.process
        assert process.stdin is not None and process.stdout is not None
        threading.Thread(
            target=self._read_stdout,
            args=(process.stdout, on_line),
            daemon=True,
            name="lab-worker-stdout",
        ).start()
        threading.Thread(
            target=self._read_stderr,
            args=(process.stderr,),
            daemon=True,
            name="lab-worker-stderr",
        ).start()
        line = json.dumps(self.job.to_json(), ensure_ascii=False) + "\n"
        try:
            process.stdin.write(line.encode("utf-8"))
            process.stdin.flush()  # stdin stays open: the worker ends itself when it closes
        except OSError:
            pass  # it died at once; its exit status says why

    def terminate(self) -> None:
        """Ask the worker to end (SIGTERM); returns at once."""
        process = self.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(OSError):
                process.terminate()

    def stop(self) -> None:
        """End the worker (terminate, then kill), wait for it, and remove what a
        quantization left half-written."""
        process = self.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(OSError):
                process.terminate()
            try:
                process.wait(TERMINATE_GRACE)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    process.kill()
                process.wait()
        if process is not None and process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()  # stdout and stderr: their reader threads close them
        self.remove_partial()

    def remove_partial(self) -> None:
        if isinstance(self.job, QuantizeJob):
            from llmos_desktop.core.lab.quantize import partial_path

            with contextlib.suppress(OSError):
                partial_path(self.job.out).unlink(missing_ok=True)

    def crash_error(self) -> LabError:
        """The one-line error for a worker that ended without a result (blocks up to
        TERMINATE_GRACE while the process ends)."""
        process = self.process
        status = None
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                status = process.wait(TERMINATE_GRACE)
        self._stderr_done.wait(2.0)
        last = next((line for line in reversed(self.stderr_tail) if line.strip()), "")
        how = (
            f"exit status {status}"
            if status is not None and status >= 0
            else (f"signal {-status}" if status is not None else "no exit status")
        )
        reason = f": {last.strip()[:300]}" if last else ""
        return LabError("worker_crashed", f"The lab worker stopped unexpectedly ({how}){reason}")

    def _read_stdout(self, pipe: IO[bytes], on_line: Callable[[bytes | None], None]) -> None:
        try:
            while line := pipe.readline(_MAX_LINE):
                on_line(line)
        except (OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                pipe.close()
            on_line(None)

    def _read_stderr(self, pipe: IO[bytes] | None) -> None:
        if pipe is None:
            return
        log = None
        if self.log_path is not None:
            with contextlib.suppress(OSError):
                log = self.log_path.open("ab")
        try:
            while line := pipe.readline(65536):
                self.stderr_tail.append(line.decode("utf-8", "replace"))
                if log is not None:
                    with contextlib.suppress(OSError):
                        log.write(line)
        except (OSError, ValueError):
            pass
        finally:
            if log is not None:
                log.close()
            with contextlib.suppress(OSError):
                pipe.close()
            self._stderr_done.set()


@overload
async def run_job(
    job: QuantizeJob,
    on_progress: ProgressCallback | None = ...,
    *,
    command: Sequence[str] | None = ...,
    log_path: Path | None = ...,
) -> QuantizeResult: ...
@overload
async def run_job(
    job: PerplexityJob,
    on_progress: ProgressCallback | None = ...,
    *,
    command: Sequence[str] | None = ...,
    log_path: Path | None = ...,
) -> PerplexityResult: ...
@overload
async def run_job(
    job: BenchJob,
    on_progress: ProgressCallback | None = ...,
    *,
    command: Sequence[str] | None = ...,
    log_path: Path | None = ...,
) -> BenchResult: ...
async def run_job(
    job: LabJob,
    on_progress: ProgressCallback | None = None,
    *,
    command: Sequence[str] | None = None,
    log_path: Path | None = None,
) -> LabResult:
    """Run ``job`` in a worker process; its result, or a LabError.

    ``command`` replaces the worker command (tests start it with a file-size limit);
    ``log_path`` collects the worker's stderr (llama.cpp's log).
    """
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[bytes | None] = asyncio.Queue()
    run = LabWorkerRun(job, command=command, log_path=log_path)

    def on_line(line: bytes | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
            loop.call_soon_threadsafe(lines.put_nowait, line)

    run.start(on_line)
    finished = False
    try:
        while True:
            line = await lines.get()
            if line is None:
                break
            outcome = _read_line(job, line, on_progress)
            if outcome is not None:
                finished = True
                if isinstance(outcome, LabError):
                    raise outcome
                return outcome
        # No result: the worker ended (or is ending). Its exit status and the end of its
        # stderr say why; both are waited for off the loop's thread.
        raise await loop.run_in_executor(None, run.crash_error)
    finally:
        if finished:
            process = run.process
            if process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    await loop.run_in_executor(None, process.wait, TERMINATE_GRACE)
            await loop.run_in_executor(None, run.stop)
        else:
            # Cancelled, crashed, or unreadable: signal it and drop its partial file now
            # (both return at once), and leave the wait (a kill after TERMINATE_GRACE) to
            # the executor: a cancelled task may not await again, and the loop may be the
            # GUI's, which must not stall for seconds.
            run.terminate()
            run.remove_partial()
            loop.run_in_executor(None, run.stop)


def _read_line(
    job: LabJob, line: bytes, on_progress: ProgressCallback | None
) -> LabResult | LabError | None:
    """A result or error ends the run; progress is passed on; the rest is a crash."""
    try:
        message = json.loads(line.decode("utf-8"))
        if not isinstance(message, dict):
            raise ValueError("not an object")
        kind = message.get("type")
        if kind == "progress":
            if on_progress is not None:
                on_progress(LabProgress.from_json(message))
            return None
        if kind == "started":
            return None
        if kind == "error":
            return LabError.from_json(message)
        if kind == "result":
            data = message.get("result")
            if not isinstance(data, dict):
                raise ValueError("result")
            if isinstance(job, QuantizeJob):
                return QuantizeResult.from_json(data)
            if isinstance(job, PerplexityJob):
                return PerplexityResult.from_json(data)
            return BenchResult.from_json(data)
        raise ValueError(f"unknown line type {kind!r}")
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        text = line[:120].decode("utf-8", "replace").strip()
        return LabError(
            "worker_crashed", f"The lab worker wrote something unreadable ({exc}): {text}"
        )
