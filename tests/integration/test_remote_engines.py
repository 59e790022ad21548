"""Remote engines that are really other server processes: a second ``llmos serve`` on
another port, and llama-cpp-python's own OpenAI-compatible server
(``python -m llama_cpp.server``, a third-party implementation). On each: the check, a
chat of two turns and a Continue, a structured store app, and ``llmos chat --engine`` /
``llmos apps run --engine`` as a user runs them.

Both serve SmolLM2-135M-Instruct (the starter: a chat template, fast on two cores) with
an API key. Failures that no real server produces on cue (a stream cut half way, a
stall, a redirect to another host) are in tests/unit/core/engines (the fault server).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from llmos_desktop.core.apps.runner import AppRunner
from llmos_desktop.core.chat.options import ChatOptions
from llmos_desktop.core.chat.session import ChatSession, Outcome, ReplyEnded
from llmos_desktop.core.chat.store import ChatStore
from llmos_desktop.core.engine.contract import SamplingOptions
from llmos_desktop.core.engines.service import EnginesService
from llmos_desktop.core.engines.types import (
    RemoteAPIError,
    RemoteEngineConfig,
    RemoteErrorKind,
    ServerKind,
)
from llmos_desktop.core.paths import app_paths
from tests.helpers import app_samples
from tests.helpers.cli import assert_ok

pytestmark = [pytest.mark.model, pytest.mark.slow]

KEY = "sk-remote-test-key"


@dataclass(frozen=True)
class Served:
    kind: ServerKind
    base_url: str
    model: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(proc: subprocess.Popen[str], base_url: str, log: Path) -> str:
    """The served model's id, once the server answers /models."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited: {log.read_text()[-2000:]}")
        try:
            answer = httpx.get(
                f"{base_url}/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=2
            )
            if answer.status_code == 200 and answer.json()["data"]:
                return str(answer.json()["data"][0]["id"])
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"the server did not answer in time: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()  # SIGTERM: llmos serve stops its engine child first
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@pytest.fixture(scope="module", params=["llmos", "llama_cpp"])
def served(
    request: pytest.FixtureRequest,
    chat_model_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp(f"served-{request.param}")
    log = folder / "server.log"
    port = _free_port()
    env = {**os.environ, "LLMOS_HOME": str(folder / "home")}
    if request.param == "llmos":
        command = [
            sys.executable, "-m", "llmos_desktop.cli", "serve", "--model", str(chat_model_path),
            "--port", str(port), "--api-key", KEY, "--threads", "2", "--ctx", "2048",
        ]  # fmt: skip
        kind = ServerKind.LLMOS
    else:
        command = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(chat_model_path),
            "--host", "127.0.0.1", "--port", str(port), "--api_key", KEY,
            "--n_threads", "2", "--n_ctx", "2048", "--verbose", "False",
        ]  # fmt: skip
        kind = ServerKind.LLAMA_CPP_PYTHON
    base_url = f"http://127.0.0.1:{port}/v1"
    with log.open("w") as out:
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
    try:
        model = _wait_ready(proc, base_url, log)
        yield Served(kind, base_url, model)
    finally:
        _stop(proc)


@pytest.fixture
def engines(served: Served, no_keyring_env: None) -> Iterator[EnginesService]:
    service = EnginesService(app_paths().ensure(), use_keyring=False)
    service.add(RemoteEngineConfig(name="remote", base_url=served.base_url), KEY)
    yield service
    asyncio.run(service.aclose())


@pytest.fixture
def no_keyring_env() -> None:
    """Nothing to set: the test machine has no keyring (keys go to the 0600 file); the
    service is made with ``use_keyring=False`` so that a developer's keychain is never
    touched either."""


