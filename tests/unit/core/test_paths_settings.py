"""Where data lives, and settings that survive bad files and crashes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from llmos_desktop.core.engine.contract import LoadOptions
from llmos_desktop.core.paths import app_paths
from llmos_desktop.core.settings import SCHEMA_VERSION, Settings, load_settings, save_settings


def test_llmos_home_moves_every_folder(llmos_home: Path) -> None:
    paths = app_paths().ensure()
    for folder in (paths.config, paths.data, paths.cache, paths.logs, paths.models):
        assert folder.is_dir()
        assert folder.resolve().is_relative_to(llmos_home.resolve())
    assert paths.engine_log.parent == paths.logs


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG folders are Linux's")
def test_without_llmos_home_the_platform_folders_are_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLMOS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    paths = app_paths()
    assert paths.data == tmp_path / ".local" / "share" / "LLMOS"
    assert paths.settings_file == tmp_path / ".config" / "LLMOS" / "settings.json"
    assert paths.models == paths.data / "models"


def test_settings_round_trip_and_recent_models(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    settings = Settings()
    for name in ["a.gguf", "b.gguf", "a.gguf"]:
        settings.remember_model(name)
    settings.load = LoadOptions(n_ctx=8192)
    save_settings(path, settings)
    loaded = load_settings(path)
    assert loaded.recent_models == ["a.gguf", "b.gguf"]
    assert loaded.last_model == "a.gguf"
    assert loaded.load.n_ctx == 8192
    assert loaded == settings
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION
    assert not list(tmp_path.glob("*.tmp")), "no temp file is left behind"


def test_damaged_settings_are_kept_aside_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{ not json")
    assert load_settings(path) == Settings()
    assert (tmp_path / "settings.json.bad").read_text() == "{ not json"


def test_version_1_files_are_migrated(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(
        json.dumps({"schema_version": 1, "n_ctx": 2048, "n_gpu_layers": 12, "last_model": "m.gguf"})
    )
    loaded = load_settings(path)
    assert loaded.load == LoadOptions(n_ctx=2048, n_gpu_layers=12)
    assert loaded.last_model == "m.gguf"
    assert loaded.schema_version == SCHEMA_VERSION


def test_wrong_types_and_unknown_keys_fall_back_per_field(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(
        json.dumps(
            {
                "schema_version": 2,
                "load": {"n_ctx": "huge", "n_gpu_layers": 12},
                "sampling": {"temperature": 99, "top_k": 5},
                "surprise": 1,
                "recent_models": ["a.gguf", 7, None, "b.gguf"],
                "last_model": ["not", "a", "path"],
            }
        )
    )
    loaded = load_settings(path)
    assert loaded.load == LoadOptions(n_gpu_layers=12)
    assert loaded.sampling.temperature == Settings().sampling.temperature
    assert loaded.sampling.top_k == 5
    assert loaded.recent_models == ["a.gguf", "b.gguf"]
    assert loaded.last_model is None


def test_out_of_bounds_values_are_refused_when_set() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.prompt_cache_mb = -1
    with pytest.raises(ValidationError):
        settings.load = LoadOptions(n_ctx=1)
