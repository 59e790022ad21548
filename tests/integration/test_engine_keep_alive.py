"""Keep-alive on the real engine: the model unloaded after idle seconds, loaded again on use.

A real engine process (``ChildOptions.keep_alive_s``, as ``llmos serve --keep-alive``
sets it) with Gemma 3 270M: after the idle time ``/control/status`` says
``idle_unloaded`` and the process gave the model's memory back; ``/v1/models`` still
lists the model, and the next request, through the official openai client, is answered
as before the unload (the same text at temperature 0) with the model loaded again the
same way (its context and slots). A request that keeps the engine busy past the idle
time is not cut short.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from llmos_desktop.core.engine.control.supervisor import EngineEndpoint, EngineSupervisor
from llmos_desktop.core.engine.process.child import ChildOptions
from tests.helpers.engine import load_model

pytestmark = pytest.mark.model

KEEP_ALIVE_S = 2.0


def _status(endpoint: EngineEndpoint) -> dict[str, Any]:
    response = httpx.get(
        f"{endpoint.base_url}/control/status",
        headers={"Authorization": f"Bearer {endpoint.token}"},
        timeout=30,
    )
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def _wait_for(
    endpoint: EngineEndpoint, key: str, value: Any, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = _status(endpoint)
        if status[key] == value or time.monotonic() > deadline:
            return status
        time.sleep(0.25)


@pytest.fixture(params=[1, 2], ids=["one-slot", "two-slots"])
def engine(
    request: pytest.FixtureRequest, model_path: Path, tmp_path: Path
) -> Iterator[tuple[EngineEndpoint, int]]:
    supervisor = EngineSupervisor(
        log_path=tmp_path / "engine.log",
        ready_timeout=60,
        options=ChildOptions(keep_alive_s=KEEP_ALIVE_S),
    )
    endpoint = supervisor.start()
    try:
        load_model(endpoint, model_path, n_parallel=request.param, n_ctx=2048)
        yield endpoint, request.param
    finally:
        supervisor.stop()


def test_an_idle_model_is_unloaded_and_loaded_again_by_the_next_request(
    engine: tuple[EngineEndpoint, int],
) -> None:
    endpoint, slots = engine
    client = openai.OpenAI(base_url=f"{endpoint.base_url}/v1", api_key=endpoint.token)

    def ask() -> str:
        reply = client.completions.create(
            model="x", prompt="The sea is", max_tokens=12, temperature=0
        )
        return reply.choices[0].text

    before = ask()
    loaded = _status(endpoint)
    assert loaded["loaded"] and not loaded["idle_unloaded"]
    assert loaded["keep_alive_s"] == KEEP_ALIVE_S

    idle = _wait_for(endpoint, "idle_unloaded", True)
    assert idle["idle_unloaded"], "the model was not unloaded after the idle time"
    assert not idle["loaded"]
    assert idle["n_ctx"] is None
    # The model's memory went back: Gemma 3 270M's weights are ~250 MB.
    assert idle["memory_rss_bytes"] < loaded["memory_rss_bytes"] - 150 * 1024 * 1024
    # Clients still see the model: it is there, only asleep.
    assert [m.id for m in client.models.list().data] == [loaded["model"]]

    assert ask() == before
    again = _status(endpoint)
    assert again["loaded"] and not again["idle_unloaded"]
    assert again["n_ctx"] == loaded["n_ctx"]
    assert again["n_parallel"] == slots
    assert again["model_path"] == loaded["model_path"]


def test_a_long_request_is_not_unloaded_under_it(engine: tuple[EngineEndpoint, int]) -> None:
    endpoint, _slots = engine
    client = openai.OpenAI(base_url=f"{endpoint.base_url}/v1", api_key=endpoint.token)
    started = time.monotonic()
    stream = client.completions.create(
        model="x", prompt="A long story:", max_tokens=400, temperature=0, stream=True
    )
    text = ""
    finish = None
    with stream:
        for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].text
                finish = chunk.choices[0].finish_reason or finish
    assert finish in ("length", "stop") and text
    assert time.monotonic() - started > KEEP_ALIVE_S, "too quick to show anything"
    # Busy for longer than the idle time: still loaded right after, not unloaded under it.
    assert _status(endpoint)["loaded"]
