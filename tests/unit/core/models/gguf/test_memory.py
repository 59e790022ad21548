"""The memory estimate: weights, KV cache from the hyperparameters, a fallback without them."""

from __future__ import annotations

from pathlib import Path

import gguf
import pytest

from llmos_desktop.core.models.gguf import GGUFInfo, estimate_memory_bytes, read_gguf_info
from tests.helpers.gguf_factory import write_gguf

GIB = 1024**3


@pytest.mark.model
def test_real_model_estimate(real_info: GGUFInfo) -> None:
    info = real_info
    estimate = estimate_memory_bytes(info)
    assert info.file_size < estimate < 2 * GIB
    # Gemma 3 270M: 18 layers x 1 KV head x (256 + 256) x f16 per token.
    kv_4096 = 18 * 1 * 512 * 2 * 4096
    assert estimate_memory_bytes(info, 8192) - estimate == kv_4096


def test_memory_estimate_understands_per_layer_arrays(tmp_path: Path) -> None:
    uniform = read_gguf_info(write_gguf(tmp_path / "a.gguf", tensors=3, context_length=4096))
    per_layer = read_gguf_info(
        write_gguf(
            tmp_path / "b.gguf",
            tensors=3,
            context_length=4096,
            extra_kv={"llama.attention.head_count_kv": [1, 0]},  # 2 layers, one without KV
        )
    )
    kv_uniform = estimate_memory_bytes(uniform, 1024) - estimate_memory_bytes(uniform, 512)
    kv_layered = estimate_memory_bytes(per_layer, 1024) - estimate_memory_bytes(per_layer, 512)
    # head dim 8/2 = 4, K + V, f16: 16 bytes per KV head per layer per token.
    assert kv_uniform == 2 * 16 * 512
    assert kv_layered == 1 * 16 * 512


def test_memory_estimate_falls_back_without_hyperparameters(tmp_path: Path) -> None:
    path = write_gguf(
        tmp_path / "bare.gguf",
        extra_kv={"llama.block_count": gguf.GGUFValue(-1, gguf.GGUFValueType.INT32)},
    )
    info = read_gguf_info(path)
    assert estimate_memory_bytes(info, 4096) >= info.expected_size + 64 * 1024 * 1024
    assert estimate_memory_bytes(info, 0) == estimate_memory_bytes(info, 512)  # model's own


def test_memory_estimate_uses_at_most_the_trained_context(tmp_path: Path) -> None:
    # The engine caps the context at what the model was trained for; so does the estimate.
    info = read_gguf_info(write_gguf(tmp_path / "short.gguf", tensors=3, context_length=512))
    assert estimate_memory_bytes(info, 1_048_576) == estimate_memory_bytes(info, 512)
    assert estimate_memory_bytes(info, 256) < estimate_memory_bytes(info, 512)


@pytest.mark.model
def test_real_model_estimate_for_a_million_tokens(real_info: GGUFInfo) -> None:
    # 1,048,576 tokens would be 18.9 GB of KV cache; the engine uses the trained 32,768.
    assert estimate_memory_bytes(real_info, 1_048_576) == estimate_memory_bytes(real_info, 32_768)
    assert estimate_memory_bytes(real_info, 1_048_576) < 1 * GIB
