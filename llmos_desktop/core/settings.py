"""Typed settings, stored as JSON with a schema version and migrations, written atomically.

The engine's options are not re-listed here: ``load`` and ``sampling`` are the
contract's LoadOptions and SamplingOptions (core/engine/contract.py), validated with
their bounds. A file with a bad value keeps every other value: only what fails
validation falls back to its default, and an unreadable file is kept aside.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmos_desktop.core.atomic import write_text_atomic
from llmos_desktop.core.engine.contract import (
    DEFAULT_PROMPT_CACHE_MB,
    LoadOptions,
    SamplingOptions,
)

SCHEMA_VERSION = 2
RECENT_MODELS_KEPT = 10
CHAT_MAX_TOKENS = 512  # a chat reply's default length; the API's default is "until full"

log = logging.getLogger(__name__)


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    schema_version: int = SCHEMA_VERSION
    load: LoadOptions = LoadOptions()  # how models are loaded, unless a model says otherwise
    sampling: SamplingOptions = SamplingOptions(max_tokens=CHAT_MAX_TOKENS)  # the chat's
    prompt_cache_mb: int = Field(DEFAULT_PROMPT_CACHE_MB, ge=0, le=1 << 20)
    last_model: str | None = None
    recent_models: list[str] = Field(default_factory=list, max_length=100)
    language: str | None = None  # None: follow the system

    def remember_model(self, path: str) -> None:
        self.last_model = path
        self.recent_models = [
            path,
            *[p for p in self.recent_models if p != path][: RECENT_MODELS_KEPT - 1],
        ]


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older file's data to SCHEMA_VERSION, one version step at a time."""
    version = data.get("schema_version")
    version = version if isinstance(version, int) else 0
    if version < 2:
        # Version 1 kept the load options at the top level.
        load = {key: data.pop(key) for key in ("n_ctx", "n_gpu_layers", "n_threads") if key in data}
        if load:
            data["load"] = load
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
    return _validate_keeping_the_rest(_migrate(raw))


def save_settings(path: Path, settings: Settings) -> None:
    write_text_atomic(path, settings.model_dump_json(indent=2) + "\n")
