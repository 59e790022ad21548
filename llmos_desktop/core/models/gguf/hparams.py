"""The hyperparameters llama.cpp asserts on, checked before it sees them.

llama.cpp trusts most numbers in a GGUF header. Where one is impossible it does not
always return an error: it may ``GGML_ASSERT`` (and abort the whole process), hang,
or allocate what the number implies. Each rule below stands for a case found by
loading altered copies of the test model with the bundled llama.cpp (see
``tests/helpers/hostile_models.py``), or for a ``GGML_ASSERT`` on the same values in
``llama_model::load_hparams``:

- layers (``block_count``) outside 1..512 (LLAMA_MAX_LAYERS): assert;
- ``nextn_predict_layers`` above the layer count: assert;
- more than 512 experts (LLAMA_MAX_EXPERTS), experts used that do not exist, experts
  that are never used, expert groups without experts: assert;
- a RoPE scaling type llama.cpp does not know: assert;
- a RoPE dimension that is odd or longer than a head: assert while generating;
  0 (outside multi-head latent attention, where the rotation is separate): a hang;
- a normalization epsilon that is negative or NaN: assert while generating;
- per-layer KV head counts that differ between layers whose attention weights have
  the same shape (llama.cpp sizes the weights from layer 0 and the graph from each
  layer): assert while generating;
- a trained context of 2^31 tokens or more breaks tokenizing (llama-cpp-python
  makes an int32 buffer of that size), and each tokenize allocates 4 bytes per
  trained token (8 GiB at 2^31 - 1).

(A token that appears twice in the vocabulary, another assert, is found by the
reader, which walks the vocabulary anyway.)

``check_tokenizer`` refuses vocabularies that llama.cpp's tokenizers cannot take:

- every token empty: llama.cpp loads the file, then aborts at the first text it
  tokenizes (no token matches, and there is no byte token to fall back on);
- byte tokens (SentencePiece's ``<0x0A>``, token type 6) under the tokenizer "bert"
  (WordPiece) or "rwkv", whose vocabularies have none: llama.cpp aborts while loading
  (bert) or hangs at the first text it tokenizes (rwkv);
- the tokenizer "no_vocab" (or "none"): a model that cannot read text; llama.cpp
  loads it and asserts at the first text it tokenizes.

What no rule here foresees, the engine catches by loading each new file's vocabulary
in a throwaway process first (runtime.py, ``llama_api.probe_model``).

The other bounds (embedding length, head counts and lengths, vocabulary size) are
far above any released model and refuse values no converter writes, with a clearer
message than llama.cpp's own. A file that breaks one is reported as damaged
(``corrupt``), in one line that names the file. A missing key is left to llama.cpp,
which refuses the file cleanly ("key not found in model").
"""

from __future__ import annotations

import array
import math
import os
import stat
import struct
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from llmos_desktop.core.models.gguf.reader import (
    _KEY_TOKENS,
    _SCALARS,
    _TYPE_ARRAY,
    _TYPE_STRING,
    MAX_KEY_BYTES,
    MAX_VOCAB,
    GGUFInfo,
    ModelFileError,
    _Corrupt,
    _quote,
    _Reader,
    _Truncated,
)

__all__ = ["MAX_VOCAB", "check_hyperparameters", "check_tokenizer"]

MAX_LAYERS: Final = 512  # LLAMA_MAX_LAYERS, src/llama-hparams.h
MAX_EXPERTS: Final = 512  # LLAMA_MAX_EXPERTS, src/llama-hparams.h
# 1.6x Llama 4 Scout's 10,485,760, the longest trained context of a released model;
# llama-cpp-python allocates 4 bytes per trained token on every tokenize (64 MiB here).
MAX_CONTEXT: Final = 1 << 24
MAX_EMBEDDING: Final = 1 << 17  # 7x the widest released model (18,432)
MAX_HEADS: Final = 4096  # 32x the most attention heads of a released model (128)
MAX_HEAD_LENGTH: Final = 16 * 1024  # 28x the longest key of a released model (576, MLA)
# llama_rope_scaling_type_from_string; anything else trips a GGML_ASSERT.
ROPE_SCALING_TYPES: Final = frozenset({"none", "linear", "yarn", "longrope"})
# Architectures whose loader drops an expert count of 0 or 1 before llama.cpp's asserts.
_EXPERTS_OPTIONAL: Final = frozenset({"hunyuan-dense", "hunyuan_vl"})
# Tokenizers (tokenizer.ggml.model) whose vocabularies have no byte tokens; on one that
# has, llama.cpp aborts in token_to_byte (bert: WordPiece) or its tokenizer never ends
# (rwkv: it restarts from the first character when no token matches).
_NO_BYTE_TOKENS: Final = frozenset({"bert", "rwkv"})
# llama.cpp loads a model without a vocabulary, then asserts at the first tokenize.
_NO_VOCABULARY: Final = frozenset({"no_vocab", "none"})
_KEY_TOKEN_TYPES: Final = "tokenizer.ggml.token_type"
_TOKEN_TYPE_BYTE: Final = 6  # LLAMA_TOKEN_TYPE_BYTE
_INT32_TYPES: Final = frozenset({4, 5})  # GGUF uint32, int32: llama.cpp reads either as int


