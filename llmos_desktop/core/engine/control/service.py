"""The Engine service: a supervised local engine behind one async interface.

It restarts a dead engine on the next request and reloads the model that was loaded,
so a crash costs the user one error message, not their session. Qt-free: the GUI
awaits these coroutines on its qasync loop; blocking process work goes to a thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmos_desktop.core.engine.control.client import (
    ChatResult,
    EngineAPIError,
    EngineClient,
    EngineConnectionError,
    TextDelta,
)
from llmos_desktop.core.engine.errors import EngineFailure
from llmos_desktop.core.engine.control.supervisor import EngineStartError, EngineSupervisor


@dataclass(frozen=True)
class LoadSpec:
    path: str
    n_ctx: int = 4096
    n_gpu_layers: int = 0
    n_threads: int | None = None
    chat_template: str | None = None


class EngineUnavailable(Exception):
    """The engine died or could not start; ``failure`` says why in words."""

    def __init__(self, failure: EngineFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class Engine:
    def __init__(self, supervisor: EngineSupervisor) -> None:
        self.supervisor = supervisor
        self.loaded: LoadSpec | None = None
        # The engine process that holds ``loaded``. Comparing pids (rather than remembering
        # "we just restarted") survives a task cancelled in the middle of a restart.
        self._loaded_in_pid: int | None = None
        self._client: EngineClient | None = None
        self._lock: asyncio.Lock | None = None

    @property
    def failure(self) -> EngineFailure | None:
        return self.supervisor.last_failure

    async def _blocking(self, func: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, func, *args)

    async def ensure_ready(
        self, on_progress: Callable[[dict[str, Any]], None] | None = None
    ) -> EngineClient:
        """A client of a live engine; restarts a dead one and reloads its last model."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            try:
                endpoint, started = await self._blocking(self.supervisor.ensure_running)
            except EngineStartError as exc:
                raise EngineUnavailable(exc.failure) from exc
            if self._client is None or started or self._client.base_url != endpoint.base_url:
                if self._client is not None:
                    await self._client.aclose()
                self._client = EngineClient(endpoint.base_url, endpoint.token)
            client = self._client
            if self.loaded is not None and self._loaded_in_pid != endpoint.pid:
                spec = self.loaded
                async for event in self._load_events(client, spec):
                    if event.get("type") == "loaded":
                        self._loaded_in_pid = endpoint.pid
                    if on_progress is not None:
                        on_progress(event)
            return client

    @staticmethod
    def _load_events(client: EngineClient, spec: LoadSpec) -> AsyncIterator[dict[str, Any]]:
        return client.load(
            spec.path,
            n_ctx=spec.n_ctx,
            n_gpu_layers=spec.n_gpu_layers,
            n_threads=spec.n_threads,
            chat_template=spec.chat_template,
        )

    async def load(self, spec: LoadSpec) -> AsyncIterator[dict[str, Any]]:
        # Loading replaces the engine's model (it unloads first), so there is no "last model"
        # to restore if this load fails, and no point reloading the old one before it
        # (ensure_ready reloads only while ``loaded`` is set).
        self.loaded = None
        self._loaded_in_pid = None
        client = await self.ensure_ready()
        pid = self.supervisor.pid
        try:
            async for event in self._load_events(client, spec):
                if event.get("type") == "loaded":
                    self.loaded = spec
                    self._loaded_in_pid = pid
                yield event
        except EngineConnectionError as exc:
            raise await self._died(exc) from exc

    async def stream_chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        result: ChatResult | None = None,
        *,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        **sampling: Any,
    ) -> AsyncIterator[TextDelta]:
        client = await self.ensure_ready(on_progress)
        try:
            async for delta in client.stream_chat(messages, result, **sampling):
                yield delta
        except EngineConnectionError as exc:
            raise await self._died(exc) from exc

    async def status(self) -> dict[str, Any]:
        client = await self.ensure_ready()
        try:
            return await client.status()
        except EngineConnectionError as exc:
            raise await self._died(exc) from exc

    async def _died(self, exc: Exception) -> EngineUnavailable:
        """The connection broke: wait briefly for the process's exit to learn why."""
        deadline = time.monotonic() + 2.0
        while self.supervisor.running and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for _ in range(20):
            if self.supervisor.last_failure is not None or self.supervisor.running:
                break
            await asyncio.sleep(0.05)
        failure = self.supervisor.last_failure
        if failure is None:
            failure = EngineFailure("connection_lost", f"The engine connection was lost: {exc}")
        return EngineUnavailable(failure)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        await self._blocking(self.supervisor.stop)


__all__ = ["ChatResult", "Engine", "EngineAPIError", "EngineUnavailable", "LoadSpec", "TextDelta"]
