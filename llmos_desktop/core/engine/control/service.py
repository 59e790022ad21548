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

from llmos_desktop.core.engine.api_server import ApiServerConfig
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
IDLE_BUSY = {"api": 0, "app": 0, "active": 0, "queued": 0}


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
        # The window's API listener: what the user asked for (applied after every engine
        # start), and what the engine last answered (or why it refused).
        self._api_config: ApiServerConfig | None = None
        self._api_state: dict[str, Any] | None = None
        self._api_pid: int | None = None

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
            if started:
                self._api_state = None
            if (
                self._api_config is not None
                and self._api_config.enabled
                and self._api_pid != endpoint.pid
            ):
                # A new engine: the API listener the user switched on comes back with it.
                # A failure (the port taken meanwhile) is kept for api_server_state and
                # does not fail the request that started the engine.
                with contextlib.suppress(EngineAPIError, EngineConnectionError):
                    await self._apply_api_server(client, self._api_config, endpoint.pid)
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

    # --- the window's API listener and the request log -----------------------------------

    async def _apply_api_server(
        self, client: EngineClient, config: ApiServerConfig, pid: int | None
    ) -> dict[str, Any]:
        try:
            state = await client.set_api_server(config.model_dump(mode="json"))
        except EngineAPIError as exc:
            self._api_state = {
                "enabled": False,
                "base_url": None,
                "host": config.host,
                "port": config.port,
                "error": exc.message,
                "status": exc.status,
                "code": exc.code,
            }
            self._api_pid = pid
            log.warning("API server not started: %s", exc.message)
            raise
        self._api_state = state
        self._api_pid = pid
        return state

    async def set_api_server(self, config: ApiServerConfig | None) -> dict[str, Any] | None:
        """Remember ``config`` and apply it now: the API listener of the engine process
        (``POST /control/api``) is switched on, off or moved; after every engine
        (re)start it is applied again. None or ``enabled=False``: off.

        Switching on starts the engine if it is not running; switching off a stopped
        engine only remembers it. Returns ``api_server_state()``. Raises EngineAPIError
        when the engine refuses it (status 409: the port is in use; 400: the address),
        and EngineUnavailable when the engine cannot start; the state then says why.
        """
        self._api_config = config
        if config is None or not config.enabled:
            client = self._client if self._supervisor.running else None
            if client is None:
                self._api_state = None
                return None
            try:
                await self._apply_api_server(
                    client, config or ApiServerConfig(), self._supervisor.pid
                )
            except EngineConnectionError as exc:
                raise await self._died(exc) from exc
            return self.api_server_state()
        client = await self.ensure_ready()
        # A fresh engine got it from ensure_ready already; applying it again is a cheap
        # swap in place (same address), and it reports a refusal to this caller.
        try:
            await self._apply_api_server(client, config, self._supervisor.pid)
        except EngineConnectionError as exc:
            raise await self._died(exc) from exc
        return self.api_server_state()

    @property
    def api_server_config(self) -> ApiServerConfig | None:
        """What ``set_api_server`` was last given."""
        return self._api_config

    def api_server_state(self) -> dict[str, Any] | None:
        """The API listener as the engine last reported it: ``{"enabled", "base_url",
        "host", "port", "loopback", "keyed", "cors_origins", "log_prompts", "lan_urls"}``,
        or, when the engine refused it, ``{"enabled": False, "error": message, "status",
        "code", ...}``. None while no engine runs (or none was asked for)."""
        if not self._supervisor.running or self._api_pid != self._supervisor.pid:
            return None
        return dict(self._api_state) if self._api_state is not None else None

    def _live_client(self) -> EngineClient | None:
        """The client of the running engine, without starting one."""
        if not self._supervisor.running:
            return None
        return self._client

    async def request_log(self, after: int = 0) -> dict[str, Any]:
        """The engine's request log after id ``after`` (``GET /control/requests``):
        ``{"entries": [...], "last_id", "missed", "log_id", "capacity", "log_prompts"}``;
        each entry ``{"id", "time", "route", "method", "client", "listener", "status",
        "model", "prompt_tokens", "completion_tokens", "ttft_s", "tokens_per_s",
        "duration_s", "error", "stream", "prompt"}``. A new ``log_id`` means a new engine
        (ids start again). Never starts an engine: with none running, no entries."""
        empty: dict[str, Any] = {
            "entries": [],
            "last_id": 0,
            "missed": 0,
            "log_id": None,
            "capacity": 0,
            "log_prompts": False,
        }
        client = self._live_client()
        if client is None:
            return empty
        try:
            return await client.requests(after)
        except EngineConnectionError:
            return empty

    async def busy(self) -> dict[str, int]:
        """Requests in flight: ``{"api": n, "app": m, "active": a, "queued": q}`` (``api``:
        from other programs through the API listener; ``app``: the window's own). Never
        starts an engine: with none running, all zero."""
        client = self._live_client()
        if client is None:
            return dict(IDLE_BUSY)
        try:
            status = await client.status()
        except (EngineConnectionError, EngineAPIError):
            return dict(IDLE_BUSY)
        busy = status.get("busy")
        out = dict(IDLE_BUSY)
        if isinstance(busy, dict):
            for key in out:
                value = busy.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    out[key] = value
        return out

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
