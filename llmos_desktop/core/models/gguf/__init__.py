"""GGUF model files, checked before llama.cpp sees them.

- ``reader``: a bounded parser for the header, metadata and tensor infos
  (``read_gguf_info`` -> ``GGUFInfo``); every problem is a ``ModelFileError``.
- ``check``: ``check_model_file``, which also refuses unknown architectures,
  files without weights, impossible hyperparameters and models too big for the
  free memory.
- ``hparams``: the hyperparameters llama.cpp would assert (abort) or hang on.
- ``memory``: ``estimate_memory_bytes``, the rough memory a load needs.

Nothing here imports ``gguf``, numpy or llama.cpp; psutil only when the free
memory is asked for.
"""

from __future__ import annotations

from llmos_desktop.core.models.gguf.check import check_model_file
from llmos_desktop.core.models.gguf.memory import estimate_memory_bytes
from llmos_desktop.core.models.gguf.reader import GGUFInfo, ModelFileError, read_gguf_info

__all__ = [
    "GGUFInfo",
    "ModelFileError",
    "check_model_file",
    "estimate_memory_bytes",
    "read_gguf_info",
]