def test_check_finds_the_model_and_the_server(engines: EnginesService, served: Served) -> None:
    async def go() -> None:
        check = await engines.check("remote")
        assert check.ok and check.authorised is True
        assert check.models == (served.model,)
        assert check.server_kind == served.kind
        engines.set_api_key("remote", "sk-wrong")
        refused = await engines.check("remote")
        assert refused.reachable and refused.authorised is False
        assert refused.error is not None and refused.error.kind == RemoteErrorKind.UNAUTHORIZED
        await engines.aclose()

    asyncio.run(go())


def test_a_chat_of_two_turns_and_a_continue(
    engines: EnginesService, served: Served, tmp_path: Path
) -> None:
    store = ChatStore(tmp_path / "chats.db")
    options = ChatOptions(sampling=SamplingOptions(temperature=0.0, max_tokens=16))
    session = ChatSession(engines.engine_for("remote", served.model), store=store, defaults=options)

    async def go() -> tuple[ReplyEnded, ReplyEnded, ReplyEnded]:
        try:
            first = await session.send("What is the capital of France?")
            second = await session.send("And of Italy?")
            assert second.message is not None
            more = await session.continue_reply(second.message.id)
            return first, second, more
        finally:
            await engines.aclose()

    first, second, more = asyncio.run(go())
    for ended in (first, second):
        assert ended.outcome == Outcome.DONE, ended.error
        assert ended.text.strip()
        assert ended.message is not None
        assert ended.message.meta["model"] == f"remote · {served.model}"
        assert ended.message.meta["tokens_per_s"] > 0
        if served.kind == ServerKind.LLMOS:  # llama_cpp.server streams no usage
            assert ended.result.usage.get("completion_tokens", 0) > 0
    assert second.message is not None and second.message.status == "incomplete"  # 16 tokens
    assert len(session.thread) == 4
    if served.kind == ServerKind.LLMOS:  # LLMOS's extensions: its n_ctx, and Continue
        assert first.result.n_ctx == 2048
        assert more.outcome == Outcome.DONE and more.text
        assert more.message is not None and more.message.content.startswith(second.text)
    else:  # llama_cpp.server cannot continue a reply: said, and nothing changes
        assert more.outcome == Outcome.FAILED
        assert isinstance(more.error, RemoteAPIError)
        assert more.error.kind == RemoteErrorKind.UNSUPPORTED
        assert store.message(second.message.id).content == second.text
    assert store.options(session.conversation_id or 0).engine == "remote"
    store.close()


def test_a_structured_app_follows_its_schema(engines: EnginesService, served: Served) -> None:
    app = app_samples.app("structured")

    async def go() -> object:
        runner = AppRunner(engines.engine_for("remote", served.model))
        try:
            result = await runner.run_to_end(app, {"text": "Anna Berg is 34 and lives in Oslo."})
            return result.data
        finally:
            await engines.aclose()

    data = asyncio.run(go())
    assert isinstance(data, dict) and set(data) == {"name", "city", "age"}
    assert isinstance(data["age"], int)


def test_llmos_chat_and_apps_run_on_the_engine(served: Served) -> None:
    env = {**os.environ, "REMOTE_KEY": KEY}

    def llmos(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "llmos_desktop.cli", *args],
            capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    assert_ok(llmos("engines", "add", "remote", served.base_url, "--api-key-env", "REMOTE_KEY"))
    listed = json.loads(assert_ok(llmos("engines", "list", "--json")).stdout)
    assert listed[0]["reachable"] is True and listed[0]["models"] == [served.model]
    chat = assert_ok(llmos("chat", "--engine", "remote", "--max-tokens", "12", "Say hello."))
    assert chat.stdout.strip()
    chats = json.loads(assert_ok(llmos("chats", "list", "--json")).stdout)
    assert chats[0]["model"] == served.model
    poem = assert_ok(
        llmos(
            "apps",
            "run",
            "llmos.poem",
            "--engine",
            "remote",
            "-i",
            "subject=sea",
            "--max-tokens",
            "16",
        )
    )
    assert poem.stdout.strip()
