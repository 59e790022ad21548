"""The engine's server app, served by uvicorn in a thread of the test process.

``serving`` runs ``create_app`` with the same uvicorn settings as ``child.serve`` (the
header timeout protocol included), on a loopback socket. ``StubRuntime`` stands in for
EngineRuntime where a test needs a generation it can time without llama.cpp: one token
every ``gap`` seconds until the cancel event is set or ``max_tokens`` are made.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

import uvicorn

from llmos_desktop.core.engine.contract import SamplingOptions
from llmos_desktop.core.engine.process.child import bind_socket
from llmos_desktop.core.engine.process.runtime import ChatPrompt, EngineRuntime, GenerationResult
from llmos_desktop.core.engine.process.server.app import create_app
from llmos_desktop.core.engine.process.server.config import ServerConfig
from llmos_desktop.core.engine.process.server.guard import uvicorn_settings


@dataclass(frozen=True)
class Served:
    base_url: str
    host: str
    port: int

    def connect(self) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=10)


@contextlib.contextmanager
def serving(runtime: Any, config: ServerConfig) -> Iterator[Served]:
    app = create_app(cast(EngineRuntime, runtime), config)
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            **uvicorn_settings(config),
        )
    )
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[sock])), name="test-server"
    )
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive(), "the server thread ended before serving"
            assert time.monotonic() < deadline, "the server did not start within 30 s"
            time.sleep(0.01)
        yield Served(f"http://127.0.0.1:{port}", "127.0.0.1", port)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
    assert not thread.is_alive(), "the server did not stop"


@dataclass
class StubRuntime:
    """What the routes use of EngineRuntime, with a generation that takes ``gap`` per token."""

    gap: float = 0.01
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="stub")
    )
    model_id: str | None = "stub"
    # (tokens generated, whether the cancel event was set) per finished generation
    finished: list[tuple[int, bool]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    closed: threading.Event = field(default_factory=threading.Event)

    def chat_prompt(self, messages: list[dict[str, Any]], **_options: Any) -> ChatPrompt:
        return ChatPrompt([1, 2, 3], ())

    def text_prompt(self, prompt: str | list[int]) -> list[int]:
        return [1, 2, 3]

    def generate(
        self,
        tokens: list[int],
        sampling: SamplingOptions,
        cancel: threading.Event,
        on_text: Any = None,
    ) -> GenerationResult:
        limit = sampling.max_tokens or 100_000
        made = 0
        while made < limit and not cancel.is_set() and not self.closed.is_set():
            time.sleep(self.gap)
            made += 1
            if on_text is not None:
                on_text("x", made)
        self.finished.append((made, cancel.is_set()))
        self.done.set()
        reason = "cancelled" if cancel.is_set() else "length"
        return GenerationResult("x" * made, reason, len(tokens), made, 0, None, None, None)

    def save_to_cache(self) -> None:
        pass

    def close(self) -> None:
        self.closed.set()  # a generation nobody cancelled ends too
        self.executor.shutdown(wait=True, cancel_futures=True)
