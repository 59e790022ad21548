"""Typed settings, stored as JSON with a schema version and migrations, written atomically.

The engine's options are not re-listed here: ``load`` and ``sampling`` are the
contract's LoadOptions and SamplingOptions (core/engine/contract.py), validated with
their bounds; ``field_bounds`` hands those bounds to the Settings page, so its spin
boxes accept what the engine accepts. A file with a bad value keeps every other value:
only what fails validation falls back to its default, and an unreadable file is kept
aside. A file written by a newer version of the app is copied aside before this version
writes over it, so going back to an older version loses nothing.

``SettingsWriter`` writes from one worker thread, in the order saves were asked for:
the window, the Settings page and the chat page save from the GUI thread, which must
not wait for a disk, and two writes racing could otherwise leave the older one on disk.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import shutil
import threading
import typing
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# Re-exported ("X as X"): Settings' own types, defined where start-up reads them.
from llmos_desktop.core.appearance import LANGUAGES as LANGUAGES
from llmos_desktop.core.appearance import MAX_WINDOW_GEOMETRY_CHARS
from llmos_desktop.core.appearance import THEMES as THEMES
from llmos_desktop.core.appearance import Language as Language
from llmos_desktop.core.appearance import Theme as Theme
from llmos_desktop.core.atomic import write_text_atomic
from llmos_desktop.core.engine.api_server import ApiServerConfig
from llmos_desktop.core.engine.contract import (
    DEFAULT_PROMPT_CACHE_MB,
    LoadOptions,
    SamplingOptions,
)
from llmos_desktop.core.paths import AppPaths

SCHEMA_VERSION = 4
RECENT_MODELS_KEPT = 10
CHAT_MAX_TOKENS = 512  # a chat reply's default length; the API's default is "until full"
# Disk kept for saved conversation states (KV caches), so an old chat reopens without
# re-reading it; 0 turns the disk cache off.
DEFAULT_KV_STATE_DISK_MB = 2048
MAX_KV_STATE_DISK_MB = 1 << 20  # 1 TiB: a bound against typos, not a recommendation
MAX_CHAT_ID_CHARS = 128
MAX_PATH_CHARS = 4096
MAX_URL_CHARS = 2048
MAX_KEEP_ALIVE_S = 24 * 3600  # the Developer page's "unload after idle", in whole minutes


log = logging.getLogger(__name__)


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    schema_version: int = SCHEMA_VERSION
    load: LoadOptions = LoadOptions()  # how models are loaded, unless a model says otherwise
    sampling: SamplingOptions = SamplingOptions(max_tokens=CHAT_MAX_TOKENS)  # the chat's
    prompt_cache_mb: int = Field(DEFAULT_PROMPT_CACHE_MB, ge=0, le=1 << 20)
    kv_state_disk_mb: int = Field(DEFAULT_KV_STATE_DISK_MB, ge=0, le=MAX_KV_STATE_DISK_MB)
    last_model: str | None = None
    recent_models: list[str] = Field(default_factory=list, max_length=100)
    language: Language | None = None  # None: follow the system
    theme: Theme = "system"
    # True: Enter sends and Shift+Enter adds a line; False: Ctrl+Enter sends, Enter adds one.
    enter_sends: bool = True
    # QMainWindow.saveGeometry() as base64 (size, position, maximized, screen).
    window_geometry: str | None = Field(None, max_length=MAX_WINDOW_GEOMETRY_CHARS)
    last_chat_id: str | None = Field(None, min_length=1, max_length=MAX_CHAT_ID_CHARS)
    # The Models pane (version 4). None: the models folder under the data folder.
    models_dir: str | None = Field(None, min_length=1, max_length=MAX_PATH_CHARS)
    # None: HF_ENDPOINT when set, else https://huggingface.co (core/models/hub.py).
    hub_endpoint: str | None = Field(None, min_length=1, max_length=MAX_URL_CHARS)
    # None: the system's proxy settings (HTTPS_PROXY...); "" would be "no proxy".
    http_proxy: str | None = Field(None, max_length=MAX_URL_CHARS)
    # The Store's remote catalogue: a Hugging Face repository ("owner/name") with an
    # index.json of .llmapp files; None: the built-in catalogue only.
    apps_catalogue_repo: str | None = Field(None, min_length=3, max_length=200)
    # The Developer page (issue 13): the window's API server for other programs (off,
    # 127.0.0.1:1234, no key by default; the key is kept in this file, which only the
    # user can read), and how long the engine keeps an idle model loaded (0: always;
    # the engine reads it when it starts). Defaults, so no older file needs a migration.
    api_server: ApiServerConfig = ApiServerConfig()
    engine_keep_alive_s: int = Field(0, ge=0, le=MAX_KEEP_ALIVE_S)

    @field_validator("window_geometry")
    @classmethod
    def _base64(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError("not base64") from exc
        return value

    def remember_model(self, path: str) -> None:
        self.last_model = path
        self.recent_models = [
            path,
            *[p for p in self.recent_models if p != path][: RECENT_MODELS_KEPT - 1],
        ]

    def models_folder(self, paths: AppPaths) -> Path:
        """Where downloaded and copied-in models live."""
        return Path(self.models_dir).expanduser() if self.models_dir else paths.models

    def window_geometry_bytes(self) -> bytes | None:
        """The saved window geometry, decoded (None when none was saved)."""
        return None if self.window_geometry is None else base64.b64decode(self.window_geometry)

    def remember_window_geometry(self, geometry: bytes) -> None:
        self.window_geometry = base64.b64encode(geometry).decode("ascii") if geometry else None


@dataclass(frozen=True)
class Bounds:
    """What a numeric field accepts: ``minimum``/``maximum`` (None: unbounded);
    ``exclusive_minimum`` when the minimum itself is refused (``gt``)."""

    minimum: float | None
    maximum: float | None
    exclusive_minimum: bool = False
    optional: bool = False  # None is a valid value too (it means "the default")


def field_bounds(model: type[BaseModel], name: str) -> Bounds:
    """The numeric bounds of ``model``'s field ``name``, from its pydantic constraints.

    Reads ``Field(ge=..., le=...)`` on the field, also inside ``Annotated[...] | None``.
    """
    field = model.model_fields[name]
    constraints: list[Any] = list(field.metadata)
    optional = False
    for arg in typing.get_args(field.annotation):
        if arg is type(None):
            optional = True
        for extra in getattr(arg, "__metadata__", ()):
            constraints.extend(getattr(extra, "metadata", [extra]))
    minimum = maximum = None
    exclusive = False
    for item in constraints:
        if isinstance(item, annotated_types.Ge):
            minimum = float(item.ge)  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Gt):
            minimum, exclusive = float(item.gt), True  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Le):
            maximum = float(item.le)  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Lt):
            maximum = float(item.lt)  # type: ignore[arg-type]
    return Bounds(minimum, maximum, exclusive, optional)


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older file's data to SCHEMA_VERSION, one version step at a time."""
    version = data.get("schema_version")
    version = version if isinstance(version, int) else 0
    if version < 2:
        # Version 1 kept the load options at the top level.
        load = {key: data.pop(key) for key in ("n_ctx", "n_gpu_layers", "n_threads") if key in data}
        if load:
            data["load"] = load
    if version < 3:
        # Version 2 had a free-form language that nothing read; a name in another
        # spelling of a shipped translation ("zh-CN", "zh_cn") keeps its meaning.
        language = data.get("language")
        if isinstance(language, str):
            spelled = language.strip().replace("-", "_").lower()
            data["language"] = {"en": "en", "en_us": "en", "zh_cn": "zh_CN"}.get(spelled)
    # Version 4 added models_dir, hub_endpoint, http_proxy and apps_catalogue_repo, with
    # defaults: nothing to move; the bump keeps a version-3 app from writing over them.
    data["schema_version"] = SCHEMA_VERSION
    return data