class _Refused(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def check_hyperparameters(info: GGUFInfo, name: str) -> None:
    """Raise ModelFileError (kind ``corrupt``) for a hyperparameter llama.cpp cannot take.

    ``info.architecture`` must be set (check.py checks it first).
    """
    try:
        _check(info)
    except _Refused as exc:
        raise ModelFileError("corrupt", f"{name} is damaged: {exc.detail}") from None


def check_tokenizer(info: GGUFInfo, name: str) -> None:
    """Raise ModelFileError for a vocabulary llama.cpp cannot tokenize with: kind
    ``corrupt``, or ``unsupported_architecture`` for a model without one.

    The vocabulary is read a second time only when the reader's facts point that way:
    an empty or unknown BOS or EOS token (every token empty), or a tokenizer that has
    no byte tokens. Real models pay nothing.
    """
    tokenizer = info.metadata.get("tokenizer.ggml.model")
    if tokenizer in _NO_VOCABULARY:
        raise ModelFileError(
            "unsupported_architecture",
            f"{name} has no vocabulary (its tokenizer is {_quote(str(tokenizer))}), "
            "so it cannot read or write text",
        )
    if not info.vocab_size:
        return  # no tokens: the vocabulary size rule and llama.cpp say so
    want_types = tokenizer in _NO_BYTE_TOKENS
    may_be_empty = info.bos_token in ("", None) or info.eos_token in ("", None)
    if not (want_types or may_be_empty):
        return
    vocab = _read_vocabulary(info.path, want_types=want_types, n_tokens=info.vocab_size)
    if vocab is None:
        return  # the file changed since it was read; llama.cpp (and the engine) judge it
    if vocab.all_empty:
        detail = (
            f"all {info.vocab_size:,} tokens of its vocabulary are empty"
            if info.vocab_size > 1
            else "the only token in its vocabulary is empty"
        )
        raise ModelFileError("corrupt", f"{name} is damaged: {detail}")
    if want_types and vocab.byte_tokens:
        detail = (
            f"the file says its tokenizer is {_quote(str(tokenizer))}, but its vocabulary "
            "has byte tokens (such as <0x0A>), which that tokenizer never has"
        )
        raise ModelFileError("corrupt", f"{name} is damaged: {detail}")


def _check(info: GGUFInfo) -> None:
    arch = info.architecture
    assert arch is not None
    md = _Metadata(info.metadata, arch)

    # A missing key is left to llama.cpp (a clean refusal), with the rules that need it.
    n_layer = md.count("block_count")
    if n_layer is not None and not 1 <= n_layer <= MAX_LAYERS:
        raise _Refused(f"the file says it has {n_layer:,} layers; a model has 1 to {MAX_LAYERS}")
    n_ctx = md.count("context_length")
    if n_ctx is not None and not 1 <= n_ctx <= MAX_CONTEXT:
        raise _Refused(
            f"the file says it was trained on a context of {n_ctx:,} tokens; "
            f"a model has 1 to {MAX_CONTEXT:,}"
        )
    n_embd = md.count("embedding_length")
    if n_embd is not None and not 1 <= n_embd <= MAX_EMBEDDING:
        raise _Refused(
            f"the file says its embeddings have {n_embd:,} values; "
            f"a model has 1 to {MAX_EMBEDDING:,}"
        )
    if info.vocab_size is not None and not 1 <= info.vocab_size <= MAX_VOCAB:
        raise _Refused(
            f"its vocabulary has {info.vocab_size:,} tokens; a model has 1 to {MAX_VOCAB:,}"
        )
    if n_layer is None:
        return

    nextn = md.count("nextn_predict_layers")
    if nextn is not None and nextn > n_layer:
        raise _Refused(
            f"the file says {nextn:,} of its {n_layer} layers predict further tokens "
            "(nextn_predict_layers)"
        )
    _check_experts(md, arch, n_layer)

    heads = md.per_layer("attention.head_count", n_layer, "attention head counts")
    if heads is None:
        heads = [0] * n_layer  # llama.cpp: a model without attention (Mamba, RWKV)
    kv_heads = md.per_layer("attention.head_count_kv", n_layer, "KV head counts") or heads
    _check_heads(heads, kv_heads)

    key_length = md.head_length("attention.key_length", "attention keys")
    value_length = md.head_length("attention.value_length", "attention values")
    key_length_swa = md.head_length("attention.key_length_swa", "sliding-window keys")
    value_length_swa = md.head_length("attention.value_length_swa", "sliding-window values")
    head0 = heads[0]
    if head0 > 0 and n_embd and (key_length is None or value_length is None) and n_embd % head0:
        raise _Refused(
            f"its {n_embd:,} embedding values do not divide into {head0} attention heads"
        )
    head_dim = key_length or (n_embd // head0 if head0 > 0 and n_embd else None)
    mla = md.count("attention.kv_lora_rank") is not None
    _check_rope(md, "rope.dimension_count", head_dim, mla)
    _check_rope(md, "rope.dimension_count_swa", key_length_swa or head_dim, mla)
    _check_rope_scaling(md)
    for key in (
        "attention.layer_norm_epsilon",
        "attention.layer_norm_rms_epsilon",
        "attention.group_norm_epsilon",
    ):
        _check_epsilon(md, key)

    same_heads_everywhere = key_length_swa in (None, key_length) and value_length_swa in (
        None,
        value_length,
    )
    if same_heads_everywhere:
        _check_attention_shapes(info.tensor_shapes, heads, kv_heads)


# --- reading the metadata ---------------------------------------------------------


class _Metadata:
    """Typed access to ``<arch>.*`` keys; wrong types and shapes are refusals."""

    def __init__(self, metadata: Mapping[str, object], arch: str) -> None:
        self._md = metadata
        self._arch = arch

    def raw(self, suffix: str) -> object:
        return self._md.get(f"{self._arch}.{suffix}")

    def key(self, suffix: str) -> str:
        return _quote(f"{self._arch}.{suffix}")

    def count(self, suffix: str) -> int | None:
        value = self.raw(suffix)
        if value is None:
            return None
        if type(value) is not int:
            raise _Refused(f"{self.key(suffix)} is not a whole number")
        if value < 0:
            raise _Refused(f"{self.key(suffix)} is negative ({value:,})")
        return value

    def per_layer(self, suffix: str, n_layer: int, what: str) -> list[int] | None:
        """One value per layer: a number for all of them, or an array of n_layer."""
        value = self.raw(suffix)
        if value is None:
            return None
        values: tuple[object, ...] = value if isinstance(value, tuple) else (value,) * n_layer
        if len(values) != n_layer:
            raise _Refused(f"the file gives {len(values):,} {what} for its {n_layer} layers")
        out: list[int] = []
        for v in values:
            if type(v) is not int:
                raise _Refused(f"{self.key(suffix)} holds something other than whole numbers")
            out.append(v)
        return out

    def head_length(self, suffix: str, what: str) -> int | None:
        length = self.count(suffix)
        if length is not None and not 1 <= length <= MAX_HEAD_LENGTH:
            raise _Refused(
                f"the file says its {what} have {length:,} values per head; "
                f"a model has 1 to {MAX_HEAD_LENGTH:,}"
            )
        return length


# --- the rules --------------------------------------------------------------------


def _check_experts(md: _Metadata, arch: str, n_layer: int) -> None:
    experts = md.count("expert_count") or 0
    used_per_layer = md.per_layer("expert_used_count", n_layer, "expert counts") or [0]
    used = max(used_per_layer)
    groups = md.count("expert_group_count") or 0
    groups_used = md.count("expert_group_used_count") or 0
    if arch in _EXPERTS_OPTIONAL and experts <= 1:
        return  # llama.cpp sets both counts to 0 for these
    if experts > MAX_EXPERTS:
        raise _Refused(
            f"the file says it has {experts:,} experts; a model has at most {MAX_EXPERTS}"
        )
    if experts == 0:
        if used:
            raise _Refused(f"the file says it uses {used:,} experts per token but has none")
        if groups:
            raise _Refused(f"the file puts its experts in {groups:,} groups but has none")
        return
    if used == 0:
        raise _Refused(f"the file says it has {experts} experts but uses none of them")
    if used > experts:
        raise _Refused(f"the file says it uses {used:,} of its {experts} experts per token")
    if groups >= experts:
        raise _Refused(f"the file puts its {experts} experts in {groups:,} groups")
    if groups > 1 and (experts % groups or not 0 < groups_used < groups):
        raise _Refused(
            f"the file's {experts} experts in {groups} groups, {groups_used} of them used "
            "per token, do not add up"
        )


def _check_heads(heads: list[int], kv_heads: list[int]) -> None:
    uniform = len(set(heads)) == 1 and len(set(kv_heads)) == 1
    for layer, (n_head, n_kv) in enumerate(zip(heads, kv_heads, strict=True)):
        subject = "it" if uniform else f"layer {layer}"
        for count, what in ((n_head, "attention head"), (n_kv, "KV head")):
            if not 0 <= count <= MAX_HEADS:
                raise _Refused(
                    f"the file says {subject} has {_plural(count, what)}; "
                    f"a model has 0 to {MAX_HEADS:,}"
                )
        if n_kv > n_head:
            raise _Refused(
                f"the file says {subject} has {_plural(n_kv, 'KV head')} but only "
                f"{_plural(n_head, 'attention head')}"
            )
        if n_kv and n_head % n_kv:
            raise _Refused(
                f"the file says {subject} shares {_plural(n_head, 'attention head')} among "
                f"{_plural(n_kv, 'KV head')}, which does not divide evenly"
            )


def _check_rope(md: _Metadata, suffix: str, head_dim: int | None, mla: bool) -> None:
    n_rot = md.count(suffix)
    if n_rot is None:
        return
    if n_rot == 0 and not mla:
        raise _Refused(f"the file says RoPE turns 0 values per head ({md.key(suffix)})")
    if n_rot % 2:
        raise _Refused(
            f"the file says RoPE turns {_plural(n_rot, 'value')} per head; it turns them in pairs"
        )
    if head_dim is not None and n_rot > head_dim:
        raise _Refused(
            f"the file says RoPE turns {n_rot:,} values per head, but a head has {head_dim}"
        )


def _check_rope_scaling(md: _Metadata) -> None:
    scaling = md.raw("rope.scaling.type")
    if scaling is not None and scaling not in ROPE_SCALING_TYPES:
        shown = _quote(scaling) if isinstance(scaling, str) else "a number"
        raise _Refused(f"its RoPE scaling type {shown} is not one llama.cpp knows")


def _check_epsilon(md: _Metadata, suffix: str) -> None:
    eps = md.raw(suffix)
    if eps is None:
        return
    if isinstance(eps, bool) or not isinstance(eps, int | float):
        raise _Refused(f"{md.key(suffix)} is not a number")
    if not (math.isfinite(eps) and eps >= 0):
        raise _Refused(
            f"its normalization epsilon {md.key(suffix)} is {eps}; "
            "it must be a finite number, 0 or more"
        )


def _check_attention_shapes(
    shapes: Mapping[str, tuple[int, ...]], heads: list[int], kv_heads: list[int]
) -> None:
    """Layers with the same attention weight shapes must have the same head counts.

    llama.cpp checks the weights against layer 0's head counts and builds each
    layer's graph from that layer's counts; a layer that differs passes the first
    check and trips a GGML_ASSERT in the second.
    """
    first: dict[tuple[tuple[int, ...] | None, ...], int] = {}
    for layer in range(len(heads)):
        signature = tuple(shapes.get(f"blk.{layer}.attn_{x}.weight") for x in "qkv")
        if signature[1] is None:
            continue  # no separate key weights (fused QKV, MLA, or no attention)
        other = first.setdefault(signature, layer)
        if (heads[other], kv_heads[other]) == (heads[layer], kv_heads[layer]):
            continue
        if kv_heads[other] != kv_heads[layer]:
            what, a, b = "KV heads", kv_heads[other], kv_heads[layer]
        else:
            what, a, b = "attention heads", heads[other], heads[layer]
        raise _Refused(
            f"layers {other} and {layer} have attention weights of the same shape, "
            f"but the file gives them {a} and {b} {what}"
        )


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


# --- the vocabulary, read again ---------------------------------------------------


@dataclass(frozen=True)
class _Vocabulary:
    all_empty: bool  # every token is b""
    byte_tokens: bool  # some token has type 6 (only known when asked for)


def _read_vocabulary(path: Path, *, want_types: bool, n_tokens: int) -> _Vocabulary | None:
    """Walk the key/value pairs of a file the reader has passed, for the two facts above.
    Of the token types, the first ``n_tokens`` are read (as many as llama.cpp reads).

    The reader steps over the tokenizer's arrays without keeping them, which is right
    for every real model; this second walk runs only for the rare files that need it.
    None if the file no longer reads as it did (changed since), or is not a plain file.
    """
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    with open(fd, "rb", buffering=0) as file:
        try:
            st = os.fstat(file.fileno())
            if not stat.S_ISREG(st.st_mode):
                return None
            return _walk_vocabulary(_Reader(file, st.st_size), want_types, n_tokens)
        except (OSError, _Truncated, _Corrupt, struct.error, ValueError, KeyError):
            return None


def _walk_vocabulary(r: _Reader, want_types: bool, n_tokens: int) -> _Vocabulary | None:
    r.pos = 16  # magic, version and tensor count (the reader has checked them)
    n_kv = r.u64()
    all_empty: bool | None = None
    byte_tokens = False
    for _ in range(n_kv):
        key_length = r.u64()
        if key_length > MAX_KEY_BYTES:
            return None
        key = r.read(key_length).decode("utf-8", "replace")
        value_type = r.u32()
        if value_type == _TYPE_STRING:
            r.skip(r.u64())
            continue
        if value_type != _TYPE_ARRAY:
            r.skip(_SCALARS[value_type].size)
            continue
        item_type, count = r.unpack(_ARRAY_HEADER)
        if item_type == _TYPE_STRING:
            if key == _KEY_TOKENS:
                all_empty = _all_empty(r, count)
            else:
                r.skip_strings(count)
        elif key == _KEY_TOKEN_TYPES and want_types and item_type in _INT32_TYPES:
            byte_tokens = _has_byte_type(r, count, n_tokens)
        elif item_type in _SCALARS:
            r.skip(count * _SCALARS[item_type].size)
        else:
            return None
    if all_empty is None:
        return None
    return _Vocabulary(all_empty=all_empty, byte_tokens=byte_tokens)


_ARRAY_HEADER: Final = struct.Struct("<IQ")
_CHUNK: Final = 1 << 20


def _all_empty(r: _Reader, count: int) -> bool:
    """Whether all ``count`` strings from here are empty; leaves ``r`` after them.

    An empty token is its 8-byte length, 0, and nothing else: all of them empty is
    ``8 * count`` zero bytes (at most 8 MiB: the vocabulary size is checked before).
    A real vocabulary is known by its first chunk.
    """
    start = r.pos
    empty = count > 0
    left = 8 * count
    while empty and left > 0:
        chunk = r.read(min(left, _CHUNK))
        empty = not chunk.strip(b"\0")
        left -= len(chunk)
    r.pos = start
    r.skip_strings(count)
    return empty


def _has_byte_type(r: _Reader, count: int, n_tokens: int) -> bool:
    """Whether the first ``n_tokens`` of a token type array of ``count`` int32s hold
    LLAMA_TOKEN_TYPE_BYTE; leaves ``r`` after the array."""
    end = r.pos + 4 * count
    left = min(count, n_tokens)
    found = False
    while left > 0 and not found:
        n = min(left, _CHUNK // 4)
        types = array.array("i", r.read(4 * n))
        if sys.byteorder == "big":
            types.byteswap()
        found = _TOKEN_TYPE_BYTE in types
        left -= n
    r.skip(end - r.pos)
    return found
