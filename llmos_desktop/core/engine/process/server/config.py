"""How one engine server is set up: who may call it, from where, and how it streams."""

from __future__ import annotations

from dataclasses import dataclass

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
PUBLIC_PATHS = frozenset({"/health"})


@dataclass(frozen=True)
class ServerConfig:
    token: str | None
    allowed_hosts: frozenset[str] = LOOPBACK_HOSTS
    any_host: bool = False
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 8 * 1024 * 1024
    # Streamed text is sent at once when the last chunk is older than this, else gathered
    # into the next chunk: per-chunk work (about 1 ms of CPU here and 1 ms in the openai
    # client) then stops competing with llama.cpp for the CPU when tokens come faster than
    # a person reads. 100 ms: at most 10 updates a second; see README, "The engine API".
    stream_interval_s: float = 0.1
