"""Where data lives, and settings that survive bad files, old and new versions, and crashes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from llmos_desktop.core import settings as settings_module
from llmos_desktop.core.engine.contract import LoadOptions, SamplingOptions
from llmos_desktop.core.paths import app_paths
from llmos_desktop.core.settings import (
    DEFAULT_KV_STATE_DISK_MB,
    MAX_KV_STATE_DISK_MB,
    SCHEMA_VERSION,
    Bounds,
    Settings,
    SettingsWriter,
    field_bounds,
    load_settings,
    save_settings,
)


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


def test_version_2_files_are_migrated_to_the_current_version_keeping_every_value(
    tmp_path: Path,
) -> None:
    path = tmp_path / "settings.json"
    version_2 = {
        "schema_version": 2,
        "load": {"n_ctx": 8192, "n_gpu_layers": -1, "n_threads": 4, "chat_template": None},
        "sampling": {"temperature": 0.3, "top_k": 20, "max_tokens": 256},
        "prompt_cache_mb": 512,
        "last_model": "/models/m.gguf",
        "recent_models": ["/models/m.gguf", "/models/n.gguf"],
        "language": "zh-CN",
    }
    path.write_text(json.dumps(version_2))
    loaded = load_settings(path)
    assert loaded.schema_version == SCHEMA_VERSION == 4
    assert loaded.load == LoadOptions(n_ctx=8192, n_gpu_layers=-1, n_threads=4)
    assert (loaded.sampling.temperature, loaded.sampling.top_k) == (0.3, 20)
    assert loaded.sampling.max_tokens == 256
    assert loaded.prompt_cache_mb == 512
    assert loaded.recent_models == ["/models/m.gguf", "/models/n.gguf"]
    assert loaded.language == "zh_CN"  # another spelling of a shipped translation
    # The new fields start at their defaults.
    assert loaded.theme == "system"
    assert (loaded.models_dir, loaded.hub_endpoint, loaded.http_proxy) == (None, None, None)
    assert loaded.enter_sends is True
    assert loaded.kv_state_disk_mb == DEFAULT_KV_STATE_DISK_MB == 2048
    assert loaded.window_geometry is None
    assert loaded.last_chat_id is None
    save_settings(path, loaded)
    written = json.loads(path.read_text())
    assert written["schema_version"] == SCHEMA_VERSION
    assert written["theme"] == "system" and written["kv_state_disk_mb"] == 2048


def test_a_version_2_language_nobody_ships_follows_the_system(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"schema_version": 2, "language": "klingon", "last_model": "m"}))
    loaded = load_settings(path)
    assert loaded.language is None
    assert loaded.last_model == "m"


def test_version_3_fields_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    settings = Settings(
        theme="dark",
        enter_sends=False,
        kv_state_disk_mb=0,
        language="en",
        last_chat_id="chat-42",
    )
    settings.remember_window_geometry(b"\x01\xd9\xd0\xcb\x00\x03geometry")
    save_settings(path, settings)
    loaded = load_settings(path)
    assert loaded == settings
    assert loaded.window_geometry_bytes() == b"\x01\xd9\xd0\xcb\x00\x03geometry"
    assert loaded.kv_state_disk_mb == 0  # 0: the disk cache is off, not "use the default"


def test_bad_version_3_values_fall_back_alone(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(
        json.dumps(
            {
                "schema_version": 3,
                "theme": "neon",
                "enter_sends": "sometimes",
                "kv_state_disk_mb": -5,
                "window_geometry": "not base64!!",
                "last_chat_id": "",
                "language": "fr",
                "prompt_cache_mb": 300,
            }
        )
    )
    loaded = load_settings(path)
    defaults = Settings()
    assert loaded.theme == defaults.theme
    assert loaded.enter_sends is True
    assert loaded.kv_state_disk_mb == DEFAULT_KV_STATE_DISK_MB
    assert loaded.window_geometry is None
    assert loaded.last_chat_id is None
    assert loaded.language is None
    assert loaded.prompt_cache_mb == 300  # the good value next to them is kept


def test_a_newer_apps_file_is_kept_aside_before_it_is_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    newer = {"schema_version": 9, "theme": "dark", "hologram_mode": True}
    path.write_text(json.dumps(newer))
    loaded = load_settings(path)
    assert loaded.theme == "dark"  # what this version understands is used
    assert json.loads((tmp_path / "settings.json.v9").read_text()) == newer
    save_settings(path, loaded)
    load_settings(path)  # loading again does not replace the copy with our own file
    assert json.loads((tmp_path / "settings.json.v9").read_text()) == newer


def test_field_bounds_are_the_contracts() -> None:
    assert field_bounds(LoadOptions, "n_ctx") == Bounds(128, 1_048_576)
    assert field_bounds(LoadOptions, "n_gpu_layers") == Bounds(-1, 10_000)
    assert field_bounds(LoadOptions, "n_threads") == Bounds(1, 1024, optional=True)
    assert field_bounds(SamplingOptions, "temperature") == Bounds(0, 5)
    assert field_bounds(SamplingOptions, "repeat_penalty") == Bounds(0, 10, exclusive_minimum=True)
    assert field_bounds(SamplingOptions, "max_tokens") == Bounds(1, 1_000_000, optional=True)
    assert field_bounds(Settings, "kv_state_disk_mb") == Bounds(0, MAX_KV_STATE_DISK_MB)


def test_writer_saves_in_order_off_the_callers_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    path = tmp_path / "config" / "settings.json"
    writer = SettingsWriter(path)
    settings = Settings()
    threads: set[str] = set()
    from llmos_desktop.core.atomic import write_text_atomic as original

    def recording_write(target: Path, text: str) -> None:
        threads.add(threading.current_thread().name)
        original(target, text)

    monkeypatch.setattr(settings_module, "write_text_atomic", recording_write)
    try:
        futures = []
        for mb in range(100, 150):
            settings.kv_state_disk_mb = mb
            futures.append(writer.save(settings))
        settings.kv_state_disk_mb = 7  # changed after the last save: not in that snapshot
        writer.flush(10)
    finally:
        writer.close()
    assert all(f.done() and f.exception() is None for f in futures)
    assert load_settings(path).kv_state_disk_mb == 149
    assert threading.current_thread().name not in threads
    assert len(threads) == 1  # one worker: the writes cannot overtake each other


def test_writer_reports_a_failed_write(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the config folder should be")
    writer = SettingsWriter(blocker / "settings.json")
    try:
        future = writer.save(Settings())
        with pytest.raises(OSError):
            future.result(10)
    finally:
        writer.close()


def test_the_models_folder_is_the_data_folder_s_unless_the_user_chose_one(tmp_path: Path) -> None:
    paths = app_paths({"LLMOS_HOME": str(tmp_path)})
    settings = Settings()
    assert settings.models_folder(paths) == paths.models
    settings.models_dir = str(tmp_path / "elsewhere")
    assert settings.models_folder(paths) == tmp_path / "elsewhere"
