"""How streamed text is cut into chunks: stop-string hold-back and chunk coalescing.

The coalescing test drives the server's `_Job` with a stand-in runtime that produces
text on a timer (the real engine is exercised in tests/integration); everything else
here is the real code.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from llmos_desktop.core.engine.process.runtime import (
    GenerationResult,
    Sampling,
    _release,
    _stop_prefix_len,
)
from llmos_desktop.core.engine.process.server import _Job


@pytest.mark.parametrize(
    ("text", "stops", "held"),
    [
        ("Hello", ("<end_of_turn>",), 0),
        ("Hello <", ("<end_of_turn>",), 1),
        ("Hello <end_of", ("<end_of_turn>",), 7),
        ("Hello <end_of_turn", ("<end_of_turn>",), 12),
        ("ab", ("abc", "bx"), 2),
        ("xb", ("abc", "bx"), 1),
        ("", ("abc",), 0),
        ("abc", (), 0),
        # A stop of one character is found whole, never held.
        ("a.", (".",), 0),
    ],
)
def test_only_text_that_can_start_a_stop_is_held(
    text: str, stops: tuple[str, ...], held: int
) -> None:
    assert _stop_prefix_len(text, stops) == held


def test_held_text_is_enough_to_find_a_stop_split_across_tokens() -> None:
    stops = ("</s>", "\nUser:")
    pieces = ["Sure", ", here", " it is.\n", "Us", "er", ": next"]
    pending = ""
    sent = ""
    for piece in pieces:
        ready, pending, stopped = _release(pending + piece, stops)
        sent += ready
        if stopped:
            break
    assert sent == "Sure, here it is."


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
        job = _Job(runtime, loop, interval)  # type: ignore[arg-type]
        start = time.monotonic()
        worker = loop.run_in_executor(None, job.run, [1, 2, 3], Sampling(), True)
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
