"""What every refusal of a model file must look like, for the GGUF reader and check tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from llmos_desktop.core.models.gguf import ModelFileError

__all__ = ["expect_model_file_error"]


def expect_model_file_error(
    check: Callable[[str | os.PathLike[str]], object],
    path: str | os.PathLike[str],
    kind: str | tuple[str, ...],
) -> str:
    """Run ``check(path)``; assert a ModelFileError of ``kind`` whose one-line message
    names the file. Returns the message for further assertions."""
    kinds = (kind,) if isinstance(kind, str) else kind
    with pytest.raises(ModelFileError) as caught:
        check(path)
    error = caught.value
    assert error.kind in kinds, error.message
    assert str(error) == error.message
    assert "\n" not in error.message and "\r" not in error.message
    assert Path(path).name in error.message
    return error.message
