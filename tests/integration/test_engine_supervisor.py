"""A killed engine: the client learns fast, the supervisor says why, the next request works."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import openai
import pytest

from llmos_desktop.core.engine.contract import ErrorKind, ModelLoad, SamplingOptions
from llmos_desktop.core.engine.control.service import Engine, EngineUnavailable
from llmos_desktop.core.engine.control.supervisor import EngineSupervisor
from tests.helpers.engine import TEST_CTX, TEST_THREADS

pytestmark = pytest.mark.model


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
