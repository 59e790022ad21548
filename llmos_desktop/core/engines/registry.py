"""The remote engines a person added: ``data/engines.json``, and their keys in the keyring.

The file holds the configurations only (``RemoteEngineConfig``, no secrets), so it can
be read, backed up and edited without exposing a key. Each engine's API key is its own
secret in the system keyring (entry ``engine:<name>`` of "LLMOS Desktop"), else in a
0600 file under ``config/engine-keys`` (``core/secrets.py``, as the Hub token).

The file is written atomically (temporary file, fsync, rename) and read again before
every change, so the window and ``llmos engines`` in a terminal see each other's
changes. A file that cannot be read as a whole (not JSON, the wrong shape) is moved
aside to ``engines.damaged-<time>.json`` and reported (``recovered_from``, ``problems``);
an entry that does not validate is left out, reported, and the original file kept
aside, so nothing a person typed is lost. Every call is blocking (disk, keyring): the
window runs them on the loop's executor.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from llmos_desktop.core.atomic import write_text_atomic
from llmos_desktop.core.engines import ENGINES_FILE
from llmos_desktop.core.engines.types import RemoteEngineConfig
from llmos_desktop.core.secrets import SecretError, SecretPlace, SecretStore, check_secret
from llmos_desktop.core.text import one_line

__all__ = [
    "ENGINES_FILE",
    "KEYS_FOLDER",
    "MAX_ENGINES",
    "EngineRegistry",
    "EngineRegistryError",
    "check_api_key",
]

log = logging.getLogger(__name__)

KEYS_FOLDER: Final = "engine-keys"
FORMAT_VERSION: Final = 1
MAX_ENGINES: Final = 200
MAX_FILE_BYTES: Final = 4 * 1024 * 1024


class EngineRegistryError(Exception):
    """``kind``: "exists", "not_found", "invalid" (a config or key that cannot be) or "io"."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def check_api_key(value: str) -> str:
    """An API key as it can be sent (printable ASCII, no spaces), or
    ``EngineRegistryError("invalid")``."""
    try:
        return check_secret(value, what="an API key")
    except SecretError as exc:
        raise EngineRegistryError("invalid", exc.message) from None


def _config_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "engine"
    return f"{where}: {error['msg']}"


