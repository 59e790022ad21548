"""Where the user's Hugging Face token is kept: the system keyring, else a private file.

A token opens the user's gated and private repositories, so it is a secret: it goes to
the operating system's keyring (Keychain, Windows Credential Manager, Secret Service)
through ``keyring`` when a real one is there. Many Linux machines have none (no desktop
session, no Secret Service); there the token is written to a file that only the user can
read (mode 0600), atomically, so a crash never leaves half a token or a moment where the
file is readable by others. On Windows the file's mode is not what protects it: it lives
in the user's own profile folder.

``keyring`` is imported when first used: it scans its backends, which costs time the
window does not pay at start-up. Only ``HubClient`` sends the token, and only to the Hub
endpoint (see hub.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Final, Literal

from llmos_desktop.core.models.types import ModelsError

__all__ = ["KEYRING_SERVICE", "KEYRING_USER", "TokenStore", "check_token"]

log = logging.getLogger(__name__)

KEYRING_SERVICE: Final = "LLMOS Desktop"
KEYRING_USER: Final = "huggingface"
MAX_TOKEN_CHARS: Final = 512
TokenPlace = Literal["keyring", "file"]


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


class TokenStore:
    """The token: ``get()``, ``set()``, ``clear()``. Blocking (a keyring may ask D-Bus);
    callers run it off the GUI thread.

    ``file`` is where the token goes when there is no keyring. ``use_keyring``: None
    decides from the machine (a real backend, not ``keyring``'s fail/null ones or the
    plaintext files of ``keyrings.alt``); False never uses one.
    """

    def __init__(self, file: Path, *, use_keyring: bool | None = None) -> None:
        self.file = file
        self._use_keyring = use_keyring

    def get(self) -> str | None:
        """The stored token, or None. A keyring that fails is logged and skipped."""
        backend = self._backend()
        if backend is not None:
            try:
                token = backend.get_password(KEYRING_SERVICE, KEYRING_USER)
            except Exception as exc:  # a locked or broken keyring: the file may have it
                log.warning("could not read the token from the keyring: %s", exc)
            else:
                if token:
                    try:
                        return check_token(token)
                    except ModelsError:
                        log.warning("the token in the keyring is not a token; ignored")
        return self._read_file()

    def set(self, token: str) -> TokenPlace:
        """Keeps ``token`` (checked) and says where: the keyring, or the private file."""
        token = check_token(token)
        backend = self._backend()
        if backend is not None:
            try:
                backend.set_password(KEYRING_SERVICE, KEYRING_USER, token)
            except Exception as exc:
                log.warning("could not store the token in the keyring, using a file: %s", exc)
            else:
                self._remove_file()  # no second, older copy
                return "keyring"
        self._write_file(token)
        return "file"

    def clear(self) -> None:
        """Forgets the token, in the keyring and in the file."""
        backend = self._backend()
        if backend is not None:
            try:
                if backend.get_password(KEYRING_SERVICE, KEYRING_USER) is not None:
                    backend.delete_password(KEYRING_SERVICE, KEYRING_USER)
            except Exception as exc:
                log.warning("could not remove the token from the keyring: %s", exc)
        self._remove_file()

    def where(self) -> TokenPlace | None:
        """Where the current token is kept (None: no token)."""
        backend = self._backend()
        if backend is not None:
            with contextlib.suppress(Exception):
                if backend.get_password(KEYRING_SERVICE, KEYRING_USER):
                    return "keyring"
        return "file" if self._read_file() is not None else None

    def keyring_available(self) -> bool:
        return self._backend() is not None

    # --- internals -----------------------------------------------------------------------

    def _backend(self) -> Any:
        if self._use_keyring is False:
            return None
        try:
            import keyring
            from keyring.backends import chainer

            backend = keyring.get_keyring()
        except Exception as exc:
            log.info("no keyring: %s", exc)
            return None
        module = type(backend).__module__
        if (
            module.startswith(("keyring.backends.fail", "keyring.backends.null", "keyrings.alt"))
            or (isinstance(backend, chainer.ChainerBackend) and not chainer.ChainerBackend.backends)
            or backend.priority <= 0
        ):
            return None
        return backend

    def _read_file(self) -> str | None:
        try:
            with self.file.open("rb") as handle:
                if os.name == "posix":
                    mode = os.fstat(handle.fileno()).st_mode
                    if mode & (stat.S_IRWXG | stat.S_IRWXO):
                        os.fchmod(handle.fileno(), 0o600)  # someone widened it: close it again
                raw = handle.read(MAX_TOKEN_CHARS * 4 + 16)
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("could not read the token file %s: %s", self.file, exc)
            return None
        try:
            return check_token(raw.decode("utf-8"))
        except (UnicodeDecodeError, ModelsError):
            log.warning("the token file %s does not hold a token; ignored", self.file)
            return None

    def _write_file(self, token: str) -> None:
        """Atomic and private: a 0600 temporary file, fsync, rename over the target."""
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.file.name}.", dir=self.file.parent)
        except OSError as exc:
            raise ModelsError("io", f"could not save the token in {self.file}: {exc}") from exc
        try:
            with os.fdopen(fd, "wb") as handle:
                if os.name == "posix":
                    os.fchmod(handle.fileno(), 0o600)  # mkstemp's mode, said out loud
                handle.write(token.encode("ascii") + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.file)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise ModelsError("io", f"could not save the token in {self.file}: {exc}") from exc
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _remove_file(self) -> None:
        try:
            self.file.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ModelsError("io", f"could not remove the token file {self.file}: {exc}") from exc
