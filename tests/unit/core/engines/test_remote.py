"""RemoteEngine against the fault server: every way a remote server misbehaves gives its
own kind of error and a message a person can act on; the key goes to the engine's own
origin only; streams of every shape give the same reply.

The fault server (tests/helpers/openai_faults.py) is a real HTTP server on a thread;
no server that exists can be made to fail on cue, which is why it stands in here. The
real servers (a second ``llmos serve``, ``llama_cpp.server``) are in
tests/integration/test_remote_engines.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from llmos_desktop.core.engine.contract import ModelLoad, SamplingOptions
from llmos_desktop.core.engines.remote import (
    RemoteChatResult,
    RemoteClient,
    RemoteEngine,
    check_client,
    server_kind_of,
)
from llmos_desktop.core.engines.types import (
    EngineCheck,
    RemoteAPIError,
    RemoteConnectionError,
    RemoteEngineConfig,
    RemoteErrorKind,
    ServerKind,
)
from tests.helpers.openai_faults import REASONING, REPLY, FaultServer, self_signed_context

T = TypeVar("T")
KEY = "sk-fault-test"
HELLO = [{"role": "user", "content": "Hello"}]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def checked(client: RemoteClient) -> EngineCheck:
    """``check_client`` and the client closed, on one loop."""

    async def go() -> EngineCheck:
        try:
            return await check_client(client)
        finally:
            await client.aclose()

    return run(go())


def client_of(server: FaultServer, key: str | None = KEY, **config: Any) -> RemoteClient:
    values: dict[str, Any] = {"name": "faulty", "base_url": server.base_url("localhost")}
    values.update(config)
    return RemoteClient(RemoteEngineConfig.model_validate(values), key)


async def reply(
    client: RemoteClient, model: str, **kwargs: Any
) -> tuple[str, RemoteChatResult, Exception | None]:
    """What streamed before the end, the result, and the error it ended with (if any)."""
    result = RemoteChatResult()
    text = ""
    error: Exception | None = None
    try:
        async for delta in RemoteEngine(client, model).stream_chat(HELLO, result, **kwargs):
            text += delta.text
    except Exception as exc:
        error = exc
    finally:
        await client.aclose()
    return text, result, error


@pytest.mark.parametrize("model", ["one", "many", "no-usage", "reasoning", "redirect-same"])
def test_every_stream_shape_gives_the_whole_reply(faults: FaultServer, model: str) -> None:
    text, result, error = run(reply(client_of(faults), model))
    assert error is None
    assert text == REPLY == result.text
    assert result.finish_reason == "stop"
    assert (result.usage.get("completion_tokens") is None) == (model == "no-usage")
    # the reasoning never leaks into the reply, and is kept apart
    assert result.reasoning == (REASONING if model == "reasoning" else "")
    assert result.timings["ttft_s"] >= 0
    assert result.timings["tokens_per_s"] > 0  # measured here: the server sends no timings


def test_each_request_carries_the_model_and_only_openai_sampling_to_an_unknown_server(
    faults: FaultServer,
) -> None:
    sampling = SamplingOptions(temperature=0.2, top_k=5, min_p=0.1, max_tokens=30, seed=7)
    _text, _result, error = run(reply(client_of(faults), "one", sampling=sampling, truncate=True))
    assert error is None
    body = next(r.body for r in faults.requests if r.path == "/v1/chat/completions")
    assert body["model"] == "one"
    assert body["messages"] == HELLO
    assert body["temperature"] == 0.2 and body["max_tokens"] == 30 and body["seed"] == 7
    # llama.cpp's fields and LLMOS's extensions are not sent to a server that may refuse them
    for field in ("top_k", "min_p", "repeat_penalty", "truncate", "continue_final_message"):
        assert field not in body


def test_continuing_a_reply_on_a_server_that_cannot_is_refused_before_sending(
    faults: FaultServer,
) -> None:
    _text, _result, error = run(reply(client_of(faults), "one", continue_final=True))
    assert isinstance(error, RemoteAPIError)
    assert error.kind == RemoteErrorKind.UNSUPPORTED
    assert "regenerate" in error.message
    assert not any(r.path == "/v1/chat/completions" for r in faults.requests)


@pytest.mark.parametrize(
    ("model", "kind", "says", "partial"),
    [
        ("drop", RemoteErrorKind.BROKEN, "broke in the middle of the reply", "Hello from the"),
        ("cut", RemoteErrorKind.BROKEN, "ended before it was complete", "Hello from the"),
        ("stall", RemoteErrorKind.TIMEOUT, "sent nothing for 1 s", "Hello from"),
        ("stall-first", RemoteErrorKind.TIMEOUT, "timeout is a setting", ""),
        ("500", RemoteErrorKind.SERVER_ERROR, "HTTP 500: CUDA out of memory on worker 3", ""),
        ("error-event", RemoteErrorKind.SERVER_ERROR, "the worker died", "Hello from"),
        ("vllm-error", RemoteErrorKind.SERVER_ERROR, "prompt too long for max_model_len", ""),
        ("html", RemoteErrorKind.BAD_RESPONSE, "is http://localhost", ""),
        ("gpt-9", RemoteErrorKind.NOT_FOUND, "does not serve the model 'gpt-9'", ""),
    ],
)
def test_each_failure_has_its_kind_and_message(
    faults: FaultServer, model: str, kind: RemoteErrorKind, says: str, partial: str
) -> None:
    text, result, error = run(reply(client_of(faults, timeout_s=1.0), model))
    assert isinstance(error, RemoteAPIError | RemoteConnectionError), error
    assert error.kind == kind
    assert says in str(error)
    assert "faulty" in str(error)  # which engine, when several are set up
    assert text == partial == result.text  # what arrived is there for the session to keep


def test_an_unknown_model_names_the_models_that_are_served(faults: FaultServer) -> None:
    _text, _result, error = run(reply(client_of(faults), "gpt-9"))
    assert isinstance(error, RemoteAPIError) and error.status == 404
    assert "it serves: one, many" in error.message


@pytest.mark.parametrize("key", ["sk-wrong", None])
def test_a_refused_or_missing_key_says_where_to_set_it(
    faults: FaultServer, key: str | None
) -> None:
    _text, _result, error = run(reply(client_of(faults, key=key), "one"))
    assert isinstance(error, RemoteAPIError)
    assert error.kind == RemoteErrorKind.UNAUTHORIZED and error.status == 401
    assert "Settings → Engines" in error.message
    assert ("none is set" in error.message) == (key is None)
    assert "sk-wrong" not in error.message


def test_the_key_never_goes_to_another_host(faults: FaultServer, other_host: FaultServer) -> None:
    _text, _result, error = run(reply(client_of(faults), "redirect"))
    assert isinstance(error, RemoteAPIError)
    assert error.kind == RemoteErrorKind.REDIRECT
    assert f"redirected to http://127.0.0.2:{other_host.port}" in error.message
    assert "not followed" in error.message
    assert other_host.requests == []  # neither the key nor the prompt went there
    sent = [r for r in faults.requests if r.path == "/v1/chat/completions"]
    assert sent and sent[0].headers["authorization"] == f"Bearer {KEY}"


def test_a_redirect_within_the_origin_is_followed_with_the_key(faults: FaultServer) -> None:
    text, _result, error = run(reply(client_of(faults), "redirect-same"))
    assert error is None and text == REPLY
    alt = [r for r in faults.requests if r.path == "/v1/alt/chat/completions"]
    assert alt and alt[0].headers["authorization"] == f"Bearer {KEY}"


def test_an_unreachable_server_says_so() -> None:
    with FaultServer() as server:
        url = server.base_url()
    client = RemoteClient(RemoteEngineConfig(name="gone", base_url=url), KEY)  # closed port
    _text, _result, error = run(reply(client, "one"))
    assert isinstance(error, RemoteConnectionError)
    assert error.kind == RemoteErrorKind.UNREACHABLE
    assert "could not connect to 127.0.0.1" in str(error) and "is the server running" in str(error)


def test_tls_is_verified_and_a_ca_file_makes_it_trusted(tmp_path: Path) -> None:
    with FaultServer(tls=self_signed_context(tmp_path)) as server:
        base = {"name": "tls", "base_url": server.base_url()}
        untrusted = RemoteClient(RemoteEngineConfig.model_validate(base), KEY)
        _text, _result, error = run(reply(untrusted, "one"))
        assert isinstance(error, RemoteConnectionError)
        assert error.kind == RemoteErrorKind.TLS
        assert "not trusted" in str(error) and "CA file" in str(error)
        assert server.requests == []  # the key was never sent
        trusted = RemoteClient(
            RemoteEngineConfig.model_validate({**base, "ca_file": str(tmp_path / "cert.pem")}), KEY
        )
        text, _result, error = run(reply(trusted, "one"))
        assert error is None and text == REPLY
        unchecked = RemoteClient(
            RemoteEngineConfig.model_validate({**base, "verify_tls": False}), KEY
        )
        check = checked(unchecked)
        assert check.ok and any("TLS certificate checks are off" in w for w in check.warnings)


def test_a_ca_file_that_is_not_one_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    config = RemoteEngineConfig(name="x", base_url="https://h/v1", ca_file=str(bad))
    with pytest.raises(RemoteConnectionError) as caught:
        RemoteClient(config, None)
    assert caught.value.kind == RemoteErrorKind.TLS and str(bad) in str(caught.value)


def test_check_reports_reachable_authorised_and_models(faults: FaultServer) -> None:
    client = client_of(faults)
    check = checked(client)
    assert check.ok and check.reachable and check.authorised is True
    assert "one" in check.models and check.server_kind == ServerKind.UNKNOWN
    assert check.warnings == ()  # loopback over http: nothing to warn about

    wrong = client_of(faults, key="sk-wrong")
    refused = checked(wrong)
    assert refused.reachable and refused.authorised is False and refused.models == ()
    assert refused.error is not None and refused.error.kind == RemoteErrorKind.UNAUTHORIZED


def test_check_of_a_base_url_without_v1_hints_at_it(faults: FaultServer) -> None:
    client = RemoteClient(RemoteEngineConfig(name="x", base_url=faults.origin), KEY)
    check = checked(client)
    assert check.reachable and check.error is not None
    assert check.error.kind == RemoteErrorKind.NOT_FOUND
    assert f"is the OpenAI base URL {faults.origin}/v1?" in check.error.message


def test_check_warns_when_a_key_would_travel_unencrypted() -> None:
    config = RemoteEngineConfig(name="lan", base_url="http://192.0.2.1:9/v1", connect_timeout_s=0.5)
    client = RemoteClient(config, KEY)
    check = checked(client)
    assert not check.reachable and check.authorised is None
    assert any("unencrypted" in w for w in check.warnings)


def test_a_remote_engine_loads_nothing_and_names_itself(faults: FaultServer) -> None:
    engine = RemoteEngine(client_of(faults), "one")
    assert engine.needs_restart is False
    assert engine.loaded.path == "one" and engine.loaded.alias == "faulty · one"

    async def load() -> None:
        try:
            async for _ in engine.load(ModelLoad(path="/m.gguf")):
                pass
        finally:
            await engine.client.aclose()

    with pytest.raises(RemoteAPIError) as caught:
        run(load())
    assert caught.value.kind == RemoteErrorKind.UNSUPPORTED


@pytest.mark.parametrize(
    ("title", "owners", "kind"),
    [
        ("LLMOS engine", [], ServerKind.LLMOS),
        ("🦙 llama.cpp Python API", ["me"], ServerKind.LLAMA_CPP_PYTHON),
        (None, ["llamacpp"], ServerKind.LLAMA_CPP),
        ("FastAPI", ["vllm"], ServerKind.VLLM),
        (None, ["library"], ServerKind.OLLAMA),
        (None, ["fault-server"], ServerKind.UNKNOWN),
    ],
)
def test_the_server_kind_guess(title: str | None, owners: list[str], kind: ServerKind) -> None:
    assert server_kind_of(title, owners) == kind
