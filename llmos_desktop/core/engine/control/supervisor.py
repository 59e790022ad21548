"""Starts and watches the engine process from the GUI (or CLI) process. No Qt here.

The engine may die at any moment (llama.cpp abort(), the OOM killer, a user's kill);
the supervisor notices, keeps a typed reason (EngineFailure), and starts a new engine
when asked (``ensure_running``). Blocking calls (start, stop) belong on a worker
thread when called from a GUI.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmos_desktop.core.engine.contract import ErrorKind
from llmos_desktop.core.engine.errors import EngineFailure, describe_exit
from llmos_desktop.core.engine.llama_env import llama_process_env
from llmos_desktop.core.engine.process.child import READY_PREFIX, ChildOptions

_LOG_ROTATE_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class EngineEndpoint:
    base_url: str
    token: str
    pid: int


class EngineStartError(Exception):
    def __init__(self, failure: EngineFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def engine_command() -> list[str]:
    """The same interpreter (or the same frozen executable) with the engine flag."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--engine-child"]
    return [sys.executable, "-m", "llmos_desktop", "--engine-child"]


def _connect_host(host: str) -> str:
    """Where this process reaches an engine bound to ``host`` (a wildcard: loopback)."""
    name = host.strip("[]")
    if name in ("", "0.0.0.0"):
        return "127.0.0.1"
    if name == "::":
        return "[::1]"
    return f"[{name}]" if ":" in name else name


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


