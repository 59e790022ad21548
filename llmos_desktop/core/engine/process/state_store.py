"""Saved KV states of recent conversations on disk, so one reopened after a restart is
not read again from the start.

Evaluating a long prompt on a CPU is slow (a 4,000-token conversation with a 7B model
takes minutes), and after a restart the engine's memory holds nothing. So after each
reply the runtime hands the conversation's KV state (bytes it has already copied out
of llama.cpp for the in-memory prompt cache) to this store, and a background thread
writes it to a file. When a request arrives that the context does not already hold,
the runtime asks the store for the entry of the same model with the longest common
token prefix, reads it and gives the state back to llama.cpp.

This module knows nothing of llama.cpp (the state is opaque bytes; llama_api saves and
restores it) and nothing of Qt. What it guarantees:

- **Keyed by the model file and the exact tokens.** ``model_identity`` is the file's
  real path, size, modification time and a hash of its first bytes (the GGUF header
  and metadata) and of its last ones, plus the caller's ``extra`` (the llama.cpp build,
  whose state format may change). The tokens are stored in the file; the prefix is
  compared token by token.
- **Checked before use.** A file starts with a magic, a JSON header and the tokens; a
  SHA-256 over the model key, the tokens and the state is checked on every read. A file
  that is cut short, damaged, from an unknown format or whose model file has changed
  at the same path is deleted and never used; the caller then evaluates the prompt as
  usual. A state llama.cpp refuses is deleted by the caller (``discard``).
- **Inside a budget.** The files (one per conversation: a longer state of the same
  conversation replaces the shorter one) stay under ``budget_bytes``; the least
  recently used go first. Last use is the file's modification time, so it survives
  restarts.
- **Off the request path, atomic.** ``submit`` only queues the bytes; the writer
  thread hashes and writes them to a temporary file and renames it into place, so a
  reader never sees a half-written file. A kill in the middle leaves a temporary file,
  removed at the next start.

Durability is not needed: this is a cache. Files are not fsynced; a file damaged by a
crash fails its checksum and is dropped.
"""

from __future__ import annotations

import array
import contextlib
import hashlib
import json
import os
import struct
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAGIC = b"LLMOSKV1"
SUFFIX = ".kvstate"
PART_SUFFIX = ".part"
FORMAT_VERSION = 1
# The model file's first and last bytes that go into its identity: the GGUF header and
# metadata (vocabularies make it several MB) and the end of the weights.
HEAD_BYTES = 8 << 20
TAIL_BYTES = 1 << 20
_MAX_HEADER_BYTES = 64 * 1024
_STALE_PART_S = 600.0  # a temporary file older than this was left by a killed writer


def model_identity(path: str | os.PathLike[str], extra: str = "") -> str:
    """The identity of a model file, as a hex string; the same file gives the same one.

    Raises OSError if the file cannot be read.
    """
    real = os.path.realpath(path)
    digest = hashlib.sha256()
    with open(real, "rb") as file:
        stat = os.fstat(file.fileno())
        digest.update(f"{real}\0{stat.st_size}\0{stat.st_mtime_ns}\0{extra}\0".encode())
        digest.update(file.read(HEAD_BYTES))
        if stat.st_size > HEAD_BYTES:
            file.seek(max(HEAD_BYTES, stat.st_size - TAIL_BYTES))
            digest.update(file.read(TAIL_BYTES))
    return digest.hexdigest()


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _token_bytes(tokens: Sequence[int]) -> bytes:
    """The tokens as little-endian int32."""
    packed = array.array("i", tokens)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def _tokens_from(data: bytes | bytearray | memoryview) -> array.array[int]:
    tokens = array.array("i")
    tokens.frombytes(data)
    if sys.byteorder == "big":
        tokens.byteswap()
    return tokens


def _checksum(model: str, tokens: bytes | memoryview, state: bytes | bytearray) -> str:
    digest = hashlib.sha256(model.encode())
    digest.update(tokens)
    digest.update(state)
    return digest.hexdigest()


@dataclass
class StoredState:
    """One file of the store, as the index knows it (its header, not its state)."""

    path: Path
    model: str
    model_path: str
    tokens: array.array[int]
    size: int  # bytes on disk
    last_used: float


@dataclass
class _Write:
    model: str
    model_path: str
    tokens: list[int]
    state: bytes | bytearray


@dataclass
class StoreCounters:
    written: int = 0
    read: int = 0  # states read back and found sound
    rejected: int = 0  # files deleted because they failed a check
    write_errors: int = 0


@dataclass
class _Header:
    model: str
    model_path: str
    n_tokens: int
    state_bytes: int
    sha256: str
    offset: int  # where the tokens begin
    extra: dict[str, Any] = field(default_factory=dict)


