"""Saved KV states of recent conversations, so switching back to a chat reuses its prefix."""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass, field

# Below this many tokens a cached state is not worth the copy.
MIN_CACHED_TOKENS = 32


@dataclass
class CacheEntry:
    tokens: list[int]
    state: bytearray  # written by llama.cpp in place; never modified afterwards


@dataclass
class PromptCache:
    """Found by longest token prefix; least recently used entries go first (bounded bytes)."""

    capacity_bytes: int
    entries: collections.OrderedDict[int, CacheEntry] = field(
        default_factory=collections.OrderedDict
    )
    _next_id: int = 0

    @property
    def size_bytes(self) -> int:
        return sum(len(entry.state) for entry in self.entries.values())

    def lookup(self, tokens: Sequence[int]) -> tuple[CacheEntry | None, int]:
        best: CacheEntry | None = None
        best_len = 0
        best_key = -1
        for key, entry in self.entries.items():
            n = common_prefix(entry.tokens, tokens)
            if n > best_len:
                best, best_len, best_key = entry, n, key
        if best is not None:
            self.entries.move_to_end(best_key)
        return best, best_len

    def store(self, tokens: list[int], state: bytearray) -> None:
        if len(state) > self.capacity_bytes:
            return
        # An entry that is a prefix of the new one is superseded by it.
        for key in [
            k for k, e in self.entries.items() if common_prefix(e.tokens, tokens) == len(e.tokens)
        ]:
            del self.entries[key]
        self.entries[self._next_id] = CacheEntry(tokens, state)
        self._next_id += 1
        while self.size_bytes > self.capacity_bytes and self.entries:
            self.entries.popitem(last=False)

    def clear(self) -> None:
        self.entries.clear()


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading items ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
