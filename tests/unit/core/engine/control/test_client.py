"""The engine client against the real server app, with no model loaded.

The server is the engine's own app (``create_app`` around a real EngineRuntime) served
by uvicorn on a loopback socket in a thread of this process; the client is the real
EngineClient. What needs a model (text, usage, timings) is in tests/integration.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn

from llmos_desktop.core.engine.contract import ErrorKind, ModelLoad, SamplingOptions
from llmos_desktop.core.engine.control.client import (
    ChatResult,
    EngineAPIError,
    EngineClient,
    EngineConnectionError,
    TextDelta,
)
from llmos_desktop.core.engine.process.child import bind_socket
from llmos_desktop.core.engine.process.runtime import EngineRuntime
from llmos_desktop.core.engine.process.server.app import create_app
from llmos_desktop.core.engine.process.server.config import ServerConfig

TOKEN = "test-token-123"
USER = [{"role": "user", "content": "Hello"}]
T = TypeVar("T")


@dataclass(frozen=True)
class Server:
    base_url: str
    token: str


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """The engine's app, served by uvicorn on 127.0.0.1 in a thread with its own loop."""
    runtime = EngineRuntime(cache_bytes=0)
    app = create_app(runtime, ServerConfig(token=TOKEN, control_token=TOKEN))
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(
        target=lambda: asyncio.run(uv.serve(sockets=[sock])), name="test-engine-server"
    )
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not uv.started:
            assert thread.is_alive(), "the server thread ended before serving"
            assert time.monotonic() < deadline, "the server did not start within 30 s"
            time.sleep(0.01)
        yield Server(f"http://127.0.0.1:{port}", TOKEN)
    finally:
        uv.should_exit = True
        thread.join(timeout=30)
        sock.close()
        runtime.close()
    assert not thread.is_alive(), "the server did not stop"


def _with_client(
    base_url: str, token: str | None, use: Callable[[EngineClient], Awaitable[T]]
) -> T:
    async def main() -> T:
        client = EngineClient(base_url, token, timeout=30)
        try:
            return await use(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


async def _collect(events: AsyncIterator[T]) -> list[T]:
    return [event async for event in events]


def _api_error(
    server: Server, use: Callable[[EngineClient], Awaitable[Any]], token: str | None = TOKEN
) -> EngineAPIError:
    with pytest.raises(EngineAPIError) as caught:
        _with_client(server.base_url, token, use)
    return caught.value


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- what a caller reads when no model is loaded ----------------------------------------


def test_status_says_nothing_is_loaded_and_names_the_backend(server: Server) -> None:
    status = _with_client(server.base_url, server.token, lambda c: c.status())
    assert isinstance(status, dict)
    assert status["loaded"] is False
    assert status["model"] is None
    assert isinstance(status["backend"], str) and status["backend"]
    assert status["version"]


def test_no_models_are_listed(server: Server) -> None:
    assert _with_client(server.base_url, server.token, lambda c: c.models()) == []


def test_a_trailing_slash_in_the_base_url_is_fine(server: Server) -> None:
    assert _with_client(server.base_url + "/", server.token, lambda c: c.models()) == []


def test_loading_a_missing_file_raises_with_code_missing(server: Server, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model.gguf"
    error = _api_error(server, lambda c: _collect(c.load(ModelLoad(path=str(missing)))))
    # The refusal comes as an error event in the (200) progress stream: the code says
    # what went wrong, the HTTP status of a non-streamed load (404) is not carried.
    assert error.code == ErrorKind.MISSING
    assert missing.name in error.message
    assert error.message == str(error)


def test_a_load_the_server_refuses_before_streaming_raises_with_status(server: Server) -> None:
    # model_construct skips the client-side checks, as a buggy caller's value would.
    spec = ModelLoad.model_construct(path="m.gguf", n_ctx=64)
    error = _api_error(server, lambda c: _collect(c.load(spec)))
    assert (error.status, error.code) == (400, ErrorKind.INVALID_VALUE)
    assert "n_ctx" in error.message


def test_chat_without_a_model_raises_model_not_loaded(server: Server) -> None:
    result = ChatResult()
    pieces: list[TextDelta] = []

    async def chat(client: EngineClient) -> None:
        async for piece in client.stream_chat(USER, result):
            pieces.append(piece)

    error = _api_error(server, chat)
    assert (error.status, error.code) == (409, ErrorKind.MODEL_NOT_LOADED)
    assert pieces == [] and result == ChatResult()


def test_unload_without_a_model_is_fine(server: Server) -> None:
    async def unload_then_status(client: EngineClient) -> dict[str, Any]:
        await client.unload()
        return await client.status()

    assert _with_client(server.base_url, server.token, unload_then_status)["loaded"] is False


# --- sampling options reach the server ----------------------------------------------------


def test_sampling_options_reach_the_server(server: Server) -> None:
    # Valid options pass validation and get as far as the missing model ...
    valid = SamplingOptions(temperature=0.0, top_k=1, seed=3, stop=["x"], max_tokens=4)
    error = _api_error(server, lambda c: _collect(c.stream_chat(USER, sampling=valid)))
    assert error.code == ErrorKind.MODEL_NOT_LOADED
    # ... and a value the server refuses comes back naming the field.
    bad = SamplingOptions.model_construct(temperature=99.0)
    error = _api_error(server, lambda c: _collect(c.stream_chat(USER, sampling=bad)))
    assert (error.status, error.code) == (400, ErrorKind.INVALID_VALUE)
    assert "temperature" in error.message


@pytest.mark.parametrize(
    ("field", "value"), [("top_p", 2.0), ("max_tokens", 0), ("stop", ["s"] * 9)]
)
def test_each_sampling_field_is_sent(server: Server, field: str, value: Any) -> None:
    bad = SamplingOptions.model_construct(**{field: value})
    error = _api_error(server, lambda c: _collect(c.stream_chat(USER, sampling=bad)))
    assert (error.status, error.code) == (400, ErrorKind.INVALID_VALUE)
    assert field in error.message


# --- who may call, and a server that is not there -----------------------------------------


@pytest.mark.parametrize("token", ["wrong-token", None])
def test_a_wrong_or_missing_token_is_refused(server: Server, token: str | None) -> None:
    for use in (
        lambda c: c.status(),
        lambda c: c.models(),
        lambda c: _collect(c.stream_chat(USER)),
        lambda c: _collect(c.load(ModelLoad(path="m.gguf"))),
    ):
        error = _api_error(server, use, token=token)
        assert (error.status, error.code) == (401, ErrorKind.INVALID_API_KEY)


def test_a_closed_port_gives_a_connection_error() -> None:
    base_url = f"http://127.0.0.1:{_closed_port()}"
    for use in (
        lambda c: c.status(),
        lambda c: c.models(),
        lambda c: c.unload(),
        lambda c: _collect(c.stream_chat(USER)),
        lambda c: _collect(c.load(ModelLoad(path="m.gguf"))),
    ):
        with pytest.raises(EngineConnectionError) as caught:
            _with_client(base_url, TOKEN, use)
        assert type(caught.value) is EngineConnectionError
