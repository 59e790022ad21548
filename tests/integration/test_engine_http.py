"""Bad and hostile HTTP requests against the real engine process."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai
import pytest

from llmos_desktop.core.engine.control.supervisor import EngineEndpoint
from llmos_desktop.core.engine.process.server.config import ServerConfig

pytestmark = pytest.mark.model

CHAT = "/v1/chat/completions"
GOOD = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}


@pytest.fixture(scope="module")
def http(session_engine: EngineEndpoint) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=session_engine.base_url,
        headers={"Authorization": f"Bearer {session_engine.token}"},
        timeout=60,
        trust_env=False,
    ) as client:
        yield client


def _error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["message"] and isinstance(error["message"], str)
    assert error["type"]
    return error


def test_missing_or_wrong_token_is_401(session_engine: EngineEndpoint) -> None:
    no_token = httpx.post(f"{session_engine.base_url}{CHAT}", json=GOOD)
    assert no_token.status_code == 401
    assert _error(no_token)["code"] == "invalid_api_key"
    wrong = httpx.get(
        f"{session_engine.base_url}/v1/models", headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    bad = openai.OpenAI(base_url=f"{session_engine.base_url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_health_needs_no_token_but_says_nothing(session_engine: EngineEndpoint) -> None:
    response = httpx.get(f"{session_engine.base_url}/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8080", "192.168.1.5", "localhost.evil.example"]
)
def test_foreign_host_header_is_403(http: httpx.Client, host: str) -> None:
    response = http.get("/v1/models", headers={"Host": host})
    assert response.status_code == 403
    assert _error(response)["code"] == "host_not_allowed"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]"])
def test_loopback_host_names_are_allowed(
    http: httpx.Client, session_engine: EngineEndpoint, host: str
) -> None:
    port = session_engine.base_url.rsplit(":", 1)[1]
    assert http.get("/v1/models", headers={"Host": f"{host}:{port}"}).status_code == 200


def test_bad_json_is_400(http: httpx.Client) -> None:
    response = http.post(
        CHAT, content=b'{"messages": [', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "JSON" in _error(response)["message"]


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"max_tokens": -1}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": -0.5}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages"),
        ({"n": 3}, "n"),
        ({"stop": ["a"] * 50}, "stop"),
    ],
)
def test_invalid_values_are_400_with_param(
    http: httpx.Client, patch: dict[str, Any], param: str
) -> None:
    response = http.post(CHAT, json={**GOOD, **patch})
    assert response.status_code == 400
    error = _error(response)
    assert error["param"] and error["param"].startswith(param)


def test_nan_temperature_is_400(http: httpx.Client) -> None:
    body = b'{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}'
    response = http.post(CHAT, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert _error(response)["param"] == "temperature"


def test_oversized_body_is_413(http: httpx.Client) -> None:
    big = b'{"messages": [{"role": "user", "content": "' + b"x" * (9 * 1024 * 1024) + b'"}]}'
    response = http.post(CHAT, content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert _error(response)["code"] == "request_too_large"


def test_oversized_chunked_body_is_413(http: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"y" * (1024 * 1024)
        yield b'"}]}'

    response = http.post(CHAT, content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    # The server is still fine afterwards.
    assert http.get("/v1/models").status_code == 200


def test_unknown_route_is_404_with_openai_body(http: httpx.Client) -> None:
    response = http.get("/v1/nothing-here")
    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"


def test_no_cors_headers_by_default(http: httpx.Client) -> None:
    response = http.get("/v1/models", headers={"Origin": "https://evil.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    preflight = http.options(
        CHAT, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_options_needs_the_key_like_everything_else(session_engine: EngineEndpoint) -> None:
    """No CORS origins: an OPTIONS request without the key learns nothing (was: 405 or 404,
    which told which routes exist)."""
    for path in (CHAT, "/control/load", "/v1/nothing-here"):
        response = httpx.options(f"{session_engine.base_url}{path}")
        assert response.status_code == 401, path
        assert _error(response)["code"] == "invalid_api_key"


def test_openapi_document_is_open_and_describes_the_v1_api(
    session_engine: EngineEndpoint,
) -> None:
    response = httpx.get(f"{session_engine.base_url}/openapi.json")  # no key
    assert response.status_code == 200
    document = response.json()
    assert set(document["paths"]) == {
        "/health",
        "/v1/models",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
    }
    chat = document["paths"][CHAT]["post"]
    assert "text/event-stream" in chat["responses"]["200"]["content"]
    assert chat["security"] == [{"bearer": []}, {"apiKey": []}]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    # Our extensions are documented: what a request may ask, what every reply says.
    schemas = document["components"]["schemas"]
    assert {"truncate", "continue_final_message"} <= set(
        schemas["ChatCompletionRequest"]["properties"]
    )
    assert "llmos" in schemas["ChatCompletion"]["required"]


def test_the_apps_engine_opens_the_control_routes_with_its_key(http: httpx.Client) -> None:
    status = http.get("/control/status")
    assert status.status_code == 200
    assert status.json()["loaded"] is True


def test_a_huge_prompt_is_refused_at_once(http: httpx.Client) -> None:
    """A 7.9 MB prompt (under the 8 MiB body limit) must not be tokenized in full while
    everyone else waits: the context holds 4,096 tokens."""
    prompt = "word " * (7_900_000 // 5)
    start = time.monotonic()
    response = http.post("/v1/completions", json={"prompt": prompt, "max_tokens": 1})
    elapsed = time.monotonic() - start
    assert response.status_code == 400
    assert _error(response)["code"] == "context_length_exceeded"
    assert elapsed < 2.0


def test_context_overflow_is_a_clear_400(http: httpx.Client) -> None:
    long = "word " * 6000
    response = http.post(
        CHAT, json={"messages": [{"role": "user", "content": long}], "max_tokens": 4}
    )
    assert response.status_code == 400
    assert _error(response)["code"] == "context_length_exceeded"


@pytest.mark.slow
def test_the_engine_process_closes_a_request_that_stalls_in_its_headers(
    session_engine: EngineEndpoint,
) -> None:
    """The engine's uvicorn (child.serve) has the header time limit: slowloris is cut off."""
    url = urlsplit(session_engine.base_url)
    limit = ServerConfig.header_timeout_s
    start = time.monotonic()
    with socket.create_connection((url.hostname, url.port), timeout=limit + 10) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert time.monotonic() - start < limit + 5
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"code": "timeout"' in answer


def test_client_disconnect_mid_stream_leaves_server_healthy(http: httpx.Client) -> None:
    body = {
        "messages": [{"role": "user", "content": "Count to one thousand."}],
        "max_tokens": 1000,
        "stream": True,
    }
    with http.stream("POST", CHAT, json=body) as response:
        assert response.status_code == 200
        for n, _line in enumerate(response.iter_lines()):
            if n > 6:
                break
    after = http.post(CHAT, json=GOOD)
    assert after.status_code == 200
    assert after.json()["choices"][0]["message"]["content"] is not None
