"""The runtime's chat prompts: which turns ``truncate`` drops, continuing a reply, why a
reply ended; on the real Gemma model (its built-in template) where tokens matter."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from llmos_desktop.core.engine.contract import ErrorKind, ModelLoad, SamplingOptions
from llmos_desktop.core.engine.process.runtime import (
    EngineRuntime,
    EngineRuntimeError,
    LogTap,
    _droppable_turns,
    _reply_reserve,
)

T = TypeVar("T")
N_CTX = 512


def _m(role: str, content: str = "x") -> dict[str, Any]:
    return {"role": role, "content": content}


def test_turns_start_at_user_messages_and_leave_system_and_the_question() -> None:
    messages = [
        _m("system"),  # 0 kept
        _m("assistant"),  # 1 a greeting before any question: a turn of its own
        _m("user"),  # 2
        _m("assistant"),  # 3
        _m("tool"),  # 4
        _m("system"),  # 5 kept, also in the middle
        _m("user"),  # 6
        _m("assistant"),  # 7
        _m("user"),  # 8 the question: kept
    ]
    assert _droppable_turns(messages) == [[1], [2, 3, 4], [6, 7]]
    # An unfinished reply after the question (continue_final_message) is kept too.
    assert _droppable_turns([*messages, _m("assistant")]) == [[1], [2, 3, 4], [6, 7]]
    assert _droppable_turns([_m("system"), _m("user")]) == []
    assert _droppable_turns([_m("system"), _m("assistant")]) == []


@pytest.mark.parametrize(
    ("max_tokens", "reserve"), [(None, 128), (50, 50), (100_000, 256), (300, 256)]
)
def test_the_reply_reserve_is_max_tokens_up_to_half_the_context(
    max_tokens: int | None, reserve: int
) -> None:
    assert _reply_reserve(N_CTX, max_tokens) == reserve


# --- on the real model -------------------------------------------------------------------


@pytest.fixture(scope="module")
def runtime(model_path: Path) -> Iterator[EngineRuntime]:
    engine = EngineRuntime(log=LogTap(io.StringIO()))
    try:
        spec = ModelLoad(path=str(model_path), n_ctx=N_CTX, n_threads=2)
        engine.executor.submit(engine.load, spec).result(timeout=120)
        yield engine
    finally:
        engine.close()


def _on_worker(runtime: EngineRuntime, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return runtime.executor.submit(func, *args, **kwargs).result(timeout=120)


def _conversation(turns: int) -> list[dict[str, Any]]:
    messages = [_m("system", "Answer in one sentence.")]
    for i in range(turns):
        messages += [
            _m("user", f"Question {i}: what lives in the sea, near the coast?"),
            _m("assistant", f"Answer {i}: crabs, mussels, seals and many birds live there."),
        ]
    return [*messages, _m("user", "And far from the coast?")]


@pytest.mark.model
@pytest.mark.parametrize("max_tokens", [32, 200])
def test_truncate_drops_the_fewest_oldest_turns_that_make_room(
    runtime: EngineRuntime, max_tokens: int
) -> None:
    messages = _conversation(16)
    whole = _on_worker(runtime, runtime.chat_prompt, messages)
    assert len(whole.tokens) > N_CTX and whole.dropped_messages == 0

    prompt = _on_worker(
        runtime, runtime.chat_prompt, messages, truncate=True, max_tokens=max_tokens
    )
    turns = _droppable_turns(messages)
    # Brute force over every number of dropped turns, with the real tokenizer.
    lengths = []
    for k in range(len(turns) + 1):
        gone = {i for turn in turns[:k] for i in turn}
        kept = [m for i, m in enumerate(messages) if i not in gone]
        lengths.append(len(_on_worker(runtime, runtime.chat_prompt, kept).tokens))
    fewest = next(k for k, n in enumerate(lengths) if n + max_tokens <= N_CTX)
    assert prompt.dropped_messages == sum(len(turn) for turn in turns[:fewest]) > 0
    assert len(prompt.tokens) == lengths[fewest]
    assert prompt.stops == ("<end_of_turn>",)


@pytest.mark.model
def test_a_prompt_that_fits_only_without_the_reserve_is_served(runtime: EngineRuntime) -> None:
    question = [_m("user", "sea " * 420)]
    whole = _on_worker(runtime, runtime.chat_prompt, question)
    assert len(whole.tokens) + 128 > N_CTX > len(whole.tokens)
    prompt = _on_worker(runtime, runtime.chat_prompt, question, truncate=True)
    assert prompt.tokens == whole.tokens and prompt.dropped_messages == 0


@pytest.mark.model
def test_a_huge_conversation_is_truncated_without_tokenizing_all_of_it(
    runtime: EngineRuntime,
) -> None:
    # 8,000 turns (~1 MB of text): far more than 512 tokens can hold.
    messages = _conversation(8_000)
    prompt = _on_worker(runtime, runtime.chat_prompt, messages, truncate=True, max_tokens=64)
    assert len(prompt.tokens) + 64 <= N_CTX
    assert prompt.dropped_messages % 2 == 0, "whole turns"
    assert prompt.dropped_messages >= 2 * 7_990


@pytest.mark.model
def test_continue_final_renders_the_partial_reply_raw_after_the_generation_prompt(
    runtime: EngineRuntime,
) -> None:
    question = [_m("user", "Name a fish.")]
    plain = _on_worker(runtime, runtime.chat_prompt, question)
    partial = _on_worker(
        runtime,
        runtime.chat_prompt,
        [*question, _m("assistant", "A fish called")],
        continue_final=True,
    )
    assert partial.tokens[: len(plain.tokens)] == plain.tokens
    assert len(partial.tokens) > len(plain.tokens)
    with pytest.raises(EngineRuntimeError) as refused:
        _on_worker(runtime, runtime.chat_prompt, question, continue_final=True)
    assert refused.value.kind == ErrorKind.INVALID_PROMPT


@pytest.mark.model
def test_generation_says_whether_max_tokens_or_the_context_ended_it(
    runtime: EngineRuntime,
) -> None:
    tokens = _on_worker(runtime, runtime.text_prompt, "Once upon a time")
    cut = _on_worker(
        runtime,
        runtime.generate,
        tokens,
        SamplingOptions(max_tokens=5, temperature=0),
        threading.Event(),
    )
    assert (cut.finish_reason, cut.stopped_by, cut.n_ctx) == ("length", "max_tokens", N_CTX)
    # The base model writes on and on: 12 tokens of room end it at the context.
    long = _on_worker(runtime, runtime.text_prompt, "Once upon a time, " * 100)
    long = long[: N_CTX - 12]
    full = _on_worker(
        runtime, runtime.generate, long, SamplingOptions(temperature=0), threading.Event()
    )
    assert (full.finish_reason, full.stopped_by) == ("length", "context")
    assert full.completion_tokens == 12
