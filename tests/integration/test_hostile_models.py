"""Bad model files and hostile chat templates, sent to the real engine."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmos_desktop.core.engine.control.supervisor import EngineEndpoint, EngineSupervisor
from tests.helpers.engine import TEST_CTX, TEST_THREADS
from tests.helpers.model_factory import copy_with_metadata

pytestmark = pytest.mark.model

ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "{{ joiner.__init__.__globals__['os'].system('touch MARKER') }}",
    "{% for m in messages %}{{ m.content.__class__.__base__.__subclasses__() }}{% endfor %}",
]
RUNAWAY = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[EngineSupervisor, httpx.Client]]:
    supervisor = EngineSupervisor(log_path=tmp_path / "engine.log")
    endpoint: EngineEndpoint = supervisor.start()
    with httpx.Client(
        base_url=endpoint.base_url,
        headers={"Authorization": f"Bearer {endpoint.token}"},
        timeout=120,
    ) as client:
        yield supervisor, client
    supervisor.stop()


def _load(client: httpx.Client, path: Path, **extra: Any) -> httpx.Response:
    return client.post(
        "/control/load",
        json={"path": str(path), "n_ctx": TEST_CTX, "n_threads": TEST_THREADS, **extra},
    )


def _chat(client: httpx.Client) -> httpx.Response:
    return client.post(
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4},
    )


def test_bad_files_get_clear_errors_and_the_engine_carries_on(
    engine: tuple[EngineSupervisor, httpx.Client], model_path: Path, tmp_path: Path
) -> None:
    supervisor, client = engine
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    noise = tmp_path / "noise.gguf"
    noise.write_bytes(os.urandom(4096))
    half = tmp_path / "half.gguf"
    with model_path.open("rb") as src:
        half.write_bytes(src.read(model_path.stat().st_size // 2))
    magic = tmp_path / "magic.gguf"
    with model_path.open("rb") as src:
        head = bytearray(src.read(1 << 20))
    head[0:4] = b"GGML"
    magic.write_bytes(bytes(head))
    version = tmp_path / "version.gguf"
    head[0:4] = b"GGUF"
    head[4:8] = (99).to_bytes(4, "little")
    version.write_bytes(bytes(head))

    cases = {
        tmp_path / "missing.gguf": ("missing", 404),
        empty: ("empty", 400),
        noise: ("not_gguf", 400),
        half: ("truncated", 400),
        magic: ("not_gguf", 400),
        version: ("unsupported_version", 400),
    }
    for path, (kind, status) in cases.items():
        response = _load(client, path)
        assert response.status_code == status, (path.name, response.text)
        error = response.json()["error"]
        assert error["code"] == kind, (path.name, error)
        assert path.name in error["message"] and "\n" not in error["message"]
    assert supervisor.running and supervisor.last_failure is None
    assert _load(client, model_path).status_code == 200
    assert _chat(client).status_code == 200


def _status(client: httpx.Client) -> dict[str, Any]:
    data: dict[str, Any] = client.get("/control/status").json()
    return data


@pytest.mark.parametrize("payload", ESCAPES)
def test_chat_template_cannot_escape_the_sandbox(
    engine: tuple[EngineSupervisor, httpx.Client], model_path: Path, tmp_path: Path, payload: str
) -> None:
    """A hostile template in the GGUF is refused at load; the model falls back to a safe one."""
    _supervisor, client = engine
    marker = tmp_path / "pwned"
    hostile = copy_with_metadata(
        model_path,
        tmp_path / "hostile.gguf",
        {"tokenizer.chat_template": payload.replace("MARKER", str(marker))},
    )
    assert _load(client, hostile).status_code == 200
    described = _status(client)["chat_template"]
    assert "unusable" in described and "gemma" in described, described
    assert _chat(client).status_code == 200
    assert not marker.exists()


def test_template_that_turns_hostile_later_gets_a_clear_error(
    engine: tuple[EngineSupervisor, httpx.Client], model_path: Path, tmp_path: Path
) -> None:
    """A payload hidden behind a condition passes the load-time check, then fails cleanly per request."""
    _supervisor, client = engine
    marker = tmp_path / "pwned"
    template = (
        "{% if 'open sesame' in messages[-1]['content'] %}"
        "{{ cycler.__init__.__globals__.os.popen('touch " + str(marker) + "').read() }}"
        "{% endif %}{% for m in messages %}{{ m['content'] }}{% endfor %}"
    )
    hostile = copy_with_metadata(
        model_path, tmp_path / "sleeper.gguf", {"tokenizer.chat_template": template}
    )
    assert _load(client, hostile).status_code == 200
    assert _status(client)["chat_template"] == "model's own chat template"
    response = client.post(
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "open sesame"}], "max_tokens": 4},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "chat_template_error"
    assert not marker.exists()
    assert _chat(client).status_code == 200


def test_runaway_template_is_stopped_in_time(
    engine: tuple[EngineSupervisor, httpx.Client], model_path: Path, tmp_path: Path
) -> None:
    supervisor, client = engine
    hostile = copy_with_metadata(
        model_path, tmp_path / "loop.gguf", {"tokenizer.chat_template": RUNAWAY}
    )
    started = time.monotonic()
    assert _load(client, hostile).status_code == 200
    assert time.monotonic() - started < 10.0
    described = _status(client)["chat_template"]
    assert "longer than" in described, described
    assert supervisor.running
    assert _chat(client).status_code == 200


def test_template_override_at_load_time(
    engine: tuple[EngineSupervisor, httpx.Client], model_path: Path
) -> None:
    _supervisor, client = engine
    bad = _load(client, model_path, chat_template="{% for %}")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_chat_template"
    good = _load(client, model_path, chat_template="chatml")
    assert good.status_code == 200
    assert good.json()["chat_template_name"] in ("chatml", "override")
    assert _chat(client).status_code == 200
