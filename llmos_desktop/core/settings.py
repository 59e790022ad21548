"""Typed settings, stored as JSON with a schema version, written atomically."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from llmos_desktop.core.atomic import write_text_atomic

SCHEMA_VERSION = 1


@dataclass
class Settings:
    schema_version: int = SCHEMA_VERSION
    n_ctx: int = 4096
    n_gpu_layers: int = 0
    n_threads: int | None = None
    prompt_cache_mb: int = 1024
    last_model: str | None = None
    recent_models: list[str] = field(default_factory=list)
    language: str | None = None  # None: follow the system

    def remember_model(self, path: str, keep: int = 10) -> None:
        self.last_model = path
        self.recent_models = [path, *[p for p in self.recent_models if p != path][: keep - 1]]


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    version = int(data.get("schema_version", 0) or 0)
    if version < 1:
        data["schema_version"] = 1
    return data


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
    data = _migrate(raw)
    known = {f.name for f in fields(Settings)}
    defaults = Settings()
    values: dict[str, Any] = {}
    for name in known:
        value = data.get(name, getattr(defaults, name))
        default = getattr(defaults, name)
        if default is not None and not isinstance(value, type(default)):
            value = default
        values[name] = value
    values["schema_version"] = SCHEMA_VERSION
    return Settings(**values)


def save_settings(path: Path, settings: Settings) -> None:
    write_text_atomic(path, json.dumps(asdict(settings), indent=2, ensure_ascii=False) + "\n")
