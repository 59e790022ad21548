"""Who may call the server, and what a caller without the right key learns: keys, OPTIONS,
CORS, the control routes, the load path policy and the OpenAPI document.

The app is the engine's own (``create_app`` around a real EngineRuntime with no model),
called through Starlette's test client; the slow-client limits, which need a real
socket, are in test_limits.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from llmos_desktop.core.engine.process.runtime import EngineRuntime
from llmos_desktop.core.engine.process.server.app import create_app
from llmos_desktop.core.engine.process.server.config import ServerConfig

API_KEY = "api-key-123"
CONTROL_KEY = "control-key-456"
ORIGIN = "https://app.example"
REFUSED_LOAD = (
    "this server loads models only from its models folder and the files it was started with"
)


@pytest.fixture(scope="module")
def runtime() -> Iterator[EngineRuntime]:
    runtime = EngineRuntime(cache_bytes=0)
    yield runtime
    runtime.close()


def _client(runtime: EngineRuntime, **config: Any) -> TestClient:
    settings: dict[str, Any] = {"token": API_KEY, "control_token": CONTROL_KEY, **config}
    app = create_app(runtime, ServerConfig(**settings))
    return TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=True)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _code(response: Any) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    code: str = body["error"]["code"]
    return code


# --- OPTIONS ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/v1/models", "/v1/chat/completions", "/control/load", "/v1/no-such-route", "/x"]
)
def test_options_without_a_key_gets_the_same_401_as_any_request(
    runtime: EngineRuntime, path: str
) -> None:
    client = _client(runtime)
    options = client.options(path)
    post = client.post(path, json={})
    assert options.status_code == post.status_code == 401
    assert options.json() == post.json()
    assert _code(options) == "invalid_api_key"
    assert "allow" not in options.headers


def test_a_preflight_without_cors_origins_is_401_too(runtime: EngineRuntime) -> None:
    response = _client(runtime).options(
        "/v1/chat/completions",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 401
    assert "access-control-allow-origin" not in response.headers


# --- CORS -------------------------------------------------------------------------------


def test_a_preflight_from_an_allowed_origin_works_without_a_key(runtime: EngineRuntime) -> None:
    client = _client(runtime, cors_origins=(ORIGIN,))
    response = client.options(
        "/v1/chat/completions",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


def test_a_preflight_from_another_origin_is_401(runtime: EngineRuntime) -> None:
    client = _client(runtime, cors_origins=(ORIGIN,))
    response = client.options(
        "/v1/chat/completions",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 401
    assert "access-control-allow-origin" not in response.headers


def test_an_allowed_page_can_read_answers_and_errors(runtime: EngineRuntime) -> None:
    client = _client(runtime, cors_origins=(ORIGIN,))
    refused = client.get("/v1/models", headers={"Origin": ORIGIN})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == ORIGIN
    allowed = client.get("/v1/models", headers={"Origin": ORIGIN, **_auth(API_KEY)})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    other = client.get("/v1/models", headers={"Origin": "https://evil.example", **_auth(API_KEY)})
    assert other.status_code == 200
    assert "access-control-allow-origin" not in other.headers


def test_cors_does_not_skip_the_host_check(runtime: EngineRuntime) -> None:
    client = _client(runtime, cors_origins=(ORIGIN,))
    response = client.options(
        "/v1/models",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET", "Host": "evil.example"},
    )
    assert response.status_code == 403
    assert _code(response) == "host_not_allowed"


# --- two keys -------------------------------------------------------------------------------


def test_the_api_key_opens_v1_but_not_the_control_routes(runtime: EngineRuntime) -> None:
    client = _client(runtime)
    assert client.get("/v1/models", headers=_auth(API_KEY)).status_code == 200
    for method, path in (("GET", "/control/status"), ("POST", "/control/unload")):
        response = client.request(method, path, headers=_auth(API_KEY))
        assert response.status_code == 401, path
        assert _code(response) == "invalid_api_key"
    load = client.post("/control/load", json={"path": "/etc/passwd"}, headers=_auth(API_KEY))
    assert load.status_code == 401


def test_the_control_key_opens_both(runtime: EngineRuntime) -> None:
    client = _client(runtime)
    assert client.get("/v1/models", headers=_auth(CONTROL_KEY)).status_code == 200
    status = client.get("/control/status", headers={"X-API-Key": CONTROL_KEY})
    assert status.status_code == 200
    assert status.json()["loaded"] is False


def test_without_a_control_key_the_control_routes_do_not_exist(runtime: EngineRuntime) -> None:
    client = _client(runtime, control_token=None)
    for method, path in (
        ("GET", "/control/status"),
        ("POST", "/control/load"),
        ("POST", "/control/unload"),
    ):
        assert client.request(method, path).status_code == 401, path
        response = client.request(method, path, headers=_auth(API_KEY))
        assert response.status_code == 404, path
        assert response.json() == client.get("/v1/nowhere", headers=_auth(API_KEY)).json()
    assert "/control/status" not in client.get("/openapi.json").text


def test_serverconfig_with_one_token_has_no_control_routes(runtime: EngineRuntime) -> None:
    """The safe default: a caller that passes only ``token`` gets no control routes."""
    assert ServerConfig(token=API_KEY).control_token is None
    app = create_app(runtime, ServerConfig(token=API_KEY))
    client = TestClient(app, base_url="http://127.0.0.1")
    assert client.get("/control/status", headers=_auth(API_KEY)).status_code == 404


def test_an_open_v1_still_guards_the_control_routes(runtime: EngineRuntime) -> None:
    client = _client(runtime, token=None)
    assert client.get("/v1/models").status_code == 200
    assert client.get("/control/status").status_code == 401
    assert client.get("/control/status", headers=_auth(CONTROL_KEY)).status_code == 200


def test_keys_are_compared_whole(runtime: EngineRuntime) -> None:
    client = _client(runtime)
    for key in (API_KEY[:-1], API_KEY + "x", CONTROL_KEY[:-1], "", API_KEY.upper()):
        assert client.get("/v1/models", headers=_auth(key)).status_code == 401, key


# --- the load path policy -------------------------------------------------------------------


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A models folder, a model file started with (outside it), and a folder outside both."""
    models = tmp_path / "models"
    models.mkdir()
    started = tmp_path / "started" / "chosen.gguf"
    started.parent.mkdir()
    started.write_bytes(b"not a model")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.gguf").write_bytes(b"GGUF" + b"\0" * 60)
    return models, started, outside


