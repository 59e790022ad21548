"""The engine supervisor: starting, watching, restarting and stopping the engine process.

These run the real EngineSupervisor with real processes. Most engines here are stand-ins:
small ``python -c`` scripts that speak the engine's start-up protocol (the token on
stdin, the ``LLMOS-ENGINE-READY`` line on stdout) and then serve until stdin closes,
exit, die, write to the log or never get ready, as a test needs. The last tests start
the real engine child (``python -m llmos_desktop --engine-child``) without a model.
Every process a test starts is gone when it ends (the ``stand_ins`` fixture checks).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from llmos_desktop.core.engine.control.service import Engine, EngineUnavailable
from llmos_desktop.core.engine.control.supervisor import EngineStartError, EngineSupervisor
from llmos_desktop.core.engine.errors import EngineFailure
from llmos_desktop.core.engine.process.child import ChildOptions

PORT = 45678
LOG_ROTATE_BYTES = 5 * 1024 * 1024

# Reads the token and the options like the engine does, records them, defines ready().
PRELUDE = textwrap.dedent(
    """
    import json, os, signal, sys, time
    from pathlib import Path
    token = sys.stdin.readline().strip()
    options = json.loads(sys.stdin.readline())
    record = {"token": token, "argv": sys.argv[2:], "options": options}
    Path(sys.argv[1], f"child-{os.getpid()}.json").write_text(json.dumps(record))
    def ready(port=PORT):
        print("LLMOS-ENGINE-READY " + json.dumps({"port": port, "pid": os.getpid()}), flush=True)
    """
).replace("PORT", str(PORT))

# Like the engine: serves until its parent closes stdin (stop(), or the parent's death).
SERVES = "ready(); sys.stdin.read()"


def _gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return False


class Exits:
    """An on_exit callback that remembers what it was called with."""

    def __init__(self) -> None:
        self.failures: list[EngineFailure] = []
        self.called = threading.Event()

    def __call__(self, failure: EngineFailure) -> None:
        self.failures.append(failure)
        self.called.set()

    def wait(self, timeout: float = 10.0) -> EngineFailure:
        assert self.called.wait(timeout), f"on_exit was not called within {timeout} s"
        return self.failures[0]


class StandIns:
    """Makes supervisors of stand-in engines; stops them all and checks no child is left."""

    def __init__(self, tmp_path: Path) -> None:
        self.records = tmp_path / "children"
        self.records.mkdir()
        self.log_path = tmp_path / "logs" / "engine.log"
        self.supervisors: list[EngineSupervisor] = []
        # Watchers of engines other tests keep running (a session-wide engine) are not ours.
        self._threads_before = set(threading.enumerate())

    def supervisor(self, body: str, **kwargs: Any) -> EngineSupervisor:
        kwargs.setdefault("log_path", self.log_path)
        kwargs.setdefault("ready_timeout", 30.0)
        command = [sys.executable, "-c", PRELUDE + body, str(self.records)]
        supervisor = EngineSupervisor(command=command, **kwargs)
        self.supervisors.append(supervisor)
        return supervisor

    def join_watchers(self) -> None:
        """Wait until the watcher threads of these supervisors have handled their exits."""
        for thread in set(threading.enumerate()) - self._threads_before:
            if thread.name == "engine-watch":
                thread.join(timeout=10)
                assert not thread.is_alive(), "a watcher thread is stuck"

    def children(self) -> dict[int, dict[str, Any]]:
        """What each stand-in started so far recorded: {pid: {"token", "argv"}}."""
        return {
            int(path.stem.removeprefix("child-")): json.loads(path.read_text())
            for path in self.records.glob("child-*.json")
        }

    def close(self) -> None:
        for supervisor in self.supervisors:
            supervisor.stop()
        pids = set(self.children()) | {s.pid for s in self.supervisors if s.pid is not None}
        left = [pid for pid in pids if not _wait_gone(pid, 5.0)]
        assert not left, f"processes left running: {left}"


@pytest.fixture
def stand_ins(tmp_path: Path) -> Iterator[StandIns]:
    made = StandIns(tmp_path)
    try:
        yield made
    finally:
        made.close()


# --- starting ---------------------------------------------------------------------------


def test_start_returns_the_endpoint_the_child_announced(stand_ins: StandIns) -> None:
    supervisor = stand_ins.supervisor(SERVES)
    endpoint = supervisor.start()

    [(pid, record)] = stand_ins.children().items()
    assert endpoint.base_url == f"http://127.0.0.1:{PORT}"
    assert endpoint.pid == pid == supervisor.pid
    assert endpoint.token == record["token"], "the token is the one the child read on stdin"
    assert len(endpoint.token) >= 32
    assert endpoint.token not in " ".join(record["argv"]), "never on the command line"
    assert supervisor.running and supervisor.endpoint == endpoint
    assert supervisor.last_failure is None and supervisor.restarts == 0


def test_each_start_has_a_new_token_and_replaces_the_running_engine(
    stand_ins: StandIns,
) -> None:
    exits = Exits()
    supervisor = stand_ins.supervisor(SERVES, on_exit=exits)
    first = supervisor.start()
    second = supervisor.start()

    assert second.pid != first.pid
    assert second.token != first.token
    assert _wait_gone(first.pid, 5.0), "the first engine was stopped"
    assert supervisor.endpoint == second
    supervisor.stop()
    stand_ins.join_watchers()
    assert not exits.called.is_set(), "a replaced engine is not an unexpected exit"


def test_the_server_options_reach_the_engine_and_its_address_is_used(
    stand_ins: StandIns,
) -> None:
    options = ChildOptions(host="0.0.0.0", port=PORT, api_key="for-programs", state_file="x")
    supervisor = stand_ins.supervisor(SERVES, options=options)
    endpoint = supervisor.start()
    received = stand_ins.children()[endpoint.pid]["options"]
    assert ChildOptions.model_validate(received) == options
    assert endpoint.token != "for-programs", "the control token is the supervisor's own"
    assert endpoint.base_url == f"http://127.0.0.1:{PORT}"  # a wildcard is reached on loopback


def test_the_saved_state_folder_and_budget_reach_the_engine(
    stand_ins: StandIns, tmp_path: Path
) -> None:
    options = ChildOptions(api_key="for-programs")
    folder = tmp_path / "kv-states"
    supervisor = stand_ins.supervisor(
        SERVES, options=options, state_dir=folder, state_budget_mb=256
    )
    endpoint = supervisor.start()
    received = ChildOptions.model_validate(stand_ins.children()[endpoint.pid]["options"])
    assert (received.state_dir, received.state_budget_mb) == (str(folder), 256)
    assert received.api_key == "for-programs", "the other options are kept"
    # Without a folder, nothing is saved (the defaults).
    assert (ChildOptions().state_dir, ChildOptions().state_budget_mb) == (None, 0)
    with pytest.raises(ValueError):
        stand_ins.supervisor(SERVES, state_dir=folder, state_budget_mb=1 << 30)


def test_cache_bytes_are_passed_to_the_engine(stand_ins: StandIns) -> None:
    supervisor = stand_ins.supervisor(SERVES, cache_bytes=12345)
    endpoint = supervisor.start()
    assert stand_ins.children()[endpoint.pid]["argv"] == ["--cache-bytes", "12345"]


def test_ensure_running_starts_once_and_restarts_a_dead_engine(stand_ins: StandIns) -> None:
    exits = Exits()
    supervisor = stand_ins.supervisor(SERVES, on_exit=exits)

    first, started = supervisor.ensure_running()
    assert started and supervisor.restarts == 0
    again, started = supervisor.ensure_running()
    assert (again, started) == (first, False)
    assert len(stand_ins.children()) == 1

    os.kill(first.pid, signal.SIGKILL)
    assert exits.wait().kind == "killed"
    assert not supervisor.running and supervisor.endpoint is None

    second, started = supervisor.ensure_running()
    assert started and supervisor.restarts == 1
    assert second.pid != first.pid and second.token != first.token
    assert supervisor.last_failure is None, "a successful start clears the last failure"
    assert supervisor.ensure_running() == (second, False)
    assert supervisor.restarts == 1
    assert len(exits.failures) == 1


# --- an engine that goes away by itself ---------------------------------------------------


@pytest.mark.parametrize(
    ("body", "kind", "exit_code", "in_message"),
    [
        ("ready(); sys.exit(3)", "crashed", 3, "exit code 3"),
        ("ready(); os.kill(os.getpid(), signal.SIGKILL)", "killed", -signal.SIGKILL, "SIGKILL"),
        (
            "ready(); sys.stderr.write('ggml: failed to allocate buffer\\n'); sys.exit(1)",
            "out_of_memory",
            1,
            "memory",
        ),
        (
            "ready(); sys.stderr.write('ggml: failed to allocate buffer\\n'); "
            "os.kill(os.getpid(), signal.SIGKILL)",
            "out_of_memory",
            -signal.SIGKILL,
            "memory",
        ),
    ],
    ids=["exit-code", "sigkill", "allocation-failure", "allocation-failure-then-sigkill"],
)
def test_an_engine_that_exits_by_itself_is_reported_once_with_a_reason(
    stand_ins: StandIns, body: str, kind: str, exit_code: int, in_message: str
) -> None:
    exits = Exits()
    supervisor = stand_ins.supervisor(body, on_exit=exits)
    supervisor.start()

    failure = exits.wait()
    assert failure.kind == kind
    assert failure.exit_code == exit_code
    assert in_message in failure.message
    assert failure.log_tail.startswith("--- engine start")
    if kind == "out_of_memory":
        assert "failed to allocate" in failure.log_tail
    assert supervisor.last_failure == failure
    assert not supervisor.running and supervisor.endpoint is None
    supervisor.stop()
    stand_ins.join_watchers()
    assert len(exits.failures) == 1


def test_an_on_exit_that_raises_does_not_break_the_supervisor(stand_ins: StandIns) -> None:
    failures: list[EngineFailure] = []
    called = threading.Semaphore(0)

    def on_exit(failure: EngineFailure) -> None:
        failures.append(failure)
        called.release()
        raise RuntimeError("listener bug")

    supervisor = stand_ins.supervisor("ready(); sys.exit(3)", on_exit=on_exit)
    first = supervisor.start()
    assert called.acquire(timeout=10)
    # The next engine is started and watched as before.
    second, started = supervisor.ensure_running()
    assert started and second.pid != first.pid
    assert called.acquire(timeout=10)
    assert [f.kind for f in failures] == ["crashed", "crashed"]
    assert supervisor.last_failure == failures[-1]


# --- stopping -----------------------------------------------------------------------------


def test_stop_calls_no_on_exit_and_leaves_no_process(stand_ins: StandIns) -> None:
    exits = Exits()
    supervisor = stand_ins.supervisor(SERVES, on_exit=exits)
    supervisor.stop()  # nothing started yet: nothing to do
    endpoint = supervisor.start()

    supervisor.stop()
    assert _gone(endpoint.pid), "stop() returns once the engine is gone"
    assert not supervisor.running and supervisor.endpoint is None
    assert supervisor.last_failure is None
    supervisor.stop()  # twice is fine
    stand_ins.join_watchers()
    assert not exits.called.is_set()


def test_stop_kills_an_engine_that_ignores_stdin_and_sigterm(stand_ins: StandIns) -> None:
    exits = Exits()
    body = "signal.signal(signal.SIGTERM, signal.SIG_IGN); ready(); time.sleep(120)"
    supervisor = stand_ins.supervisor(body, on_exit=exits)
    endpoint = supervisor.start()

    started = time.monotonic()
    supervisor.stop(timeout=1.0)
    assert time.monotonic() - started < 1.0 + 5.0
    assert _gone(endpoint.pid)
    stand_ins.join_watchers()
    assert not exits.called.is_set()


# --- an engine that does not get ready ----------------------------------------------------


def test_an_engine_that_never_gets_ready_times_out_and_is_killed(stand_ins: StandIns) -> None:
    exits = Exits()
    body = "print('warming up', flush=True); time.sleep(120)"
    supervisor = stand_ins.supervisor(body, ready_timeout=2.0, on_exit=exits)

    started = time.monotonic()
    with pytest.raises(EngineStartError) as caught:
        supervisor.start()
    assert time.monotonic() - started < 2.0 + 5.0
    failure = caught.value.failure
    assert failure.kind == "timeout"
    assert "did not become ready within 2 s" in failure.message
    assert supervisor.last_failure == failure
    assert supervisor.pid is not None and _gone(supervisor.pid), "the child was killed"
    assert not supervisor.running and supervisor.endpoint is None
    assert not exits.called.is_set()


def test_an_engine_that_exits_before_ready_fails_to_start_with_its_exit_code(
    stand_ins: StandIns,
) -> None:
    supervisor = stand_ins.supervisor("sys.stderr.write('boom\\n'); sys.exit(3)")
    with pytest.raises(EngineStartError) as caught:
        supervisor.start()
    failure = caught.value.failure
    assert failure.kind == "failed_to_start"
    assert "exit code 3" in failure.message
    assert failure.exit_code == 3
    assert "boom" in failure.log_tail
    assert supervisor.last_failure == failure
    with pytest.raises(EngineStartError):
        supervisor.ensure_running()


def test_a_command_that_cannot_be_run_fails_to_start(tmp_path: Path) -> None:
    supervisor = EngineSupervisor(
        log_path=tmp_path / "engine.log", command=[str(tmp_path / "no-such-engine")]
    )
    with pytest.raises(EngineStartError) as caught:
        supervisor.start()
    assert caught.value.failure.kind == "failed_to_start"
    assert "could not be started" in caught.value.failure.message
    assert supervisor.last_failure == caught.value.failure
    assert not supervisor.running


@pytest.mark.parametrize(
    "line",
    [
        "LLMOS-ENGINE-READY {}",
        'LLMOS-ENGINE-READY {"port": null}',
        'LLMOS-ENGINE-READY {"port": "http"}',
        'LLMOS-ENGINE-READY {"port": 0}',
        'LLMOS-ENGINE-READY {"port": 70000}',
        "LLMOS-ENGINE-READY port=8080",
        "LLMOS-ENGINE-READY [8080]",
    ],
)
def test_a_ready_line_without_a_usable_port_fails_to_start(stand_ins: StandIns, line: str) -> None:
    supervisor = stand_ins.supervisor(f"print({line!r}, flush=True); sys.exit(0)")
    with pytest.raises(EngineStartError) as caught:
        supervisor.start()
    assert caught.value.failure.kind == "failed_to_start"
    assert not supervisor.running and supervisor.endpoint is None


@pytest.mark.slow
def test_a_child_that_stays_alive_after_a_bad_ready_line_is_killed(stand_ins: StandIns) -> None:
    supervisor = stand_ins.supervisor(
        "print('LLMOS-ENGINE-READY {}', flush=True); sys.stdin.read()"
    )
    started = time.monotonic()
    with pytest.raises(EngineStartError) as caught:
        supervisor.start()
    # The supervisor gives it a few seconds to exit by itself, then kills it.
    assert time.monotonic() - started < 15.0
    assert caught.value.failure.kind == "failed_to_start"
    assert caught.value.failure.message.startswith("The engine failed to start")
    assert supervisor.pid is not None and _gone(supervisor.pid), "not left running"
    assert not supervisor.running


# --- the log ----------------------------------------------------------------------------


def test_a_log_above_5_mb_is_rotated_at_start(stand_ins: StandIns) -> None:
    log_path = stand_ins.log_path
    log_path.parent.mkdir(parents=True)
    old = b"old line\n" * (LOG_ROTATE_BYTES // 9 + 1)
    log_path.write_bytes(old)
    log_path.with_suffix(".log.1").write_bytes(b"older\n")
    supervisor = stand_ins.supervisor("sys.stderr.write('new run\\n'); " + SERVES)
    supervisor.start()
    supervisor.stop()

    assert log_path.with_suffix(".log.1").read_bytes() == old, "one old log is kept"
    text = log_path.read_text()
    assert text.lstrip().startswith("--- engine start")
    assert "new run" in text and "old line" not in text


def test_a_log_of_5_mb_is_kept(stand_ins: StandIns) -> None:
    log_path = stand_ins.log_path
    log_path.parent.mkdir(parents=True)
    old = b"x" * (LOG_ROTATE_BYTES - 1) + b"\n"
    log_path.write_bytes(old)
    supervisor = stand_ins.supervisor(SERVES)
    supervisor.start()
    supervisor.stop()

    assert not log_path.with_suffix(".log.1").exists()
    assert log_path.read_bytes().startswith(old)


def test_log_tail_is_the_last_starts_section(stand_ins: StandIns) -> None:
    supervisor = stand_ins.supervisor("sys.stderr.write(f'run of pid {os.getpid()}\\n'); " + SERVES)
    assert supervisor.log_tail() == "", "no log yet"
    first = supervisor.start()
    supervisor.stop()
    second = supervisor.start()
    supervisor.stop()

    whole = supervisor.log_path.read_text()
    assert f"run of pid {first.pid}" in whole and f"run of pid {second.pid}" in whole
    tail = supervisor.log_tail()
    assert tail.startswith("--- engine start")
    assert f"run of pid {second.pid}" in tail
    assert f"run of pid {first.pid}" not in tail
    assert len(supervisor.log_tail(max_bytes=20)) <= 20


# --- the real engine child, without a model -----------------------------------------------


def test_engine_exits_when_its_parent_dies(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from llmos_desktop.core.engine.control.supervisor import EngineSupervisor
        s = EngineSupervisor(log_path=Path({str(tmp_path / "engine.log")!r}))
        e = s.start()
        print(e.pid, flush=True)
        time.sleep(60)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as parent:
        try:
            assert parent.stdout is not None
            engine_pid = int(parent.stdout.readline())
            assert psutil.pid_exists(engine_pid)
            parent.kill()  # SIGKILL: no cleanup code runs in the parent
            parent.wait(10)
            assert _wait_gone(engine_pid, 5.0), "the engine must not outlive its parent"
        finally:
            parent.kill()


def test_stop_leaves_no_process(tmp_path: Path) -> None:
    supervisor = EngineSupervisor(log_path=tmp_path / "engine.log")
    endpoint = supervisor.start()
    assert psutil.pid_exists(endpoint.pid)
    supervisor.stop()
    assert _wait_gone(endpoint.pid, 5.0)
    assert supervisor.last_failure is None


def test_engine_that_cannot_start_gives_a_reason(tmp_path: Path) -> None:
    supervisor = EngineSupervisor(
        log_path=tmp_path / "engine.log",
        command=[sys.executable, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"],
        ready_timeout=20,
    )
    engine = Engine(supervisor)

    async def scenario() -> None:
        with pytest.raises(EngineUnavailable) as caught:
            await engine.ensure_ready()
        assert caught.value.failure.kind == "failed_to_start"
        assert "exit code 3" in caught.value.failure.message

    asyncio.run(scenario())
