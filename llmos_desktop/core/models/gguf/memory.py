"""How much memory loading a GGUF model needs, and how much the computer has free.

The estimate is what ``check_model_file`` compares against the free memory:
the weights (the tensor data the header describes), an f16 KV cache worked out
from the architecture's hyperparameters, and a fixed allowance for the runtime.
It is deliberately rough and errs on the high side.
"""

from __future__ import annotations

import logging
from typing import Final

from llmos_desktop.core.models.gguf.reader import GGUFInfo, _positive_int

__all__ = [
    "RUNTIME_OVERHEAD",
    "compute_buffer_bytes",
    "estimate_memory_bytes",
    "fallback_kv_cache_bytes",
    "kv_cache_bytes_per_token",
]

_log = logging.getLogger(__name__)

_MIB: Final = 1024 * 1024
RUNTIME_OVERHEAD: Final = 128 * _MIB  # compute buffers, runtime; rough on purpose


def estimate_memory_bytes(info: GGUFInfo, n_ctx: int = 4096) -> int:
    """Rough bytes of RAM/VRAM a load needs: weights + f16 KV cache + runtime overhead.

    The KV cache comes from the architecture's block count, embedding length and
    head counts (per-layer arrays are understood); where those are missing it
    falls back to an eighth of the weights (at least 64 MiB) per 4096 tokens.
    Sliding-window layers are counted as full ones, so this errs on the high side.
    The context is the one the engine uses: ``n_ctx``, at most the model's trained
    context length when the file gives one; ``n_ctx <= 0`` means the trained context.
    """
    weights, kv, overhead = _memory_parts(info, n_ctx)
    return weights + kv + overhead


def _effective_n_ctx(info: GGUFInfo, n_ctx: int) -> int:
    """The context a load of ``info`` with ``n_ctx`` uses: the runtime caps it at the
    trained context (runtime._bounded), so the estimate does too."""
    trained = info.context_length
    if n_ctx <= 0:
        return trained or 4096
    return min(n_ctx, trained) if trained else n_ctx


def _memory_parts(info: GGUFInfo, n_ctx: int) -> tuple[int, int, int]:
    """(weights, KV cache, overhead) in bytes; see estimate_memory_bytes."""
    n_ctx = _effective_n_ctx(info, n_ctx)
    weights = max(0, info.expected_size)
    kv = _kv_cache_bytes(info, n_ctx)
    if kv is None:
        kv = fallback_kv_cache_bytes(weights, n_ctx)
    return weights, kv, RUNTIME_OVERHEAD


def fallback_kv_cache_bytes(weights: int, n_ctx: int) -> int:
    """The KV cache guessed from the weights alone, for files whose header says too little
    (or that have not been read): an eighth of the weights, at least 64 MiB, per 4096
    tokens. Real models need less (a 4 GB 7B model needs 0.5 GiB at 4096), so it errs high."""
    return max(64 * _MIB, weights // 8) * n_ctx // 4096


def kv_cache_bytes_per_token(info: GGUFInfo) -> int | None:
    """Bytes of f16 KV cache one token of context takes, over all layers; None when the
    header lacks the hyperparameters (use ``fallback_kv_cache_bytes`` then).

    The same sum ``estimate_memory_bytes`` uses: per-layer head counts are understood,
    sliding-window layers count as full ones.
    """
    return _kv_cache_bytes(info, 1)


def compute_buffer_bytes(info: GGUFInfo, n_ctx: int, n_ubatch: int = 512) -> int | None:
    """llama.cpp's compute buffer for one batch, without flash attention (the engine's
    setting); None when the header lacks the vocabulary size or the head count.

    The larger of the two big intermediates dominates it: the logits of a batch
    (vocabulary x batch x f32: 512 MiB for Gemma 3's 262,144 tokens) and the attention
    scores of one layer (context x batch x heads x f32), plus 20% for the rest. Checked
    against llama.cpp's own "compute buffer size" log line (tests/unit/core/models/
    test_fit.py): Gemma 3 270M, 514.5 MiB at 4,096 and 32,768 tokens (this gives 614
    MiB); SmolLM2 135M, 99.4 MiB at 2,048 tokens (115 MiB) and 166.4 MiB at 8,192 (173
    MiB). ``estimate_memory_bytes`` does not use it (its fixed RUNTIME_OVERHEAD is what
    the pre-flight check was tuned with).
    """
    arch = info.architecture
    n_vocab = info.vocab_size
    if not arch or not n_vocab:
        return None
    heads = info.metadata.get(f"{arch}.attention.head_count")
    if type(heads) is int:
        n_head = heads
    elif isinstance(heads, tuple) and heads and all(type(h) is int for h in heads):
        n_head = max(int(h) for h in heads)
    else:
        return None
    if n_head <= 0:
        return None
    n_ctx = _effective_n_ctx(info, n_ctx)
    largest = max(n_vocab * n_ubatch * 4, n_ctx * n_ubatch * n_head * 4)
    return largest + largest // 5


def _kv_cache_bytes(info: GGUFInfo, n_ctx: int) -> int | None:
    arch = info.architecture
    if not arch:
        return None
    md = info.metadata
    n_layer = _positive_int(md.get(f"{arch}.block_count"))
    n_embd = _positive_int(md.get(f"{arch}.embedding_length"))
    heads = md.get(f"{arch}.attention.head_count")
    kv_heads = md.get(f"{arch}.attention.head_count_kv", heads)
    key_length = _positive_int(md.get(f"{arch}.attention.key_length"))
    value_length = _positive_int(md.get(f"{arch}.attention.value_length"))
    if n_layer is None or n_embd is None:
        return None
    per_layer_heads = _per_layer(heads, n_layer)
    per_layer_kv = _per_layer(kv_heads, n_layer)
    if per_layer_heads is None or per_layer_kv is None:
        return None
    # K and V elements per token, summed over layers.
    per_token = sum(
        count * kv * ((key_length or n_embd // h) + (value_length or n_embd // h))
        for h, kv, count in _layer_groups(per_layer_heads, per_layer_kv)
        if h > 0
    )
    if per_token <= 0:
        return None
    return per_token * n_ctx * 2  # f16


def _per_layer(value: object, n_layer: int) -> list[tuple[int, int]] | None:
    """A head count as runs of (heads, number of layers); arrays are per layer."""
    if type(value) is int:
        return [(max(0, value), n_layer)] if value >= 0 else None
    if isinstance(value, tuple) and len(value) == n_layer:
        if not all(type(v) is int and v >= 0 for v in value):
            return None
        return [(int(v), 1) for v in value]
    return None


def _layer_groups(
    heads: list[tuple[int, int]], kv_heads: list[tuple[int, int]]
) -> list[tuple[int, int, int]]:
    """Pair two run-length lists over the same layers: (heads, kv heads, layers)."""
    out: list[tuple[int, int, int]] = []
    i = j = 0
    left_i = heads[0][1] if heads else 0
    left_j = kv_heads[0][1] if kv_heads else 0
    while i < len(heads) and j < len(kv_heads):
        n = min(left_i, left_j)
        if n:
            out.append((heads[i][0], kv_heads[j][0], n))
        left_i -= n
        left_j -= n
        if left_i == 0:
            i += 1
            left_i = heads[i][1] if i < len(heads) else 0
        if left_j == 0:
            j += 1
            left_j = kv_heads[j][1] if j < len(kv_heads) else 0
    return out


def _available_memory() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # no psutil, or no way to ask: skip the check, the engine still guards
        _log.warning("could not read the free memory; skipping the size check", exc_info=True)
        return None
