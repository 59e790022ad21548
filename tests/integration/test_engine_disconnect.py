"""A client that leaves frees the engine: the real engine process on the real model.

The engine serves one request at a time, so a generation that nobody waits for any more
delays everyone behind it. Each test starts a long request on a raw socket, closes the
socket after half a second, and then times a short request: it must be answered in
about its own generation time, not after the abandoned one.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from llmos_desktop.core.engine.control.supervisor import EngineEndpoint

pytestmark = pytest.mark.model

# The short request may wait this much longer than its own generation took: the abandoned
# one stops within about a token; the rest is HTTP, the loop and a busy machine.
MARGIN_S = 3.0
# Greedy, this prompt makes the test model count on for the whole 2,000 tokens.
COUNTING = "Count from 1 to 10000: 1, 2, 3,"


def _leave_after(endpoint: EngineEndpoint, path: str, body: dict[str, Any], wait: float) -> None:
    """Send a request, wait, and close the connection without reading the answer."""
    url = urlsplit(endpoint.base_url)
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: Bearer {endpoint.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head + payload)
        time.sleep(wait)


def _extra_wait(endpoint: EngineEndpoint) -> float:
    """How much longer than its own generation a short request took, in seconds."""
    start = time.monotonic()
    response = httpx.post(
        f"{endpoint.base_url}/v1/completions",
        json={"prompt": f"{uuid.uuid4().hex} Hello", "max_tokens": 8, "temperature": 0},
        headers={"Authorization": f"Bearer {endpoint.token}"},
        timeout=120,
    )
    wall = time.monotonic() - start
    assert response.status_code == 200, response.text
    data = response.json()
    timings, usage = data["timings"], data["usage"]
    own = timings["ttft_s"] or 0.0
    if timings["tokens_per_s"] and usage["completion_tokens"] > 1:
        own += (usage["completion_tokens"] - 1) / timings["tokens_per_s"]
    return wall - own


def _long_generation(path: str) -> dict[str, Any]:
    body: dict[str, Any] = {"max_tokens": 2000, "temperature": 0, "stream": False}
    if path == "/v1/completions":
        body["prompt"] = f"{uuid.uuid4().hex}\n{COUNTING}"
    else:
        body["messages"] = [
            {"role": "user", "content": f"{uuid.uuid4().hex}\n{COUNTING} Go on to the end."}
        ]
    return body


def _long_prompt(path: str) -> dict[str, Any]:
    # About 3,000 tokens, with a new beginning each time (no cached prefix to reuse).
    text = f"{uuid.uuid4().hex} " + "the sea is wide and deep, " * 430
    body: dict[str, Any] = {"max_tokens": 8, "temperature": 0, "stream": False}
    if path == "/v1/completions":
        body["prompt"] = text
    else:
        body["messages"] = [{"role": "user", "content": text}]
    return body


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
def test_leaving_during_generation_frees_the_engine(
    session_engine: EngineEndpoint, path: str
) -> None:
    _leave_after(session_engine, path, _long_generation(path), wait=0.5)
    assert _extra_wait(session_engine) < MARGIN_S


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
def test_leaving_during_prompt_evaluation_frees_the_engine(
    session_engine: EngineEndpoint, path: str
) -> None:
    _leave_after(session_engine, path, _long_prompt(path), wait=0.5)
    assert _extra_wait(session_engine) < MARGIN_S


def test_leaving_a_stream_during_prompt_evaluation_frees_the_engine(
    session_engine: EngineEndpoint,
) -> None:
    body = {**_long_prompt("/v1/chat/completions"), "stream": True}
    _leave_after(session_engine, "/v1/chat/completions", body, wait=0.5)
    assert _extra_wait(session_engine) < MARGIN_S


def test_the_engine_answers_normally_after_clients_left(session_engine: EngineEndpoint) -> None:
    response = httpx.post(
        f"{session_engine.base_url}/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4, "temperature": 0},
        headers={"Authorization": f"Bearer {session_engine.token}"},
        timeout=60,
    )
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"]