class EngineSupervisor:
    def __init__(
        self,
        *,
        log_path: Path,
        ready_timeout: float = 60.0,
        cache_bytes: int | None = None,
        command: list[str] | None = None,
        on_exit: Callable[[EngineFailure], None] | None = None,
        options: ChildOptions | None = None,
        control_token: str | None = None,
        state_dir: Path | None = None,
        state_budget_mb: int = 0,
    ) -> None:
        self.log_path = log_path
        self.options = options or ChildOptions()
        if state_dir is not None:
            # Saved conversation states (KV) on disk; a budget of 0 MB keeps them off.
            self.options = ChildOptions.model_validate(
                {
                    **self.options.model_dump(),
                    "state_dir": str(state_dir),
                    "state_budget_mb": max(0, state_budget_mb),
                }
            )
        # None: a new secret for every start, known to this process only.
        self._control_token = control_token
        self.ready_timeout = ready_timeout
        self.cache_bytes = cache_bytes
        self.command = command or engine_command()
        self.on_exit = on_exit
        self.last_failure: EngineFailure | None = None
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._endpoint: EngineEndpoint | None = None
        self._lock = threading.RLock()
        self._stopping = False
        self._generation = 0

    # --- state ------------------------------------------------------------------

    @property
    def endpoint(self) -> EngineEndpoint | None:
        return self._endpoint if self.running else None

    @property
    def running(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # --- life cycle -----------------------------------------------------------------

    def ensure_running(self) -> tuple[EngineEndpoint, bool]:
        """The live endpoint, starting a new engine if there is none. Returns (endpoint, started)."""
        with self._lock:
            endpoint = self.endpoint
            if endpoint is not None:
                return endpoint, False
            had_one = self._proc is not None
            endpoint = self.start()
            if had_one:
                self.restarts += 1
            return endpoint, True

    def start(self) -> EngineEndpoint:
        with self._lock:
            if self.running:
                self.stop()
            self._stopping = False
            self._generation += 1
            generation = self._generation
            token = self._control_token or secrets.token_urlsafe(32)
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._rotate_log()
            log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
            log.write(f"\n--- engine start {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode())
            log.flush()
            command = list(self.command)
            if self.cache_bytes is not None:
                command += ["--cache-bytes", str(self.cache_bytes)]
            env = llama_process_env(os.environ)
            env["PYTHONUNBUFFERED"] = "1"
            creationflags = 0
            if sys.platform == "win32":
                creationflags = getattr(subprocess, "CREATE_NO_WINDOW", 0)
            try:
                proc = subprocess.Popen(
                    command,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    env=env,
                    close_fds=True,
                    creationflags=creationflags,
                    # A session of its own (POSIX): Ctrl+C in a terminal goes to the whole
                    # foreground process group and would kill the engine (and unload the
                    # model) where the user meant to stop one reply of `llmos chat`. The
                    # child still dies with us: its stdin closes, and PR_SET_PDEATHSIG.
                    start_new_session=sys.platform != "win32",
                )
            except OSError as exc:
                failure = EngineFailure(
                    ErrorKind.FAILED_TO_START, f"The engine could not be started: {exc}"
                )
                self.last_failure = failure
                raise EngineStartError(failure) from exc
            finally:
                log.close()
            self._proc = proc
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(token.encode() + b"\n")
                proc.stdin.write(self.options.model_dump_json().encode() + b"\n")
                proc.stdin.flush()
            except OSError:
                pass
            port = self._wait_ready(proc)
            endpoint = EngineEndpoint(
                f"http://{_connect_host(self.options.host)}:{port}", token, proc.pid
            )
            self._endpoint = endpoint
            self.last_failure = None
            threading.Thread(
                target=self._watch, args=(proc, generation), name="engine-watch", daemon=True
            ).start()
            return endpoint

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> int:
        result: dict[str, int] = {}
        done = threading.Event()

        def read() -> None:
            assert proc.stdout is not None
            try:
                for raw in proc.stdout:
                    line = raw.decode("utf-8", "replace").strip()
                    if line.startswith(READY_PREFIX):
                        with contextlib.suppress(ValueError, KeyError, TypeError):
                            port = int(json.loads(line[len(READY_PREFIX) :])["port"])
                            if 0 < port < 65536:
                                result["port"] = port
                        break
            finally:
                done.set()

        threading.Thread(target=read, name="engine-ready", daemon=True).start()
        if not done.wait(self.ready_timeout):
            self._kill(proc)
            _close_pipes(proc)
            failure = EngineFailure(
                ErrorKind.TIMEOUT,
                f"The engine did not become ready within {self.ready_timeout:.0f} s.",
                proc.poll(),
                self.log_tail(),
            )
            self.last_failure = failure
            raise EngineStartError(failure)
        if "port" not in result:
            # Its output ended, or its ready line named no port: either way it will not
            # serve. A child still running after a short wait is killed, not left behind.
            code: int | None
            try:
                code = proc.wait(timeout=5)
                reason = describe_exit(code, self.log_tail()).message
            except subprocess.TimeoutExpired:
                self._kill(proc)
                code = proc.poll()
                reason = "it reported readiness without a port to connect to."
            _close_pipes(proc)
            failure = EngineFailure(
                ErrorKind.FAILED_TO_START,
                f"The engine failed to start: {reason}",
                code,
                self.log_tail(),
            )
            self.last_failure = failure
            raise EngineStartError(failure)
        return result["port"]

    def _watch(self, proc: subprocess.Popen[bytes], generation: int) -> None:
        code = proc.wait()
        _close_pipes(proc)
        with self._lock:
            if generation != self._generation:
                return
            requested = self._stopping
            self._endpoint = None
        if requested:
            return
        failure = describe_exit(code, self.log_tail())
        self.last_failure = failure
        if self.on_exit is not None:
            with contextlib.suppress(Exception):
                self.on_exit(failure)

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the engine to exit (close its stdin), then terminate, then kill."""
        with self._lock:
            proc = self._proc
            self._stopping = True
            self._endpoint = None
            if proc is None or proc.poll() is not None:
                if proc is not None:
                    _close_pipes(proc)
                return
            with contextlib.suppress(OSError):
                if proc.stdin is not None:
                    proc.stdin.close()
            try:
                proc.wait(timeout=timeout / 2)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=timeout / 2)
                except subprocess.TimeoutExpired:
                    self._kill(proc)
            _close_pipes(proc)

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(OSError):
            proc.kill()
        with contextlib.suppress(Exception):
            proc.wait(timeout=5)

    # --- log ------------------------------------------------------------------------

    def _rotate_log(self) -> None:
        with contextlib.suppress(OSError):
            if self.log_path.stat().st_size > _LOG_ROTATE_BYTES:
                os.replace(self.log_path, self.log_path.with_suffix(".log.1"))

    def log_tail(self, max_bytes: int = 16 * 1024) -> str:
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - max_bytes))
                data = handle.read()
        except OSError:
            return ""
        text = data.decode("utf-8", "replace")
        marker = text.rfind("--- engine start")
        return text[marker:] if marker >= 0 else text
