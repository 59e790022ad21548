"""The Engine service: a supervised local engine behind one async interface.

It restarts a dead engine on the next request and reloads the model that was loaded,
so a crash costs the user one error message, not their session. Qt-free: the GUI
awaits these coroutines on its qasync loop; blocking process work goes to a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from llmos_desktop.core.engine.contract import ErrorKind, ModelLoad, SamplingOptions
from llmos_desktop.core.engine.control.client import (
    ChatResult,
    EngineAPIError,
    EngineClient,
    EngineConnectionError,
    TextDelta,
)
from llmos_desktop.core.engine.control.supervisor import (
    EngineEndpoint,
    EngineStartError,
    EngineSupervisor,
)
from llmos_desktop.core.engine.errors import EngineFailure

log = logging.getLogger(__name__)


class EngineUnavailable(Exception):
    """The engine died or could not start; ``failure`` says why in words."""

    def __init__(self, failure: EngineFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


ExitListener = Callable[[EngineFailure], None]


class Engine:
    """The engine the UI, the CLI's clients and the app store use: load, chat, status.

    The supervisor that owns the process is private to it; what a caller may know of
    the process (running, pid, why it exited) is offered here.
    """

    def __init__(self, supervisor: EngineSupervisor) -> None:
        self._supervisor = supervisor
        self._supervisor.on_exit = self._on_supervisor_exit
        self._exit_listeners: list[ExitListener] = []
        self.loaded: ModelLoad | None = None
        # The engine process that holds ``loaded``. Comparing pids (rather than remembering
        # "we just restarted") survives a task cancelled in the middle of a restart.
        self._loaded_in_pid: int | None = None
        self._client: EngineClient | None = None
        self._lock: asyncio.Lock | None = None

    # --- the process, as callers may see it -------------------------------------------

    @property
    def running(self) -> bool:
        return self._supervisor.running

    @property
    def pid(self) -> int | None:
        return self._supervisor.pid

    @property
    def command(self) -> list[str]:
        """How the engine process is started (the installer's self-test reports it)."""
        return list(self._supervisor.command)

    @property
    def failure(self) -> EngineFailure | None:
        """Why the engine process last went away, if it did."""
        return self._supervisor.last_failure

    @property
    def needs_restart(self) -> bool:
        """A model was loaded but its process is gone: the next request restarts it."""
        return self.loaded is not None and not self._supervisor.running

    def subscribe_exit(self, listener: ExitListener) -> Callable[[], None]:
        """Call ``listener`` when the engine process dies unasked; returns an unsubscribe.

        Listeners are called on the supervisor's watcher thread: a GUI listener must hand
        over to its own thread (a queued Qt signal does).
        """
        self._exit_listeners.append(listener)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._exit_listeners.remove(listener)

        return unsubscribe

    def _on_supervisor_exit(self, failure: EngineFailure) -> None:
        for listener in list(self._exit_listeners):
            try:
                listener(failure)
            except Exception:
                log.exception("engine exit listener failed")

    # --- requests ---------------------------------------------------------------------

    async def _blocking(self, func: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, func, *args)

    def _start_engine(self) -> tuple[EngineEndpoint, bool]:
        # The HTTP client's imports (~60 ms) happen here, on a worker thread, so that
        # making the first client does not stall the GUI's loop.
        import httpx  # noqa: F401
        import httpx_sse  # noqa: F401

        return self._supervisor.ensure_running()

    async def ensure_ready(
        self, on_progress: Callable[[dict[str, Any]], None] | None = None
    ) -> EngineClient:
        """A client of a live engine; restarts a dead one and reloads its last model."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            try:
                endpoint, started = await self._blocking(self._start_engine)
            except EngineStartError as exc:
                raise EngineUnavailable(exc.failure) from exc
            if self._client is None or started or self._client.base_url != endpoint.base_url:
                if self._client is not None:
                    await self._client.aclose()
                self._client = EngineClient(endpoint.base_url, endpoint.token)
            client = self._client
            if self.loaded is not None and self._loaded_in_pid != endpoint.pid:
                spec = self.loaded
                async for event in client.load(spec):
                    if event.get("type") == "loaded":
                        self._loaded_in_pid = endpoint.pid
                    if on_progress is not None:
                        on_progress(event)
            return client

    async def load(self, spec: ModelLoad) -> AsyncIterator[dict[str, Any]]:
        """Load ``spec``: progress events, then {"type": "loaded", "status": ...}.

        Raises EngineAPIError when the engine refuses the model and EngineUnavailable
        when the process dies. Afterwards ``loaded`` says what the engine holds (the
        engine keeps or reloads the previous model when a load fails), or, after a
        death, what the next request restarts it with: the previous model.
        """
        previous = self.loaded
        # While the load runs, a restart must not reload the previous model first.
        self.loaded = None
        self._loaded_in_pid = None
        client = await self.ensure_ready()
        pid = self._supervisor.pid
        try:
            async for event in client.load(spec):
                if event.get("type") == "loaded":
                    self.loaded = spec
                    self._loaded_in_pid = pid
                yield event
        except EngineConnectionError as exc:
            # The file killed the engine (llama.cpp aborted): the next request restarts it
            # with the model it had before, not with the one that killed it.
            self.loaded = previous
            raise await self._died(exc) from exc
        except EngineAPIError:
            await self._recover_loaded(client, previous, pid)
            raise

    async def _recover_loaded(
        self, client: EngineClient, previous: ModelLoad | None, pid: int | None
    ) -> None:
        """After a refused load: is the previous model still the one the engine holds?"""
        if previous is None:
            return
        try:
            status = await client.status()
        except (EngineAPIError, EngineConnectionError) as exc:
            log.warning("engine status after a failed load: %s", exc)
            return
        if status.get("loaded") and status.get("model_path") == previous.path:
            self.loaded = previous
            self._loaded_in_pid = pid

    async def stream_chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        result: ChatResult | None = None,
        *,
        sampling: SamplingOptions | None = None,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        truncate: bool = False,
        continue_final: bool = False,
        response_format: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[TextDelta]:
        """The reply's text pieces; ``result`` is filled at the end (EngineClient.stream_chat
        says what ``truncate``, ``continue_final`` and ``response_format`` do)."""
        client = await self.ensure_ready(on_progress)
        try:
            async for delta in client.stream_chat(
                messages,
                result,
                sampling,
                truncate=truncate,
                continue_final=continue_final,
                response_format=response_format,
            ):
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
        while self._supervisor.running and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for _ in range(20):
            if self._supervisor.last_failure is not None or self._supervisor.running:
                break
            await asyncio.sleep(0.05)
        failure = self._supervisor.last_failure
        if failure is None:
            failure = EngineFailure(
                ErrorKind.CONNECTION_LOST, f"The engine connection was lost: {exc}"
            )
        return EngineUnavailable(failure)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._exit_listeners.clear()
        await self._blocking(self._supervisor.stop)


__all__ = ["ChatResult", "Engine", "EngineAPIError", "EngineUnavailable", "TextDelta"]
