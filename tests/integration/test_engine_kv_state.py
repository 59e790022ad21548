"""A conversation reopened after the engine restarts is not read again: its KV state was
saved on disk, and the new engine process restores it.

Real engine processes (EngineSupervisor, as the app starts them) with the real model, the
same state folder across the restart. The proof is the engine's own count of the prompt
tokens it did not have to evaluate (``cached_tokens``) and where they came from, not a
wall-clock time (benchmarks/kv_state.py measures the time to first token).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from llmos_desktop.core.engine.control.supervisor import EngineEndpoint, EngineSupervisor
from llmos_desktop.core.engine.process.state_store import SUFFIX
from tests.helpers.engine import load_model

pytestmark = [pytest.mark.model, pytest.mark.slow]


def _conversation() -> list[dict[str, str]]:
    """About 2,000 tokens: a system prompt, a long first message, a reply, a question."""
    notes = " ".join(
        f"Day {i}: the wind came from the {('north', 'west', 'south', 'east')[i % 4]}, "
        f"{i % 7 + 2} ships passed the cape, and the keeper saw {i % 5 + 1} seals on the "
        "rocks below the lighthouse before the fog came in from the sea."
        for i in range(44)
    )
    return [
        {"role": "system", "content": "You answer questions about the keeper's log."},
        {"role": "user", "content": f"Here is the keeper's log.\n\n{notes}"},
        {"role": "assistant", "content": "I have read the log."},
        {"role": "user", "content": "On which day did the most ships pass?"},
    ]


def _start(model_path: Path, log: Path, states: Path | None) -> tuple[Any, EngineEndpoint]:
    extra: dict[str, Any] = {"state_dir": states, "state_budget_mb": 512} if states else {}
    supervisor = EngineSupervisor(log_path=log, ready_timeout=60, **extra)
    endpoint = supervisor.start()
    try:
        load_model(endpoint, model_path)
    except Exception:
        supervisor.stop()
        raise
    return supervisor, endpoint


def _chat(endpoint: EngineEndpoint, messages: list[dict[str, str]]) -> dict[str, Any]:
    """A greedy, seeded reply, and the engine's status right after it."""
    headers = {"Authorization": f"Bearer {endpoint.token}"}
    with httpx.Client(base_url=endpoint.base_url, headers=headers, timeout=280) as http:
        reply = http.post(
            "/v1/chat/completions",
            json={"messages": messages, "max_tokens": 8, "temperature": 0, "seed": 11},
        )
        assert reply.status_code == 200, reply.text
        status = http.get("/control/status").json()
    data: dict[str, Any] = reply.json()
    data["status"] = status
    return data


def test_a_conversation_reopened_after_a_restart_is_not_evaluated_again(
    model_path: Path, tmp_path: Path
) -> None:
    states = tmp_path / "kv-states"
    first_turns = _conversation()

    supervisor, endpoint = _start(model_path, tmp_path / "a.log", states)
    try:
        first = _chat(endpoint, first_turns)
    finally:
        # At once, as a user who quits right after the reply: the engine finishes
        # writing the state before it exits.
        supervisor.stop()
    prompt_tokens = first["usage"]["prompt_tokens"]
    assert 1_800 <= prompt_tokens <= 2_600
    assert len(list(states.glob("*" + SUFFIX))) == 1

    reopened = [
        *first_turns,
        {"role": "assistant", "content": first["choices"][0]["message"]["content"]},
        {"role": "user", "content": "And on which day did the keeper see the most seals?"},
    ]
    supervisor, endpoint = _start(model_path, tmp_path / "b.log", states)
    try:
        after_restart = _chat(endpoint, reopened)
    finally:
        supervisor.stop()
    last = after_restart["status"]["last_request"]
    assert last["restored_from"] == "disk"
    assert last["cached_tokens"] >= prompt_tokens
    evaluated = last["prompt_tokens"] - last["cached_tokens"]
    assert evaluated <= 0.05 * last["prompt_tokens"], "only the new question is evaluated"
    assert after_restart["status"]["kv_states"]["read"] == 1

    # The same reply as an engine that had to evaluate all of it.
    supervisor, endpoint = _start(model_path, tmp_path / "c.log", None)
    try:
        cold = _chat(endpoint, reopened)
    finally:
        supervisor.stop()
    assert cold["status"]["last_request"]["cached_tokens"] == 0
    assert cold["status"]["kv_states"] is None
    assert cold["usage"]["prompt_tokens"] == after_restart["usage"]["prompt_tokens"]
    assert (
        cold["choices"][0]["message"]["content"]
        == after_restart["choices"][0]["message"]["content"]
    )
