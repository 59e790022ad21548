"""What a remote engine is, and what checking one found: defined once for the registry,
the service, the Settings → Engines section, the chat picker and ``llmos engines``.

A remote engine is any server that speaks the OpenAI API (vLLM, Triton's OpenAI
frontend, llama.cpp's llama-server, llama-cpp-python's server, Ollama, TGI, another
LLMOS): its ``base_url`` is what an ``openai`` client takes as ``base_url``, such as
``http://gpu-box:8000/v1``. The configuration is strict and bounded (it is read back
from a file a person may edit): unknown fields are refused, the URL must be http(s)
without a user name, password, query or fragment (a key in a URL ends up in logs), and
the timeouts have limits. The API key is not here: it lives in the keyring
(registry.py).

Errors have kinds (``RemoteErrorKind``) so that the window and the command line can
say what to do about each: a refused key is fixed in Settings, an unreachable host is
not.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Annotated, Final
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmos_desktop.core.engine.control.client import EngineAPIError, EngineConnectionError

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_TIMEOUT_S",
    "NAME_PATTERN",
    "EngineCheck",
    "RemoteAPIError",
    "RemoteConnectionError",
    "RemoteEngineConfig",
    "RemoteErrorKind",
    "RemoteProblem",
    "ServerKind",
    "origin_of",
]

NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_URL_CHARS: Final = 2048
MAX_PATH_CHARS: Final = 4096
DEFAULT_TIMEOUT_S: Final = 300.0
"""How long a reply may go without a byte before it counts as stalled. A big model on a
busy cluster can take minutes to read a long prompt before its first token, and a
server sends nothing meanwhile; five minutes covers that and still ends a dead stream."""
DEFAULT_CONNECT_TIMEOUT_S: Final = 10.0
"""How long to wait for the server to accept the connection (and the TLS handshake)."""


class ServerKind(enum.StrEnum):
    """Which server answers, guessed by ``check`` (what it sends decides what is sent)."""

    LLMOS = "llmos"
    LLAMA_CPP_PYTHON = "llama-cpp-python"
    LLAMA_CPP = "llama.cpp"
    VLLM = "vllm"
    OLLAMA = "ollama"
    TRITON = "triton"
    TGI = "tgi"
    UNKNOWN = "unknown"


class RemoteErrorKind(enum.StrEnum):
    """Why a request to a remote engine failed (what the person can do about it)."""

    UNREACHABLE = "unreachable"  # DNS, refused connection, connect timeout, wrong port
    TLS = "tls"  # certificate not trusted / hostname mismatch
    UNAUTHORIZED = "unauthorized"  # 401/403: the key is missing, wrong or not allowed
    NOT_FOUND = "not_found"  # 404: the model (or the URL's path) is not there
    REDIRECT = "redirect"  # the server sent us elsewhere; not followed with the key
    REFUSED = "refused"  # another 4xx: the server refused the request as sent
    SERVER_ERROR = "server_error"  # 5xx
    TIMEOUT = "timeout"  # the server went silent for longer than the timeout
    BROKEN = "broken"  # the stream or connection broke in the middle of a reply
    BAD_RESPONSE = "bad_response"  # not the OpenAI API (HTML page, wrong JSON)
    UNSUPPORTED = "unsupported"  # asked for what this server cannot do (continue)


class RemoteAPIError(EngineAPIError):
    """The remote engine answered with an error; ``kind`` says which."""

    def __init__(
        self,
        kind: RemoteErrorKind,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.kind = kind


class RemoteConnectionError(EngineConnectionError):
    """The remote engine could not be reached, went silent, or the stream broke."""

    def __init__(self, kind: RemoteErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of ``url``, the unit a key belongs to (as browsers do)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


class RemoteEngineConfig(BaseModel):
    """One remote engine; frozen (``model_copy(update=...)`` for a changed copy)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: Annotated[str, Field(pattern=NAME_PATTERN)] = Field(
        description="what the picker and --engine call it: letters, digits, . _ - "
        "(at most 64, starting with a letter or digit), unique"
    )
    base_url: Annotated[str, Field(min_length=8, max_length=MAX_URL_CHARS)] = Field(
        description="the OpenAI base URL, as an openai client takes it: http(s)://host:port/v1"
    )
    verify_tls: bool = Field(True, description="check the server's TLS certificate")
    ca_file: Annotated[str, Field(min_length=1, max_length=MAX_PATH_CHARS)] | None = Field(
        None, description="a PEM file of the certificate authorities to trust (None: the system's)"
    )
    timeout_s: Annotated[float, Field(ge=1.0, le=3600.0)] = Field(
        DEFAULT_TIMEOUT_S,
        description="seconds a reply may go without a byte before it counts as stalled",
    )
    connect_timeout_s: Annotated[float, Field(ge=0.5, le=300.0)] = Field(
        DEFAULT_CONNECT_TIMEOUT_S, description="seconds to wait for a connection"
    )
    extensions: bool | None = Field(
        None,
        description="send LLMOS's extensions (truncate, continue): None decides from the "
        "server (only an LLMOS engine has them)",
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        try:
            parts = urlsplit(value)
            port = parts.port  # ValueError for a port out of range or not a number
        except ValueError as exc:
            raise ValueError(f"not a URL: {exc}") from None
        if parts.scheme.lower() not in ("http", "https"):
            raise ValueError("the URL must start with http:// or https://")
        if not parts.hostname:
            raise ValueError("the URL has no host name")
        if parts.username is not None or parts.password is not None:
            raise ValueError(
                "put the key in the API key field, not in the URL (a URL ends up in logs)"
            )
        if parts.query or parts.fragment:
            raise ValueError("the base URL has no ?query or #fragment")
        if any(c.isspace() or not c.isprintable() for c in value):
            raise ValueError("the URL contains spaces or control characters")
        del port
        return value.rstrip("/")

    @field_validator("ca_file")
    @classmethod
    def _no_control_characters(cls, value: str | None) -> str | None:
        if value is not None and not value.isprintable():
            raise ValueError("the CA file's path contains control characters")
        return value

    @property
    def origin(self) -> tuple[str, str, int]:
        """(scheme, host, port): the only place the key is sent."""
        return origin_of(self.base_url)

    @property
    def is_https(self) -> bool:
        return self.base_url.lower().startswith("https:")

    @property
    def is_loopback(self) -> bool:
        import ipaddress

        host = self.origin[1]
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host.strip("[]")).is_loopback
        except ValueError:
            return False


@dataclass(frozen=True)
class RemoteProblem:
    """A failure in words: ``kind`` for code, ``message`` for a person."""

    kind: RemoteErrorKind
    message: str


@dataclass(frozen=True)
class EngineCheck:
    """What checking an engine found.

    ``reachable``: the server answered HTTP at all. ``authorised``: it accepted the key
    (None when it could not be told: unreachable). ``models``: the ids it serves.
    ``server_kind``: a guess (``ServerKind``). ``error``: why it is not usable (None when
    it is). ``warnings``: usable, but worth saying (a key sent without TLS, TLS checks
    off). ``latency_s``: the time the models request took.
    """

    name: str
    base_url: str
    reachable: bool
    authorised: bool | None
    models: tuple[str, ...] = ()
    server_kind: ServerKind = ServerKind.UNKNOWN
    error: RemoteProblem | None = None
    warnings: tuple[str, ...] = field(default=())
    latency_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
