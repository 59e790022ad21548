"""The engine's request log: the last requests to ``/v1/*``, whoever sent them.

One ``RequestLog`` per engine process, shared by every listener (the app's own and the
window's API listener), so the Developer page sees the window's chats and other
programs' requests in one list, in the order they finished. It is a ring of the last
``capacity`` entries in memory (nothing is written to disk), guarded by a lock: the
event loop adds entries, any thread may read them.

An entry holds what a developer checks (route, client address, status, tokens in and
out, time to first token, tokens/s, duration, error code) and never the prompt text,
unless ``log_prompts`` is on (the Developer page's switch, off by default); even then
a prompt is cut to ``MAX_PROMPT_CHARS``.

The guard (``guard.GuardMiddleware``) opens an entry when a ``/v1/*`` request arrives
(so refusals such as a wrong key are logged too) and closes it when the answer has been
sent; the routes fill in the tokens and timings through ``entry_of(scope)``. While open,
an entry counts as in flight for its listener (``busy``).
"""

from __future__ import annotations

import collections
import secrets
import threading
import time
from collections.abc import MutableMapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

DEFAULT_CAPACITY = 500
MAX_PROMPT_CHARS = 4_000
LISTENERS = ("app", "api")
_SCOPE_KEY = "llmos.log_entry"


@dataclass
class LogEntry:
    """One request; ``id`` grows by one per finished request of this engine process."""

    id: int = 0
    time: str = ""  # when it arrived, ISO 8601 UTC
    route: str = ""
    method: str = ""
    client: str | None = None  # the peer's address
    listener: str = "app"
    status: int = 0
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_s: float | None = None
    tokens_per_s: float | None = None
    duration_s: float = 0.0
    error: str | None = None  # the error code (an ErrorKind) of a refused or failed request
    stream: bool = False
    prompt: str | None = None  # only with log_prompts on

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class OpenEntry:
    """A request still being served: its entry, and when it started (monotonic)."""

    __slots__ = ("entry", "log", "started")

    def __init__(self, log: RequestLog, entry: LogEntry) -> None:
        self.log = log
        self.entry = entry
        self.started = time.perf_counter()

    def set_prompt(self, text: str) -> None:
        """Keep the prompt text, if and only if the log keeps prompts."""
        if self.log.log_prompts:
            self.entry.prompt = text[:MAX_PROMPT_CHARS]

    def set_usage(
        self,
        prompt_tokens: int | None,
        completion_tokens: int | None = None,
        ttft_s: float | None = None,
        tokens_per_s: float | None = None,
    ) -> None:
        entry = self.entry
        entry.prompt_tokens = prompt_tokens
        entry.completion_tokens = completion_tokens
        entry.ttft_s = ttft_s
        entry.tokens_per_s = tokens_per_s

    def set_error(self, code: str | None) -> None:
        self.entry.error = None if code is None else str(code)


class RequestLog:
    """A thread-safe ring of the last ``capacity`` finished requests, and the open ones."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, *, log_prompts: bool = False) -> None:
        self.capacity = max(1, capacity)
        self.log_prompts = log_prompts
        # A new value per engine process: a reader that sees it change knows the ids
        # started again from 1 (the engine restarted).
        self.log_id = secrets.token_hex(8)
        self._entries: collections.deque[LogEntry] = collections.deque(maxlen=self.capacity)
        self._lock = threading.Lock()
        self._last_id = 0
        self._in_flight = dict.fromkeys(LISTENERS, 0)

    def open(self, scope: MutableMapping[str, Any], listener: str) -> OpenEntry:
        """Start an entry for the request of ``scope``; the routes find it by entry_of."""
        client = scope.get("client")
        entry = LogEntry(
            time=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            route=str(scope.get("path", "")),
            method=str(scope.get("method", "")),
            client=str(client[0]) if client else None,
            listener=listener,
        )
        opened = OpenEntry(self, entry)
        scope[_SCOPE_KEY] = opened
        with self._lock:
            self._in_flight[listener] = self._in_flight.get(listener, 0) + 1
        return opened

    def close(self, opened: OpenEntry, status: int) -> None:
        """The answer was sent (or the client left): the entry joins the ring."""
        entry = opened.entry
        entry.status = status
        entry.duration_s = round(time.perf_counter() - opened.started, 6)
        with self._lock:
            self._in_flight[entry.listener] = max(0, self._in_flight.get(entry.listener, 0) - 1)
            self._last_id += 1
            entry.id = self._last_id
            self._entries.append(entry)

    def busy(self) -> dict[str, int]:
        """Requests in flight, per listener ({"app": n, "api": m})."""
        with self._lock:
            return dict(self._in_flight)

    def since(self, after: int) -> dict[str, Any]:
        """The entries newer than id ``after``, oldest first.

        ``last_id``: the newest id (0: none yet); ``missed``: entries newer than
        ``after`` that have already left the ring; ``log_id``: changes when the engine
        restarts (ids start again from 1; an ``after`` beyond ``last_id`` is taken as 0).
        """
        with self._lock:
            last = self._last_id
            if after > last:
                after = 0
            entries = [e.to_dict() for e in self._entries if e.id > after]
            oldest = self._entries[0].id if self._entries else last + 1
        missed = max(0, oldest - after - 1) if last > after else 0
        return {
            "entries": entries,
            "last_id": last,
            "missed": missed,
            "log_id": self.log_id,
            "capacity": self.capacity,
            "log_prompts": self.log_prompts,
        }


def entry_of(scope: MutableMapping[str, Any]) -> OpenEntry | None:
    """The open log entry of a request (None: the request is not logged)."""
    entry = scope.get(_SCOPE_KEY)
    return entry if isinstance(entry, OpenEntry) else None
