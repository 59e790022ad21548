"""How streamed text is cut into chunks: the first alone, then at most one per interval.

Drives the server's streaming ``Job`` with a stand-in runtime that produces text on a
timer (the real engine is exercised in tests/integration); the rest is the real code.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from llmos_desktop.core.engine.contract import SamplingOptions
from llmos_desktop.core.engine.process.runtime import GenerationResult
from llmos_desktop.core.engine.process.server.streaming import Job


class _TimedRuntime:
    """Produces one token of text every `gap` seconds, like a model would."""

    def __init__(self, n_tokens: int, gap: float) -> None:
        self.n_tokens = n_tokens
        self.gap = gap
        self.saved = False

    def generate(
        self, tokens: list[int], sampling: Any, cancel: threading.Event, on_text: Any
    ) -> GenerationResult:
        for i in range(1, self.n_tokens + 1):
            time.sleep(self.gap)
            if on_text is not None:
                on_text(f"t{i} ", i)
        return GenerationResult("", "length", len(tokens), self.n_tokens, 0, None, None, None)

    def save_to_cache(self) -> None:
        self.saved = True


def _run_job(runtime: _TimedRuntime, interval: float) -> tuple[list[tuple[str, int]], float]:
    async def main() -> tuple[list[tuple[str, int]], float]:
        loop = asyncio.get_running_loop()
        job = Job(runtime, loop, interval)  # type: ignore[arg-type]
        start = time.monotonic()
        worker = loop.run_in_executor(None, job.run, [1, 2, 3], SamplingOptions(), True)
        chunks: list[tuple[str, int]] = []
        while True:
            kind, value = await job.queue.get()
            if kind == "done":
                break
            chunks.append(value)
        await worker
        return chunks, time.monotonic() - start

    return asyncio.run(main())


def test_fast_tokens_are_gathered_but_the_first_goes_out_alone() -> None:
    runtime = _TimedRuntime(n_tokens=40, gap=0.005)
    chunks, elapsed = _run_job(runtime, interval=0.05)
    assert chunks[0] == ("t1 ", 1)
    assert "".join(text for text, _ in chunks) == "".join(f"t{i} " for i in range(1, 41))
    assert chunks[-1][1] == 40, "the last text goes out before done"
    # At most one chunk per interval after the first.
    assert len(chunks) <= elapsed / 0.05 + 2
    assert len(chunks) < 40
    assert [n for _, n in chunks] == sorted(n for _, n in chunks)
    assert runtime.saved


def test_slow_tokens_each_go_out_at_once() -> None:
    chunks, _ = _run_job(_TimedRuntime(n_tokens=5, gap=0.06), interval=0.05)
    assert chunks == [(f"t{i} ", i) for i in range(1, 6)]


def test_interval_zero_sends_every_token() -> None:
    chunks, _ = _run_job(_TimedRuntime(n_tokens=10, gap=0.0), interval=0.0)
    assert len(chunks) == 10


class _SlowSaveRuntime(_TimedRuntime):
    """Saving the KV state takes a second (a big model's state is hundreds of MB)."""

    def save_to_cache(self) -> None:
        time.sleep(1.0)
        self.saved = True


def test_a_non_streamed_reply_does_not_wait_for_the_state_save() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from llmos_desktop.core.engine.process.server.streaming import finish

    runtime = _SlowSaveRuntime(n_tokens=3, gap=0.001)
    worker = ThreadPoolExecutor(max_workers=1)

    async def main() -> tuple[GenerationResult, float, bool]:
        loop = asyncio.get_running_loop()
        job = Job(runtime, loop, 0.05)  # type: ignore[arg-type]

        def on_worker(fn: Any, *args: Any) -> Any:
            return loop.run_in_executor(worker, fn, *args)

        start = time.monotonic()
        result = await finish(job, [1, 2, 3], SamplingOptions(), on_worker)
        return result, time.monotonic() - start, runtime.saved

    try:
        result, elapsed, saved_when_answered = asyncio.run(main())
    finally:
        worker.shutdown(wait=True)  # the save still runs to its end on the worker
    assert result.completion_tokens == 3
    assert elapsed < 0.8, elapsed
    assert not saved_when_answered
    assert runtime.saved
