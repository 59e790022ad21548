"""What is measured: our engine, the direct llama-cpp-python worker, llama_cpp.server.

Every chat target streams one reply and returns a ``StreamResult``:

- ``Server``: an OpenAI-compatible server (our engine, or llama_cpp.server, the peer)
  streamed with the official ``openai`` client;
- ``AppClientServer``: our engine through the app's own client (``EngineClient``,
  httpx + httpx-sse), as the GUI streams;
- ``DirectBaseline``: ``llama_cpp.Llama.generate`` in a worker process
  (``direct_worker``), which answers with a plain dict instead.

``start_engine`` starts our engine as the app does (``EngineSupervisor``, then
``POST /control/load``); ``start_peer`` starts ``python -m llama_cpp.server``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import httpx
from openai import OpenAI, Stream
from openai.types.chat import ChatCompletionChunk

from benchmarks.engine.common import N_CTX, greedy
from benchmarks.engine.direct_worker import READY_LINE, RESULT_PREFIX
from benchmarks.engine.processes import CpuUse, Processes, cpu_delta, cpu_snapshot, free_port
from llmos_desktop.core.engine.contract import ModelLoad
from llmos_desktop.core.engine.control.client import ChatResult, EngineClient
from llmos_desktop.core.engine.control.supervisor import EngineEndpoint, EngineSupervisor

# The variants' names, as the tables print them.
DIRECT = "direct"
ENGINE = "engine"
ENGINE_APP = "engine, app's client"
PEER = "llama_cpp.server"

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class StreamResult:
    ttft_s: float | None  # request sent -> first content chunk
    tokens_per_s: float | None  # (tokens - 1) / (t_last_chunk - t_first_chunk)
    chunks: int
    text: str
    finish: str | None
    server_tokens_per_s: float | None = None
    server_ttft_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    client_cpu_s: float = 0.0
    server_cpu: CpuUse | None = None


class ChatTarget(Protocol):
    name: str
    pid: int

    def chat(self, messages: list[dict[str, str]], max_tokens: int) -> StreamResult: ...


def stream_rate(times: Sequence[float], completion_tokens: int | None) -> float | None:
    """Tokens/s as a client sees them: tokens after the first chunk / first to last chunk.

    Our engine may gather fast tokens into one chunk, so tokens are counted from the
    reply's usage (the first chunk carries exactly one token; a test checks it). A server
    without usage sends one chunk per token, so chunks count tokens there.
    """
    n = len(times)
    if n < 2 or times[-1] <= times[0]:
        return None
    tokens = completion_tokens if completion_tokens is not None else n
    return (tokens - 1) / (times[-1] - times[0])


# --------------------------------------------------------------------------------------
# The direct baseline: llama_cpp.Llama in its own process (no HTTP, no client)
# --------------------------------------------------------------------------------------


class DirectBaseline:
    def __init__(self, procs: Processes, model: Path, threads: int, log_path: Path) -> None:
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in close()
        command = [sys.executable, "-m", "benchmarks.engine.direct_worker", str(model)]
        self.proc = procs.add(
            subprocess.Popen(
                [*command, str(threads)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log,
                text=True,
                cwd=REPO_ROOT,  # where ``-m benchmarks...`` is found
            )
        )
        self.procs = procs
        self._expect(READY_LINE)

    def _expect(self, prefix: str) -> str:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
        raise RuntimeError(f"direct worker exited (code {self.proc.wait()}); see its log")

    def generate(self, message: str, max_tokens: int) -> dict[str, Any]:
        assert self.proc.stdin is not None
        before = cpu_snapshot(self.proc.pid)
        self.proc.stdin.write(json.dumps({"message": message, "max_tokens": max_tokens}) + "\n")
        self.proc.stdin.flush()
        result: dict[str, Any] = json.loads(self._expect(RESULT_PREFIX))
        use = cpu_delta(self.proc.pid, before, cpu_snapshot(self.proc.pid))
        result["server_cpu"] = use
        return result

    def close(self) -> None:
        self.procs.stop(self.proc)
        self._log.close()


# --------------------------------------------------------------------------------------
# Streaming through an OpenAI-compatible server with the official client
# --------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    client: OpenAI
    model: str
    pid: int
    usage: bool  # whether the server honours stream_options.include_usage

    def chat(self, messages: list[dict[str, str]], max_tokens: int) -> StreamResult:
        # max_tokens, temperature and the other sampling fields, not all of them OpenAI's
        body = greedy(max_tokens).request_fields()
        kwargs: dict[str, Any] = {}
        if self.usage:
            kwargs["stream_options"] = {"include_usage": True}
        before = cpu_snapshot(self.pid)
        cpu0 = time.process_time()
        sent = time.perf_counter()
        stream = cast(
            "Stream[ChatCompletionChunk]",
            self.client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                stream=True,
                extra_body=body,
                **kwargs,
            ),
        )
        times: list[float] = []
        parts: list[str] = []
        finish: str | None = None
        timings: dict[str, Any] | None = None
        usage: Any = None
        with stream:
            for chunk in stream:
                now = time.perf_counter()
                if chunk.choices:
                    choice = chunk.choices[0]
                    content = choice.delta.content if choice.delta else None
                    if content:
                        times.append(now)
                        parts.append(content)
                    if choice.finish_reason:
                        finish = choice.finish_reason
                extra_fields = chunk.model_extra or {}
                if extra_fields.get("timings"):
                    timings = extra_fields["timings"]
                if chunk.usage is not None:
                    usage = chunk.usage
        client_cpu = time.process_time() - cpu0
        server_cpu = cpu_delta(self.pid, before, cpu_snapshot(self.pid))
        n = len(times)
        result = StreamResult(
            ttft_s=times[0] - sent if times else None,
            tokens_per_s=stream_rate(times, usage.completion_tokens if usage else None),
            chunks=n,
            text="".join(parts),
            finish=finish,
            client_cpu_s=client_cpu,
            server_cpu=server_cpu,
        )
        if timings:
            result.server_tokens_per_s = timings.get("tokens_per_s")
            result.server_ttft_s = timings.get("ttft_s")
        if usage is not None:
            result.prompt_tokens = usage.prompt_tokens
            result.completion_tokens = usage.completion_tokens
            details = getattr(usage, "prompt_tokens_details", None)
            if details is not None:
                result.cached_tokens = getattr(details, "cached_tokens", None)
        return result


def make_client(base_url: str, key: str) -> OpenAI:
    return OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0, timeout=600)


class AppClientServer:
    """Our engine through the app's own async client (httpx + httpx-sse), as the GUI streams."""

    def __init__(self, name: str, endpoint: EngineEndpoint) -> None:
        self.name = name
        self.pid = endpoint.pid
        self._loop = asyncio.new_event_loop()
        self._client = EngineClient(endpoint.base_url, endpoint.token)

    def chat(self, messages: list[dict[str, str]], max_tokens: int) -> StreamResult:
        times: list[float] = []
        parts: list[str] = []
        out = ChatResult()
        sampling = greedy(max_tokens)

        async def consume() -> None:
            stream = self._client.stream_chat(messages, out, sampling=sampling)
            async for delta in stream:
                if delta.text:
                    times.append(time.perf_counter())
                    parts.append(delta.text)

        before = cpu_snapshot(self.pid)
        cpu0 = time.process_time()
        sent = time.perf_counter()
        self._loop.run_until_complete(consume())
        client_cpu = time.process_time() - cpu0
        server_cpu = cpu_delta(self.pid, before, cpu_snapshot(self.pid))
        n = len(times)
        details = out.usage.get("prompt_tokens_details") or {}
        return StreamResult(
            ttft_s=times[0] - sent if times else None,
            tokens_per_s=stream_rate(times, out.usage.get("completion_tokens")),
            chunks=n,
            text="".join(parts),
            finish=out.finish_reason,
            server_tokens_per_s=out.timings.get("tokens_per_s"),
            server_ttft_s=out.timings.get("ttft_s"),
            prompt_tokens=out.usage.get("prompt_tokens"),
            completion_tokens=out.usage.get("completion_tokens"),
            cached_tokens=details.get("cached_tokens"),
            client_cpu_s=client_cpu,
            server_cpu=server_cpu,
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._loop.run_until_complete(self._client.aclose())
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()


# --------------------------------------------------------------------------------------
# Our engine
# --------------------------------------------------------------------------------------


@dataclass
class EngineStart:
    ready_s: float
    loaded_s: float


def app_prompt_cache_bytes() -> int:
    """The prompt cache size the app gives its engine by default (the one use of Settings)."""
    from llmos_desktop.core.settings import Settings

    return Settings().prompt_cache_mb * 1024 * 1024


def start_engine(
    procs: Processes, model: Path, threads: int, log_path: Path
) -> tuple[EngineSupervisor, EngineEndpoint, EngineStart]:
    supervisor = EngineSupervisor(
        log_path=log_path, ready_timeout=120, cache_bytes=app_prompt_cache_bytes()
    )
    procs.supervisors.append(supervisor)
    load = ModelLoad(path=str(model), n_ctx=N_CTX, n_threads=threads)
    t0 = time.perf_counter()
    endpoint = supervisor.start()
    ready = time.perf_counter() - t0
    response = httpx.post(
        f"{endpoint.base_url}/control/load",
        json=load.model_dump(exclude_unset=True),  # path, n_ctx, n_threads
        headers={"Authorization": f"Bearer {endpoint.token}"},
        timeout=300,
    )
    loaded = time.perf_counter() - t0
    if response.status_code != 200:
        raise RuntimeError(f"engine load failed: {response.status_code} {response.text}")
    return supervisor, endpoint, EngineStart(ready, loaded)


def stop_engine(procs: Processes, supervisor: EngineSupervisor) -> None:
    supervisor.stop()
    if supervisor in procs.supervisors:
        procs.supervisors.remove(supervisor)


# --------------------------------------------------------------------------------------
# llama-cpp-python's own server, the peer
# --------------------------------------------------------------------------------------


def start_peer(
    procs: Processes, model: Path, threads: int, log_path: Path
) -> tuple[subprocess.Popen[bytes], str, float]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--n_ctx",
        str(N_CTX),
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
        "--chat_format",
        "gemma",
        # Its default (True) copies every token's logits row out of llama.cpp; ours and
        # the direct loop do not, so the peer is compared with it off (fairer to it).
        "--logits_all",
        "False",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with open(log_path, "ab") as log_file:
        t0 = time.perf_counter()
        proc = procs.add(
            subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT
            )
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}; see {log_path}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/v1/models", timeout=2).status_code == 200:
                break
        if time.monotonic() > deadline:
            raise RuntimeError(f"llama_cpp.server did not become ready; see {log_path}")
        time.sleep(0.05)
    return proc, base_url, time.perf_counter() - t0
