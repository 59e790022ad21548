"""Hostile copies of the real test model: cut off, bit-flipped, lying, or impossible.

Every case is built from the real Gemma 3 270M file (~253 MB), one at a time, in a
folder the caller owns; ``written`` deletes the copy again when the case is done, so
the corpus never holds more than one copy on disk. A case that changes metadata
rebuilds the header (a few MB) and copies the tensor data after it unchanged, so
llama.cpp loads exactly what it would load from such a file in the wild.

The file's layout is read by the small parser here, not by the reader under test.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = [
    "CASES",
    "HostileCase",
    "Layout",
    "copy_patched",
    "copy_prefix",
    "layout",
    "with_metadata",
    "with_vocabulary",
    "written",
]

# GGUF value types (gguf.GGUFValueType).
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY = range(10)
UINT64, INT64, FLOAT64 = 10, 11, 12
_ITEM_SIZES = {
    UINT8: 1,
    INT8: 1,
    UINT16: 2,
    INT16: 2,
    UINT32: 4,
    INT32: 4,
    FLOAT32: 4,
    BOOL: 1,
    UINT64: 8,
    INT64: 8,
    FLOAT64: 8,
}
_FORMATS = {
    UINT8: "B",
    INT8: "b",
    UINT16: "H",
    INT16: "h",
    UINT32: "I",
    INT32: "i",
    FLOAT32: "f",
    BOOL: "?",
    UINT64: "Q",
    INT64: "q",
    FLOAT64: "d",
}
_ALIGNMENT = 32  # the real model has no general.alignment
_HEAD = 8 << 20  # the real model's header, metadata and tensor infos fit in 8 MiB
_ARCH = "gemma3"

# --- the real file's layout ---------------------------------------------------------


@dataclass(frozen=True)
class KV:
    """One key/value pair as it sits in the file: [start, end) covers key and value."""

    key: str
    value_type: int
    start: int
    value_at: int  # offset of the value (after the u32 type)
    end: int


@dataclass(frozen=True)
class Tensor:
    name: str
    start: int
    dims_at: int
    dims: tuple[int, ...]
    end: int


@dataclass(frozen=True)
class Layout:
    """Where everything is in the real model, and its first bytes."""

    size: int
    head: bytes  # the first bytes, through the end of the tensor infos
    kvs: tuple[KV, ...]
    tensors: tuple[Tensor, ...]
    infos_start: int
    infos_end: int
    data_offset: int

    def kv(self, key: str) -> KV:
        for kv in self.kvs:
            if kv.key == key:
                return kv
        raise KeyError(key)

    def raw(self, kv: KV) -> bytes:
        return self.head[kv.start : kv.end]


@cache
def layout(path: Path) -> Layout:
    """Parse the real model's header, metadata and tensor infos (well-formed input only)."""
    size = path.stat().st_size
    with path.open("rb") as file:
        head = file.read(_HEAD)
    assert head[:4] == b"GGUF", path
    n_tensors, n_kv = struct.unpack_from("<QQ", head, 8)
    pos = 24
    kvs: list[KV] = []

    def string(at: int) -> tuple[str, int]:
        (n,) = struct.unpack_from("<Q", head, at)
        return head[at + 8 : at + 8 + n].decode("utf-8", "replace"), at + 8 + n

    def value_end(value_type: int, at: int) -> int:
        if value_type == STRING:
            return string(at)[1]
        if value_type == ARRAY:
            item_type: int
            count: int
            item_type, count = struct.unpack_from("<IQ", head, at)
            at += 12
            if item_type == STRING:
                for _ in range(count):
                    at += 8 + struct.unpack_from("<Q", head, at)[0]
                return at
            return at + count * _ITEM_SIZES[item_type]
        return at + _ITEM_SIZES[value_type]

    for _ in range(n_kv):
        start = pos
        key, pos = string(pos)
        (value_type,) = struct.unpack_from("<I", head, pos)
        value_at = pos + 4
        pos = value_end(value_type, value_at)
        kvs.append(KV(key, value_type, start, value_at, pos))
    infos_start = pos
    tensors: list[Tensor] = []
    for _ in range(n_tensors):
        start = pos
        name, pos = string(pos)
        (n_dims,) = struct.unpack_from("<I", head, pos)
        dims_at = pos + 4
        dims = struct.unpack_from(f"<{n_dims}q", head, dims_at)
        pos = dims_at + 8 * n_dims + 4 + 8
        tensors.append(Tensor(name, start, dims_at, tuple(dims), pos))
    data_offset = -(-pos // _ALIGNMENT) * _ALIGNMENT
    return Layout(size, head[:pos], tuple(kvs), tuple(tensors), infos_start, pos, data_offset)


# --- building copies ----------------------------------------------------------------


def _copy_range(src: Path, dst_file: int, start: int, length: int) -> None:
    """Append ``length`` bytes of ``src`` from ``start``: in the kernel where it can
    (copy_file_range, Linux), else through a 1 MiB buffer."""
    with src.open("rb") as source:
        offset, left = start, length
        copy_file_range = getattr(os, "copy_file_range", None)
        try:
            while left > 0 and copy_file_range is not None:
                n = copy_file_range(source.fileno(), dst_file, left, offset)
                if n <= 0:
                    break
                offset, left = offset + n, left - n
        except OSError:  # another file system, or no support: copy the rest by hand
            pass
        source.seek(offset)
        while left > 0:
            chunk = source.read(min(left, 1 << 20))
            if not chunk:
                raise OSError(f"{src} ends at {offset:,}")
            os.write(dst_file, chunk)
            offset, left = offset + len(chunk), left - len(chunk)


def _write(dst: Path, head: bytes, src: Path, data_from: int, data_length: int) -> None:
    with dst.open("wb") as out:
        out.write(head)
        out.flush()
        _copy_range(src, out.fileno(), data_from, data_length)


def copy_prefix(src: Path, dst: Path, size: int) -> None:
    """The first ``size`` bytes of ``src`` (an interrupted download)."""
    _write(dst, b"", src, 0, size)


def copy_patched(src: Path, dst: Path, patches: Sequence[tuple[int, bytes]]) -> None:
    """A full copy with bytes overwritten in place (same size)."""
    _write(dst, b"", src, 0, src.stat().st_size)
    with dst.open("r+b") as out:
        for at, data in patches:
            out.seek(at)
            out.write(data)


def rebuild(src: Path, dst: Path, kvs: Sequence[bytes]) -> None:
    """The real model with its metadata replaced (``kvs``: raw pairs), data unchanged.

    The tensor data moves to the next aligned offset after the new header; tensor
    offsets count from the data start, so they stay right.
    """
    lay = layout(src)
    header = b"GGUF" + struct.pack("<IQQ", 3, len(lay.tensors), len(kvs))
    head = header + b"".join(kvs) + lay.head[lay.infos_start : lay.infos_end]
    head += b"\0" * (-len(head) % _ALIGNMENT)
    _write(dst, head, src, lay.data_offset, lay.size - lay.data_offset)


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def kv_bytes(key: str, value_type: int, value: object) -> bytes:
    """One key/value pair; ``value`` is a scalar, a str, or (item_type, [items])."""
    out = _string(key) + struct.pack("<I", value_type)
    if value_type == STRING:
        assert isinstance(value, str)
        return out + _string(value)
    if value_type == ARRAY:
        assert isinstance(value, tuple)
        item_type, items = value
        out += struct.pack("<IQ", item_type, len(items))
        if item_type == STRING:
            return out + b"".join(_string(s) for s in items)
        return out + struct.pack(f"<{len(items)}{_FORMATS[item_type]}", *items)
    return out + struct.pack("<" + _FORMATS[value_type], value)


def with_metadata(src: Path, dst: Path, changes: dict[str, tuple[int, object] | None]) -> None:
    """Rebuild with keys replaced (type, value), added, or removed (None)."""
    lay = layout(src)
    blobs: list[bytes] = []
    left = dict(changes)
    for kv in lay.kvs:
        if kv.key in left:
            change = left.pop(kv.key)
            if change is not None:
                blobs.append(kv_bytes(kv.key, *change))
        else:
            blobs.append(lay.raw(kv))
    for key, change in left.items():
        if change is not None:
            blobs.append(kv_bytes(key, *change))
    rebuild(src, dst, blobs)


def with_vocabulary(src: Path, dst: Path, count: int) -> None:
    """Keep the first ``count`` tokens (and their scores and types)."""
    lay = layout(src)
    blobs: list[bytes] = []
    for kv in lay.kvs:
        raw = lay.raw(kv)
        if kv.key in (
            "tokenizer.ggml.tokens",
            "tokenizer.ggml.scores",
            "tokenizer.ggml.token_type",
        ):
            item_type, total = struct.unpack_from("<IQ", lay.head, kv.value_at)
            at = kv.value_at + 12
            if item_type == STRING:
                end = at
                for _ in range(count):
                    end += 8 + struct.unpack_from("<Q", lay.head, end)[0]
            else:
                end = at + count * _ITEM_SIZES[item_type]
            assert count <= total
            raw = (
                lay.head[kv.start : kv.value_at]
                + struct.pack("<IQ", item_type, count)
                + lay.head[at:end]
            )
        blobs.append(raw)
    rebuild(src, dst, blobs)


# --- the cases ----------------------------------------------------------------------

Builder = Callable[[Path, Path], None]


@dataclass(frozen=True)
class HostileCase:
    """A named hostile file and what the pre-flight check says about it.

    ``kinds``: the ModelFileError kinds the check may give, and ``text`` a part of its
    message. An empty ``kinds`` marks a file the check lets through: llama.cpp refuses
    it by itself, cleanly (a wrong tensor shape, a missing tensor), or it would abort or
    hang llama.cpp and the engine's probe catches it first. Either way the engine must
    answer with one line and live on; ``engine`` is a part of that line.
    """

    name: str
    build: Builder
    kinds: tuple[str, ...]
    text: str = ""
    engine: str = ""

    def __str__(self) -> str:
        return self.name


@contextmanager
def written(case: HostileCase, real_model: Path, folder: Path) -> Iterator[Path]:
    """Write ``case`` into ``folder`` and delete it again afterwards (one copy at a time)."""
    path = folder / f"{case.name}.gguf"
    case.build(real_model, path)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _cut(at: Callable[[Layout], int]) -> Builder:
    def build(src: Path, dst: Path) -> None:
        copy_prefix(src, dst, at(layout(src)))

    return build


def _flip(at: Callable[[Layout], tuple[int, int]]) -> Builder:
    """Flip one bit: ``at`` gives (byte offset, bit)."""

    def build(src: Path, dst: Path) -> None:
        lay = layout(src)
        offset, bit = at(lay)
        assert offset < 64 * 1024, "the flips stay in the first 64 KiB"
        copy_patched(src, dst, [(offset, bytes([lay.head[offset] ^ (1 << bit)]))])

    return build


def _u64(at: Callable[[Layout], int], value: int | Callable[[Layout], int]) -> Builder:
    """Overwrite a u64 in place (a count or a length that lies)."""

    def build(src: Path, dst: Path) -> None:
        lay = layout(src)
        number = value(lay) if callable(value) else value
        copy_patched(src, dst, [(at(lay), struct.pack("<Q", number))])

    return build


def _meta(suffix: str, value_type: int, value: object) -> Builder:
    """Set ``gemma3.<suffix>`` to ``value`` of GGUF type ``value_type``."""

    def build(src: Path, dst: Path) -> None:
        with_metadata(src, dst, {f"{_ARCH}.{suffix}": (value_type, value)})

    return build


def _vocabulary(count: int) -> Builder:
    def build(src: Path, dst: Path) -> None:
        with_vocabulary(src, dst, count)

    return build


def _token_count(lay: Layout) -> int:
    count: int = struct.unpack_from("<Q", lay.head, lay.kv("tokenizer.ggml.tokens").value_at + 4)[0]
    return count


def _tokenizer(model: str, *, every_type: int | None = None) -> Builder:
    """Set tokenizer.ggml.model; with ``every_type``, give every token that type."""

    def build(src: Path, dst: Path) -> None:
        changes: dict[str, tuple[int, object] | None] = {"tokenizer.ggml.model": (STRING, model)}
        if every_type is not None:
            types = [every_type] * _token_count(layout(src))
            changes["tokenizer.ggml.token_type"] = (ARRAY, (INT32, types))
        with_metadata(src, dst, changes)

    return build


def _token_texts(first: Sequence[str]) -> Builder:
    """The vocabulary's texts replaced: ``first``, then empty tokens (as many as before)."""

    def build(src: Path, dst: Path) -> None:
        texts = [*first] + [""] * (_token_count(layout(src)) - len(first))
        with_metadata(src, dst, {"tokenizer.ggml.tokens": (ARRAY, (STRING, texts))})

    return build


def _token_at(lay: Layout, index: int) -> int:
    """Offset of the u64 length of token ``index`` in the real file."""
    at = lay.kv("tokenizer.ggml.tokens").value_at + 12
    for _ in range(index):
        at += 8 + struct.unpack_from("<Q", lay.head, at)[0]
    return at


def _duplicating_flip(lay: Layout) -> tuple[int, int]:
    """A bit flip in the first 64 KiB that turns a token into another token's text."""
    kv = lay.kv("tokenizer.ggml.tokens")
    (count,) = struct.unpack_from("<Q", lay.head, kv.value_at + 4)
    spans: list[tuple[int, bytes]] = []
    at = kv.value_at + 12
    for _ in range(count):
        (n,) = struct.unpack_from("<Q", lay.head, at)
        spans.append((at + 8, lay.head[at + 8 : at + 8 + n]))
        at += 8 + n
    vocabulary = {text for _, text in spans}
    for start, text in spans:
        if start > 60 * 1024:
            break
        for i in range(len(text)):
            for bit in range(8):
                flipped = text[:i] + bytes([text[i] ^ (1 << bit)]) + text[i + 1 :]
                if flipped != text and flipped in vocabulary:
                    return start + i, bit
    raise AssertionError("no duplicating bit flip in the first 64 KiB")


_K = "tokenizer.ggml.tokens"

CASES: tuple[HostileCase, ...] = (
    # Cut-off downloads: the file ends before the header's tensors do.
    HostileCase("cut_in_fixed_header", _cut(lambda lay: 20), ("truncated",), "incomplete"),
    HostileCase("cut_in_metadata", _cut(lambda lay: 100_000), ("truncated",), "inside its header"),
    HostileCase(
        "cut_in_tensor_infos",
        _cut(lambda lay: lay.infos_start + 1000),
        ("truncated",),
        "inside its header",
    ),
    HostileCase(
        "cut_in_tensor_data", _cut(lambda lay: lay.size // 2), ("truncated",), "of 253.1 MB"
    ),
    HostileCase(
        "cut_1000_bytes_short",
        _cut(lambda lay: lay.size - 1000),
        ("truncated",),
        "253,112,024 bytes of 253,113,024 bytes expected",
    ),
    HostileCase(
        "cut_last_byte",
        _cut(lambda lay: lay.size - 1),
        ("truncated",),
        "253,113,023 bytes of 253,113,024 bytes",
    ),
    # One flipped bit in the first 64 KiB of a file of the right size: damaged, never
    # "incomplete download".
    HostileCase("flip_tensor_count", _flip(lambda lay: (9, 4)), ("corrupt",), "damaged"),
    HostileCase("flip_kv_count", _flip(lambda lay: (20, 0)), ("corrupt",), "damaged"),
    HostileCase(
        "flip_key_length", _flip(lambda lay: (lay.kv("general.name").start, 6)), ("corrupt",)
    ),
    HostileCase(
        "flip_value_type",
        _flip(lambda lay: (lay.kv("general.name").value_at - 4, 2)),
        ("corrupt",),
        "damaged",
    ),
    HostileCase("flip_token_count", _flip(lambda lay: (lay.kv(_K).value_at + 6, 3)), ("corrupt",)),
    HostileCase(
        "flip_token_length_low",
        _flip(lambda lay: (_token_at(lay, 1000), 2)),
        ("corrupt",),
        "damaged",
    ),
    HostileCase(
        "flip_token_length_high",
        _flip(lambda lay: (_token_at(lay, 1000) + 3, 4)),
        ("corrupt",),
        "points past the end of the file",
    ),
    HostileCase(
        "flip_token_text_duplicate",
        _flip(_duplicating_flip),
        ("corrupt",),
        "appears twice in its vocabulary",
    ),
    HostileCase(
        "flip_block_count_high",
        _flip(lambda lay: (lay.kv(f"{_ARCH}.block_count").value_at + 3, 4)),
        ("corrupt",),
        "layers; a model has 1 to 512",
    ),
    # Counts and lengths that lie.
    HostileCase("tensor_count_2_pow_62", _u64(lambda lay: 8, 1 << 62), ("corrupt",), "tensors"),
    HostileCase(
        "tensor_count_plus_one", _u64(lambda lay: 8, lambda lay: len(lay.tensors) + 1), ("corrupt",)
    ),
    HostileCase(
        "kv_count_2_pow_40", _u64(lambda lay: 16, 1 << 40), ("corrupt",), "metadata entries"
    ),
    HostileCase(
        "kv_count_plus_one", _u64(lambda lay: 16, lambda lay: len(lay.kvs) + 1), ("corrupt",)
    ),
    HostileCase(
        "key_length_2_pow_50",
        _u64(lambda lay: lay.kv("general.name").start, 1 << 50),
        ("corrupt",),
        "metadata key",
    ),
    HostileCase(
        "string_length_2_pow_40",
        _u64(lambda lay: lay.kv("general.name").value_at, 1 << 40),
        ("corrupt",),
        "claims",
    ),
    HostileCase(
        "string_length_past_the_end",
        _u64(lambda lay: lay.kv("general.name").value_at, lambda lay: lay.size),
        ("corrupt",),
        "points past the end of the file",
    ),
    HostileCase(
        "token_count_2_pow_30",
        _u64(lambda lay: lay.kv(_K).value_at + 4, 1 << 30),
        ("corrupt",),
        "strings",
    ),
    HostileCase(
        "token_count_plus_one",
        _u64(lambda lay: lay.kv(_K).value_at + 4, 262_145),
        ("corrupt",),
    ),
    HostileCase(
        "score_count_2_pow_40",
        _u64(lambda lay: lay.kv("tokenizer.ggml.scores").value_at + 4, 1 << 40),
        ("corrupt",),
        "items",
    ),
    # Hyperparameters: each one made llama.cpp abort or hang, or is impossible.
    HostileCase("block_count_0", _meta("block_count", UINT32, 0), ("corrupt",), "0 layers"),
    HostileCase("block_count_513", _meta("block_count", UINT32, 513), ("corrupt",), "513 layers"),
    HostileCase(
        "nextn_layers_above_block_count",
        _meta("nextn_predict_layers", UINT32, 19),
        ("corrupt",),
        "19 of its 18 layers",
    ),
    HostileCase(
        "head_count_0", _meta("attention.head_count", UINT32, 0), ("corrupt",), "0 attention heads"
    ),
    HostileCase(
        "head_count_kv_above_head_count",
        _meta("attention.head_count_kv", UINT32, 5),
        ("corrupt",),
        "5 KV heads but only 4 attention heads",
    ),
    HostileCase(
        "head_count_kv_not_dividing",
        _meta("attention.head_count_kv", UINT32, 3),
        ("corrupt",),
        "does not divide evenly",
    ),
    HostileCase(
        "head_count_kv_per_layer_mismatch",
        _meta("attention.head_count_kv", ARRAY, (INT32, [1] * 17 + [2])),
        ("corrupt",),
        "layers 0 and 17",
    ),
    HostileCase(
        "head_count_per_layer_wrong_length",
        _meta("attention.head_count", ARRAY, (INT32, [4] * 17)),
        ("corrupt",),
        "17 attention head counts for its 18 layers",
    ),
    HostileCase(
        "embedding_length_0", _meta("embedding_length", UINT32, 0), ("corrupt",), "0 values"
    ),
    HostileCase(
        "context_length_0", _meta("context_length", UINT32, 0), ("corrupt",), "context of 0 tokens"
    ),
    HostileCase(
        "context_length_2_pow_31",
        _meta("context_length", UINT32, 1 << 31),
        ("corrupt",),
        "2,147,483,648 tokens",
    ),
    HostileCase(
        "key_length_0", _meta("attention.key_length", UINT32, 0), ("corrupt",), "keys have 0"
    ),
    HostileCase(
        "value_length_0", _meta("attention.value_length", UINT32, 0), ("corrupt",), "values have 0"
    ),
    HostileCase("vocabulary_empty", _vocabulary(0), ("corrupt",), "0 tokens"),
    HostileCase(
        "rope_dimension_odd",
        _meta("rope.dimension_count", UINT32, 127),
        ("corrupt",),
        "in pairs",
    ),
    HostileCase("rope_dimension_0", _meta("rope.dimension_count", UINT32, 0), ("corrupt",), "RoPE"),
    HostileCase(
        "rope_dimension_above_head",
        _meta("rope.dimension_count", UINT32, 258),
        ("corrupt",),
        "a head has 256",
    ),
    HostileCase(
        "rope_scaling_unknown",
        _meta("rope.scaling.type", STRING, "bogus"),
        ("corrupt",),
        "RoPE scaling type 'bogus'",
    ),
    HostileCase(
        "rms_epsilon_nan",
        _meta("attention.layer_norm_rms_epsilon", FLOAT32, math.nan),
        ("corrupt",),
        "epsilon",
    ),
    HostileCase(
        "expert_count_513", _meta("expert_count", UINT32, 513), ("corrupt",), "513 experts"
    ),
    HostileCase(
        "experts_used_without_experts",
        _meta("expert_used_count", UINT32, 2),
        ("corrupt",),
        "uses 2 experts per token but has none",
    ),
    # Vocabularies llama.cpp's tokenizers cannot take: abort while loading (bert), hang
    # at the first tokenize (rwkv), abort at the first tokenize (no text, no vocabulary).
    HostileCase(
        "tokenizer_bert_with_byte_tokens",
        _tokenizer("bert"),
        ("corrupt",),
        "its tokenizer is 'bert', but its vocabulary has byte tokens",
    ),
    HostileCase(
        "tokenizer_rwkv_with_byte_tokens",
        _tokenizer("rwkv"),
        ("corrupt",),
        "its tokenizer is 'rwkv', but its vocabulary has byte tokens",
    ),
    HostileCase(
        "vocabulary_all_empty",
        _token_texts([]),
        ("corrupt",),
        "all 262,144 tokens of its vocabulary are empty",
    ),
    HostileCase(
        "tokenizer_no_vocab",
        _tokenizer("no_vocab"),
        ("unsupported_architecture",),
        "has no vocabulary (its tokenizer is 'no_vocab')",
    ),
    # llama.cpp refuses these by itself, cleanly; the check need not.
    HostileCase("embedding_length_641", _meta("embedding_length", UINT32, 641), ()),
    HostileCase("block_count_19", _meta("block_count", UINT32, 19), ()),
    HostileCase("vocabulary_1000", _vocabulary(1000), ()),
    # The check lets these through, and llama.cpp aborts or hangs on them: the engine's
    # probe (a throwaway process that loads the vocabulary and tokenizes) catches them.
    HostileCase(
        "vocabulary_empty_but_one",
        _token_texts(["<pad>"]),
        (),
        engine="llama.cpp crashed (",
    ),
    HostileCase(
        "tokenizer_rwkv_without_byte_tokens",
        _tokenizer("rwkv", every_type=1),  # every token NORMAL
        (),
        engine="llama.cpp hung while tokenizing text with it",
    ),
)
