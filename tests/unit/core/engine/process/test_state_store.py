"""The disk store of conversation states: found by model and token prefix, checked before
use, inside its budget, written off the caller's thread and atomically.

The store keeps opaque bytes, so these tests use made-up states (the runtime's use of it
with llama.cpp's real states is in test_runtime_states.py and tests/integration).
"""

from __future__ import annotations

import json
import os
import struct
import threading
import time
from pathlib import Path

import pytest

from llmos_desktop.core.engine.process.state_store import (
    MAGIC,
    PART_SUFFIX,
    SUFFIX,
    StateStore,
    model_identity,
)

MB = 1 << 20
MODEL = "a" * 64
OTHER = "b" * 64


def _state(n: int, seed: int = 1) -> bytearray:
    return bytearray((seed * 7 + i * 13) % 251 for i in range(n))


def _store(folder: Path, budget: int = 8 * MB, warnings: list[str] | None = None) -> StateStore:
    sink = warnings if warnings is not None else []
    return StateStore(folder, budget, on_warning=sink.append)


def _save(store: StateStore, tokens: list[int], state: bytearray, model: str = MODEL) -> None:
    store.submit(model, "/models/m.gguf", tokens, state)
    assert store.flush(10), "the writer did not finish"


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*" + SUFFIX))


CONVERSATION = list(range(1, 201))


def test_a_saved_state_is_found_by_its_longest_prefix_and_read_back(tmp_path: Path) -> None:
    store = _store(tmp_path)
    state = _state(10_000)
    _save(store, CONVERSATION, state)
    _save(store, [1, 2, 3, *range(900, 960)], _state(5_000, 2))

    entry, matched = store.lookup(MODEL, [*CONVERSATION, 7, 8, 9])
    assert entry is not None and matched == len(CONVERSATION)
    assert list(entry.tokens) == CONVERSATION
    assert store.read(entry) == state
    # A changed conversation shares only its beginning.
    entry, matched = store.lookup(MODEL, [*CONVERSATION[:50], 999, *CONVERSATION[51:]])
    assert entry is not None and matched == 50
    assert store.lookup(MODEL, [5, 6, 7]) == (None, 0)
    assert store.status()["entries"] == 2 and store.status()["written"] == 2


def test_states_survive_a_restart_of_the_store(tmp_path: Path) -> None:
    _save(_store(tmp_path), CONVERSATION, _state(4_000))
    again = _store(tmp_path)
    entry, matched = again.lookup(MODEL, CONVERSATION)
    assert entry is not None and matched == len(CONVERSATION)
    assert again.read(entry) == _state(4_000)


