"""Remote engines: OpenAI-compatible servers (vLLM, Triton, llama-server, another LLMOS...)
that a chat or an app can run on instead of the local engine.

``types`` (the configuration, the check, the error kinds), ``registry`` (the file and
the keys), ``remote`` (the client and ``RemoteEngine``), ``service`` (``EnginesService``,
the front). Qt-free; nothing heavy is imported here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

ENGINES_FILE: Final = "engines.json"
"""The registry's file in the data folder (``registry.EngineRegistry``)."""


def any_configured(data_dir: Path) -> bool:
    """Whether remote engines may be configured, without importing anything heavy: the
    window asks at start-up, and a user who never added one pays nothing."""
    return (data_dir / ENGINES_FILE).exists()
