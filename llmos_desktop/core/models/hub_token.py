"""Where the user's Hugging Face token is kept: the system keyring, else a private file.

A token opens the user's gated and private repositories, so it is a secret. How a
secret is kept (the keyring when a real one is there, else an atomic 0600 file) is
``core/secrets.py``, shared with the remote engines' API keys; this module adds what a
Hugging Face token is (``check_token``) and the keyring entry it lives under. Only
``HubClient`` sends the token, and only to the Hub endpoint (see hub.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from llmos_desktop.core.models.types import ModelsError
from llmos_desktop.core.secrets import KEYRING_SERVICE, SecretPlace, SecretStore

__all__ = ["KEYRING_SERVICE", "KEYRING_USER", "TokenStore", "check_token"]

KEYRING_USER: Final = "huggingface"
MAX_TOKEN_CHARS: Final = 512
TokenPlace = SecretPlace


def check_token(token: str) -> str:
    """``token`` without surrounding spaces, if it can be a token; ``ModelsError("invalid")``.

    A token is sent in an HTTP header: printable ASCII without spaces, at most 512
    characters. Hugging Face's start with ``hf_`` but mirrors may issue others.
    """
    token = token.strip()
    if (
        not token
        or len(token) > MAX_TOKEN_CHARS
        or not token.isascii()
        or not token.isprintable()
        or any(c.isspace() for c in token)
    ):
        raise ModelsError(
            "invalid", "a Hugging Face token is one word of letters and digits, like hf_AbC123"
        )
    return token


class TokenStore(SecretStore):
    """The token: ``get()``, ``set()``, ``clear()``. Blocking (a keyring may ask D-Bus);
    callers run it off the GUI thread.

    ``file`` is where the token goes when there is no keyring. ``use_keyring``: None
    decides from the machine (a real backend, not ``keyring``'s fail/null ones or the
    plaintext files of ``keyrings.alt``); False never uses one. Errors are
    ``ModelsError`` ("invalid", "io").
    """

    def __init__(self, file: Path, *, use_keyring: bool | None = None) -> None:
        super().__init__(
            file,
            user=KEYRING_USER,
            use_keyring=use_keyring,
            check=check_token,
            error=lambda kind, message: ModelsError(kind, message),  # type: ignore[arg-type]
            what="the token",
        )
