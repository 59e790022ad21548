"""The model file check: may this GGUF be handed to llama.cpp on this computer?

``check_model_file`` reads the file with the bounded reader, then refuses, each
with a one-line ``ModelFileError`` that names the file and says why:

- files that are not language models (LoRA adapters, vision projectors,
  importance matrices), that name no architecture, or whose architecture the
  bundled llama.cpp cannot load (``architectures.SUPPORTED_ARCHITECTURES``);
- files without weights (vocabulary-only files);
- hyperparameters that llama.cpp would assert on, hang on, or that no model has
  (see ``hparams``);
- vocabularies that llama.cpp's tokenizer aborts or hangs on, and models without a
  vocabulary (see ``hparams.check_tokenizer``);
- models that need more memory than is free (see ``memory``): the estimate uses the
  context the engine will use, at most the model's trained context.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

from llmos_desktop.core.models.architectures import SUPPORTED_ARCHITECTURES
from llmos_desktop.core.models.gguf.hparams import check_hyperparameters, check_tokenizer
from llmos_desktop.core.models.gguf.memory import (
    _available_memory,
    _effective_n_ctx,
    _memory_parts,
)
from llmos_desktop.core.models.gguf.reader import (
    GGUFInfo,
    ModelFileError,
    _display_name,
    _format_bytes,
    _quote,
    read_gguf_info,
)

__all__ = ["check_model_file"]


def check_model_file(
    path: str | os.PathLike[str],
    *,
    n_ctx: int = 4096,
    available_memory: int | None = None,
) -> GGUFInfo:
    """read_gguf_info, then refuse architectures llama.cpp lacks, impossible
    hyperparameters, vocabularies its tokenizer cannot take, and models too big for RAM.

    ``n_ctx`` is the context asked for; the engine uses at most the model's trained
    context, and so does the memory estimate (``n_ctx <= 0``: the trained context).
    ``available_memory`` defaults to the memory free right now, without swap.
    """
    info = read_gguf_info(path)
    name = _display_name(info.path)
    _check_architecture(info, name)
    if info.tensor_count == 0:
        raise ModelFileError(
            "corrupt", f"{name} contains no weights (it may be a vocabulary-only file)"
        )
    check_hyperparameters(info, name)
    check_tokenizer(info, name)
    if available_memory is None:
        available_memory = _available_memory()
    if available_memory is not None:
        n_ctx_used = _effective_n_ctx(info, n_ctx)
        weights, kv, overhead = _memory_parts(info, n_ctx_used)
        needed = weights + kv + overhead
        if needed > available_memory:
            capped = ", the most it was trained for" if 0 < n_ctx_used < n_ctx else ""
            raise ModelFileError(
                "too_large",
                f"{name} needs about {_format_bytes(needed)} of memory "
                f"({_format_bytes(weights)} of weights and {_format_bytes(kv)} for a "
                f"{n_ctx_used}-token context{capped}) but only "
                f"{_format_bytes(max(0, available_memory))} is free",
            )
    return info


# --- architecture ---------------------------------------------------------------------

_NOT_A_MODEL: Final[Mapping[str, str]] = {
    "adapter": "a LoRA adapter, not a model; load it with its base model",
    "mmproj": "a vision projector (mmproj), not a language model",
    "imatrix": "an importance matrix for quantizing, not a model",
}


def _check_architecture(info: GGUFInfo, name: str) -> None:
    file_kind = info.metadata.get("general.type")
    if isinstance(file_kind, str) and file_kind in _NOT_A_MODEL:
        raise ModelFileError("unsupported_architecture", f"{name} is {_NOT_A_MODEL[file_kind]}")
    arch = info.architecture
    if arch is None:
        raise ModelFileError(
            "unsupported_architecture", f"{name} does not say which model architecture it uses"
        )
    if arch == "clip":
        raise ModelFileError("unsupported_architecture", f"{name} is {_NOT_A_MODEL['mmproj']}")
    if arch not in SUPPORTED_ARCHITECTURES:
        raise ModelFileError(
            "unsupported_architecture",
            f"{name} uses the model architecture {_quote(arch)}, "
            "which this version of llama.cpp does not support",
        )