def test_another_models_states_are_not_found_but_kept(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _save(store, CONVERSATION, _state(4_000), model=OTHER)
    assert store.lookup(MODEL, CONVERSATION) == (None, 0)
    assert len(_files(tmp_path)) == 1, "still good for the model it was made with"


def test_states_of_a_model_file_that_changed_are_deleted(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.submit(OTHER, "/models/m.gguf", CONVERSATION, _state(4_000))
    store.submit(OTHER, "/models/elsewhere.gguf", [9, *CONVERSATION], _state(4_000))
    assert store.flush(10)
    store.forget_other_versions(MODEL, "/models/m.gguf")
    assert len(_files(tmp_path)) == 1
    assert store.lookup(OTHER, [9, *CONVERSATION])[1] == len(CONVERSATION) + 1


def test_a_longer_state_of_the_same_conversation_replaces_the_shorter(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _save(store, CONVERSATION[:100], _state(2_000))
    _save(store, CONVERSATION, _state(4_000))
    assert len(_files(tmp_path)) == 1
    entry, _ = store.lookup(MODEL, CONVERSATION[:100])
    assert entry is not None and list(entry.tokens) == CONVERSATION


def test_the_budget_evicts_the_least_recently_used_first(tmp_path: Path) -> None:
    store = _store(tmp_path, budget=3 * MB)
    conversations = [[n, *range(100, 140)] for n in (1, 2, 3, 4)]
    for tokens in conversations[:3]:
        _save(store, tokens, _state(900_000, tokens[0]))
        time.sleep(0.02)  # distinct times of last use
    used, _ = store.lookup(MODEL, conversations[0])
    assert used is not None
    store.touch(used)  # the oldest, but just used again
    _save(store, conversations[3], _state(900_000, 4))

    left = [store.lookup(MODEL, t)[0] is not None for t in conversations]
    assert left == [True, False, True, True]
    assert sum(p.stat().st_size for p in _files(tmp_path)) <= 3 * MB
    # The order of use survives a restart (it is the files' modification time).
    again = _store(tmp_path, budget=2 * MB)
    assert [again.lookup(MODEL, t)[0] is not None for t in conversations] == [
        True,
        False,
        False,
        True,
    ]


def test_a_state_larger_than_the_budget_is_not_written(tmp_path: Path) -> None:
    store = _store(tmp_path, budget=1 * MB)
    _save(store, CONVERSATION, _state(2 * MB))
    assert _files(tmp_path) == [] and store.status()["written"] == 0


def test_a_budget_of_zero_stores_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path, budget=0)
    _save(store, CONVERSATION, _state(100))
    assert not store.enabled and _files(tmp_path) == []
    assert store.lookup(MODEL, CONVERSATION) == (None, 0)


def test_entries_longer_than_the_context_are_skipped(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _save(store, CONVERSATION, _state(1_000))
    assert store.lookup(MODEL, CONVERSATION, max_tokens=150) == (None, 0)
    assert store.lookup(MODEL, CONVERSATION, max_tokens=200)[1] == 200


# --- files that must not be used --------------------------------------------------------


def _saved_file(tmp_path: Path) -> Path:
    _save(_store(tmp_path), CONVERSATION, _state(50_000))
    [path] = _files(tmp_path)
    return path


@pytest.mark.parametrize("cut", [1, 1000, 40_000])
def test_a_truncated_file_is_not_used_and_deleted(tmp_path: Path, cut: int) -> None:
    path = _saved_file(tmp_path)
    warnings: list[str] = []
    store = _store(tmp_path, warnings=warnings)  # indexed while whole
    entry, _ = store.lookup(MODEL, CONVERSATION)
    assert entry is not None
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    assert store.read(entry) is None
    assert not path.exists() and store.lookup(MODEL, CONVERSATION) == (None, 0)
    assert store.status()["rejected"] == 1 and "cut short" in warnings[0]
    # Cut before a store indexes it: not indexed, deleted at once.
    path = _saved_file(tmp_path)
    path.write_bytes(path.read_bytes()[:-cut])
    assert _store(tmp_path).lookup(MODEL, CONVERSATION) == (None, 0)
    assert not path.exists()


@pytest.mark.parametrize("where", ["state", "tokens", "model"])
def test_a_damaged_file_fails_its_checksum_and_is_deleted(tmp_path: Path, where: str) -> None:
    path = _saved_file(tmp_path)
    data = bytearray(path.read_bytes())
    (length,) = struct.unpack("<I", data[len(MAGIC) : len(MAGIC) + 4])
    header_at = len(MAGIC) + 4
    tokens_at = header_at + length
    if where == "state":
        data[-20_000] ^= 0x01
    elif where == "tokens":
        data[tokens_at + 4 * 150 : tokens_at + 4 * 151] = struct.pack("<i", 999)
    else:  # a file that claims another model, its checksum unchanged
        header = json.loads(data[header_at:tokens_at])
        header["model"] = OTHER
        raw = json.dumps(header).encode()
        assert len(raw) == length
        data[header_at:tokens_at] = raw
    path.write_bytes(bytes(data))
    warnings: list[str] = []
    store = _store(tmp_path, warnings=warnings)
    model = OTHER if where == "model" else MODEL
    probe = CONVERSATION if where != "tokens" else [*CONVERSATION[:150], 999, *CONVERSATION[151:]]
    entry, _ = store.lookup(model, probe)
    assert entry is not None
    assert store.read(entry) is None
    assert not path.exists()
    assert "checksum" in warnings[0]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"GGUF" + b"\0" * 100,
        MAGIC + struct.pack("<I", 10) + b"not json!!",
        MAGIC + b"\xff" * 4,
    ],
)
def test_files_that_are_not_states_are_deleted_at_start(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / ("junk" + SUFFIX)
    bad.write_bytes(content)
    unrelated = tmp_path / "notes.txt"
    unrelated.write_text("mine")
    store = _store(tmp_path)
    assert store.status()["entries"] == 0 and not bad.exists()
    assert unrelated.read_text() == "mine", "only the store's own files are touched"


def test_a_file_deleted_under_the_store_is_a_miss(tmp_path: Path) -> None:
    path = _saved_file(tmp_path)
    store = _store(tmp_path)
    entry, _ = store.lookup(MODEL, CONVERSATION)
    assert entry is not None
    path.unlink()
    assert store.read(entry) is None
    assert store.lookup(MODEL, CONVERSATION) == (None, 0)


# --- writing ---------------------------------------------------------------------------


def test_submit_returns_at_once_and_the_writer_does_the_work(tmp_path: Path) -> None:
    store = _store(tmp_path, budget=256 * MB)
    state = _state(1000) * 64_000  # 64 MB
    started = time.perf_counter()
    store.submit(MODEL, "/m.gguf", CONVERSATION, state)
    submitted = time.perf_counter() - started
    assert store.pending == 1
    assert store.flush(60)
    assert submitted < 0.05, f"submit took {submitted:.3f} s"
    assert store.pending == 0 and len(_files(tmp_path)) == 1
    writers = [t for t in threading.enumerate() if t.name == "kv-state-writer"]
    assert writers and all(t.daemon for t in writers)


def test_a_queued_state_superseded_before_it_is_written_is_dropped(tmp_path: Path) -> None:
    store = _store(tmp_path)
    gate = threading.Event()
    store.submit(MODEL, "/m.gguf", [5, 6, 7], _state(100))  # starts the writer
    assert store.flush(10)
    real_write = store._write

    def slow_write(job: object) -> None:
        gate.wait(10)
        real_write(job)  # type: ignore[arg-type]

    store._write = slow_write  # type: ignore[method-assign]
    store.submit(MODEL, "/m.gguf", [9, *range(50)], _state(100))  # being written
    time.sleep(0.1)
    store.submit(MODEL, "/m.gguf", CONVERSATION[:100], _state(100))
    store.submit(MODEL, "/m.gguf", CONVERSATION, _state(200))  # supersedes the previous
    gate.set()
    assert store.flush(10)
    assert store.status()["written"] == 3
    assert store.lookup(MODEL, CONVERSATION)[1] == len(CONVERSATION)


def test_files_appear_whole_and_stale_temporary_files_are_removed(tmp_path: Path) -> None:
    _save(_store(tmp_path), CONVERSATION, _state(1000))
    assert not list(tmp_path.glob("*" + PART_SUFFIX)), "written under a temporary name"
    stale = tmp_path / (".stale" + PART_SUFFIX)
    fresh = tmp_path / (".fresh" + PART_SUFFIX)
    stale.write_bytes(b"half a state")
    fresh.write_bytes(b"another engine is writing this")
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    _store(tmp_path)
    assert not stale.exists() and fresh.exists()


def test_a_failed_write_is_counted_and_the_writer_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "states"
    warnings: list[str] = []
    store = _store(folder, warnings=warnings)
    folder.rmdir()
    _save(store, CONVERSATION, _state(100))
    assert store.status()["write_errors"] == 1 and "not written" in warnings[0]
    folder.mkdir()
    _save(store, CONVERSATION, _state(100))
    assert store.status()["written"] == 1


def test_a_folder_that_cannot_be_made_turns_the_store_off(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    warnings: list[str] = []
    store = _store(blocker / "states", warnings=warnings)
    assert not store.enabled and "off" in warnings[0]
    store.submit(MODEL, "/m.gguf", CONVERSATION, _state(10))
    assert store.flush(1) and store.lookup(MODEL, CONVERSATION) == (None, 0)


# --- the model's identity ----------------------------------------------------------------


def test_model_identity_changes_with_the_file_not_with_its_name(tmp_path: Path) -> None:
    model = tmp_path / "model.gguf"
    body = bytearray(b"GGUF" + bytes(range(256)) * 40_000)  # ~10 MB: head and tail hashed
    model.write_bytes(body)
    first = model_identity(model, extra="llama.cpp 1")
    assert model_identity(model, extra="llama.cpp 1") == first
    assert model_identity(model, extra="llama.cpp 2") != first, "another llama.cpp build"
    link = tmp_path / "link.gguf"
    link.symlink_to(model)
    assert model_identity(link, extra="llama.cpp 1") == first, "the real path counts"

    stat = model.stat()
    for at in (100, len(body) - 100):  # the header, the end of the weights
        changed = bytearray(body)
        changed[at] ^= 0xFF
        model.write_bytes(changed)
        os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and time
        assert model.stat().st_mtime_ns == stat.st_mtime_ns
        assert model_identity(model, extra="llama.cpp 1") != first, at
    model.write_bytes(body)
    assert model_identity(model, extra="llama.cpp 1") != first, "a new modification time"
    with pytest.raises(OSError):
        model_identity(tmp_path / "missing.gguf")
