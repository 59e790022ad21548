"""``/v1/embeddings`` in the engine: inputs checked, vectors made on the llama thread.

The vectors come from llama_api's embedding context on the loaded model (made on first
use, freed with the model). Every step that touches llama.cpp runs on the runtime's
one llama thread through ``EngineRuntime.run_on_model``, one input per call: a long
batch of inputs takes turns with the chat replies queued behind it instead of holding
the model until it is done, and a client that goes away stops it between inputs.
This function blocks; the route runs it on a thread of the loop's default executor.
"""

from __future__ import annotations

import base64
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from llmos_desktop.core.engine.contract import ErrorKind
from llmos_desktop.core.engine.process import llama_api
from llmos_desktop.core.engine.process.protocol import MAX_EMBEDDING_TOKENS
from llmos_desktop.core.engine.process.runtime import EngineRuntime, EngineRuntimeError

T = TypeVar("T")


@dataclass(frozen=True)
class Embeddings:
    vectors: list[list[float]]
    prompt_tokens: int
    dimensions: int
    pooling: str


def _on_model(runtime: EngineRuntime, fn: Callable[[Any], T]) -> T:
    return runtime.run_on_model(fn)


def _unsupported(exc: llama_api.EmbeddingUnsupported) -> EngineRuntimeError:
    return EngineRuntimeError(ErrorKind.INVALID_VALUE, str(exc), param="model")


def embed(
    runtime: EngineRuntime,
    items: list[str | list[int]],
    cancel: threading.Event,
    *,
    dimensions: int | None = None,
) -> Embeddings:
    """One L2-normalised vector per input, in order; EngineRuntimeError (400) for a model
    that cannot embed, an input too long for it, token ids outside its vocabulary, too
    many tokens in all, or ``dimensions`` other than the model's; 409 when no model is
    loaded or another was loaded half way."""

    def prepare(llm: Any) -> tuple[int, int, str, list[list[int]]]:
        try:
            made = llama_api.embedder(llm)
        except llama_api.EmbeddingUnsupported as exc:
            raise _unsupported(exc) from None
        if dimensions is not None and dimensions != made.n_embd:
            raise EngineRuntimeError(
                ErrorKind.INVALID_VALUE,
                f"this model makes vectors of {made.n_embd} dimensions; it cannot make "
                f"{dimensions} (leave dimensions out, or send {made.n_embd})",
                param="dimensions",
            )
        n_vocab = int(llm.n_vocab())
        tokens: list[list[int]] = []
        total = 0
        for index, item in enumerate(items):
            if isinstance(item, str):
                # A text far longer than any input the context takes is refused before
                # it is tokenized (no vocabulary has tokens longer than 256 bytes).
                if len(item.encode("utf-8")) > made.max_tokens * 256:
                    raise _too_long(index, None, made.max_tokens)
                ids = llama_api.embedding_tokens(llm, item)
            else:
                if any(not 0 <= t < n_vocab for t in item):
                    raise EngineRuntimeError(
                        ErrorKind.INVALID_PROMPT,
                        f"input {index} has token ids outside the vocabulary (0..{n_vocab - 1})",
                        param="input",
                    )
                ids = list(item)
            if not ids:
                raise EngineRuntimeError(
                    ErrorKind.INVALID_VALUE, f"input {index} has no tokens", param="input"
                )
            if len(ids) > made.max_tokens:
                raise _too_long(index, len(ids), made.max_tokens)
            total += len(ids)
            if total > MAX_EMBEDDING_TOKENS:
                raise EngineRuntimeError(
                    ErrorKind.INVALID_VALUE,
                    f"the inputs have more than {MAX_EMBEDDING_TOKENS:,} tokens in all; "
                    "send them in several requests",
                    param="input",
                )
            tokens.append(ids)
        return id(llm), made.n_embd, made.pooling_name, tokens

    owner, size, pooling, tokens = _on_model(runtime, prepare)
    vectors: list[list[float]] = []
    for ids in tokens:
        if cancel.is_set():
            raise llama_api.EmbeddingCancelled

        def one(llm: Any, ids: list[int] = ids) -> list[float]:
            if id(llm) != owner:
                raise EngineRuntimeError(
                    ErrorKind.MODEL_NOT_LOADED,
                    "another model was loaded while the inputs were embedded; send the "
                    "request again",
                    status=409,
                )
            try:
                return llama_api.embedder(llm).embed(ids, cancel.is_set)
            except llama_api.EmbeddingUnsupported as exc:
                raise _unsupported(exc) from None
            except RuntimeError as exc:
                raise EngineRuntimeError(
                    ErrorKind.GENERATION_FAILED, f"llama.cpp failed: {exc}", status=500
                ) from exc

        vectors.append(_on_model(runtime, one))
    return Embeddings(vectors, sum(len(ids) for ids in tokens), size, pooling)


def _too_long(index: int, count: int | None, limit: int) -> EngineRuntimeError:
    has = f"has {count} tokens" if count is not None else "is too long"
    return EngineRuntimeError(
        ErrorKind.CONTEXT_LENGTH_EXCEEDED,
        f"input {index} {has}; this model embeds at most {limit} tokens per input",
        param="input",
    )


def encode_base64(vector: list[float]) -> str:
    """OpenAI's ``encoding_format: base64``: little-endian float32 bytes, base64."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
