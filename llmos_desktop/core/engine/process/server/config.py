"""How one engine server is set up: who may call it, from where, and how it streams."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
PUBLIC_PATHS = frozenset({"/health", "/openapi.json"})
CONTROL_PREFIX = "/control/"


@dataclass(frozen=True)
class ServerConfig:
    """Who may call one server, from where, how long a client may take, and how it streams.

    Two keys: ``token`` opens the OpenAI-compatible routes (``/v1/*``), for programs;
    ``control_token`` opens the control routes (``/control/*``: load, unload, status) and
    ``/v1/*`` too, for the app that runs the engine. Without a ``control_token`` the
    control routes do not exist (404, and absent from the OpenAPI document). ``None`` as
    ``token`` leaves ``/v1/*`` open.
    """

    token: str | None
    control_token: str | None = None
    allowed_hosts: frozenset[str] = LOOPBACK_HOSTS
    any_host: bool = False
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 8 * 1024 * 1024
    # What ``/control/load`` may open. None: any path (the app's own engine, where only the
    # app holds the control key and loads files the user picked). Else a path is refused
    # unless its real path (symlinks resolved) is inside one of these folders or is one of
    # these files; the refusal says nothing about the file itself.
    load_roots: tuple[Path, ...] | None = None
    # Slow clients: the request line and headers must arrive within header_timeout_s of the
    # connection's (or, on a kept-alive connection, the request's) first byte; the body
    # within body_timeout_s of the headers, and no single read may wait longer than
    # receive_timeout_s (408 otherwise).
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    receive_timeout_s: float = 10.0
    # Streamed text is sent at once when the last chunk is older than this, else gathered
    # into the next chunk: per-chunk work (about 1 ms of CPU here and 1 ms in the openai
    # client) then stops competing with llama.cpp for the CPU when tokens come faster than
    # a person reads. 100 ms: at most 10 updates a second; see README, "The engine API".
    stream_interval_s: float = 0.1
