"""The window's API listener: a second server in the real engine process.

Switched on through ``/control/api`` (and through ``Engine.set_api_server``), it serves
the loaded model to the official ``openai`` client on its own port and key; the app's
control key opens nothing there, the control routes do not exist there, another
address without a key is refused, and a port another program holds is a 409.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from llmos_desktop.core.engine.api_server import ApiServerConfig, new_api_key
from llmos_desktop.core.engine.contract import ModelLoad
from llmos_desktop.core.engine.control.service import Engine
from llmos_desktop.core.engine.control.supervisor import EngineEndpoint, EngineSupervisor
from tests.helpers.engine import TEST_THREADS, start_engine_with_model

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def engine(
    model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[EngineSupervisor, EngineEndpoint]]:
    log = tmp_path_factory.mktemp("listener") / "engine.log"
    supervisor, endpoint = start_engine_with_model(model_path, log)
    try:
        yield supervisor, endpoint
    finally:
        supervisor.stop()


EndpointT = EngineEndpoint


def control(endpoint: EngineEndpoint, method: str, path: str, body: Any = None) -> httpx.Response:
    return httpx.request(
        method,
        endpoint.base_url + path,
        json=body,
        headers={"Authorization": f"Bearer {endpoint.token}"},
        timeout=60,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def switch(endpoint: EngineEndpoint, **config: Any) -> httpx.Response:
    return control(endpoint, "POST", "/control/api", {"enabled": True, **config})


@pytest.fixture
def off(engine: tuple[EngineSupervisor, EngineEndpoint]) -> Iterator[EngineEndpoint]:
    endpoint = engine[1]
    yield endpoint
    assert control(endpoint, "POST", "/control/api", {"enabled": False}).status_code == 200


def test_listener_serves_openai_client_with_its_own_key(off: EndpointT) -> None:
    endpoint = off
    key = new_api_key()
    port = free_port()
    answer = switch(endpoint, port=port, api_key=key)
    assert answer.status_code == 200, answer.text
    state = answer.json()
    assert state["enabled"] is True
    assert state["port"] == port
    assert state["base_url"] == f"http://127.0.0.1:{port}/v1"
    assert control(endpoint, "GET", "/control/api").json()["base_url"] == state["base_url"]

    client = openai.OpenAI(base_url=state["base_url"], api_key=key, max_retries=0)
    reply = client.chat.completions.create(
        model="any",
        messages=[{"role": "user", "content": "Hello"}],
        max_tokens=4,
        temperature=0,
    )
    assert reply.usage is not None and reply.usage.completion_tokens >= 1

    # The app's control key opens nothing there, and there are no control routes.
    wrong = openai.OpenAI(base_url=state["base_url"], api_key=endpoint.token, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    for path in ("/control/status", "/control/api", "/control/requests"):
        for token in (key, endpoint.token):
            response = httpx.get(
                f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code in (401, 404), (path, response.status_code)
            assert response.status_code == 404 or token == endpoint.token
    # The key of the listener does not open the app's own listener's control routes.
    response = httpx.get(
        endpoint.base_url + "/control/status", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 401

    # Off: the port is closed again.
    assert control(endpoint, "POST", "/control/api", {"enabled": False}).json()["enabled"] is False
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)


def test_loopback_without_key_is_open_and_checks_host(off: EndpointT) -> None:
    port = free_port()
    state = switch(off, port=port).json()
    assert state["enabled"] is True and state["keyed"] is False
    models = openai.OpenAI(base_url=state["base_url"], api_key="not-needed").models.list()
    assert len(models.data) == 1
    # DNS rebinding: a page served as evil.example that resolves to 127.0.0.1.
    response = httpx.get(
        f"http://127.0.0.1:{port}/v1/models", headers={"Host": f"evil.example:{port}"}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "host_not_allowed"


def test_network_exposure_needs_a_key(off: EndpointT) -> None:
    response = switch(off, host="0.0.0.0", port=free_port())
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_value"
    assert "needs an API key" in error["message"]
    assert control(off, "GET", "/control/api").json()["enabled"] is False
    with pytest.raises(ValueError, match="needs an API key"):
        ApiServerConfig(enabled=True, host="0.0.0.0")


def test_network_listener_with_key(off: EndpointT) -> None:
    key = new_api_key()
    port = free_port()
    state = switch(off, host="0.0.0.0", port=port, api_key=key).json()
    assert state["enabled"] is True and state["loopback"] is False
    # Reached by any name (the key protects it, the Host check does not apply).
    response = httpx.get(
        f"http://127.0.0.1:{port}/v1/models",
        headers={"Authorization": f"Bearer {key}", "Host": f"my-laptop.local:{port}"},
    )
    assert response.status_code == 200
    assert httpx.get(f"http://127.0.0.1:{port}/v1/models").status_code == 401


def test_port_in_use_is_a_clear_409_and_keeps_the_running_listener(off: EndpointT) -> None:
    first = free_port()
    assert switch(off, port=first).status_code == 200
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy_port = taken.getsockname()[1]
        response = switch(off, port=busy_port)
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert f"port {busy_port} is already in use" in error["message"]
        assert error["param"] == "port"
    state = control(off, "GET", "/control/api").json()
    assert state["enabled"] is True and state["port"] == first
    assert httpx.get(f"http://127.0.0.1:{first}/health").status_code == 200


def test_cors_origin_and_new_key_applied_in_place(off: EndpointT) -> None:
    port = free_port()
    old_key, new_key = new_api_key(), new_api_key()
    assert switch(off, port=port, api_key=old_key).status_code == 200
    state = switch(off, port=port, api_key=new_key, cors_origins=["http://localhost:5173"]).json()
    assert state["port"] == port and state["cors_origins"] == ["http://localhost:5173"]
    url = f"http://127.0.0.1:{port}/v1/models"
    assert httpx.get(url, headers={"Authorization": f"Bearer {old_key}"}).status_code == 401
    response = httpx.get(
        url,
        headers={"Authorization": f"Bearer {new_key}", "Origin": "http://localhost:5173"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:5173"
    other = httpx.get(
        url, headers={"Authorization": f"Bearer {new_key}", "Origin": "http://evil.example"}
    )
    assert "access-control-allow-origin" not in other.headers


def test_engine_service_applies_it_now_and_after_a_restart(
    model_path: Path, tmp_path: Path
) -> None:
    """Engine.set_api_server starts the engine, and a killed engine comes back with its
    API listener on the same port."""

    async def main() -> None:
        supervisor = EngineSupervisor(log_path=tmp_path / "engine.log", ready_timeout=60)
        engine = Engine(supervisor)
        try:
            assert engine.api_server_state() is None
            assert await engine.busy() == {"api": 0, "app": 0, "active": 0, "queued": 0}
            assert (await engine.request_log(0))["entries"] == []
            port = free_port()
            key = new_api_key()
            state = await engine.set_api_server(
                ApiServerConfig(enabled=True, port=port, api_key=key)
            )
            assert engine.running
            assert state is not None and state["enabled"] and state["port"] == port
            async for _ in engine.load(
                ModelLoad(path=str(model_path), n_ctx=1024, n_threads=TEST_THREADS)
            ):
                pass
            client = openai.AsyncOpenAI(
                base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0
            )
            await client.completions.create(model="m", prompt="One", max_tokens=2)
            log = await engine.request_log(0)
            assert [e["listener"] for e in log["entries"]] == ["api"]
            first_log = log["log_id"]

            pid = engine.pid
            assert pid is not None
            supervisor._kill(supervisor._proc)  # type: ignore[arg-type]
            for _ in range(100):
                if not engine.running:
                    break
                await asyncio.sleep(0.05)
            assert engine.api_server_state() is None
            await engine.status()  # the next request restarts it
            assert engine.pid != pid
            state = engine.api_server_state()
            assert state is not None and state["enabled"] and state["port"] == port
            await client.completions.create(model="m", prompt="Two", max_tokens=2)
            log = await engine.request_log(0)
            assert log["log_id"] != first_log and len(log["entries"]) == 1
            await client.close()

            off = await engine.set_api_server(None)
            assert off is not None and off["enabled"] is False
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        finally:
            await engine.close()

    asyncio.run(main())
