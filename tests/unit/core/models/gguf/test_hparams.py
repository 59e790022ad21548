"""Hyperparameters llama.cpp asserts on: the check refuses them in one line, as damage.

The cases that made the bundled llama.cpp abort or hang were found with altered copies
of the real model (tests/helpers/hostile_models.py, run against a live engine in
tests/integration/test_hostile_models.py). Here each rule is shown on a tiny file: the
message a user would read, and the values next to the limit that still pass.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import gguf
import pytest

from llmos_desktop.core.models.gguf import GGUFInfo, check_model_file, read_gguf_info
from llmos_desktop.core.models.gguf.hparams import (
    MAX_CONTEXT,
    MAX_EMBEDDING,
    MAX_EXPERTS,
    MAX_HEAD_LENGTH,
    MAX_HEADS,
    MAX_LAYERS,
    MAX_VOCAB,
)
from tests.helpers.gguf_factory import (
    raw_array,
    raw_gguf,
    raw_kv,
    raw_string,
    raw_tensor_info,
    write_gguf,
)
from tests.helpers.model_file_errors import expect_model_file_error

PLENTY = 64 * 1024**3
STRING = int(gguf.GGUFValueType.STRING)
UINT32 = int(gguf.GGUFValueType.UINT32)
ARRAY = int(gguf.GGUFValueType.ARRAY)
F32 = int(gguf.GGMLQuantizationType.F32)


def check(path: str | os.PathLike[str]) -> GGUFInfo:
    return check_model_file(path, available_memory=PLENTY)


def refused(path: Path) -> str:
    """The check refuses ``path`` as damaged; the message (one line, naming the file)."""
    message = expect_model_file_error(check, path, "corrupt")
    assert message.startswith(f"{path.name} is damaged: "), message
    return message.removeprefix(f"{path.name} is damaged: ")


def tiny(
    tmp_path: Path,
    extra: dict[str, object],
    *,
    architecture: str = "llama",
    attention_kv_heads: list[int] | None = None,
) -> Path:
    """A tiny file (2 layers, 8 embedding values, 2 heads, 1 KV head) with ``extra``."""
    return write_gguf(
        tmp_path / "tiny model.gguf",
        architecture=architecture,
        extra_kv=extra,
        tensors=3,
        attention_kv_heads=attention_kv_heads,
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"llama.block_count": 0}, "the file says it has 0 layers; a model has 1 to 512"),
        ({"llama.block_count": 513}, "the file says it has 513 layers; a model has 1 to 512"),
        ({"llama.block_count": 2**32 - 1}, "has 4,294,967,295 layers"),
        ({"llama.block_count": "18"}, "'llama.block_count' is not a whole number"),
        ({"llama.block_count": -1}, "'llama.block_count' is negative (-1)"),
        ({"llama.context_length": 0}, "trained on a context of 0 tokens; a model has 1 to"),
        ({"llama.context_length": 2**31}, "a context of 2,147,483,648 tokens"),
        ({"llama.context_length": MAX_CONTEXT + 1}, "a model has 1 to 16,777,216"),
        ({"llama.embedding_length": 0}, "its embeddings have 0 values; a model has 1 to"),
        ({"llama.embedding_length": MAX_EMBEDDING + 1}, "131,073 values"),
        ({"llama.attention.head_count": MAX_HEADS + 1}, "4,097 attention heads"),
        ({"llama.attention.head_count_kv": 3}, "3 KV heads but only 2 attention heads"),
        (
            {"llama.attention.head_count": 4, "llama.attention.head_count_kv": 3},
            "shares 4 attention heads among 3 KV heads, which does not divide evenly",
        ),
        ({"llama.attention.head_count": 0}, "1 KV head but only 0 attention heads"),
        (
            {"llama.attention.head_count": 3, "llama.attention.head_count_kv": 1},
            "its 8 embedding values do not divide into 3 attention heads",
        ),
        ({"llama.attention.head_count_kv": [1, 1, 1]}, "3 KV head counts for its 2 layers"),
        ({"llama.attention.head_count_kv": [1, 3]}, "layer 1 has 3 KV heads but only 2"),
        ({"llama.attention.head_count": [2.0, 2.0]}, "holds something other than whole numbers"),
        ({"llama.attention.key_length": 0}, "attention keys have 0 values per head; a model"),
        ({"llama.attention.value_length": MAX_HEAD_LENGTH + 1}, "16,385 values per head"),
        ({"llama.rope.dimension_count": 0}, "RoPE turns 0 values per head"),
        ({"llama.rope.dimension_count": 3}, "RoPE turns 3 values per head; it turns them in pairs"),
        ({"llama.rope.dimension_count": 6}, "RoPE turns 6 values per head, but a head has 4"),
        ({"llama.rope.scaling.type": "bogus"}, "RoPE scaling type 'bogus' is not one llama.cpp"),
        ({"llama.attention.layer_norm_rms_epsilon": math.nan}, "epsilon"),
        (
            {"llama.attention.layer_norm_epsilon": -1.0},
            "is -1.0; it must be a finite number, 0 or more",
        ),
        ({"llama.attention.layer_norm_rms_epsilon": math.inf}, "is inf"),
        ({"llama.expert_count": MAX_EXPERTS + 1}, "513 experts; a model has at most 512"),
        ({"llama.expert_used_count": 2}, "uses 2 experts per token but has none"),
        ({"llama.expert_count": 4}, "has 4 experts but uses none of them"),
        ({"llama.expert_count": 2, "llama.expert_used_count": 3}, "uses 3 of its 2 experts"),
        (
            {"llama.expert_count": 8, "llama.expert_used_count": 2, "llama.expert_group_count": 8},
            "puts its 8 experts in 8 groups",
        ),
        (
            {"llama.expert_count": 8, "llama.expert_used_count": 2, "llama.expert_group_count": 3},
            "do not add up",
        ),
        ({"llama.expert_group_count": 2}, "puts its experts in 2 groups but has none"),
        ({"llama.nextn_predict_layers": 3}, "3 of its 2 layers predict further tokens"),
    ],
)
def test_impossible_hyperparameters_are_damage(
    tmp_path: Path, extra: dict[str, object], message: str
) -> None:
    assert message in refused(tiny(tmp_path, extra))


@pytest.mark.parametrize(
    "extra",
    [
        {"llama.block_count": MAX_LAYERS},  # llama.cpp then misses tensors: its own clean error
        {"llama.context_length": 1},
        {"llama.context_length": MAX_CONTEXT},
        {"llama.attention.head_count_kv": 0},  # no KV cache (hybrid models mark layers so)
        {"llama.attention.head_count_kv": [1, 0]},
        {"llama.attention.head_count": [2, 0], "llama.attention.head_count_kv": [1, 0]},
        {
            "llama.attention.head_count": 3,
            "llama.attention.key_length": 4,
            "llama.attention.value_length": 4,
        },  # heads need not divide the embedding then
        {"llama.rope.dimension_count": 4},
        {"llama.rope.dimension_count": 0, "llama.attention.kv_lora_rank": 16},  # MLA
        {"llama.rope.scaling.type": "yarn"},
        {"llama.attention.layer_norm_rms_epsilon": 0.0},
        {"llama.expert_count": MAX_EXPERTS, "llama.expert_used_count": [2, 8]},
        {
            "llama.expert_count": 8,
            "llama.expert_used_count": 2,
            "llama.expert_group_count": 4,
            "llama.expert_group_used_count": 2,
        },
        {"llama.nextn_predict_layers": 2},
    ],
)
def test_values_at_the_limits_pass(tmp_path: Path, extra: dict[str, object]) -> None:
    check(tiny(tmp_path, extra))


def test_missing_hyperparameters_are_left_to_llama_cpp(tmp_path: Path) -> None:
    # llama.cpp refuses these cleanly ("key not found in model: llama.context_length").
    arch = raw_kv("general.architecture", STRING, raw_string("llama"))
    layers = raw_kv("llama.block_count", UINT32, struct.pack("<I", 2))
    weights = raw_tensor_info("token_embd.weight", [8, 2], F32, 0)
    for kvs in ([arch, layers], [arch]):
        check(raw_gguf(tmp_path / "bare.gguf", kvs, [weights], data=b"\0" * 64))


def test_an_empty_vocabulary(tmp_path: Path) -> None:
    kvs = [
        raw_kv("general.architecture", STRING, raw_string("llama")),
        raw_kv("llama.block_count", UINT32, struct.pack("<I", 1)),
        raw_kv("llama.context_length", UINT32, struct.pack("<I", 512)),
        raw_kv("llama.embedding_length", UINT32, struct.pack("<I", 8)),
        raw_kv("tokenizer.ggml.tokens", ARRAY, raw_array(STRING, 0)),
    ]
    weights = raw_tensor_info("token_embd.weight", [8, 2], F32, 0)
    path = raw_gguf(tmp_path / "no words.gguf", kvs, [weights], data=b"\0" * 64)
    assert read_gguf_info(path).vocab_size == 0
    assert refused(path) == f"its vocabulary has 0 tokens; a model has 1 to {MAX_VOCAB:,}"


def test_a_vocabulary_over_the_limit(tmp_path: Path) -> None:
    count = MAX_VOCAB + 1  # 1-byte tokens, repeating: too many to compare, refused anyway
    tokens = b"".join(struct.pack("<Q", 1) + bytes([i % 251]) for i in range(count))
    kvs = [
        raw_kv("general.architecture", STRING, raw_string("llama")),
        raw_kv("llama.block_count", UINT32, struct.pack("<I", 1)),
        raw_kv("llama.context_length", UINT32, struct.pack("<I", 512)),
        raw_kv("llama.embedding_length", UINT32, struct.pack("<I", 8)),
        raw_kv("tokenizer.ggml.tokens", ARRAY, raw_array(STRING, count, tokens)),
    ]
    weights = raw_tensor_info("token_embd.weight", [8, 2], F32, 0)
    path = raw_gguf(tmp_path / "huge vocabulary.gguf", kvs, [weights], data=b"\0" * 64)
    assert refused(path) == "its vocabulary has 1,048,577 tokens; a model has 1 to 1,048,576"


def test_layers_with_the_same_attention_weights_need_the_same_head_counts(
    tmp_path: Path,
) -> None:
    # llama.cpp sizes the weights by layer 0's KV heads and each layer's graph by its
    # own: layer 1 passes the load and aborts the process at the first prompt.
    mismatched = tiny(
        tmp_path, {"llama.attention.head_count_kv": [1, 2]}, attention_kv_heads=[1, 1]
    )
    assert refused(mismatched) == (
        "layers 0 and 1 have attention weights of the same shape, "
        "but the file gives them 1 and 2 KV heads"
    )


def test_layers_with_their_own_attention_shapes_may_differ(tmp_path: Path) -> None:
    path = tiny(tmp_path, {"llama.attention.head_count_kv": [1, 2]}, attention_kv_heads=[1, 2])
    assert check(path).tensor_shapes["blk.1.attn_k.weight"] == (8, 8)


def test_hunyuan_dense_may_name_one_expert(tmp_path: Path) -> None:
    # llama.cpp drops an expert count of 0 or 1 for these before its expert asserts.
    path = tiny(tmp_path, {"hunyuan-dense.expert_count": 1}, architecture="hunyuan-dense")
    check(path)


def test_hostile_key_values_stay_on_one_line(tmp_path: Path) -> None:
    message = refused(tiny(tmp_path, {"llama.rope.scaling.type": "yarn\nOK: loaded\x1b[2J"}))
    assert "\\n" in message and "\x1b" not in message


# --- the tokenizer and its vocabulary ----------------------------------------------------

BYTE = int(gguf.TokenType.BYTE)
NORMAL = int(gguf.TokenType.NORMAL)
CONTROL = int(gguf.TokenType.CONTROL)
INT32 = int(gguf.GGUFValueType.INT32)
WITH_BYTES = ("<unk>", "<s>", "</s>", "▁hello", "<0x0A>", "<0x20>")
BYTE_TYPES = [2, CONTROL, CONTROL, NORMAL, BYTE, BYTE]


def vocabulary(
    tmp_path: Path,
    tokens: tuple[str, ...],
    *,
    tokenizer: str = "llama",
    types: list[int] | None = None,
) -> Path:
    extra: dict[str, object] = {"tokenizer.ggml.model": tokenizer}
    if types is not None:
        extra["tokenizer.ggml.token_type"] = gguf.GGUFValue(
            types, gguf.GGUFValueType.ARRAY, gguf.GGUFValueType(INT32)
        )
    return write_gguf(tmp_path / "words.gguf", vocab=tokens, extra_kv=extra)


@pytest.mark.parametrize("tokenizer", ["bert", "rwkv"])
def test_byte_tokens_under_a_tokenizer_without_them_are_damage(
    tmp_path: Path, tokenizer: str
) -> None:
    # With the bundled llama.cpp: bert aborts while loading (token_to_byte), rwkv hangs
    # at the first tokenize (tests/helpers/hostile_models.py has both on the real model).
    path = vocabulary(tmp_path, WITH_BYTES, tokenizer=tokenizer, types=BYTE_TYPES)
    assert refused(path) == (
        f"the file says its tokenizer is '{tokenizer}', but its vocabulary has byte tokens "
        "(such as <0x0A>), which that tokenizer never has"
    )


@pytest.mark.parametrize(
    ("tokenizer", "types"),
    [
        ("llama", BYTE_TYPES),  # SentencePiece: byte tokens are its own
        ("bert", [2, CONTROL, CONTROL, NORMAL, NORMAL, NORMAL]),  # text like <0x0A>, no bytes
        ("rwkv", [NORMAL] * 6),
        ("bert", None),  # no token types at all
    ],
)
def test_tokenizers_with_their_own_kind_of_vocabulary_pass(
    tmp_path: Path, tokenizer: str, types: list[int] | None
) -> None:
    check(vocabulary(tmp_path, WITH_BYTES, tokenizer=tokenizer, types=types))


@pytest.mark.parametrize(
    ("tokens", "count"),
    [
        (("", "", "", "", ""), "5 tokens"),  # BOS and EOS (ids 1 and 2) empty too
        (("", ""), "2 tokens"),  # no BOS or EOS ids at all
    ],
)
def test_a_vocabulary_of_empty_tokens_is_damage(
    tmp_path: Path, tokens: tuple[str, ...], count: str
) -> None:
    # llama.cpp loads it and aborts at the first text it tokenizes: nothing matches, and
    # there is no byte token to fall back on.
    assert refused(vocabulary(tmp_path, tokens)) == f"all {count} of its vocabulary are empty"


def test_a_vocabulary_with_one_real_token_is_left_to_the_engine(tmp_path: Path) -> None:
    # llama.cpp aborts on this one too, at the first tokenize; the check's rule is exact,
    # and the engine's probe (tests/unit/core/engine/process/test_probe.py) catches it.
    check(vocabulary(tmp_path, ("<unk>", "", "", "", "")))


@pytest.mark.parametrize("tokenizer", ["no_vocab", "none"])
def test_a_model_without_a_vocabulary_cannot_read_text(tmp_path: Path, tokenizer: str) -> None:
    # llama.cpp loads it, then asserts (GGML_ASSERT) at the first text it tokenizes.
    path = vocabulary(tmp_path, WITH_BYTES, tokenizer=tokenizer)
    message = expect_model_file_error(check, path, "unsupported_architecture")
    assert message == (
        f"{path.name} has no vocabulary (its tokenizer is '{tokenizer}'), "
        "so it cannot read or write text"
    )


def test_real_vocabularies_are_not_read_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second walk runs only when BOS or EOS is empty or unknown, or the tokenizer
    has no byte tokens: a plain model costs the check nothing more."""
    from llmos_desktop.core.models.gguf import hparams

    walks: list[Path] = []
    real_walk = hparams._read_vocabulary

    def counted(path: Path, *, want_types: bool, n_tokens: int) -> object:
        walks.append(path)
        return real_walk(path, want_types=want_types, n_tokens=n_tokens)

    monkeypatch.setattr(hparams, "_read_vocabulary", counted)
    check(vocabulary(tmp_path, WITH_BYTES, types=BYTE_TYPES))
    assert walks == []
    check(vocabulary(tmp_path, WITH_BYTES, tokenizer="bert", types=[NORMAL] * 6))
    assert len(walks) == 1
