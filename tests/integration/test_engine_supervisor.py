"""A killed engine: the client learns fast, the supervisor says why, the next request works."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import openai
import psutil
import pytest

from llmos_desktop.core.engine.contract import ErrorKind, ModelLoad, SamplingOptions
from llmos_desktop.core.engine.control.service import Engine, EngineUnavailable
from llmos_desktop.core.engine.control.supervisor import EngineSupervisor
from tests.helpers.engine import TEST_CTX, TEST_THREADS

pytestmark = pytest.mark.model


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.05)
    return False


def test_sigkill_mid_stream_is_reported_and_next_request_restarts(
    model_path: Path, tmp_path: Path
) -> None:
    supervisor = EngineSupervisor(log_path=tmp_path / "engine.log")
    engine = Engine(supervisor)
    spec = ModelLoad(path=str(model_path), n_ctx=TEST_CTX, n_threads=TEST_THREADS)

    async def scenario() -> None:
        events = [e async for e in engine.load(spec)]
        assert events[-1]["type"] == "loaded"
        assert any(e["type"] == "progress" and 0 < e["progress"] < 1 for e in events)
        first_pid = engine.pid
        assert first_pid is not None
        exits: list[ErrorKind] = []
        engine.subscribe_exit(lambda failure: exits.append(failure.kind))

        messages = [{"role": "user", "content": "Tell me a long story."}]
        pieces = 0
        killed_at = 0.0
        with pytest.raises(EngineUnavailable) as caught:
            async for _delta in engine.stream_chat(
                messages, sampling=SamplingOptions(max_tokens=1000)
            ):
                pieces += 1
                if pieces == 3:
                    killed_at = time.monotonic()
                    os.kill(first_pid, signal.SIGKILL)
        assert time.monotonic() - killed_at < 2.0, "the client must learn of the kill within 2 s"
        assert caught.value.failure.kind == "killed"
        assert "killed" in caught.value.failure.message.lower()
        assert engine.failure is not None and engine.failure.kind == ErrorKind.KILLED
        assert exits == [ErrorKind.KILLED], "exit listeners hear of it once"
        assert engine.needs_restart

        reloads: list[dict[str, object]] = []
        text = ""
        async for delta in engine.stream_chat(
            [{"role": "user", "content": "Say hello."}],
            sampling=SamplingOptions(max_tokens=8),
            on_progress=reloads.append,
        ):
            text += delta.text
        assert text.strip()
        assert engine.pid != first_pid
        assert not engine.needs_restart
        assert supervisor.restarts == 1
        assert any(e.get("type") == "loaded" for e in reloads), "the last model is reloaded"
        await engine.close()

    asyncio.run(scenario())
    assert not supervisor.running


def test_openai_client_gets_an_error_within_two_seconds_of_a_kill(
    model_path: Path, tmp_path: Path
) -> None:
    from tests.helpers.engine import start_engine_with_model

    supervisor, endpoint = start_engine_with_model(model_path, tmp_path / "engine.log")
    try:
        client = openai.OpenAI(
            base_url=f"{endpoint.base_url}/v1", api_key=endpoint.token, max_retries=0
        )
        stream = client.chat.completions.create(
            model="x",
            messages=[{"role": "user", "content": "Tell me a long story."}],
            max_tokens=1000,
            stream=True,
        )
        killed_at = 0.0
        with pytest.raises(Exception) as caught:
            for n, _chunk in enumerate(stream):
                if n == 3:
                    killed_at = time.monotonic()
                    os.kill(endpoint.pid, signal.SIGKILL)
        assert killed_at and time.monotonic() - killed_at < 2.0, caught.value
        deadline = time.monotonic() + 5
        while supervisor.last_failure is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert supervisor.last_failure is not None and supervisor.last_failure.kind == "killed"
    finally:
        supervisor.stop()


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
