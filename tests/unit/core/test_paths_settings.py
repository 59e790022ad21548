"""Where data lives, and settings that survive bad files and crashes."""

from __future__ import annotations

import json
from pathlib import Path

from llmos_desktop.core.paths import app_paths
from llmos_desktop.core.settings import SCHEMA_VERSION, Settings, load_settings, save_settings


def test_llmos_home_moves_every_folder(llmos_home: Path) -> None:
    paths = app_paths().ensure()
    for folder in (paths.config, paths.data, paths.cache, paths.logs, paths.models):
        assert folder.is_dir()
        assert folder.resolve().is_relative_to(llmos_home.resolve())
    assert paths.engine_log.parent == paths.logs


def test_without_llmos_home_platformdirs_decide(tmp_path: Path) -> None:
    paths = app_paths({"HOME": str(tmp_path)})
    assert "LLMOS" in str(paths.data) or "llmos" in str(paths.data).lower()
    assert paths.settings_file.name == "settings.json"


def test_settings_round_trip_and_recent_models(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    settings = Settings()
    for name in ["a.gguf", "b.gguf", "a.gguf"]:
        settings.remember_model(name)
    settings.n_ctx = 8192
    save_settings(path, settings)
    loaded = load_settings(path)
    assert loaded.recent_models == ["a.gguf", "b.gguf"]
    assert loaded.last_model == "a.gguf"
    assert loaded.n_ctx == 8192
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION
    assert not list(tmp_path.glob("*.tmp")), "no temp file is left behind"


def test_damaged_settings_are_kept_aside_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{ not json")
    assert load_settings(path) == Settings()
    assert (tmp_path / "settings.json.bad").read_text() == "{ not json"


def test_wrong_types_and_unknown_keys_fall_back_per_field(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(
        json.dumps({"schema_version": 0, "n_ctx": "huge", "surprise": 1, "n_gpu_layers": 12})
    )
    loaded = load_settings(path)
    assert loaded.n_ctx == Settings().n_ctx
    assert loaded.n_gpu_layers == 12
    assert loaded.schema_version == SCHEMA_VERSION
