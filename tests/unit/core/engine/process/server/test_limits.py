"""Clients that are slow, or that leave: what they cost the server.

Raw sockets against the engine's app served by uvicorn with ``child.serve``'s settings
(``serving.py``), with short limits. A stand-in runtime makes one token per ``gap`` until
cancelled, so a generation nobody waits for would run for minutes; the real engine is
tested the same way in tests/integration/test_engine_disconnect.py.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from llmos_desktop.core.engine.process.server.config import ServerConfig
from tests.unit.core.engine.process.server.serving import Served, StubRuntime, serving

KEY = "k"
HEADER_LIMIT = 2.0
# Generous: the limits are timers on the server's loop, but a busy machine may be late.
MARGIN = 3.0


@pytest.fixture
def stub() -> Iterator[StubRuntime]:
    runtime = StubRuntime(gap=0.01)
    yield runtime
    runtime.close()


@pytest.fixture
def server(stub: StubRuntime) -> Iterator[Served]:
    config = ServerConfig(
        token=KEY,
        header_timeout_s=HEADER_LIMIT,
        body_timeout_s=2.0,
        receive_timeout_s=1.0,
    )
    with serving(stub, config) as served:
        yield served


def _read_until_closed(sock: socket.socket, deadline: float) -> bytes:
    """All the server sends until it closes the connection (or the deadline passes)."""
    data = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], 0.1)
        if ready:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return data
            if not chunk:
                return data
            data += chunk
    raise AssertionError(f"the server kept the connection open; it sent {data!r}")


def _trickle(sock: socket.socket, data: bytes, every: float, deadline: float) -> bytes:
    """Send ``data`` a byte at a time until the server answers and closes; return its answer."""
    for byte in data:
        ready, _, _ = select.select([sock], [], [], every)
        if ready:
            return _read_until_closed(sock, deadline)
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return _read_until_closed(sock, deadline)
        assert time.monotonic() < deadline, "the server waited for the slow client"
    raise AssertionError("the whole request went out before the server gave up")


def _status_and_body(answer: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def _request(method: str, path: str, body: bytes = b"", **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {KEY}"]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# --- slow headers -----------------------------------------------------------------------


def test_headers_sent_a_byte_at_a_time_get_408_and_the_connection_closes(server: Served) -> None:
    request = _request("GET", "/v1/models", X_Padding="y" * 200)
    start = time.monotonic()
    with server.connect() as sock:
        answer = _trickle(sock, request, every=0.2, deadline=start + HEADER_LIMIT + MARGIN)
    assert time.monotonic() - start < HEADER_LIMIT + MARGIN
    status, body = _status_and_body(answer)
    assert status == 408
    assert body["error"]["code"] == "timeout"


def test_a_connection_that_sends_nothing_is_closed(server: Served) -> None:
    start = time.monotonic()
    with server.connect() as sock:
        assert _read_until_closed(sock, start + HEADER_LIMIT + MARGIN) == b""


def test_a_kept_alive_connection_does_not_wait_forever_for_the_next_headers(
    server: Served,
) -> None:
    with server.connect() as sock:
        sock.sendall(_request("GET", "/health"))
        first = b""
        while b'{"status":"ok"}' not in first:
            chunk = sock.recv(4096)
            assert chunk, "the first request was not answered"
            first += chunk
        assert first.startswith(b"HTTP/1.1 200")
        start = time.monotonic()
        answer = _trickle(
            sock, _request("GET", "/v1/models"), every=0.2, deadline=start + HEADER_LIMIT + MARGIN
        )
    assert _status_and_body(answer)[0] == 408


def test_a_reply_that_takes_longer_than_the_header_limit_is_not_cut(
    server: Served, stub: StubRuntime
) -> None:
    stub.gap = 0.05
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 60, "stream": True}
    start = time.monotonic()
    response = httpx.post(
        f"{server.base_url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
    )
    assert time.monotonic() - start > HEADER_LIMIT
    assert response.status_code == 200
    assert response.text.rstrip().endswith("data: [DONE]")


# --- slow bodies ------------------------------------------------------------------------


def test_a_body_sent_a_byte_at_a_time_gets_408(server: Served) -> None:
    payload = json.dumps({"messages": [{"role": "user", "content": "x" * 100}]}).encode()
    request = _request("POST", "/v1/chat/completions", payload)
    head, _, body = request.partition(b"\r\n\r\n")
    start = time.monotonic()
    with server.connect() as sock:
        sock.sendall(head + b"\r\n\r\n")
        # The body gets 2 s; then the server answers, and closes after 1 s more of bytes.
        answer = _trickle(sock, body, every=0.2, deadline=start + 2.0 + 1.0 + MARGIN)
    status, error = _status_and_body(answer)
    assert status == 408
    assert error["error"]["code"] == "timeout"


def test_a_body_that_stops_coming_gets_408(server: Served) -> None:
    payload = json.dumps({"messages": [{"role": "user", "content": "x" * 100}]}).encode()
    request = _request("POST", "/v1/chat/completions", payload)
    start = time.monotonic()
    with server.connect() as sock:
        sock.sendall(request[: len(request) - 20])
        answer = _read_until_closed(sock, start + 1.0 + 1.0 + MARGIN)
    assert _status_and_body(answer)[0] == 408


def test_a_body_over_the_limit_is_answered_413_while_it_is_still_coming(
    stub: StubRuntime,
) -> None:
    config = ServerConfig(token=KEY, max_body_bytes=1000, receive_timeout_s=1.0)
    with serving(stub, config) as served, served.connect() as sock:
        sock.sendall(_request("POST", "/v1/completions", b"", Transfer_Encoding="chunked"))
        sock.sendall(b"800\r\n" + b"x" * 0x800 + b"\r\n")
        answer = _read_until_closed(sock, time.monotonic() + 1.0 + MARGIN)
    assert _status_and_body(answer)[0] == 413


# --- clients that leave -------------------------------------------------------------------


def _chat(max_tokens: int, stream: bool = False) -> bytes:
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": max_tokens,
        "stream": stream,
    }
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/v1/chat/completions", _chat(100_000)),
        ("/v1/completions", json.dumps({"prompt": "hi", "max_tokens": 100_000}).encode()),
    ],
    ids=["chat", "completions"],
)
def test_a_client_that_leaves_a_reply_it_did_not_stream_frees_the_engine(
    server: Served, stub: StubRuntime, path: str, payload: bytes
) -> None:
    with server.connect() as sock:
        sock.sendall(_request("POST", path, payload))
        time.sleep(0.5)
    # 100,000 tokens at 10 ms each: without the disconnect, this would wait 1000 s.
    start = time.monotonic()
    response = httpx.post(
        f"{server.base_url}/v1/chat/completions",
        content=_chat(5),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.json()["usage"]["completion_tokens"] == 5
    assert time.monotonic() - start < MARGIN


def test_a_client_that_leaves_while_queued_costs_nothing(server: Served, stub: StubRuntime) -> None:
    stub.gap = 0.02
    start = time.monotonic()
    with server.connect() as holder:
        # A reply of 1 s holds the worker; a request queued behind it leaves.
        holder.sendall(_request("POST", "/v1/chat/completions", _chat(50)))
        time.sleep(0.1)
        with server.connect() as leaver:
            leaver.sendall(_request("POST", "/v1/chat/completions", _chat(100_000)))
            time.sleep(0.1)
        answer = b""
        while b'"finish_reason"' not in answer:
            chunk = holder.recv(65536)
            assert chunk, "the first request was not answered"
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")
    after = httpx.post(
        f"{server.base_url}/v1/chat/completions",
        content=_chat(5),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert after.status_code == 200
    assert time.monotonic() - start < 1.0 + 0.2 + MARGIN
