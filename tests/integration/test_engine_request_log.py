"""The engine's request log and busy counts, on the real engine.

Requests from the app's listener and from the API listener land in one log with their
route, client, status, tokens and timings; refusals are logged with their error code;
the prompt text only when the user turned that on; ``busy`` counts requests in flight.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from llmos_desktop.core.engine.control.supervisor import EngineEndpoint, EngineSupervisor
from llmos_desktop.core.engine.process.server.request_log import RequestLog
from tests.helpers.engine import start_engine_with_model

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def endpoint(
    model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EngineEndpoint]:
    log = tmp_path_factory.mktemp("request-log") / "engine.log"
    supervisor: EngineSupervisor
    supervisor, endpoint = start_engine_with_model(model_path, log)
    try:
        yield endpoint
    finally:
        supervisor.stop()


def control(endpoint: EngineEndpoint, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(
        method,
        endpoint.base_url + path,
        json=body,
        headers={"Authorization": f"Bearer {endpoint.token}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.json()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_requests_from_both_listeners_with_timings(endpoint: EngineEndpoint) -> None:
    start = control(endpoint, "GET", "/control/requests?after=0")["last_id"]
    port = free_port()
    state = control(endpoint, "POST", "/control/api", {"enabled": True, "port": port})
    try:
        api = openai.OpenAI(base_url=state["base_url"], api_key="not-needed", max_retries=0)
        stream = api.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "A secret prompt about tea"}],
            max_tokens=6,
            temperature=0,
            stream=True,
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        app = openai.OpenAI(base_url=endpoint.base_url + "/v1", api_key=endpoint.token)
        app.completions.create(model="m", prompt="Once", max_tokens=3)
        # A refusal: a wrong key on the app's listener.
        bad = openai.OpenAI(base_url=endpoint.base_url + "/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()
    finally:
        control(endpoint, "POST", "/control/api", {"enabled": False})

    log = control(endpoint, "GET", f"/control/requests?after={start}")
    entries = log["entries"]
    assert [e["id"] for e in entries] == list(range(start + 1, start + 4))
    assert log["last_id"] == start + 3 and log["log_prompts"] is False
    chat, completion, refused = entries
    assert chat["listener"] == "api" and chat["route"] == "/v1/chat/completions"
    assert chat["method"] == "POST" and chat["client"] == "127.0.0.1"
    assert chat["status"] == 200 and chat["stream"] is True and chat["error"] is None
    assert chat["prompt_tokens"] > 3 and 1 <= chat["completion_tokens"] <= 6
    assert chat["ttft_s"] > 0 and chat["duration_s"] >= chat["ttft_s"]
    assert chat["prompt"] is None  # never kept unless asked for
    assert chat["time"].endswith("Z")
    assert completion["listener"] == "app" and completion["route"] == "/v1/completions"
    assert completion["completion_tokens"] >= 1 and completion["status"] == 200
    assert refused["status"] == 401 and refused["error"] == "invalid_api_key"
    assert refused["prompt_tokens"] is None
    # Asking again after the last id gives nothing new.
    assert control(endpoint, "GET", f"/control/requests?after={log['last_id']}")["entries"] == []


def test_prompts_kept_only_when_turned_on(endpoint: EngineEndpoint) -> None:
    port = free_port()
    control(endpoint, "POST", "/control/api", {"enabled": True, "port": port, "log_prompts": True})
    try:
        start = control(endpoint, "GET", "/control/requests")["last_id"]
        api = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)
        api.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Kept words"}], max_tokens=2
        )
        api.embeddings.create(model="m", input=["first text", "second text"])
        entries = control(endpoint, "GET", f"/control/requests?after={start}")["entries"]
        assert entries[0]["prompt"] == "user: Kept words"
        assert entries[1]["route"] == "/v1/embeddings"
        assert entries[1]["prompt"] == "first text\nsecond text"
        assert entries[1]["prompt_tokens"] >= 4 and entries[1]["completion_tokens"] is None
    finally:
        control(endpoint, "POST", "/control/api", {"enabled": False, "log_prompts": False})


def test_busy_counts_api_requests_in_flight(endpoint: EngineEndpoint) -> None:
    port = free_port()
    control(endpoint, "POST", "/control/api", {"enabled": True, "port": port})
    try:
        idle = control(endpoint, "GET", "/control/status")["busy"]
        assert idle["api"] == 0 and idle["app"] == 0
        api = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)
        done = threading.Event()

        def long_reply() -> None:
            try:
                api.completions.create(model="m", prompt="Count:", max_tokens=60, temperature=0)
            finally:
                done.set()

        thread = threading.Thread(target=long_reply)
        thread.start()
        seen: dict[str, int] = {}
        deadline = time.monotonic() + 30
        while not done.is_set() and time.monotonic() < deadline:
            seen = control(endpoint, "GET", "/control/status")["busy"]
            if seen["api"] == 1:
                break
            time.sleep(0.02)
        thread.join(120)
        assert seen.get("api") == 1 and seen.get("app") == 0, seen
        # The count drops once the server has finished with the request (just after the
        # client has read its answer).
        deadline = time.monotonic() + 5
        while control(endpoint, "GET", "/control/status")["busy"]["api"] != 0:
            assert time.monotonic() < deadline, "still busy after the reply"
            time.sleep(0.05)
    finally:
        control(endpoint, "POST", "/control/api", {"enabled": False})


def test_ring_keeps_the_last_entries_and_says_what_was_missed() -> None:
    log = RequestLog(capacity=3)
    for _ in range(5):
        log.close(log.open({"path": "/v1/models", "method": "GET"}, "app"), 200)
    page = log.since(0)
    assert [e["id"] for e in page["entries"]] == [3, 4, 5]
    assert page["missed"] == 2 and page["last_id"] == 5
    assert log.since(4)["entries"][0]["id"] == 5 and log.since(4)["missed"] == 0
    # An id from before a restart (beyond the last one): everything, from the start.
    assert [e["id"] for e in log.since(99)["entries"]] == [3, 4, 5]
