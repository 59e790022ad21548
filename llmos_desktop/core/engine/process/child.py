"""Entry point of the engine process, and the foreground server behind ``llmos serve``.

Child mode (started by the supervisor): the control token arrives as the first line on
stdin (never on the command line, where other users could read it), the server's
options (``ChildOptions``, JSON) as the second; readiness is one JSON line on stdout,
and the process exits as soon as stdin closes, i.e. when the parent dies for any
reason, so no orphan keeps holding memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from llmos_desktop.core.engine.process.runtime import EngineRuntime
    from llmos_desktop.core.engine.process.state_store import StateStore

READY_PREFIX = "LLMOS-ENGINE-READY "


class ChildOptions(BaseModel):
    """How an engine child serves, sent by its supervisor (the app's: all defaults).

    ``llmos serve`` runs its engine as such a child too, on the address and key the
    user chose, so a model that makes llama.cpp abort costs a restart, not the server.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port, reported in the ready line
    api_key: str | None = None  # the key for /v1 (None: the control token opens everything)
    any_host: bool = False
    cors_origins: tuple[str, ...] = ()
    stream_interval_s: float | None = None  # None: ServerConfig's default
    load_roots: tuple[str, ...] | None = None  # None: /control/load takes any path
    state_file: str | None = None  # where each loaded model is recorded, for restarts
    # Where the KV states of recent conversations are saved, so one reopened after a
    # restart is not evaluated again, and how many MB they may take (None or 0: off).
    state_dir: str | None = None
    state_budget_mb: int = Field(default=0, ge=0, le=1 << 20)
    # Unload the model after this many idle seconds; the next request loads it again
    # (None or 0: never). ``llmos serve --keep-alive``.
    keep_alive_s: float | None = Field(default=None, ge=0, le=366 * 86400)


def _die_with_parent() -> None:
    """Linux extra: the kernel kills us if the parent thread dies (covers SIGKILL)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


def _watch_stdin(before_exit: list[Any]) -> None:
    """Exit when stdin closes (the parent is gone or asks us to go), after running the
    callables in ``before_exit`` (added later, once there is something to finish)."""

    def watch() -> None:
        # os.read, not sys.stdin.buffer: a daemon thread blocked in the buffered reader
        # holds its lock, and an interpreter that shuts down with it held aborts with
        # "Fatal Python error: _enter_buffered_busy" (an engine stopped by SIGTERM did).
        fd = sys.stdin.fileno()
        try:
            while os.read(fd, 1024):
                pass
        except Exception:
            pass
        for finish in list(before_exit):
            with contextlib.suppress(Exception):
                finish()
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if sys.platform != "win32":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(128)
    sock.set_inheritable(False)
    return sock


def serve(
    app: Any,
    sock: socket.socket,
    *,
    on_ready: Any = None,
) -> None:
    """Run uvicorn on an already bound socket (no port race), calling on_ready once serving.

    The connection limits (header timeout, header size, keep-alive) come from the app's
    ServerConfig when ``app`` is the guarded app ``create_app`` returns, else from
    ServerConfig's defaults.
    """
    import uvicorn

    from llmos_desktop.core.engine.process.server.config import ServerConfig
    from llmos_desktop.core.engine.process.server.guard import GuardMiddleware, uvicorn_settings

    limits = app.config if isinstance(app, GuardMiddleware) else ServerConfig(token=None)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        **uvicorn_settings(limits),
    )
    server = uvicorn.Server(config)

    async def main() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                await task
                return
            await asyncio.sleep(0.01)
        if on_ready is not None:
            on_ready()
        await task

    asyncio.run(main())


def child_main(argv: list[str]) -> int:
    """``<python> -m llmos_desktop --engine-child [--cache-bytes N]``."""
    _die_with_parent()
    token = sys.stdin.readline().strip()
    if not token:
        print("engine: no token on stdin", file=sys.stderr)
        return 2
    try:
        options = ChildOptions.model_validate_json(sys.stdin.readline() or "{}")
    except ValueError as exc:
        print(f"engine: bad options on stdin: {exc}", file=sys.stderr)
        return 2
    before_exit: list[Any] = []
    _watch_stdin(before_exit)
    from llmos_desktop.core.engine.process.runtime import EngineRuntime
    from llmos_desktop.core.engine.process.server.app import create_app

    states = _state_store(options)
    cache: dict[str, Any] = {}
    if "--cache-bytes" in argv:
        cache["cache_bytes"] = int(argv[argv.index("--cache-bytes") + 1])
    runtime = EngineRuntime(state_store=states, keep_alive_s=options.keep_alive_s, **cache)
    if states is not None:
        before_exit.append(lambda: _finish_writes(runtime, states))
    if options.state_file:
        runtime.on_loaded = _recorder(Path(options.state_file))

    # Route llama.cpp's log into our stderr (the engine log file) from the start.
    runtime.executor.submit(runtime.log.install).result()
    app = create_app(runtime, _server_config(token, options))
    try:
        sock = bind_socket(options.host, options.port)
    except OSError as exc:
        print(f"engine: cannot listen on {options.host}:{options.port}: {exc}", file=sys.stderr)
        return 3
    port = sock.getsockname()[1]
    real_stdout = sys.stdout

    def ready() -> None:
        real_stdout.write(READY_PREFIX + json.dumps({"port": port, "pid": os.getpid()}) + "\n")
        real_stdout.flush()
        # Nothing else may write to the parent's pipe: it stops reading after this line.
        with contextlib.suppress(Exception):
            os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        sys.stdout = sys.stderr

    serve(app, sock, on_ready=ready)
    return 0


def _state_store(options: ChildOptions) -> StateStore | None:
    """The disk store of conversation states the options ask for, or None."""
    if not options.state_dir or options.state_budget_mb <= 0:
        return None
    from llmos_desktop.core.engine.process.state_store import StateStore

    return StateStore(Path(options.state_dir), options.state_budget_mb << 20)


def _finish_writes(runtime: EngineRuntime, states: StateStore, timeout: float = 2.0) -> None:
    """Before the engine exits (its parent asked): let the reply just sent save its
    state, and the states queued reach the disk, within ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    # The worker saves a conversation's state right after its reply; a no-op queued
    # behind it says when that is done (or the timeout, while a long reply runs).
    with contextlib.suppress(Exception):
        runtime.executor.submit(lambda: None).result(timeout=timeout / 2)
    states.flush(max(0.0, deadline - time.monotonic()))


def _server_config(token: str, options: ChildOptions) -> Any:
    from llmos_desktop.core.engine.process.server.config import ServerConfig

    extra: dict[str, Any] = {}
    if options.stream_interval_s is not None:
        extra["stream_interval_s"] = options.stream_interval_s
    if options.load_roots is not None:
        extra["load_roots"] = tuple(Path(root) for root in options.load_roots)
    return ServerConfig(
        token=options.api_key or token,
        control_token=token,
        any_host=options.any_host,
        cors_origins=options.cors_origins,
        **extra,
    )


def _recorder(path: Path) -> Any:
    """Writes each loaded model (a ModelLoad, JSON) to ``path``, atomically."""
    from llmos_desktop.core.atomic import write_text_atomic
    from llmos_desktop.core.engine.contract import ModelLoad

    def record(spec: ModelLoad) -> None:
        with contextlib.suppress(OSError):
            write_text_atomic(path, spec.model_dump_json())

    return record
