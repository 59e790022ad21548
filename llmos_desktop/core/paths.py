"""Where LLMOS Desktop keeps its files.

Every folder comes from platformdirs, except when ``LLMOS_HOME`` is set: then all of
them live under that one folder (tests and portable installs use it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "LLMOS"
APP_AUTHOR = "LLMOS"
HOME_ENV = "LLMOS_HOME"


@dataclass(frozen=True)
class AppPaths:
    config: Path
    data: Path
    cache: Path
    logs: Path

    @property
    def models(self) -> Path:
        return self.data / "models"

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.json"

    @property
    def kv_states(self) -> Path:
        """Saved conversation states of the engine (rebuilt from the chats if lost)."""
        return self.cache / "kv-states"

    @property
    def engine_log(self) -> Path:
        return self.logs / "engine.log"

    def ensure(self) -> AppPaths:
        for folder in (self.config, self.data, self.cache, self.logs, self.models):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def app_paths(environ: dict[str, str] | None = None) -> AppPaths:
    env = os.environ if environ is None else environ
    home = env.get(HOME_ENV)
    if home:
        root = Path(home).expanduser().resolve()
        return AppPaths(
            config=root / "config", data=root / "data", cache=root / "cache", logs=root / "logs"
        )
    import platformdirs

    dirs = platformdirs.PlatformDirs(APP_NAME, APP_AUTHOR)
    return AppPaths(
        config=Path(dirs.user_config_dir),
        data=Path(dirs.user_data_dir),
        cache=Path(dirs.user_cache_dir),
        logs=Path(dirs.user_log_dir),
    )
