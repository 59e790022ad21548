"""The bridge from the worker thread that generates to the event loop that streams.

``Job.run`` runs on the runtime's worker thread and hands text to the loop in
chunks; ``drain`` runs on the loop, starts the job and yields what it produced. A
client that goes away cancels ``drain``, which sets the job's cancel event.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

from llmos_desktop.core.engine.contract import ErrorKind, SamplingOptions
from llmos_desktop.core.engine.process.protocol import error_body
from llmos_desktop.core.engine.process.runtime import (
    EngineRuntime,
    EngineRuntimeError,
    GenerationResult,
)


def token_counts(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class Job:
    """One generation on the worker thread, its text delivered to the event loop in chunks.

    The first text goes out at once; later text is gathered while tokens arrive faster than
    one chunk per ``interval`` and sent with the next token after it, so no text waits
    longer than ``interval`` plus one token. The rest goes out before "done" or "error".
    """

    def __init__(
        self, runtime: EngineRuntime, loop: asyncio.AbstractEventLoop, interval: float
    ) -> None:
        self.runtime = runtime
        self.loop = loop
        self.interval = interval
        self.cancel = threading.Event()
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._parts: list[str] = []
        self._tokens = 0
        self._last_sent = -float("inf")

    def _put(self, kind: str, value: Any) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (kind, value))

    def _on_text(self, text: str, tokens: int) -> None:
        self._parts.append(text)
        self._tokens = tokens
        now = time.monotonic()
        if now - self._last_sent >= self.interval:
            self._last_sent = now
            self._flush()

    def _flush(self) -> None:
        if self._parts:
            self._put("text", ("".join(self._parts), self._tokens))
            self._parts.clear()

    def run(self, tokens: list[int], sampling: SamplingOptions, stream: bool) -> GenerationResult:
        on_text = self._on_text if stream else None
        try:
            result = self.runtime.generate(tokens, sampling, self.cancel, on_text)
        except BaseException as exc:
            self._flush()
            self._put("error", exc)
            raise
        self._flush()
        self._put("done", result)
        # After the reply is out, so the client does not wait for the copy.
        self.runtime.save_to_cache()
        return result


async def finish(
    job: Job,
    tokens: list[int],
    sampling: SamplingOptions,
    on_worker: Callable[..., Awaitable[Any]],
) -> GenerationResult:
    """A generation that is not streamed: its result as soon as Job.run hands it over.

    Job.run then saves the KV state on the worker (the next request waits for that, the
    client that asked does not).
    """
    future = asyncio.ensure_future(on_worker(job.run, tokens, sampling, False))
    future.add_done_callback(lambda f: f.exception() if not f.cancelled() else None)
    getter = asyncio.ensure_future(job.queue.get())
    try:
        while True:
            await asyncio.wait({future, getter}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                kind, value = getter.result()
                if kind == "done":
                    return cast(GenerationResult, value)
                if kind == "error":
                    raise value
                getter = asyncio.ensure_future(job.queue.get())  # "text": not streamed
            else:
                return cast(GenerationResult, future.result())  # failed before handing over
    finally:
        getter.cancel()


async def drain(
    job: Job,
    tokens: list[int],
    sampling: SamplingOptions,
    on_worker: Callable[..., Awaitable[Any]],
    continuous: bool,
) -> AsyncIterator[tuple[str, Any]]:
    """Run a generation and yield ("text", (text, extra chunk fields)), then ("done", result)
    or ("error", body). With ``continuous``, the extra fields carry the usage so far
    (vLLM's continuous usage stats).

    If the client goes away, sse-starlette cancels this generator; the ``finally`` sets the
    cancel event, which the worker checks after every token and llama.cpp's abort callback
    checks during prompt evaluation.
    """
    future = asyncio.ensure_future(on_worker(job.run, tokens, sampling, True))
    future.add_done_callback(lambda f: f.exception() if not f.cancelled() else None)
    try:
        while True:
            kind, value = await job.queue.get()
            if kind == "text":
                text, generated = value
                extra = {"usage": token_counts(len(tokens), generated)} if continuous else {}
                yield kind, (text, extra)
            elif kind == "done":
                yield kind, value
                return
            else:
                exc = value
                if isinstance(exc, EngineRuntimeError):
                    body = error_body(exc.message, type_="server_error", code=exc.kind)
                else:
                    body = error_body(
                        f"generation failed: {exc}",
                        type_="server_error",
                        code=ErrorKind.GENERATION_FAILED,
                    )
                yield "error", body
                return
    finally:
        job.cancel.set()
