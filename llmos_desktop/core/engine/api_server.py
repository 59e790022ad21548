"""The window's API server: the settings of the second listener the engine can open.

The app's engine always listens on loopback, on a port of its own choosing, with a
secret only the app knows. Other programs need a fixed address and a key they can be
given: ``POST /control/api`` opens a second listener in the engine process with the
settings here (same runtime, same request log, its own key and CORS origins; the
control routes are not mounted there). The Developer page keeps one of these in
Settings and ``Engine.set_api_server`` applies it after every engine (re)start.

Shared by both processes (pydantic only): the engine validates the body of
``/control/api`` with this same class, so the window can never build a value the engine
refuses, and a client that sends one gets the same 400.

The default port is 1234, LM Studio's: OpenAI-compatible tutorials and tools written
for a local server on a desktop already point at ``http://localhost:1234/v1``. When
another server holds that port, switching on answers a clear 409 and the port is a
setting.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from llmos_desktop.core.engine.contract import Int

DEFAULT_API_PORT = 1234
MIN_API_KEY_CHARS = 16
MAX_API_KEY_CHARS = 256
MAX_CORS_ORIGINS = 16
MAX_ORIGIN_CHARS = 256
LOOPBACK_HOST = "127.0.0.1"
LAN_HOST = "0.0.0.0"  # every interface: the local network
# An origin as a browser sends it: scheme, host, optional port; no path.
_ORIGIN = re.compile(
    r"^https?://[A-Za-z0-9.\-]+(:\d{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?$"
)
_KEY = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII: safe in a header, no spaces to trim

NON_LOOPBACK_NEEDS_KEY = (
    "an API server that other machines can reach needs an API key: anyone on the "
    "network could otherwise use the model (set api_key, or listen on 127.0.0.1)"
)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address the server binds) is reachable from this machine only."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def connect_host(host: str) -> str:
    """Where a program on this machine reaches a server bound to ``host``, for a URL."""
    name = host.strip("[]")
    if name in ("", "0.0.0.0"):
        return "127.0.0.1"
    if name == "::":
        return "[::1]"
    return f"[{name}]" if ":" in name else name


def base_url(host: str, port: int) -> str:
    """The OpenAI base URL (what an ``openai`` client takes) of a server on host:port."""
    return f"http://{connect_host(host)}:{port}/v1"


def new_api_key() -> str:
    """A fresh random key (256 bits), for the Developer page's "regenerate"."""
    return "llmos-" + secrets.token_urlsafe(32)


class ApiServerConfig(BaseModel):
    """The window's API listener: on or off, where, who may call it, what the log keeps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: StrictBool = Field(False, description="whether the API listener runs")
    host: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        LOOPBACK_HOST,
        description=(
            "the address to listen on: 127.0.0.1 (this machine only) or 0.0.0.0 (every "
            "interface: the local network, which needs an API key)"
        ),
    )
    port: Annotated[Int, Field(ge=0, le=65535)] = Field(
        DEFAULT_API_PORT, description="the TCP port (0: any free port, reported back)"
    )
    api_key: (
        Annotated[str, Field(min_length=MIN_API_KEY_CHARS, max_length=MAX_API_KEY_CHARS)] | None
    ) = Field(None, description="the key programs send as 'Authorization: Bearer <key>'")
    cors_origins: Annotated[tuple[str, ...], Field(max_length=MAX_CORS_ORIGINS)] = Field(
        (), description="browser origins allowed to call it (e.g. http://localhost:5173, or *)"
    )
    log_prompts: StrictBool = Field(
        False, description="keep the prompt text in the request log (off: never kept)"
    )

    @field_validator("host")
    @classmethod
    def _address(cls, value: str) -> str:
        name = value.strip().strip("[]")
        if name.lower() == "localhost":
            return "127.0.0.1"
        try:
            return str(ipaddress.ip_address(name))
        except ValueError:
            raise ValueError(
                "host must be an IP address of this machine, such as 127.0.0.1 or 0.0.0.0"
            ) from None

    @field_validator("api_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None and not _KEY.match(value):
            raise ValueError("api_key may hold visible ASCII characters only, no spaces")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin != "*" and (len(origin) > MAX_ORIGIN_CHARS or not _ORIGIN.match(origin)):
                raise ValueError(
                    f"{origin[:80]!r} is not an origin (scheme://host[:port], no path) or *"
                )
        return value

    @model_validator(mode="after")
    def _exposed_needs_key(self) -> ApiServerConfig:
        if self.enabled and not is_loopback(self.host) and not self.api_key:
            raise ValueError(NON_LOOPBACK_NEEDS_KEY)
        return self

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def base_url(self) -> str:
        return base_url(self.host, self.port)