class StateStore:
    """A folder of saved KV states, an index of them in memory and a writer thread."""

    def __init__(
        self,
        folder: Path,
        budget_bytes: int,
        *,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self.folder = folder
        self.budget_bytes = max(0, budget_bytes)
        self.counters = StoreCounters()
        self._warn = on_warning or (lambda message: print(message, file=sys.stderr))
        self._lock = threading.Lock()  # the index
        self._index: dict[str, StoredState] = {}
        self._pending: list[_Write] = []
        self._busy = False
        self._wake = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._warn(f"saved conversation states are off: cannot create {folder}: {exc}")
            self.budget_bytes = 0
            return
        self._scan()

    @property
    def enabled(self) -> bool:
        return self.budget_bytes > 0

    # --- the index ----------------------------------------------------------------------

    def _scan(self) -> None:
        """Index the files in the folder (headers only); remove what cannot be used."""
        now = time.time()
        try:
            names = list(os.scandir(self.folder))
        except OSError as exc:
            self._warn(f"saved conversation states: cannot list {self.folder}: {exc}")
            return
        for item in names:
            path = Path(item.path)
            if item.name.endswith(PART_SUFFIX):
                with contextlib.suppress(OSError):
                    if now - item.stat().st_mtime > _STALE_PART_S:
                        path.unlink()
                continue
            if not item.name.endswith(SUFFIX):
                continue
            entry = self._read_index_entry(path)
            if entry is None:
                self._reject(path, "unreadable or damaged")
            else:
                self._index[str(path)] = entry
        with self._lock:
            self._evict_locked()

    def _read_index_entry(self, path: Path) -> StoredState | None:
        try:
            with open(path, "rb") as file:
                size = os.fstat(file.fileno()).st_size
                mtime = os.fstat(file.fileno()).st_mtime
                header = _read_header(file, size)
                if header is None:
                    return None
                file.seek(header.offset)
                raw = file.read(4 * header.n_tokens)
        except OSError:
            return None
        if len(raw) != 4 * header.n_tokens:
            return None
        return StoredState(path, header.model, header.model_path, _tokens_from(raw), size, mtime)

    def _reject(self, path: Path, why: str) -> None:
        self.counters.rejected += 1
        self._warn(f"saved conversation state {path.name} not used ({why}); deleted")
        with contextlib.suppress(OSError):
            path.unlink()
        with self._lock:
            self._index.pop(str(path), None)

    def lookup(
        self, model: str, tokens: Sequence[int], *, max_tokens: int | None = None
    ) -> tuple[StoredState | None, int]:
        """The entry of ``model`` sharing the longest token prefix with ``tokens``, and
        that length (0 if none). Entries longer than ``max_tokens`` are skipped (they
        would not fit the context)."""
        if not self.enabled:
            return None, 0
        best: StoredState | None = None
        best_len = 0
        with self._lock:
            candidates = [e for e in self._index.values() if e.model == model]
        for entry in candidates:
            if max_tokens is not None and len(entry.tokens) > max_tokens:
                continue
            if not entry.tokens or entry.tokens[0] != (tokens[0] if tokens else None):
                continue
            n = _common_prefix(entry.tokens, tokens)
            if n > best_len:
                best, best_len = entry, n
        return best, best_len

    def forget_other_versions(self, model: str, model_path: str) -> None:
        """Delete entries made with another file at ``model_path`` (it has changed since)."""
        real = os.path.realpath(model_path)
        with self._lock:
            stale = [e for e in self._index.values() if e.model_path == real and e.model != model]
        for entry in stale:
            self._reject(entry.path, "the model file has changed")

    def read(self, entry: StoredState) -> bytearray | None:
        """The state of ``entry``, checked; None (and the file deleted) if it fails a check."""
        try:
            with open(entry.path, "rb") as file:
                size = os.fstat(file.fileno()).st_size
                header = _read_header(file, size)
                if header is None:
                    self._reject(entry.path, "damaged or cut short")
                    return None
                file.seek(header.offset)
                raw_tokens = file.read(4 * header.n_tokens)
                state = bytearray(header.state_bytes)
                got = file.readinto(state)
        except FileNotFoundError:
            with self._lock:
                self._index.pop(str(entry.path), None)
            return None
        except OSError as exc:
            self._reject(entry.path, f"cannot be read: {exc}")
            return None
        if got != header.state_bytes or len(raw_tokens) != 4 * header.n_tokens:
            self._reject(entry.path, "cut short")
            return None
        if header.model != entry.model or _tokens_from(raw_tokens) != entry.tokens:
            self._reject(entry.path, "changed since it was indexed")
            return None
        if _checksum(header.model, raw_tokens, state) != header.sha256:
            self._reject(entry.path, "checksum mismatch")
            return None
        self.counters.read += 1
        return state

    def touch(self, entry: StoredState) -> None:
        """Mark ``entry`` as just used (it is evicted last)."""
        now = time.time()
        entry.last_used = now
        with contextlib.suppress(OSError):
            os.utime(entry.path, (now, now))

    def discard(self, entry: StoredState, why: str) -> None:
        """Delete an entry the caller could not use (llama.cpp refused its state)."""
        self._reject(entry.path, why)

    # --- writing ------------------------------------------------------------------------

    def submit(
        self, model: str, model_path: str, tokens: Sequence[int], state: bytes | bytearray
    ) -> None:
        """Queue a state for writing; returns at once. ``state`` must not change afterwards."""
        if not self.enabled or len(state) + 4 * len(tokens) + 4096 > self.budget_bytes:
            return
        job = _Write(model, os.path.realpath(model_path), list(tokens), state)
        with self._lock:
            same = [
                e
                for e in self._index.values()
                if e.model == model
                and len(e.tokens) == len(job.tokens)
                and e.tokens == array.array("i", job.tokens)
            ]
        if same:  # already on disk (a reply that added nothing): just used again
            self.touch(same[0])
            return
        with self._wake:
            # A queued state that this one extends is superseded: only the newest is written.
            self._pending = [
                p
                for p in self._pending
                if not (
                    p.model == job.model and _common_prefix(p.tokens, job.tokens) == len(p.tokens)
                )
            ]
            self._pending.append(job)
            # Never hold more queued bytes than the budget: the oldest queued go first.
            while sum(len(p.state) for p in self._pending) > self.budget_bytes:
                self._pending.pop(0)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="kv-state-writer", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    @property
    def pending(self) -> int:
        with self._wake:
            return len(self._pending) + (1 if self._busy else 0)

    def flush(self, timeout: float) -> bool:
        """Wait until every queued state is written (or ``timeout``); True if all were."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while self._pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(left)
        return True

    def close(self, timeout: float = 5.0) -> None:
        self.flush(timeout)
        with self._wake:
            self._closed = True
            self._wake.notify_all()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if self._closed and not self._pending:
                    return
                job = self._pending.pop(0)
                self._busy = True
            try:
                self._write(job)
            except Exception as exc:  # a full disk must not end the writer
                self.counters.write_errors += 1
                self._warn(f"saved conversation state not written: {exc}")
            finally:
                with self._wake:
                    self._busy = False
                    self._wake.notify_all()

    def _write(self, job: _Write) -> None:
        tokens = _token_bytes(job.tokens)
        header = json.dumps(
            {
                "format": FORMAT_VERSION,
                "model": job.model,
                "model_path": job.model_path,
                "n_tokens": len(job.tokens),
                "state_bytes": len(job.state),
                "sha256": _checksum(job.model, tokens, job.state),
                "created": time.time(),
            }
        ).encode()
        name = hashlib.sha256(job.model.encode() + tokens).hexdigest()[:32] + SUFFIX
        final = self.folder / name
        part = self.folder / f".{uuid.uuid4().hex}{PART_SUFFIX}"
        try:
            with open(part, "wb") as file:
                file.write(MAGIC)
                file.write(struct.pack("<I", len(header)))
                file.write(header)
                file.write(tokens)
                file.write(job.state)
            os.replace(part, final)
        except BaseException:
            with contextlib.suppress(OSError):
                part.unlink()
            raise
        size = final.stat().st_size
        entry = StoredState(
            final, job.model, job.model_path, _tokens_from(tokens), size, time.time()
        )
        superseded: list[StoredState] = []
        with self._lock:
            for other in self._index.values():
                if (
                    other.model == job.model
                    and other.path != final
                    and _common_prefix(other.tokens, entry.tokens) == len(other.tokens)
                ):
                    superseded.append(other)
            for other in superseded:
                del self._index[str(other.path)]
            self._index[str(final)] = entry
            self._evict_locked()
        for other in superseded:
            with contextlib.suppress(OSError):
                other.path.unlink()
        self.counters.written += 1

    def _evict_locked(self) -> None:
        """Delete the least recently used files until the rest fit the budget."""
        total = sum(e.size for e in self._index.values())
        for entry in sorted(self._index.values(), key=lambda e: e.last_used):
            if total <= self.budget_bytes:
                break
            with contextlib.suppress(OSError):
                entry.path.unlink()
            del self._index[str(entry.path)]
            total -= entry.size

    # --- information ----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        with self._lock:
            entries = len(self._index)
            size = sum(e.size for e in self._index.values())
        return {
            "folder": str(self.folder),
            "entries": entries,
            "bytes": size,
            "budget_bytes": self.budget_bytes,
            "pending_writes": self.pending,
            "written": self.counters.written,
            "read": self.counters.read,
            "rejected": self.counters.rejected,
            "write_errors": self.counters.write_errors,
        }


def _read_header(file: Any, size: int) -> _Header | None:
    """The header of an open state file, checked against the file's size; None if it is
    not one of ours, damaged or cut short."""
    start = file.read(len(MAGIC) + 4)
    if len(start) != len(MAGIC) + 4 or start[: len(MAGIC)] != MAGIC:
        return None
    (length,) = struct.unpack("<I", start[len(MAGIC) :])
    if length > _MAX_HEADER_BYTES:
        return None
    try:
        data = json.loads(file.read(length))
        header = _Header(
            model=str(data["model"]),
            model_path=str(data["model_path"]),
            n_tokens=int(data["n_tokens"]),
            state_bytes=int(data["state_bytes"]),
            sha256=str(data["sha256"]),
            offset=len(MAGIC) + 4 + length,
        )
        if data["format"] != FORMAT_VERSION:
            return None
    except (ValueError, KeyError, TypeError):
        return None
    if header.n_tokens <= 0 or header.state_bytes <= 0:
        return None
    if header.offset + 4 * header.n_tokens + header.state_bytes != size:
        return None
    return header