def _drop(data: Any, loc: tuple[int | str, ...]) -> bool:
    """Remove the value at ``loc`` (a validation error's location) from nested data."""
    container: dict[Any, Any] | list[Any]
    for i, key in enumerate(loc):
        if (isinstance(data, dict) and key in data) or (
            isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data)
        ):
            container = data
        else:
            return False
        if i == len(loc) - 1:
            del container[key]  # type: ignore[arg-type]  # checked above: int for a list
            return True
        data = container[key]  # type: ignore[index]
    return False


def _validate_keeping_the_rest(data: dict[str, Any]) -> Settings:
    """Settings from ``data``; each invalid value falls back to its default alone."""
    for _ in range(100):
        try:
            return Settings.model_validate(data)
        except ValidationError as exc:
            dropped = False
            # Last first: pydantic reports list items in order, so deleting from the end
            # keeps the indices of the others valid.
            for error in reversed(exc.errors()):
                log.warning("settings: %s %s; using the default", error["loc"], error["msg"])
                dropped = _drop(data, tuple(error["loc"])) or dropped
                if not dropped and error["loc"]:
                    dropped = _drop(data, (error["loc"][0],))
            if not dropped:
                break
    return Settings()


def _keep_newer_file(path: Path, version: int) -> None:
    """A file from a newer app: copy it aside once (``settings.json.v4``) before it is
    rewritten in this version's schema, so the newer version's own values survive."""
    aside = path.with_name(f"{path.name}.v{version}")
    if not aside.exists():
        try:
            shutil.copy2(path, aside)
        except OSError as exc:
            log.warning("settings: could not keep %s aside: %s", path, exc)


def load_settings(path: Path) -> Settings:
    """Settings from ``path``; a missing or unreadable file gives defaults (the bad file is kept aside)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("settings file is not a JSON object")
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            path.replace(path.with_suffix(".json.bad"))
        return Settings()
    version = raw.get("schema_version")
    if isinstance(version, int) and version > SCHEMA_VERSION:
        _keep_newer_file(path, version)
    return _validate_keeping_the_rest(_migrate(raw))


def save_settings(path: Path, settings: Settings) -> None:
    write_text_atomic(path, settings.model_dump_json(indent=2) + "\n")


class SettingsWriter:
    """Saves settings atomically on one worker thread, in the order they were asked for.

    ``save`` takes its snapshot on the caller's thread (a few hundred microseconds), so a
    change made after the call is not half-written, and returns at once; the future
    reports the write's OSError. ``flush`` waits for every write asked for so far.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor: ThreadPoolExecutor | None = None
        self._last: Future[None] | None = None
        self._lock = threading.Lock()

    def save(self, settings: Settings) -> Future[None]:
        text = settings.model_dump_json(indent=2) + "\n"
        with self._lock:
            if self._executor is None:
                # Made on first use: a window that never saves starts no thread.
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="settings-writer")
            self._last = self._executor.submit(write_text_atomic, self.path, text)
            return self._last

    def flush(self, timeout: float | None = None) -> None:
        """Block until the writes asked for so far are done (their errors are the futures')."""
        with self._lock:
            last = self._last
        if last is not None:
            with contextlib.suppress(Exception):
                last.result(timeout)

    def close(self) -> None:
        """Finish the pending writes and stop the worker thread."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
