"""Copies of the real test model with extra metadata (e.g. a hostile chat template).

Splices bytes instead of rewriting the file with a GGUF library (gguf.GGUFReader takes
~25 s on the test model): the new key/value pair goes right after the 24-byte header,
padded to a multiple of the 32-byte alignment so every later offset stays aligned,
and the rest of the file is copied unchanged. llama.cpp loads the copy for real.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

_ALIGNMENT = 32
_STRING = 8  # GGUF value type of a string


def _string_kv(key: str, value: str) -> bytes:
    k = key.encode()
    v = value.encode()
    head = struct.pack("<Q", len(k)) + k + struct.pack("<I", _STRING)
    size = len(head) + 8 + len(v)
    v += b" " * ((-size) % _ALIGNMENT)  # trailing spaces keep every offset after it aligned
    return head + struct.pack("<Q", len(v)) + v


def copy_with_metadata(src: Path, dst: Path, strings: dict[str, str]) -> Path:
    """``src`` plus new string keys (which must not exist in it yet)."""
    with src.open("rb") as raw, dst.open("wb") as out:
        header = bytearray(raw.read(24))
        assert header[:4] == b"GGUF"
        n_kv = struct.unpack_from("<Q", header, 16)[0]
        struct.pack_into("<Q", header, 16, n_kv + len(strings))
        out.write(bytes(header))
        for key, value in strings.items():
            out.write(_string_kv(key, value))
        shutil.copyfileobj(raw, out, 1024 * 1024)
    return dst
