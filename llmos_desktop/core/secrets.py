"""Where the app keeps a secret: the system keyring, else a private file.

The Hugging Face token and the remote engines' API keys are secrets: each goes to the
operating system's keyring (Keychain, Windows Credential Manager, Secret Service)
through ``keyring`` when a real one is there. Many Linux machines have none (no desktop
session, no Secret Service); there the secret is written to a file that only the user
can read (mode 0600), atomically, so a crash never leaves half a secret or a moment
where the file is readable by others. On Windows the file's mode is not what protects
it: it lives in the user's own profile folder.

One ``SecretStore`` is one secret (a keyring entry named by ``service`` and ``user``, and
its fallback file). The rules live here once; ``core/models/hub_token.py`` (the Hub
token) and ``core/engines/registry.py`` (engine keys) use them with their own check of
what a valid value is and their own error type.

``keyring`` is imported when first used: it scans its backends, which costs time the
window does not pay at start-up. Every call is blocking (a keyring may ask D-Bus and
wait for the user to unlock it): callers run it off the GUI thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Literal

__all__ = [
    "KEYRING_SERVICE",
    "MAX_SECRET_CHARS",
    "SecretError",
    "SecretPlace",
    "SecretStore",
    "check_secret",
]

log = logging.getLogger(__name__)

KEYRING_SERVICE: Final = "LLMOS Desktop"
MAX_SECRET_CHARS: Final = 4096
"""A secret's bound: API keys and tokens are tens to a few hundred characters; JWTs used
as keys can reach a couple of thousand."""

SecretPlace = Literal["keyring", "file"]


class SecretError(Exception):
    """A secret that cannot be one (``kind`` "invalid") or a file that failed ("io")."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def check_secret(value: str, *, what: str = "a key", limit: int = MAX_SECRET_CHARS) -> str:
    """``value`` without surrounding spaces, if it can go in an HTTP header.

    Printable ASCII without spaces, at most ``limit`` characters; else
    ``SecretError("invalid")`` that names ``what``.
    """
    value = value.strip()
    if (
        not value
        or len(value) > limit
        or not value.isascii()
        or not value.isprintable()
        or any(c.isspace() for c in value)
    ):
        raise SecretError(
            "invalid",
            f"{what} is one word of printable ASCII characters (at most {limit}), without spaces",
        )
    return value


ErrorFactory = Callable[[str, str], Exception]


class SecretStore:
    """One secret: ``get()``, ``set()``, ``clear()``, ``where()``. Blocking.

    ``file`` is where the secret goes when there is no keyring. ``user`` names the
    keyring entry (under ``service``). ``check`` turns a value into a valid secret or
    raises; ``error(kind, message)`` makes the exception raised when the file cannot be
    written ("io"). ``use_keyring``: None decides from the machine (a real backend, not
    ``keyring``'s fail/null ones or the plaintext files of ``keyrings.alt``); False never
    uses one.
    """

    def __init__(
        self,
        file: Path,
        *,
        user: str,
        service: str = KEYRING_SERVICE,
        use_keyring: bool | None = None,
        check: Callable[[str], str] = check_secret,
        error: ErrorFactory = SecretError,
        what: str = "the secret",
    ) -> None:
        self.file = file
        self.user = user
        self.service = service
        self._use_keyring = use_keyring
        self._check = check
        self._error = error
        self._what = what

    def get(self) -> str | None:
        """The stored secret, or None. A keyring that fails is logged and skipped."""
        backend = self._backend()
        if backend is not None:
            try:
                value = backend.get_password(self.service, self.user)
            except Exception as exc:  # a locked or broken keyring: the file may have it
                log.warning("could not read %s from the keyring: %s", self._what, exc)
            else:
                if value:
                    try:
                        return self._check(value)
                    except Exception:
                        log.warning("%s in the keyring is not valid; ignored", self._what)
        return self._read_file()

    def set(self, value: str) -> SecretPlace:
        """Keeps ``value`` (checked) and says where: the keyring, or the private file."""
        value = self._check(value)
        backend = self._backend()
        if backend is not None:
            try:
                backend.set_password(self.service, self.user, value)
            except Exception as exc:
                log.warning("could not store %s in the keyring, using a file: %s", self._what, exc)
            else:
                self._remove_file()  # no second, older copy
                return "keyring"
        self._write_file(value)
        return "file"

    def clear(self) -> None:
        """Forgets the secret, in the keyring and in the file."""
        backend = self._backend()
        if backend is not None:
            try:
                if backend.get_password(self.service, self.user) is not None:
                    backend.delete_password(self.service, self.user)
            except Exception as exc:
                log.warning("could not remove %s from the keyring: %s", self._what, exc)
        self._remove_file()

    def where(self) -> SecretPlace | None:
        """Where the current secret is kept (None: there is none)."""
        backend = self._backend()
        if backend is not None:
            with contextlib.suppress(Exception):
                if backend.get_password(self.service, self.user):
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
                raw = handle.read(MAX_SECRET_CHARS * 4 + 16)
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("could not read %s from %s: %s", self._what, self.file, exc)
            return None
        try:
            return self._check(raw.decode("utf-8"))
        except Exception:
            log.warning("the file %s does not hold %s; ignored", self.file, self._what)
            return None

    def _write_file(self, value: str) -> None:
        """Atomic and private: a 0600 temporary file, fsync, rename over the target."""
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.file.name}.", dir=self.file.parent)
        except OSError as exc:
            raise self._error("io", f"could not save {self._what} in {self.file}: {exc}") from exc
        try:
            with os.fdopen(fd, "wb") as handle:
                if os.name == "posix":
                    os.fchmod(handle.fileno(), 0o600)  # mkstemp's mode, said out loud
                handle.write(value.encode("ascii") + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.file)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise self._error("io", f"could not save {self._what} in {self.file}: {exc}") from exc
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
            raise self._error(
                "io", f"could not remove the file of {self._what}, {self.file}: {exc}"
            ) from exc
