"""Helpers for tests that run the real engine process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from llmos_desktop.core.engine.supervisor import EngineEndpoint, EngineSupervisor

TEST_CTX = 4096
TEST_THREADS = 2


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
