"""The model file check: architectures llama.cpp lacks, files without weights, too big."""

from __future__ import annotations

import os
from pathlib import Path

import gguf
import pytest

from llmos_desktop.core.models.gguf import (
    GGUFInfo,
    ModelFileError,
    check_model_file,
    read_gguf_info,
)
from tests.helpers.gguf_factory import raw_gguf, raw_kv, raw_string, write_gguf
from tests.helpers.model_file_errors import expect_model_file_error

GIB = 1024**3
PLENTY = 64 * GIB
STRING = int(gguf.GGUFValueType.STRING)


def expect_error(
    path: str | os.PathLike[str],
    kind: str | tuple[str, ...],
    *,
    available_memory: int | None = None,
) -> str:
    """check_model_file refuses ``path`` with a ModelFileError of ``kind``; its message."""

    def check(p: str | os.PathLike[str]) -> GGUFInfo:
        return check_model_file(p, available_memory=available_memory)

    return expect_model_file_error(check, path, kind)


@pytest.mark.model
def test_real_model_passes_the_check(real_model: Path, real_info: GGUFInfo) -> None:
    info = check_model_file(real_model, available_memory=PLENTY)
    assert info == real_info


def test_unknown_architecture(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "alien.gguf", architecture="totally-not-a-model")
    info = read_gguf_info(path)  # reading is fine; loading is not
    assert info.architecture == "totally-not-a-model"
    message = expect_error(path, "unsupported_architecture", available_memory=PLENTY)
    assert "'totally-not-a-model'" in message


def test_hostile_architecture_name_stays_on_one_line(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "evil.gguf", architecture="llama\nOK: loaded\r\x1b[2J" + "x" * 500)
    message = expect_error(path, "unsupported_architecture")
    assert len(message) < 300


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        ({"general.type": "adapter"}, "LoRA adapter"),
        ({"general.type": "mmproj"}, "vision projector"),
        ({"general.type": "imatrix"}, "importance matrix"),
    ],
)
def test_files_that_are_not_models(tmp_path: Path, extra: dict[str, object], text: str) -> None:
    path = write_gguf(tmp_path / "part.gguf", extra_kv=extra)
    assert text in expect_error(path, "unsupported_architecture")


def test_clip_is_not_a_language_model(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "mmproj.gguf", architecture="clip")
    assert "vision projector" in expect_error(path, "unsupported_architecture")


def test_missing_architecture(tmp_path: Path) -> None:
    path = raw_gguf(tmp_path / "anon.gguf", [raw_kv("general.name", STRING, raw_string("x"))])
    assert read_gguf_info(path).architecture is None
    expect_error(path, "unsupported_architecture")


def test_vocabulary_only_file(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "vocab.gguf", tensors=0)
    assert read_gguf_info(path).tensor_count == 0
    assert "no weights" in expect_error(path, "corrupt")


@pytest.mark.model
def test_too_large(real_model: Path) -> None:
    message = expect_error(real_model, "too_large", available_memory=1024)
    assert "needs about" in message
    assert "only 1.0 KB is free" in message


def test_default_available_memory_is_used(tiny: Path) -> None:
    # A few KB of weights fits anywhere; this goes through psutil.
    assert check_model_file(tiny).architecture == "llama"


def test_messages_escape_hostile_file_names(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "bad\nname\u202e.gguf", architecture="nope")
    with pytest.raises(ModelFileError) as caught:
        check_model_file(path)
    assert "\n" not in caught.value.message
    assert "bad\\nname\\u202e.gguf" in caught.value.message


@pytest.mark.model
def test_a_million_token_context_is_judged_at_the_trained_context(real_model: Path) -> None:
    """n_ctx 1,048,576 on the 270M model: the engine uses 32,768 tokens (its trained
    context), so about 1 GB is needed, not the 19.7 GB a million tokens would take."""
    check_model_file(real_model, n_ctx=1_048_576, available_memory=2 * GIB)
    message = expect_model_file_error(
        lambda p: check_model_file(p, n_ctx=1_048_576, available_memory=512 * 1024**2),
        real_model,
        "too_large",
    )
    assert "for a 32768-token context, the most it was trained for)" in message
    assert "only 536.9 MB is free" in message


def test_the_estimate_is_compared_with_the_memory_available_now(
    tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psutil

    class Memory:
        available = 4096  # what the machine can give, not its total

    monkeypatch.setattr(psutil, "virtual_memory", Memory)
    message = expect_model_file_error(check_model_file, tiny, "too_large")
    assert "only 4.1 KB is free" in message


def test_hyperparameters_are_checked_before_memory(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "no layers.gguf", extra_kv={"llama.block_count": 0})
    message = expect_error(path, "corrupt", available_memory=1024)
    assert (
        message == "no layers.gguf is damaged: the file says it has 0 layers; a model has 1 to 512"
    )
