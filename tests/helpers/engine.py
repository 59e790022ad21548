"""Helpers for tests that run the real engine process."""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx
import openai

from llmos_desktop.core.engine.control.supervisor import EngineEndpoint, EngineSupervisor

TEST_CTX = 4096
TEST_THREADS = 2


def counted_stream(
    client: openai.OpenAI, content: str, *, max_tokens: int, temperature: float = 0.0
) -> Generator[tuple[str, int], None, None]:
    """Stream a one-message chat; yield (text, completion tokens so far) per text chunk.

    Uses continuous usage (vLLM's extension, which our engine supports): the engine may
    gather several tokens into one chunk, so chunks alone do not count tokens.
    """
    stream = client.chat.completions.create(
        model="x",
        messages=[{"role": "user", "content": content}],
        stream=True,
        max_tokens=max_tokens,
        temperature=temperature,
        # continuous_usage_stats is not in the openai client's types: sent as an extra.
        extra_body={"stream_options": {"include_usage": True, "continuous_usage_stats": True}},
    )
    with stream:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                assert chunk.usage is not None, "a text chunk without continuous usage"
                yield chunk.choices[0].delta.content, chunk.usage.completion_tokens


def load_model(endpoint: EngineEndpoint, model_path: Path, **extra: Any) -> dict[str, Any]:
    body = {"path": str(model_path), "n_ctx": TEST_CTX, "n_threads": TEST_THREADS, **extra}
    response = httpx.post(
        f"{endpoint.base_url}/control/load",
        json=body,
        headers={"Authorization": f"Bearer {endpoint.token}"},
        timeout=120,
    )
    if response.status_code != 200:
        raise RuntimeError(f"load failed: {response.status_code} {response.text}")
    data: dict[str, Any] = response.json()
    return data


def start_engine_with_model(
    model_path: Path, log_path: Path, **supervisor_args: Any
) -> tuple[EngineSupervisor, EngineEndpoint]:
    supervisor = EngineSupervisor(log_path=log_path, ready_timeout=60, **supervisor_args)
    endpoint = supervisor.start()
    try:
        load_model(endpoint, model_path)
    except Exception:
        supervisor.stop()
        raise
    return supervisor, endpoint


def sse_data(text: str) -> list[Any]:
    """The JSON payloads of an SSE body ('[DONE]' kept as a string)."""
    out: list[Any] = []
    for line in text.splitlines():
        if line.startswith("data:"):
            payload = line[5:].strip()
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out