def _load(client: TestClient, path: str, *, stream: bool = False) -> Any:
    return client.post(
        "/control/load", json={"path": path, "stream": stream}, headers=_auth(CONTROL_KEY)
    )


def test_paths_outside_the_load_roots_are_refused_alike(
    runtime: EngineRuntime, roots: tuple[Path, Path, Path]
) -> None:
    models, started, outside = roots
    fifo = outside / "pipe.gguf"
    os.mkfifo(fifo)
    escape = models / "escape.gguf"
    escape.symlink_to(outside / "secret.gguf")
    client = _client(runtime, load_roots=(models, started))
    answers = {
        path: _load(client, path)
        for path in (
            "../../etc/passwd",
            "/etc/passwd",
            "/etc",
            "/dev/null",
            "/proc/self/status",
            str(fifo),
            str(outside / "secret.gguf"),
            str(outside / "no-such.gguf"),
            str(models / ".." / "outside" / "secret.gguf"),
            str(escape),  # a symlink inside the folder to a file outside it
            str(started.parent / "other.gguf"),  # next to a started file is not the file
            str(started) + "x",
            "\0",
        )
    }
    for path, response in answers.items():
        assert response.status_code == 403, path
        assert response.json() == {
            "error": {
                "message": REFUSED_LOAD,
                "type": "permission_error",
                "param": "path",
                "code": "invalid_value",
            }
        }, path
    streamed = _load(client, "/etc/passwd", stream=True)
    assert streamed.status_code == 403
    assert streamed.json()["error"]["message"] == REFUSED_LOAD


def test_paths_inside_the_load_roots_reach_the_file_check(
    runtime: EngineRuntime, roots: tuple[Path, Path, Path]
) -> None:
    models, started, _outside = roots
    (models / "sub").mkdir()
    (models / "sub" / "bad.gguf").write_bytes(b"not a model either")
    client = _client(runtime, load_roots=(models, started))
    assert _code(_load(client, str(models / "sub" / "bad.gguf"))) == "not_gguf"
    assert _code(_load(client, str(started))) == "not_gguf"
    missing = _load(client, str(models / "missing.gguf"))
    assert (missing.status_code, _code(missing)) == (404, "missing")


