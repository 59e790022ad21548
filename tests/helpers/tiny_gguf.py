"""A tiny but complete llama-architecture GGUF with random F32 weights, for the lab tests.

Unlike gguf_factory.write_gguf (metadata only), this file has every tensor a llama model
needs, so llama.cpp loads it, generates with it and quantizes it. Its sizes suit every
type the lab offers: rows (n_embd, n_ff) are multiples of 256, the K-quants' and
i-quants' super-block. It is written by the ``gguf`` package (what convert_hf_to_gguf.py
uses), in a fraction of a second, ~7 MiB; quantizing it takes well under a second.

The vocabulary is SentencePiece-style: <unk>, <s>, </s>, the 256 byte tokens (so any
text tokenizes) and a few words.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

__all__ = ["TINY_N_EMBD", "TINY_N_FF", "TINY_N_LAYER", "tiny_vocab", "write_tiny_llama"]

TINY_N_EMBD = 256
TINY_N_FF = 512
TINY_N_LAYER = 2
TINY_N_HEAD = 4
TINY_N_HEAD_KV = 2
_WORDS = ("▁the", "▁a", "▁of", "▁and", "▁to", "▁in", "▁is", "▁cat", "▁dog", "▁capital")


def tiny_vocab() -> list[tuple[str, int]]:
    """(token, gguf token type) for each id; 1 is BOS, 2 is EOS."""
    vocab = [
        ("<unk>", int(gguf.TokenType.UNKNOWN)),
        ("<s>", int(gguf.TokenType.CONTROL)),
        ("</s>", int(gguf.TokenType.CONTROL)),
    ]
    vocab += [(f"<0x{b:02X}>", int(gguf.TokenType.BYTE)) for b in range(256)]
    vocab += [(word, int(gguf.TokenType.NORMAL)) for word in _WORDS]
    return vocab


def write_tiny_llama(
    path: str | Path,
    *,
    seed: int = 0,
    file_type: gguf.LlamaFileType | None = None,
    n_layer: int = TINY_N_LAYER,
) -> Path:
    """Write the tiny model to ``path`` (F32 weights); return the path.

    ``file_type`` overrides ``general.file_type`` (the weights stay F32): a file that
    claims to be quantized, for the requantize rule. ``n_layer`` makes it longer to
    quantize (about 2.6 MB of weights per layer): a run that can be cancelled midway.
    """
    path = Path(path)
    rng = np.random.default_rng(seed)
    vocab = tiny_vocab()
    n_vocab = len(vocab)
    head_dim = TINY_N_EMBD // TINY_N_HEAD

    writer = gguf.GGUFWriter(path, "llama")
    writer.add_type("model")
    writer.add_name("tiny random llama")
    writer.add_file_type(int(file_type if file_type is not None else gguf.LlamaFileType.ALL_F32))
    writer.add_context_length(512)
    writer.add_embedding_length(TINY_N_EMBD)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(TINY_N_FF)
    writer.add_head_count(TINY_N_HEAD)
    writer.add_head_count_kv(TINY_N_HEAD_KV)
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(n_vocab)
    writer.add_tokenizer_model("llama")
    writer.add_token_list([token for token, _ in vocab])
    writer.add_token_scores([-float(i) for i in range(n_vocab)])
    writer.add_token_types([kind for _, kind in vocab])
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)

    def weight(rows: int, cols: int) -> np.ndarray:
        values: np.ndarray = rng.standard_normal((rows, cols)) / np.sqrt(cols)
        return values.astype(np.float32)

    def norm() -> np.ndarray:
        return np.ones(TINY_N_EMBD, dtype=np.float32)

    writer.add_tensor("token_embd.weight", weight(n_vocab, TINY_N_EMBD))
    for i in range(n_layer):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", norm())
        writer.add_tensor(f"blk.{i}.attn_q.weight", weight(TINY_N_EMBD, TINY_N_EMBD))
        writer.add_tensor(f"blk.{i}.attn_k.weight", weight(TINY_N_HEAD_KV * head_dim, TINY_N_EMBD))
        writer.add_tensor(f"blk.{i}.attn_v.weight", weight(TINY_N_HEAD_KV * head_dim, TINY_N_EMBD))
        writer.add_tensor(f"blk.{i}.attn_output.weight", weight(TINY_N_EMBD, TINY_N_EMBD))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", norm())
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weight(TINY_N_FF, TINY_N_EMBD))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weight(TINY_N_FF, TINY_N_EMBD))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weight(TINY_N_EMBD, TINY_N_FF))
    writer.add_tensor("output_norm.weight", norm())
    writer.add_tensor("output.weight", weight(n_vocab, TINY_N_EMBD))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
