"""The Engine service on the real engine and model: what it says is loaded, who hears of a death."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from llmos_desktop.core.engine.contract import ErrorKind, ModelLoad, SamplingOptions
from llmos_desktop.core.engine.control.client import EngineAPIError
from llmos_desktop.core.engine.control.service import Engine, EngineUnavailable
from llmos_desktop.core.engine.control.supervisor import EngineSupervisor
from llmos_desktop.core.engine.errors import EngineFailure
from tests.helpers.engine import TEST_CTX, TEST_THREADS

pytestmark = pytest.mark.model


def _broken_listener(_failure: EngineFailure) -> None:
    raise RuntimeError("a listener with a bug")


async def _load(engine: Engine, spec: ModelLoad) -> list[dict[str, object]]:
    return [event async for event in engine.load(spec)]


async def _reply(engine: Engine) -> str:
    pieces = [
        delta.text
        async for delta in engine.stream_chat(
            [{"role": "user", "content": "Hi"}], sampling=SamplingOptions(max_tokens=4)
        )
    ]
    return "".join(pieces)


def test_a_refused_load_leaves_the_previous_model_loaded_and_named(
    model_path: Path, tmp_path: Path
) -> None:
    engine = Engine(EngineSupervisor(log_path=tmp_path / "engine.log"))
    good = ModelLoad(path=str(model_path), n_ctx=TEST_CTX, n_threads=TEST_THREADS)

    async def scenario() -> None:
        try:
            await _load(engine, good)
            assert engine.loaded == good
            refused = [
                good.model_copy(update={"chat_template": "{% for %}"}),  # invalid override
                good.model_copy(update={"path": str(tmp_path / "missing.gguf")}),
            ]
            for spec in refused:
                with pytest.raises(EngineAPIError) as caught:
                    await _load(engine, spec)
                assert caught.value.code in {ErrorKind.INVALID_CHAT_TEMPLATE, ErrorKind.MISSING}
                assert engine.loaded == good, f"after {caught.value.code}"
                assert (await engine.status())["model_path"] == good.path
                assert await _reply(engine)
        finally:
            await engine.close()

    asyncio.run(scenario())


def test_every_exit_listener_hears_of_a_death_once_until_it_unsubscribes(
    model_path: Path, tmp_path: Path
) -> None:
    engine = Engine(EngineSupervisor(log_path=tmp_path / "engine.log"))
    spec = ModelLoad(path=str(model_path), n_ctx=TEST_CTX, n_threads=TEST_THREADS)
    heard: dict[str, list[EngineFailure]] = {"a": [], "b": []}

    async def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def scenario() -> None:
        try:
            engine.subscribe_exit(heard["a"].append)
            unsubscribe_b = engine.subscribe_exit(heard["b"].append)
            engine.subscribe_exit(_broken_listener)  # harms no other listener
            await _load(engine, spec)
            assert not engine.needs_restart
            pid = engine.pid
            assert pid is not None and engine.running
            os.kill(pid, signal.SIGKILL)
            await wait_for(lambda: heard["a"] and heard["b"])
            assert [f.kind for f in heard["a"]] == [ErrorKind.KILLED]
            assert [f.kind for f in heard["b"]] == [ErrorKind.KILLED]
            assert engine.needs_restart and engine.failure is not None

            unsubscribe_b()
            assert await _reply(engine), "the next request restarts the engine with its model"
            assert engine.pid != pid and not engine.needs_restart
            second = engine.pid
            assert second is not None
            os.kill(second, signal.SIGKILL)
            await wait_for(lambda: len(heard["a"]) == 2)
            assert len(heard["a"]) == 2
            assert len(heard["b"]) == 1, "an unsubscribed listener hears nothing more"
        finally:
            await engine.close()

    asyncio.run(scenario())
    assert not engine.running


def test_an_engine_that_dies_during_a_load_comes_back_with_the_previous_model(
    model_path: Path, tmp_path: Path
) -> None:
    """As when a file makes llama.cpp abort: the death is reported, the file is not retried."""
    engine = Engine(EngineSupervisor(log_path=tmp_path / "engine.log"))
    good = ModelLoad(path=str(model_path), n_ctx=TEST_CTX, n_threads=TEST_THREADS)
    other = good.model_copy(update={"n_ctx": 2048})

    async def scenario() -> None:
        try:
            await _load(engine, good)
            pid = engine.pid
            assert pid is not None
            with pytest.raises(EngineUnavailable) as caught:
                async for event in engine.load(other):
                    if event.get("type") == "progress" and event.get("stage") == "loading weights":
                        os.kill(pid, signal.SIGKILL)
            assert caught.value.failure.kind == ErrorKind.KILLED
            assert engine.loaded == good and engine.needs_restart
            assert await _reply(engine)
            assert (await engine.status())["model_path"] == good.path
            assert (await engine.status())["n_ctx"] == good.n_ctx
        finally:
            await engine.close()

    asyncio.run(scenario())
