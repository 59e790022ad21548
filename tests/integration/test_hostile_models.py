"""Bad model files and hostile chat templates, sent to the real engine.

The hostile-model corpus (tests/helpers/hostile_models.py: cut-off downloads, bit
flips, lying counts, hyperparameters and vocabularies that made llama.cpp abort or
hang) goes through the pre-flight check, a live engine's /control/load (serving the
real model, which it keeps), and ``llmos serve --model``.
Each case is written from the real model, used and deleted before the next one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmos_desktop.core.engine.control.supervisor import EngineEndpoint, EngineSupervisor
from llmos_desktop.core.models.gguf import ModelFileError, check_model_file
from tests.helpers.engine import TEST_CTX, TEST_THREADS
from tests.helpers.hostile_models import CASES, HostileCase, written
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


# --- the hostile-model corpus -----------------------------------------------------------

SERVE = [sys.executable, "-m", "llmos_desktop.cli", "serve"]
PLENTY = 1 << 40  # memory: the corpus is about the file, not the machine
# What a native crash or a Python exception would leave on the terminal.
CRASH_TEXT = re.compile(r"Traceback|GGML_ASSERT|GGML_ABORT|terminate called|^#\d+ ", re.MULTILINE)


def _preflight(case: HostileCase, path: Path) -> list[str]:
    """What is wrong with the pre-flight check's answer to ``case`` (nothing: [])."""
    try:
        check_model_file(path, n_ctx=TEST_CTX, available_memory=PLENTY)
    except ModelFileError as exc:
        problems = []
        if exc.kind not in case.kinds:
            problems.append(f"kind {exc.kind}, expected one of {case.kinds or 'none'}")
        if case.text not in exc.message:
            problems.append(f"message lacks {case.text!r}")
        if "\n" in exc.message or "\r" in exc.message or path.name not in exc.message:
            problems.append("message is not one line naming the file")
        return [f"{case}: {p}: {exc.message!r}" for p in problems]
    except Exception as exc:  # the check must answer with a ModelFileError, nothing else
        return [f"{case}: raised {type(exc).__name__}: {exc}"]
    return [] if not case.kinds else [f"{case}: accepted, expected {case.kinds}"]


def _engine_load(case: HostileCase, client: httpx.Client, path: Path) -> list[str]:
    """What is wrong with the engine's answer to loading ``case``."""
    response = _load(client, path)
    if response.status_code == 200:
        return [f"{case}: the engine loaded it"]
    try:
        error = response.json()["error"]
    except (ValueError, KeyError):
        return [f"{case}: status {response.status_code} without an error body: {response.text!r}"]
    problems = []
    if case.kinds and error["code"] not in case.kinds:
        problems.append(f"code {error['code']}, expected one of {case.kinds}")
    message = str(error["message"])
    if "\n" in message or path.name not in message:
        problems.append("message is not one line naming the file")
    if case.engine not in message:
        problems.append(f"message lacks {case.engine!r}")
    return [f"{case}: {p}: {message!r}" for p in problems]


def test_hostile_models_get_one_line_and_the_engine_lives_on(
    engine: tuple[EngineSupervisor, httpx.Client], model_path: Path, tmp_path: Path
) -> None:
    """Every case: a one-line ModelFileError from the check (or, for the few llama.cpp
    refuses cleanly by itself or the engine's probe catches, no error), and a one-line
    error from /control/load on an engine serving the real model, which it still serves
    after each; the engine process is the same one at the end and still answers a chat."""
    supervisor, client = engine
    pid = supervisor.pid
    assert _load(client, model_path).status_code == 200
    problems: list[str] = []
    for case in CASES:
        with written(case, model_path, tmp_path) as path:
            problems += _preflight(case, path)
            try:
                problems += _engine_load(case, client, path)
                serving = _status(client)["model_path"]
            except httpx.HTTPError as exc:  # the engine died under the load
                problems.append(f"{case}: no answer ({type(exc).__name__}); the engine died")
                break
            if serving != str(model_path):
                problems.append(f"{case}: the engine serves {serving!r} afterwards")
    assert not problems, "\n".join(problems)
    assert supervisor.pid == pid and supervisor.last_failure is None
    assert _chat(client).status_code == 200


def test_llmos_serve_refuses_hostile_models_in_one_line(model_path: Path, tmp_path: Path) -> None:
    """``llmos serve --model FILE``: exit status 1 or 2 and one ``llmos: error:`` line on
    stderr, with no traceback and no llama.cpp backtrace on the terminal."""

    def serve(case: HostileCase) -> list[str]:
        with written(case, model_path, tmp_path) as path:
            result = subprocess.run(
                [*SERVE, "--model", str(path), "--port", "0"],
                capture_output=True,
                text=True,
                timeout=120,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        problems: list[str] = []
        errors = [line for line in result.stderr.splitlines() if line.startswith("llmos: error:")]
        if result.returncode not in (1, 2):
            problems.append(f"{case}: exit status {result.returncode}")
        if len(errors) != 1 or path.name not in errors[0] or case.engine not in errors[0]:
            problems.append(f"{case}: error lines {errors!r}")
        if CRASH_TEXT.search(result.stderr + result.stdout):
            problems.append(f"{case}: crash text on the terminal: {result.stderr[-500:]!r}")
        return problems

    # Two commands at a time (each file has its own name): the test's time is mostly
    # Python starting, once per case.
    with ThreadPoolExecutor(max_workers=2) as pool:
        problems = [problem for found in pool.map(serve, CASES) for problem in found]
    assert not problems, "\n".join(problems)