def test_without_load_roots_any_path_reaches_the_file_check(runtime: EngineRuntime) -> None:
    """The app's own engine: only the app holds the control key, and loads what the user chose."""
    response = _load(_client(runtime), "/etc/passwd")
    assert response.status_code == 400
    assert _code(response) == "not_gguf"


# --- the OpenAPI document -------------------------------------------------------------------


@pytest.fixture(scope="module")
def document(runtime: EngineRuntime) -> dict[str, Any]:
    response = _client(runtime).get("/openapi.json")  # no key
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


def _responses(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    responses: dict[str, Any] = document["paths"][path][method]["responses"]
    return responses


def test_the_document_is_open_and_lists_only_what_programs_call(document: dict[str, Any]) -> None:
    assert set(document["paths"]) == {
        "/health",
        "/v1/models",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
    }


def test_validation_errors_are_documented_as_400_with_the_error_body(
    document: dict[str, Any],
) -> None:
    error_ref = "#/components/schemas/ErrorResponse"
    for path in ("/v1/chat/completions", "/v1/completions"):
        responses = _responses(document, path, "post")
        for status in ("400", "401", "403", "408", "409", "413"):
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": error_ref}, (path, status)
    assert "422" not in _responses(document, "/v1/completions", "post")
    # The one 422 is the chat template's refusal, an error body too.
    chat_422 = _responses(document, "/v1/chat/completions", "post")["422"]
    assert chat_422["content"]["application/json"]["schema"] == {"$ref": error_ref}
    assert "HTTPValidationError" not in str(document)
    error = document["components"]["schemas"]["ErrorDetail"]
    assert set(error["properties"]) == {"message", "type", "param", "code"}


def test_streamed_replies_are_documented_as_event_streams(document: dict[str, Any]) -> None:
    for path in ("/v1/chat/completions", "/v1/completions"):
        content = _responses(document, path, "post")["200"]["content"]
        assert set(content) == {"application/json", "text/event-stream"}


def test_the_key_is_a_bearer_scheme_on_every_route_but_health(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearer"]["description"],
    }
    assert schemes["apiKey"]["in"] == "header" and schemes["apiKey"]["name"] == "X-API-Key"
    for path, operations in document["paths"].items():
        for operation in operations.values():
            if path == "/health":
                assert "security" not in operation
                assert "401" not in operation["responses"]
            else:
                assert operation["security"] == [{"bearer": []}, {"apiKey": []}], path
                assert "401" in operation["responses"], path


def test_an_open_server_documents_no_key(runtime: EngineRuntime) -> None:
    document = _client(runtime, token=None).get("/openapi.json").json()
    assert "securitySchemes" not in document.get("components", {})
    for operations in document["paths"].values():
        for operation in operations.values():
            assert "security" not in operation
            assert "401" not in operation["responses"]


def test_the_document_needs_a_loopback_host_like_everything_else(runtime: EngineRuntime) -> None:
    response = _client(runtime).get("/openapi.json", headers={"Host": "evil.example"})
    assert response.status_code == 403


def test_the_chat_extensions_are_documented(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    request = schemas["ChatCompletionRequest"]["properties"]
    assert request["truncate"]["enum"] == ["none", "oldest"]
    assert request["truncate"]["default"] == "none"
    assert request["continue_final_message"] == {
        **request["continue_final_message"],
        "type": "boolean",
        "default": False,
    }
    reply = schemas["ChatCompletion"]
    assert "llmos" in reply["required"]
    info = schemas["LlmosInfo"]
    assert set(info["required"]) == {"n_ctx", "prompt_tokens", "dropped_messages", "stopped_by"}
    assert info["properties"]["stopped_by"]["enum"] == ["stop", "max_tokens", "context"]
    refusals = _responses(document, "/v1/chat/completions", "post")["400"]["description"]
    assert "continue_final_message" in refusals and "invalid_prompt" in refusals
