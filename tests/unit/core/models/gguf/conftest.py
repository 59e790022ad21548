"""Fixtures shared by the GGUF reader, check and memory tests.

Tests that use ``real_model`` or ``real_info`` need the real model file and carry
``@pytest.mark.model``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llmos_desktop.core.models.gguf import GGUFInfo, read_gguf_info
from tests.helpers.gguf_factory import write_gguf


@pytest.fixture(scope="session")
def real_model(model_path: Path) -> Path:
    """The real Gemma 3 270M Q4_K_M file (~253 MB); conftest assembles it once per session."""
    return model_path


@pytest.fixture(scope="session")
def real_info(real_model: Path) -> GGUFInfo:
    return read_gguf_info(real_model)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """A small valid GGUF (llama architecture, one F32 tensor) from tests.helpers."""
    return write_gguf(tmp_path / "tiny.gguf")