class EngineRegistry:
    """The engines in ``data_dir/engines.json``, their keys under ``config_dir``."""

    def __init__(
        self, data_dir: Path, config_dir: Path, *, use_keyring: bool | None = None
    ) -> None:
        self.file = data_dir / ENGINES_FILE
        self.keys_dir = config_dir / KEYS_FOLDER
        self._use_keyring = use_keyring
        self.recovered_from: Path | None = None
        """Where the last damaged file was moved (None: none was)."""
        self.problems: builtins.list[str] = []
        """What the last read left out, in words."""

    # --- configurations -------------------------------------------------------------------

    def list(self) -> builtins.list[RemoteEngineConfig]:
        """Every engine, in the order they were added."""
        return self._read()

    def get(self, name: str) -> RemoteEngineConfig:
        """The engine called ``name`` (case does not matter); EngineRegistryError("not_found")."""
        for config in self._read():
            if config.name.lower() == name.lower():
                return config
        raise EngineRegistryError(
            "not_found",
            f"there is no engine called {one_line(name, 64)!r} (see 'llmos engines list')",
        )

    def add(
        self, config: RemoteEngineConfig, api_key: str | None = None, *, replace: bool = False
    ) -> SecretPlace | None:
        """Adds ``config`` (and keeps ``api_key``); returns where the key went. An engine of
        that name is EngineRegistryError("exists") unless ``replace``; replacing without a
        key keeps the old key."""
        key = check_api_key(api_key) if api_key is not None else None
        engines = self._read()
        same = [i for i, c in enumerate(engines) if c.name.lower() == config.name.lower()]
        if same and not replace:
            raise EngineRegistryError(
                "exists",
                f"an engine called {config.name!r} exists; remove it first or choose another name",
            )
        if not same and len(engines) >= MAX_ENGINES:
            raise EngineRegistryError("invalid", f"at most {MAX_ENGINES} engines can be added")
        place: SecretPlace | None = None
        if key is not None:  # the key first: an engine listed without its key would fail
            place = self._store(config.name).set(key)
        if same:
            engines[same[0]] = config
        else:
            engines.append(config)
        self._write(engines)
        return place

    def remove(self, name: str) -> RemoteEngineConfig:
        """Removes the engine and forgets its key; returns what was removed."""
        engines = self._read()
        for i, config in enumerate(engines):
            if config.name.lower() == name.lower():
                del engines[i]
                self._write(engines)
                self._store(config.name).clear()
                return config
        raise EngineRegistryError(
            "not_found",
            f"there is no engine called {one_line(name, 64)!r} (see 'llmos engines list')",
        )

    # --- keys ---------------------------------------------------------------------------

    def api_key(self, name: str) -> str | None:
        """The engine's key, or None (the engine needs none, or it was never given)."""
        return self._store(name).get()

    def set_api_key(self, name: str, api_key: str | None) -> SecretPlace | None:
        """Sets (or, with None, forgets) the key of an engine that exists."""
        config = self.get(name)
        store = self._store(config.name)
        if api_key is None:
            store.clear()
            return None
        return store.set(check_api_key(api_key))

    def key_place(self, name: str) -> SecretPlace | None:
        """Where the engine's key is kept ("keyring", "file"), None when there is none."""
        return self._store(name).where()

    def _store(self, name: str) -> SecretStore:
        slug = name.lower()
        return SecretStore(
            self.keys_dir / f"{slug}.key",
            user=f"engine:{slug}",
            use_keyring=self._use_keyring,
            check=check_api_key,
            error=EngineRegistryError,
            what=f"the API key of engine {name}",
        )

    # --- the file ------------------------------------------------------------------------

    def _read(self) -> builtins.list[RemoteEngineConfig]:
        self.problems = []
        try:
            with self.file.open("rb") as handle:
                raw = handle.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise EngineRegistryError("io", f"could not read {self.file}: {exc}") from exc
        try:
            if len(raw) > MAX_FILE_BYTES:
                raise ValueError(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
            document = json.loads(raw.decode("utf-8"))
            if not isinstance(document, dict) or not isinstance(document.get("engines"), list):
                raise ValueError('not an object with an "engines" list')
        except (ValueError, UnicodeDecodeError) as exc:
            self._set_aside(f"it is damaged ({one_line(str(exc), 120)})", move=True)
            return []
        engines: builtins.list[RemoteEngineConfig] = []
        seen: set[str] = set()
        for i, item in enumerate(document["engines"][:MAX_ENGINES]):
            try:
                config = RemoteEngineConfig.model_validate(item)
            except ValidationError as exc:
                self.problems.append(f"engine #{i + 1} was left out: {_config_error(exc)}")
                continue
            if config.name.lower() in seen:
                self.problems.append(
                    f"engine #{i + 1} was left out: {config.name!r} is listed twice"
                )
                continue
            seen.add(config.name.lower())
            engines.append(config)
        if len(document["engines"]) > MAX_ENGINES:
            self.problems.append(f"only the first {MAX_ENGINES} engines were read")
        if self.problems:
            # Kept aside once, then the readable part is written back: the next read is
            # clean, and the left-out entries are still in the copy.
            self._set_aside("; ".join(self.problems), move=False)
            with contextlib.suppress(EngineRegistryError):
                self._write(engines)
        return engines

    def _set_aside(self, why: str, *, move: bool) -> None:
        """Keep the file as it is under another name (moved when it is unreadable, copied
        when the readable part stays in use), and say so."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for n in range(100):
            aside = self.file.with_name(
                f"{self.file.stem}.damaged-{stamp}{'' if n == 0 else f'-{n}'}.json"
            )
            if not aside.exists():
                break
        try:
            if move:
                os.replace(self.file, aside)
            else:
                import shutil

                shutil.copy2(self.file, aside)
        except OSError as exc:
            log.warning("engines: could not keep %s aside: %s", self.file, exc)
            aside_text = "it could not be kept aside"
        else:
            self.recovered_from = aside
            aside_text = f"it was kept as {aside}"
        message = f"{self.file}: {why}; {aside_text}"
        if move:
            self.problems.append(message)
        else:
            self.problems.append(f"the file as it was is {aside_text.removeprefix('it was ')}")
        log.warning("engines: %s", message)

    def _write(self, engines: builtins.list[RemoteEngineConfig]) -> None:
        document: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "engines": [config.model_dump(mode="json") for config in engines],
        }
        try:
            write_text_atomic(self.file, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise EngineRegistryError("io", f"could not save {self.file}: {exc}") from exc
        with contextlib.suppress(OSError):
            if os.name == "posix":
                os.chmod(self.file, 0o600)  # which servers a person uses is their business
