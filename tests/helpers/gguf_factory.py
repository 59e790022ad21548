"""Write tiny valid GGUF files, and damage them, for tests.

``write_gguf`` uses the ``gguf`` package's own writer, so what it writes is what
real tools write. The ``raw_*`` helpers build GGUF bytes by hand for the shapes
that no writer produces (unknown value types, nested arrays, lying lengths).
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import gguf
import numpy as np

__all__ = [
    "HEADER_SIZE",
    "KV_COUNT_OFFSET",
    "MAGIC_OFFSET",
    "TENSOR_COUNT_OFFSET",
    "TINY_EMBEDDING",
    "TINY_HEAD_LENGTH",
    "TINY_VOCAB",
    "VERSION_OFFSET",
    "copy_file",
    "kv_value_offset",
    "patch_bytes",
    "patch_u32",
    "patch_u64",
    "raw_array",
    "raw_gguf",
    "raw_kv",
    "raw_string",
    "raw_tensor_info",
    "truncate_copy",
    "write_gguf",
]

# Byte offsets of the fixed GGUF header fields (little-endian).
MAGIC_OFFSET = 0
VERSION_OFFSET = 4
TENSOR_COUNT_OFFSET = 8
KV_COUNT_OFFSET = 16
HEADER_SIZE = 24

# SentencePiece-style tokens; ids 1 and 2 are BOS and EOS, as in Llama.
TINY_VOCAB: tuple[str, ...] = ("<unk>", "<s>", "</s>", "▁hello", "▁world", "!")
TINY_EMBEDDING = 8
TINY_HEAD_LENGTH = TINY_EMBEDDING // 2  # 2 attention heads


def write_gguf(
    path: str | Path,
    *,
    architecture: str = "llama",
    name: str = "tiny test model",
    chat_template: str | None = None,
    extra_kv: Mapping[str, object] | None = None,
    tensors: int = 1,
    vocab: Sequence[str] = TINY_VOCAB,
    context_length: int = 512,
    attention_kv_heads: Sequence[int] | None = None,
) -> Path:
    """Write a small GGUF that GGUF readers accept; return its path.

    It has general.architecture/type/name/file_type, the usual
    ``<arch>.*`` hyper-parameters, a tiny SentencePiece vocabulary with BOS/EOS
    ids, ``tokenizer.chat_template`` when given, and ``tensors`` small F32
    tensors (token_embd.weight first, then one norm per block). llama.cpp reads
    its metadata but cannot run it: the weights of a full model are missing.

    ``extra_kv`` adds or replaces keys: str, bool, int (uint32, or int64 when it
    does not fit), float (float32), a non-empty list (array), or a
    ``gguf.GGUFValue`` for an exact type.

    ``attention_kv_heads`` adds attention weights to each block, sized for that
    many KV heads per block (2 attention heads of TINY_HEAD_LENGTH values): Q is
    (8, 8), K and V (8, 4 * kv heads) in ggml's order.
    """
    path = Path(path)
    writer = gguf.GGUFWriter(path, architecture)
    writer.add_type("model")
    writer.add_name(name)
    writer.add_file_type(int(gguf.LlamaFileType.ALL_F32))
    writer.add_context_length(context_length)
    writer.add_embedding_length(TINY_EMBEDDING)
    writer.add_block_count(max(1, tensors - 1))
    writer.add_feed_forward_length(2 * TINY_EMBEDDING)
    writer.add_head_count(2)
    writer.add_head_count_kv(1)
    writer.add_layer_norm_rms_eps(1e-5)
    if vocab:
        writer.add_tokenizer_model("llama")
        writer.add_token_list(list(vocab))
        writer.add_token_scores([0.0] * len(vocab))
        writer.add_token_types([_token_type(token) for token in vocab])
        writer.add_unk_token_id(0)
        if len(vocab) > 2:
            writer.add_bos_token_id(1)
            writer.add_eos_token_id(2)
    if chat_template is not None:
        writer.add_chat_template(chat_template)
    for key, value in (extra_kv or {}).items():
        _add_value(writer, key, value)

    rows = max(1, len(vocab))
    for i in range(tensors):
        if i == 0:
            data = np.linspace(-1.0, 1.0, rows * TINY_EMBEDDING, dtype=np.float32)
            writer.add_tensor("token_embd.weight", data.reshape(rows, TINY_EMBEDDING))
        else:
            writer.add_tensor(f"blk.{i - 1}.attn_norm.weight", np.ones(TINY_EMBEDDING, np.float32))
    for layer, kv_heads in enumerate(attention_kv_heads or ()):
        q = np.zeros((2 * TINY_HEAD_LENGTH, TINY_EMBEDDING), np.float32)
        kv = np.zeros((kv_heads * TINY_HEAD_LENGTH, TINY_EMBEDDING), np.float32)
        writer.add_tensor(f"blk.{layer}.attn_q.weight", q)
        writer.add_tensor(f"blk.{layer}.attn_k.weight", kv)
        writer.add_tensor(f"blk.{layer}.attn_v.weight", kv.copy())

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_big_gguf(path: Path, mib: int) -> Path:
    """A valid GGUF of about ``mib`` MiB (one big F32 tensor of random values): a
    download long enough to kill in the middle, bytes that do not compress."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name("big test model")
    writer.add_context_length(512)
    writer.add_file_type(int(gguf.LlamaFileType.ALL_F32))
    rng = np.random.default_rng(7)
    writer.add_tensor("token_embd.weight", rng.random((mib * 1024, 256), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _token_type(token: str) -> int:
    if token == "<unk>":
        return int(gguf.TokenType.UNKNOWN)
    if token.startswith("<") and token.endswith(">"):
        return int(gguf.TokenType.CONTROL)
    return int(gguf.TokenType.NORMAL)


def _add_value(writer: gguf.GGUFWriter, key: str, value: object) -> None:
    if isinstance(value, gguf.GGUFValue):
        writer.add_key_value(key, value.value, value.type, value.sub_type)
    elif isinstance(value, str):
        writer.add_string(key, value)
    elif isinstance(value, bool):
        writer.add_bool(key, value)
    elif isinstance(value, int):
        if 0 <= value < 2**32:
            writer.add_uint32(key, value)
        else:
            writer.add_int64(key, value)
    elif isinstance(value, float):
        writer.add_float32(key, value)
    elif isinstance(value, list | tuple):
        writer.add_array(key, list(value))
    else:
        raise TypeError(f"no GGUF type for {type(value).__name__} (key {key!r})")


# --- damaging files ---------------------------------------------------------------------


def patch_bytes(path: str | Path, offset: int, data: bytes) -> None:
    """Overwrite bytes in place at ``offset``."""
    with open(path, "r+b") as file:
        file.seek(offset)
        file.write(data)


def patch_u32(path: str | Path, offset: int, value: int) -> None:
    patch_bytes(path, offset, struct.pack("<I", value))


def patch_u64(path: str | Path, offset: int, value: int) -> None:
    patch_bytes(path, offset, struct.pack("<Q", value))


def truncate_copy(src: str | Path, dst: str | Path, size: int) -> Path:
    """Copy the first ``size`` bytes of ``src`` to ``dst`` (an interrupted download)."""
    remaining = size
    with open(src, "rb") as source, open(dst, "wb") as target:
        while remaining > 0:
            chunk = source.read(min(remaining, 1 << 20))
            if not chunk:
                break
            target.write(chunk)
            remaining -= len(chunk)
    return Path(dst)


def copy_file(src: str | Path, dst: str | Path) -> Path:
    shutil.copyfile(src, dst)
    return Path(dst)


def kv_value_offset(path: str | Path, key: str, *, search_bytes: int = 16 << 20) -> int:
    """Offset of the value-type field of ``key`` (the u32 right after the key).

    For a string value, its u64 length follows at +4; for an array, the item type
    at +4 and the u64 count at +8.
    """
    encoded = key.encode("utf-8")
    needle = struct.pack("<Q", len(encoded)) + encoded
    with open(path, "rb") as file:
        head = file.read(search_bytes)
    at = head.find(needle)
    if at < 0:
        raise KeyError(key)
    return at + len(needle)


# --- GGUF by hand ---------------------------------------------------------------------


def raw_string(value: str | bytes) -> bytes:
    data = value.encode("utf-8") if isinstance(value, str) else value
    return struct.pack("<Q", len(data)) + data


def raw_kv(key: str | bytes, value_type: int, payload: bytes) -> bytes:
    """One key/value pair: key, u32 value type, then ``payload`` as given."""
    return raw_string(key) + struct.pack("<I", value_type) + payload


def raw_array(item_type: int, count: int, items: bytes = b"") -> bytes:
    """An array payload (for raw_kv with type ARRAY); ``count`` may lie."""
    return struct.pack("<IQ", item_type, count) + items


def raw_tensor_info(name: str | bytes, dims: Sequence[int], ggml_type: int, offset: int) -> bytes:
    return (
        raw_string(name)
        + struct.pack("<I", len(dims))
        + b"".join(struct.pack("<q", d) for d in dims)
        + struct.pack("<IQ", ggml_type, offset)
    )


def raw_gguf(
    path: str | Path,
    kvs: Iterable[bytes] = (),
    tensor_infos: Iterable[bytes] = (),
    *,
    version: int = 3,
    n_tensors: int | None = None,
    n_kv: int | None = None,
    data: bytes = b"",
    alignment: int = 32,
) -> Path:
    """Write header + ``kvs`` + ``tensor_infos``, pad to ``alignment``, then ``data``.

    The counts default to the number of items given; pass them to make them lie.
    """
    kv_list = list(kvs)
    ti_list = list(tensor_infos)
    body = b"".join(kv_list) + b"".join(ti_list)
    header = b"GGUF" + struct.pack(
        "<IQQ",
        version,
        len(ti_list) if n_tensors is None else n_tensors,
        len(kv_list) if n_kv is None else n_kv,
    )
    out = header + body
    if ti_list:
        out += b"\0" * (-len(out) % alignment)
    Path(path).write_bytes(out + data)
    return Path(path)
