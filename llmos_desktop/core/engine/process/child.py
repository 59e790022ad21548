"""Entry point of the engine process, and the foreground server behind ``llmos serve``.

Child mode (started by the supervisor): the token arrives as the first line on stdin
(never on the command line, where other users could read it), readiness is one JSON
line on stdout, and the process exits as soon as stdin closes, i.e. when the parent
dies for any reason, so no orphan keeps holding memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import threading
from typing import Any

READY_PREFIX = "LLMOS-ENGINE-READY "


def _die_with_parent() -> None:
    """Linux extra: the kernel kills us if the parent thread dies (covers SIGKILL)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


def _watch_stdin() -> None:
    def watch() -> None:
        try:
            while sys.stdin.buffer.read(1024):
                pass
        except Exception:
            pass
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
    """Run uvicorn on an already bound socket (no port race), calling on_ready once serving."""
    import uvicorn

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        h11_max_incomplete_event_size=64 * 1024,
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
    _watch_stdin()
    from llmos_desktop.core.engine.process.runtime import EngineRuntime
    from llmos_desktop.core.engine.process.server.app import create_app
    from llmos_desktop.core.engine.process.server.config import ServerConfig

    runtime = (
        EngineRuntime(cache_bytes=int(argv[argv.index("--cache-bytes") + 1]))
        if "--cache-bytes" in argv
        else EngineRuntime()
    )

    # Route llama.cpp's log into our stderr (the engine log file) from the start.
    runtime.executor.submit(runtime.log.install).result()
    app = create_app(runtime, ServerConfig(token=token))
    sock = bind_socket("127.0.0.1", 0)
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
