"""What core/lab/quantize.py decides before llama.cpp is asked anything: the source, the
requantize rule, the output name, the partial file's name and the free space."""

from __future__ import annotations

import shutil
from collections import namedtuple
from pathlib import Path

import gguf
import pytest

from llmos_desktop.core.lab.quantize import (
    check_job,
    default_out,
    estimate_output_bytes,
    inspect_source,
    partial_path,
)
from llmos_desktop.core.lab.types import LabError, QuantizeJob, QuantType
from tests.helpers.tiny_gguf import write_tiny_llama

Usage = namedtuple("Usage", "total used free")


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return write_tiny_llama(tmp_path / "tiny-F32.gguf")


def _refusal(job: QuantizeJob) -> LabError:
    with pytest.raises(LabError) as caught:
        check_job(job)
    return caught.value


def test_an_f32_source_is_accepted_and_described(tiny: Path) -> None:
    info = check_job(QuantizeJob(tiny, QuantType.Q4_K_M, tiny.with_name("tiny-Q4_K_M.gguf")))
    assert (info.file_type, info.architecture, info.is_quantized) == ("F32", "llama", False)
    assert info.size_bytes == tiny.stat().st_size


def test_a_quantized_source_needs_the_lossy_confirmation(tmp_path: Path) -> None:
    source = write_tiny_llama(
        tmp_path / "claims-q4.gguf", file_type=gguf.LlamaFileType.MOSTLY_Q4_K_M
    )
    out = tmp_path / "again.gguf"
    refused = _refusal(QuantizeJob(source, QuantType.Q4_0, out))
    assert refused.kind == "requantize_refused"
    assert "Q4_K_M" in str(refused) and "--allow-requantize" in str(refused)
    assert check_job(QuantizeJob(source, QuantType.Q4_0, out, allow_requantize=True))


def test_what_is_not_a_model_is_an_invalid_source(tmp_path: Path) -> None:
    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    assert _refusal(QuantizeJob(text, QuantType.Q8_0, tmp_path / "o.gguf")).kind == (
        "invalid_source"
    )
    missing = tmp_path / "gone.gguf"
    assert _refusal(QuantizeJob(missing, QuantType.Q8_0, tmp_path / "o.gguf")).kind == (
        "invalid_source"
    )


def test_the_output_is_never_an_existing_file_nor_something_else_than_gguf(tiny: Path) -> None:
    existing = tiny.with_name("taken.gguf")
    existing.write_bytes(b"mine")
    assert _refusal(QuantizeJob(tiny, QuantType.Q8_0, existing)).kind == "out_exists"
    assert existing.read_bytes() == b"mine"
    assert _refusal(QuantizeJob(tiny, QuantType.Q8_0, tiny.with_name("o.bin"))).kind == (
        "invalid_job"
    )
    assert _refusal(QuantizeJob(tiny, QuantType.Q8_0, tiny)).kind == "out_exists"


def test_too_little_free_space_is_refused_before_anything_is_written(
    tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """shutil.disk_usage is replaced (a mock: a real small disk is in
    tests/integration/test_lab_quantize.py where a tmpfs can be mounted)."""
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: Usage(10**9, 10**9 - 10**6, 10**6))
    out = tiny.with_name("tiny-Q8_0.gguf")
    refused = _refusal(QuantizeJob(tiny, QuantType.Q8_0, out))
    assert refused.kind == "disk_full"
    assert "MiB needed" in str(refused)
    assert not out.exists() and not partial_path(out).exists()


def test_the_partial_file_is_hidden_and_not_a_gguf_name() -> None:
    partial = partial_path(Path("/models/a/b-Q4_K_M.gguf"))
    assert partial.parent == Path("/models/a")
    assert partial.name.startswith(".")
    assert not partial.name.endswith(".gguf")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("llama-7b-F16.gguf", "llama-7b-Q4_K_M.gguf"),
        ("Model.bf16.gguf", "Model.Q4_K_M.gguf"),
        ("model-q8_0.gguf", "model-Q4_K_M.gguf"),
        ("plain.gguf", "plain-Q4_K_M.gguf"),
        ("SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct.Q4_K_M.gguf"),
        ("gemma-3-270m-it-UD-Q4_K_XL.gguf", "gemma-3-270m-it-Q4_K_M.gguf"),
        ("Qwen3-0.6B-F16-imat.gguf", "Qwen3-0.6B-Q4_K_M-imat.gguf"),
        ("llama-3b-Q8_0.Q4_0.gguf", "llama-3b-Q8_0.Q4_K_M.gguf"),
    ],
)
def test_the_default_output_names_the_new_type(source: str, expected: str) -> None:
    assert default_out(Path("/m") / source, QuantType.Q4_K_M) == Path("/m") / expected


def test_the_estimate_is_not_below_what_llama_cpp_writes(tiny: Path, tmp_path: Path) -> None:
    """Sizes llama.cpp wrote for this model (test_lab_quantize checks them for real)."""
    info = inspect_source(tiny)
    for qtype in QuantType:
        # Never more than the F32 source, never less than the weights at the new bpw.
        estimate = estimate_output_bytes(info, qtype)
        assert info.size_bytes * qtype.bits_per_weight / 32 < estimate < info.size_bytes
