"""The real engine process on the real model, judged by the official openai client."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from llmos_desktop.core.engine.control.supervisor import EngineEndpoint
from tests.helpers.engine import counted_stream

pytestmark = pytest.mark.model

SEA = "Write three sentences about the sea."
PROMPT: list[ChatCompletionMessageParam] = [{"role": "user", "content": SEA}]


@pytest.fixture(scope="module")
def client(session_engine: EngineEndpoint) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{session_engine.base_url}/v1", api_key=session_engine.token, max_retries=0
    )


def _status(endpoint: EngineEndpoint) -> dict[str, Any]:
    response = httpx.get(
        f"{endpoint.base_url}/control/status", headers={"Authorization": f"Bearer {endpoint.token}"}
    )
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def test_models_lists_the_loaded_model(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == ["gemma-3-270m-q4_k_m"]


def test_chat_non_streaming_has_text_and_usage(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gemma-3-270m-q4_k_m", messages=PROMPT, max_tokens=24, temperature=0
    )
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    usage = reply.usage
    assert usage is not None
    assert usage.prompt_tokens > 5
    assert 1 <= usage.completion_tokens <= 24
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_streaming_equals_non_streaming_when_greedy(client: openai.OpenAI) -> None:
    args: dict[str, Any] = {"model": "x", "messages": PROMPT, "max_tokens": 32, "temperature": 0}
    whole = client.chat.completions.create(**args).choices[0].message.content
    chunks = list(
        client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **args)
    )
    text = "".join((c.choices[0].delta.content or "") for c in chunks if c.choices)
    assert text == whole
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) > 1, "the reply should arrive in pieces"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert len(content_chunks) <= chunks[-1].usage.completion_tokens
    assert any(c.choices and c.choices[0].finish_reason for c in chunks)


def test_stream_sends_the_first_token_at_once_and_counts_tokens(client: openai.OpenAI) -> None:
    """Later text may be gathered into fewer chunks; continuous usage says how many tokens."""
    counts: list[int] = []
    arrivals: list[float] = []
    text = ""
    for piece, tokens in counted_stream(client, SEA, max_tokens=40, temperature=0):
        text += piece
        counts.append(tokens)
        arrivals.append(time.monotonic())
    whole = client.chat.completions.create(model="x", messages=PROMPT, max_tokens=40, temperature=0)
    assert text == whole.choices[0].message.content
    assert whole.usage is not None
    assert counts[0] == 1, "the first token should not wait for later ones"
    assert counts == sorted(counts) and counts[-1] <= whole.usage.completion_tokens
    assert len(counts) > 1 and arrivals[-1] > arrivals[0], "text should stream, not come at the end"


def test_max_tokens_is_exact_and_reports_length(client: openai.OpenAI) -> None:
    reply = client.completions.create(
        model="x", prompt="Once upon a time", max_tokens=7, temperature=0
    )
    assert reply.usage is not None and reply.usage.completion_tokens == 7
    assert reply.choices[0].finish_reason == "length"
    assert reply.choices[0].text


def test_completion_streaming_and_stop_sequence(client: openai.OpenAI) -> None:
    base = client.completions.create(
        model="x", prompt="The capital of France is", max_tokens=30, temperature=0
    )
    text = base.choices[0].text
    words = text.split()
    assert len(words) >= 4, text
    stop = words[3]
    cut = text.index(stop)
    stopped = client.completions.create(
        model="x", prompt="The capital of France is", max_tokens=30, temperature=0, stop=[stop]
    )
    assert stopped.choices[0].text == text[:cut]
    assert stopped.choices[0].finish_reason == "stop"
    streamed = client.completions.create(
        model="x",
        prompt="The capital of France is",
        max_tokens=30,
        temperature=0,
        stop=[stop],
        stream=True,
    )
    assert "".join(c.choices[0].text for c in streamed if c.choices) == text[:cut]


def test_seed_makes_sampling_repeatable(client: openai.OpenAI) -> None:
    args: dict[str, Any] = {
        "model": "x",
        "messages": PROMPT,
        "max_tokens": 16,
        "temperature": 1.0,
        "seed": 1234,
    }
    first = client.chat.completions.create(**args).choices[0].message.content
    second = client.chat.completions.create(**args).choices[0].message.content
    assert first == second


def test_status_reports_backend_template_and_speed(
    session_engine: EngineEndpoint, client: openai.OpenAI
) -> None:
    client.chat.completions.create(model="x", messages=PROMPT, max_tokens=16, temperature=0)
    status = _status(session_engine)
    assert status["loaded"] is True
    assert status["backend"] in ("CPU", "CUDA", "Metal", "Vulkan", "ROCm", "SYCL", "OpenCL")
    assert isinstance(status["gpu_offload"], bool)
    assert status["chat_template_name"] == "gemma"
    assert "gemma3" in status["chat_template"]
    assert status["memory_rss_bytes"] > 50_000_000
    last = status["last_request"]
    assert last["ttft_s"] > 0 and last["tokens_per_s"] > 1 and last["prompt_tokens_per_s"] > 1
    assert status["tokens_in_context"] >= last["prompt_tokens"]


def test_continuing_a_chat_evaluates_only_new_tokens(client: openai.OpenAI) -> None:
    history: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Name a colour."}]
    first = client.chat.completions.create(
        model="x", messages=history, max_tokens=12, temperature=0
    )
    history += [
        {"role": "assistant", "content": first.choices[0].message.content or ""},
        {"role": "user", "content": "Name another one."},
    ]
    second = client.chat.completions.create(
        model="x", messages=history, max_tokens=12, temperature=0
    )
    assert second.usage is not None and second.usage.prompt_tokens_details is not None
    cached = second.usage.prompt_tokens_details.cached_tokens or 0
    assert cached >= first.usage.prompt_tokens - 1 if first.usage else False


def test_client_that_stops_reading_stops_generation(
    session_engine: EngineEndpoint, client: openai.OpenAI
) -> None:
    before = _status(session_engine)["requests_served"]
    received = 0
    stream = counted_stream(
        client, "Tell me a very long story about a dragon.", max_tokens=2000, temperature=0.8
    )
    for _text, received in stream:
        if received >= 5:
            break
    stream.close()  # closes the HTTP response: the client is gone
    deadline = time.monotonic() + 5
    status = _status(session_engine)
    while status["requests_served"] == before and time.monotonic() < deadline:
        time.sleep(0.05)
        status = _status(session_engine)
    assert status["requests_served"] == before + 1
    # `received` is the token count of the last text read; the server may hold up to one
    # chunk interval (about four tokens here) more, and the worker stops within about one token
    # of the disconnect.
    assert status["last_request"]["completion_tokens"] <= received + 10


def test_concurrent_streams_are_all_served_in_arrival_order(session_engine: EngineEndpoint) -> None:
    results: dict[int, tuple[float, float, str]] = {}
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            c = openai.OpenAI(
                base_url=f"{session_engine.base_url}/v1",
                api_key=session_engine.token,
                max_retries=0,
            )
            first = last = 0.0
            text = ""
            for chunk in c.chat.completions.create(
                model="x", messages=PROMPT, max_tokens=20, temperature=0, stream=True
            ):
                if chunk.choices and chunk.choices[0].delta.content:
                    now = time.monotonic()
                    first = first or now
                    last = now
                    text += chunk.choices[0].delta.content
            results[index] = (first, last, text)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = []
    for index in range(3):
        thread = threading.Thread(target=run, args=(index,))
        thread.start()
        threads.append(thread)
        time.sleep(0.15)  # a clear arrival order
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sorted(results) == [0, 1, 2]
    texts = {text for _, _, text in results.values()}
    assert len(texts) == 1 and next(iter(texts)), "greedy replies to the same prompt must agree"
    spans = [results[i] for i in range(3)]
    for earlier, later in itertools.pairwise(spans):
        assert later[0] >= earlier[1], "one at a time, in arrival order"
