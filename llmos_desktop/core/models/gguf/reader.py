"""Bounded reader for GGUF headers and metadata, run before llama.cpp sees a file.

A GGUF file is untrusted input: it may be a cut-off download, a saved web page or a
file built to do harm. llama.cpp may abort, or allocate whatever a header claims,
and ``gguf.GGUFReader`` maps the whole file and walks every array in Python (about
20 s for the 250 MB test model). So the GUI process reads what it needs with this
small parser instead: the fixed header, the key/value pairs and the tensor infos,
never tensor data. Every count and length is checked against a hard limit and
against the file's size before it is read, and big arrays (the vocabulary) are
stepped over, not materialised.

This module does not import ``gguf``: that package imports numpy (~0.2 s), and its
tables lag the bundled llama.cpp (it lacks Q2_0). The few ggml tables needed are
copied below from the bundled llama.cpp and cross-checked against ``gguf`` by tests.

Every failure is a ``ModelFileError`` with a one-line message that names the file;
the small helpers at the end build those messages for ``check`` too.

``read_gguf_info_from_prefix`` runs the same parser over the first bytes of a file
that is elsewhere (on the Hub: core/models/remote_gguf.py fetches them with Range
requests) and says ``NeedMoreBytes`` when the header goes on past them, so a remote
header is judged exactly as the downloaded file would be.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import os
import re
import stat
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO, Final, TypeAlias

from llmos_desktop.core.engine.contract import ErrorKind
from llmos_desktop.core.text import one_line

__all__ = [
    "GGUFInfo",
    "MetadataValue",
    "ModelFileError",
    "NeedMoreBytes",
    "read_gguf_info",
    "read_gguf_info_from_prefix",
]

_log = logging.getLogger(__name__)

# --- limits -------------------------------------------------------------------------
# Far above anything a real model has, far below what would hurt the GUI process.
MAX_TENSORS: Final = 1_000_000
MAX_KV_PAIRS: Final = 100_000
MAX_KEY_BYTES: Final = 1024  # real keys are < 100 bytes; keeps the duplicate-key set small
MAX_CHAT_TEMPLATE_BYTES: Final = 64 * 1024 * 1024
MAX_STRING_BYTES: Final = 1024 * 1024  # the architecture name, which is read whole
MAX_ARRAY_ITEMS: Final = 1 << 30  # llama.cpp's own GGUF_MAX_ARRAY_ELEMENTS
MAX_ARRAY_STRINGS: Final = 8 * 1024 * 1024  # total strings stepped over, bounds parse time
# 4x the largest vocabulary of a released model (262,144); check.py refuses more, and
# only up to this many tokens are compared for repeats.
MAX_VOCAB: Final = 1 << 20
# A length beyond llama.cpp's GGUF_MAX_STRING_LENGTH is garbage, not a cut-off download.
_LLAMA_MAX_STRING: Final = 1 << 30
# No single header item of a real model (a chat template, the vocabulary) is this long,
# so a file that runs out this far before its end is damaged, not cut off.
_MAX_HEADER_ITEM: Final = 64 * 1024 * 1024
_TENSOR_NAME_MAX: Final = 63  # GGML_MAX_NAME - 1
_MAX_DIMS: Final = 4  # GGML_MAX_DIMS
_INT64_MAX: Final = (1 << 63) - 1

METADATA_STRING_CHARS: Final = 256
METADATA_ARRAY_ITEMS: Final = 1024  # small numeric arrays, e.g. per-layer head counts
METADATA_MAX_ENTRIES: Final = 512

_WINDOW: Final = 1 << 20  # bytes read from the file at a time

# --- GGUF format ----------------------------------------------------------------------
_MAGIC: Final = b"GGUF"
_SUPPORTED_VERSIONS: Final = (2, 3)
_DEFAULT_ALIGNMENT: Final = 32

_TYPE_STRING: Final = 8
_TYPE_ARRAY: Final = 9
# GGUF value type -> struct format of one item (gguf.GGUFValueType).
_SCALAR_FORMATS: Final[Mapping[int, str]] = {
    0: "B",  # UINT8
    1: "b",  # INT8
    2: "H",  # UINT16
    3: "h",  # INT16
    4: "I",  # UINT32
    5: "i",  # INT32
    6: "f",  # FLOAT32
    7: "?",  # BOOL
    10: "Q",  # UINT64
    11: "q",  # INT64
    12: "d",  # FLOAT64
}
_SCALARS: Final = {t: struct.Struct("<" + f) for t, f in _SCALAR_FORMATS.items()}
_UINT32_TYPE: Final = 4

# ggml_type -> (elements per block, bytes per block), from ggml.h/ggml.c of the bundled
# llama.cpp; the same as gguf.GGML_QUANT_SIZES plus Q2_0. Removed types are absent.
_GGML_BLOCKS: Final[Mapping[int, tuple[int, int]]] = {
    0: (1, 4),  # F32
    1: (1, 2),  # F16
    2: (32, 18),  # Q4_0
    3: (32, 20),  # Q4_1
    6: (32, 22),  # Q5_0
    7: (32, 24),  # Q5_1
    8: (32, 34),  # Q8_0
    9: (32, 40),  # Q8_1
    10: (256, 84),  # Q2_K
    11: (256, 110),  # Q3_K
    12: (256, 144),  # Q4_K
    13: (256, 176),  # Q5_K
    14: (256, 210),  # Q6_K
    15: (256, 292),  # Q8_K
    16: (256, 66),  # IQ2_XXS
    17: (256, 74),  # IQ2_XS
    18: (256, 98),  # IQ3_XXS
    19: (256, 50),  # IQ1_S
    20: (32, 18),  # IQ4_NL
    21: (256, 110),  # IQ3_S
    22: (256, 82),  # IQ2_S
    23: (256, 136),  # IQ4_XS
    24: (1, 1),  # I8
    25: (1, 2),  # I16
    26: (1, 4),  # I32
    27: (1, 8),  # I64
    28: (1, 8),  # F64
    29: (256, 56),  # IQ1_M
    30: (1, 2),  # BF16
    34: (256, 54),  # TQ1_0
    35: (256, 66),  # TQ2_0
    39: (32, 17),  # MXFP4
    40: (64, 36),  # NVFP4
    41: (128, 18),  # Q1_0
    42: (64, 18),  # Q2_0
}

# general.file_type (enum llama_ftype in llama.h) -> the name people know it by.
_FILE_TYPES: Final[Mapping[int, str]] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
    39: "NVFP4",
    40: "Q1_0",
    41: "Q2_0",
}

_U32: Final = struct.Struct("<I")
_U64: Final = struct.Struct("<Q")
_COUNTS: Final = struct.Struct("<QQ")  # tensor count, key/value count
_ARRAY_HEADER: Final = struct.Struct("<IQ")  # item type, item count
_TYPE_AND_OFFSET: Final = struct.Struct("<IQ")
_DIMS: Final = tuple(struct.Struct(f"<{n}q") for n in range(_MAX_DIMS + 1))
_MIN_KV_SIZE: Final = 8 + 1 + 4 + 1  # key length, 1-byte key, value type, 1-byte value
_MIN_TENSOR_INFO_SIZE: Final = 8 + 4 + 4 + 8  # name length, n_dims, type, offset

_KEY_ARCHITECTURE: Final = "general.architecture"
_KEY_CHAT_TEMPLATE: Final = "tokenizer.chat_template"
_KEY_TOKENS: Final = "tokenizer.ggml.tokens"
_KEY_ALIGNMENT: Final = "general.alignment"
# Tensors whose shapes check.py compares with the hyperparameters.
_SHAPE_KEPT: Final = re.compile(rb"blk\.[0-9]{1,3}\.attn_[qkv]\.weight|token_embd\.weight")
# Keys (after "<arch>.") that the memory estimate (memory.py) and the hyperparameter
# check (hparams.py) read; kept even past the metadata cap.
_KEPT_SUFFIXES: Final = (
    "block_count",
    "embedding_length",
    "context_length",
    "feed_forward_length",
    "attention.head_count",
    "attention.head_count_kv",
    "attention.key_length",
    "attention.value_length",
    "attention.key_length_swa",
    "attention.value_length_swa",
    "attention.kv_lora_rank",
    "attention.layer_norm_epsilon",
    "attention.layer_norm_rms_epsilon",
    "attention.group_norm_epsilon",
    "rope.dimension_count",
    "rope.dimension_count_swa",
    "rope.scaling.type",
    "expert_count",
    "expert_used_count",
    "expert_group_count",
    "expert_group_used_count",
    "nextn_predict_layers",
)

MetadataValue: TypeAlias = int | float | bool | str | tuple[int | float | bool, ...]


class ModelFileError(Exception):
    """A model file that must not be handed to the engine, with a one-line reason.

    ``kind`` is one of the contract's model-file kinds: missing, empty, not_gguf,
    truncated, unsupported_version, unsupported_architecture, too_large, unreadable,
    corrupt.
    """

    kind: ErrorKind
    message: str

    def __init__(self, kind: ErrorKind | str, message: str) -> None:
        message = one_line(message, limit=None)
        super().__init__(message)
        self.kind = ErrorKind(kind)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[type[ModelFileError], tuple[str, str]]:
        # Survives pickling (process pools, queues): the default would call __init__(message).
        return (type(self), (self.kind, self.message))


@dataclass(frozen=True)
class GGUFInfo:
    """What the GUI needs to know about a GGUF file before loading it."""

    path: Path
    file_size: int
    version: int
    architecture: str | None
    name: str | None  # general.name, at most METADATA_STRING_CHARS characters
    context_length: int | None
    chat_template: str | None  # untrusted: render only in a sandbox
    bos_token: str | None
    eos_token: str | None
    tensor_count: int
    expected_size: int  # data offset + end of the last tensor, padded to the alignment
    file_type: str | None
    # Small scalar fields and small numeric arrays; no chat templates, no vocabulary.
    metadata: Mapping[str, object] = field(hash=False)
    vocab_size: int | None = None  # tokens in tokenizer.ggml.tokens; None without one
    # Shapes of blk.N.attn_q/k/v.weight and token_embd.weight, by tensor name.
    tensor_shapes: Mapping[str, tuple[int, ...]] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )


def read_gguf_info(path: str | os.PathLike[str]) -> GGUFInfo:
    """Read the header, metadata and tensor infos of a GGUF file, with hard limits.

    Raises ModelFileError, and nothing else, for any file that llama.cpp should
    not be asked to load because of its structure (missing, empty, not GGUF,
    incomplete, damaged, unreadable, unsupported GGUF version).
    """
    try:
        file_path = Path(os.fspath(path))
    except TypeError as exc:
        raise ModelFileError("unreadable", f"{path!r} is not a file path") from exc
    name = _display_name(file_path)
    try:
        return _read(file_path, name)
    except ModelFileError:
        raise
    except MemoryError as exc:
        raise ModelFileError("corrupt", f"{name} is too big to inspect (out of memory)") from exc
    except OSError as exc:
        raise ModelFileError("unreadable", f"{name} cannot be read: {_os_reason(exc)}") from exc
    except Exception as exc:
        # A bug here must not take the GUI down with it; the log keeps the traceback.
        _log.exception("unexpected error while reading %s", file_path)
        raise ModelFileError(
            "corrupt", f"{name} could not be read as a GGUF file ({type(exc).__name__})"
        ) from exc


class NeedMoreBytes(Exception):
    """``read_gguf_info_from_prefix`` needs more of the file than the prefix it was given.

    ``needed`` is a lower bound: the parser stopped at the first item that runs past the
    prefix, and the header may go on after it. ``have`` is the prefix's length.
    """

    def __init__(self, have: int, needed: int) -> None:
        super().__init__(f"the header goes on past byte {have:,}: {needed:,} bytes needed")
        self.have = have
        self.needed = needed


def read_gguf_info_from_prefix(
    prefix: bytes, total_size: int, *, path: str | os.PathLike[str] = "model.gguf"
) -> GGUFInfo:
    """Read a GGUF header from the first bytes of a file whose full size is ``total_size``.

    For a file that is not on this disk (a model on the Hub, read with HTTP Range
    requests): the same parser, limits and messages as ``read_gguf_info``, which the
    remote reader (core/models/remote_gguf.py) relies on to give the same answer. A
    length that points past ``total_size`` is judged as for a local file of that size;
    one that points past the prefix but not past the file raises ``NeedMoreBytes``, so
    the caller fetches more and calls again. ``path`` is what ``GGUFInfo.path`` and the
    messages name (the path inside the repository).

    Raises ModelFileError for a file that must not be loaded, NeedMoreBytes for a
    prefix that is too short, ValueError when the prefix is longer than the file.
    """
    file_path = Path(os.fspath(path))
    name = _display_name(file_path)
    if len(prefix) > total_size:
        raise ValueError(f"a prefix of {len(prefix):,} bytes of a {total_size:,}-byte file")
    if total_size <= 0:
        raise ModelFileError("empty", f"{name} is empty (0 bytes)")
    try:
        return _parse_info(_PrefixReader(prefix, total_size), file_path, name)
    except _NeedMore as exc:
        raise NeedMoreBytes(len(prefix), exc.needed) from None
    except ModelFileError:
        raise
    except MemoryError as exc:
        raise ModelFileError("corrupt", f"{name} is too big to inspect (out of memory)") from exc
    except Exception as exc:
        _log.exception("unexpected error while reading the header of %s", file_path)
        raise ModelFileError(
            "corrupt", f"{name} could not be read as a GGUF file ({type(exc).__name__})"
        ) from exc


# --- reading --------------------------------------------------------------------------


class _Truncated(Exception):
    """The file ends before something that its header promises.

    ``at`` is where the item that runs past the end starts: a cut-off download ends
    inside its last item, a damaged length points far past the end.
    """

    def __init__(self, at: int) -> None:
        super().__init__(at)
        self.at = at


class _Corrupt(Exception):
    """A value that no valid GGUF file has."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class _Reader:
    """Forward reads through a bounded window; nothing past the file's size is read."""

    __slots__ = ("_buf", "_file", "_start", "pos", "size")

    def __init__(self, file: BinaryIO, size: int) -> None:
        self._file = file
        self._buf = b""
        self._start = 0
        self.pos = 0
        self.size = size

    def remaining(self) -> int:
        return self.size - self.pos

    def _window(self, n: int) -> int:
        """Make bytes [pos, pos + n) available; return where they start in the window."""
        off = self.pos - self._start
        if off >= 0 and off + n <= len(self._buf):
            return off
        if n > self.size - self.pos:
            raise _Truncated(self.pos)
        want = min(max(n, _WINDOW), self.size - self.pos)
        self._file.seek(self.pos)
        chunks: list[bytes] = []
        got = 0
        while got < want:
            chunk = self._file.read(want - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got < n:  # the file shrank while it was being read
            raise _Truncated(self.pos)
        self._buf = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._start = self.pos
        return 0

    def unpack(self, st: struct.Struct) -> tuple[Any, ...]:
        off = self._window(st.size)
        self.pos += st.size
        return st.unpack_from(self._buf, off)

    def u32(self) -> int:
        off = self._window(4)
        self.pos += 4
        value: int = _U32.unpack_from(self._buf, off)[0]
        return value

    def u64(self) -> int:
        off = self._window(8)
        self.pos += 8
        value: int = _U64.unpack_from(self._buf, off)[0]
        return value

    def read(self, n: int) -> bytes:
        off = self._window(n)
        self.pos += n
        return self._buf[off : off + n]

    def skip(self, n: int) -> None:
        if n > self.size - self.pos:
            raise _Truncated(self.pos)
        self.pos += n

    def skip_strings(self, count: int) -> None:
        """Step over ``count`` length-prefixed strings without building them.

        This is the hot loop (262,144 tokens in the test model): one unpack per
        string, and the window's end is found by the struct.error it raises.
        """
        unpack = _U64.unpack_from
        limit = _LLAMA_MAX_STRING
        while count > 0:
            off = self._window(8)
            buf = self._buf
            done = 0
            last = off
            try:
                for done in range(count):  # noqa: B007 - `done` is read after a break-out
                    last = off
                    length = unpack(buf, off)[0]
                    if length > limit:
                        raise _Corrupt(f"a text in its metadata claims {length:,} bytes")
                    off += 8 + length
                done = count
            except (struct.error, OverflowError):
                pass  # strings 0..done-1 are stepped over; refill the window at `off`
            self.pos = self._start + off
            count -= done
            if self.pos > self.size:
                raise _Truncated(self._start + last)

    def scan_tokens(self, count: int) -> bytes | None:
        """Step over the vocabulary like skip_strings; return a token that appears
        twice (llama.cpp aborts on those), or None.

        Empty tokens may repeat (llama.cpp accepts them). A token longer than the
        read window is compared by its SHA-256, read a window at a time. Only the
        set of tokens is kept (about 20 MB for 262,144 tokens); a vocabulary over
        MAX_VOCAB is stepped over (check.py refuses it).
        """
        if count > MAX_VOCAB:
            self.skip_strings(count)
            return None
        start = self.pos
        seen: set[bytes] = set()
        long_seen: set[bytes] = set()
        add = seen.add
        unpack = _U64.unpack_from
        left = count
        while left > 0:
            off = self._window(8)
            buf = self._buf
            end = len(buf)
            done = 0
            try:
                for done in range(left):  # noqa: B007 - `done` is read after a break-out
                    text = off + 8
                    stop = text + unpack(buf, off)[0]
                    if stop > end:
                        break  # runs past the window (or past the file): refill at `off`
                    add(buf[text:stop])
                    off = stop
                else:
                    done = left
            except struct.error:
                pass  # the length itself runs past the window
            self.pos = self._start + off
            left -= done
            if done == 0 and left > 0:  # one token longer than the window, or past the end
                long_seen.add(self._long_token_digest())
                left -= 1
        if len(seen) + len(long_seen) == count:
            return None
        end_pos = self.pos
        self.pos = start
        repeat = self._first_repeat(count)  # rare: a repeat, or several empty tokens
        self.pos = end_pos
        return repeat

    def _long_token_digest(self) -> bytes:
        """Read one token longer than the window; its SHA-256."""
        at = self.pos
        length = self.u64()
        if length > _LLAMA_MAX_STRING:
            raise _Corrupt(f"a token in its vocabulary claims {length:,} bytes")
        if length > self.size - self.pos:
            raise _Truncated(at)
        digest = hashlib.sha256()
        left = length
        while left > 0:
            chunk = self.read(min(left, _WINDOW))
            digest.update(chunk)
            left -= len(chunk)
        return digest.digest()

    def _first_repeat(self, count: int) -> bytes | None:
        """The first non-empty token seen before, walking the vocabulary once more."""
        seen: set[bytes] = set()
        long_seen: set[bytes] = set()
        for _ in range(count):
            at = self.pos
            length = self.u64()
            if length > _WINDOW:
                self.pos = at
                digest = self._long_token_digest()
                if digest in long_seen:
                    self.pos = at + 8
                    return self.read(256)
                long_seen.add(digest)
                continue
            token = self.read(length)
            if token and token in seen:
                return token
            seen.add(token)
        return None


class _NeedMore(Exception):
    """A prefix reader ran out of bytes before the file's end: fetch ``needed`` bytes."""

    def __init__(self, needed: int) -> None:
        super().__init__(needed)
        self.needed = needed


class _PrefixReader(_Reader):
    """A ``_Reader`` over the first bytes of a file of known size.

    The whole prefix is the window, so nothing is copied. Reads past the file's size are
    ``_Truncated`` as for a file on disk; reads past the prefix are ``_NeedMore``.
    """

    __slots__ = ()

    def __init__(self, prefix: bytes, size: int) -> None:
        super().__init__(io.BytesIO(), size)
        self._buf = prefix
        self._start = 0

    def _window(self, n: int) -> int:
        if self.pos + n <= len(self._buf):
            return self.pos
        if n > self.size - self.pos:
            raise _Truncated(self.pos)
        raise _NeedMore(self.pos + n)


@dataclass
class _Parsed:
    version: int = 0
    tensor_count: int = 0
    values: dict[str, MetadataValue] = field(default_factory=dict)
    chat_template: str | None = None
    tokens_at: tuple[int, int] | None = None  # file offset of the first token, count
    duplicate_token: bytes | None = None
    tensor_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    data_offset: int = 0
    expected_size: int = 0
    required_size: int = 0  # expected_size without the padding after the last tensor


def _read(path: Path, name: str) -> GGUFInfo:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise ModelFileError("missing", f"{name} does not exist") from exc
    except (OSError, ValueError) as exc:
        raise ModelFileError("unreadable", f"{name} cannot be read: {_os_reason(exc)}") from exc
    if stat.S_ISDIR(st.st_mode):
        raise ModelFileError("unreadable", f"{name} is a folder, not a model file")
    if not stat.S_ISREG(st.st_mode):
        raise ModelFileError("unreadable", f"{name} is not a regular file")

    # O_NONBLOCK: if the path became a FIFO since stat(), open() must not hang.
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as exc:
        raise ModelFileError("missing", f"{name} does not exist") from exc
    except OSError as exc:
        raise ModelFileError("unreadable", f"{name} cannot be read: {_os_reason(exc)}") from exc
    with open(fd, "rb", buffering=0) as file:
        st = os.fstat(file.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ModelFileError("unreadable", f"{name} is not a regular file")
        size = st.st_size
        if size == 0:
            raise ModelFileError("empty", f"{name} is empty (0 bytes)")
        return _parse_info(_Reader(file, size), path, name)


def _parse_info(reader: _Reader, path: Path, name: str) -> GGUFInfo:
    """Parse what ``reader`` reads into a GGUFInfo; the checks shared by both entry points.

    A prefix reader's ``_NeedMore`` passes through: the caller fetches more bytes.
    """
    size = reader.size
    try:
        parsed = _parse(reader, name)
    except _Truncated as exc:
        if size - exc.at > _MAX_HEADER_ITEM:
            # A cut-off download ends inside its last item; this length points
            # far past the end of a file that goes on for a long way.
            raise ModelFileError(
                "corrupt",
                f"{name} is damaged: a length at byte {exc.at:,} of its header points "
                f"past the end of the file ({size:,} bytes)",
            ) from exc
        raise ModelFileError(
            "truncated",
            f"{name} is an incomplete download: the file ends after "
            f"{_format_bytes(size)}, inside its header",
        ) from exc
    except _Corrupt as exc:
        raise ModelFileError("corrupt", f"{name} is damaged: {exc.detail}") from exc
    if size < parsed.required_size:
        have, want = _format_sizes(size, parsed.expected_size)
        raise ModelFileError(
            "truncated", f"{name} is an incomplete download: {have} of {want} expected"
        )
    if parsed.duplicate_token is not None:
        token = _quote(parsed.duplicate_token.decode("utf-8", "replace"))
        raise ModelFileError(
            "corrupt", f"{name} is damaged: the token {token} appears twice in its vocabulary"
        )
    try:
        bos, eos = _special_tokens(reader, parsed)
    except (_Truncated, _Corrupt, _NeedMore):  # not reachable after a full parse; be safe
        bos = eos = None
    return _info(path, size, parsed, bos, eos)


def _parse(r: _Reader, name: str) -> _Parsed:
    p = _Parsed()
    _read_magic(r, name)
    p.version = _read_version(r, name)
    n_tensors, n_kv = _COUNTS.unpack(r.read(_COUNTS.size))
    if n_tensors > MAX_TENSORS:
        raise _Corrupt(f"it claims {n_tensors:,} tensors (the limit is {MAX_TENSORS:,})")
    if n_kv > MAX_KV_PAIRS:
        raise _Corrupt(f"it claims {n_kv:,} metadata entries (the limit is {MAX_KV_PAIRS:,})")
    if n_tensors * _MIN_TENSOR_INFO_SIZE + n_kv * _MIN_KV_SIZE > r.remaining():
        raise _Truncated(r.pos)
    p.tensor_count = n_tensors
    _read_kv_pairs(r, p, n_kv)
    alignment = _alignment(p.values)
    _read_tensor_infos(r, p, n_tensors, alignment)
    return p


def _read_magic(r: _Reader, name: str) -> None:
    head = r.read(min(r.size, 16))
    if head[:4] == _MAGIC:
        r.pos = 4
        return
    if len(head) < 4 and _MAGIC.startswith(head):
        raise _Truncated(0)
    raise ModelFileError("not_gguf", f"{name} is not a GGUF model file{_what_it_is(head)}")


def _what_it_is(head: bytes) -> str:
    """A hint for common wrong files: saved web pages, other checkpoint formats."""
    if head.startswith(b"PK\x03\x04"):
        return " (it is a ZIP archive, perhaps a PyTorch checkpoint)"
    if head[:4] in (b"lmgg", b"fmgg", b"tjgg"):
        return " (it is an old GGML model; llama.cpp now needs GGUF)"
    stripped = head.lstrip()
    if stripped.startswith(b"<"):
        return " (it looks like a web page; the download may have failed)"
    if stripped.startswith(b"{"):
        return " (it looks like a JSON document)"
    if len(head) >= 9 and head[8:9] == b"{":
        return " (it looks like a safetensors file)"
    return ""


def _read_version(r: _Reader, name: str) -> int:
    version = r.u32()
    if version in _SUPPORTED_VERSIONS:
        return version
    swapped = int.from_bytes(version.to_bytes(4, "little"), "big")
    if version & 0xFFFF == 0 and swapped in (1, 2, 3):
        message = f"{name} is a big-endian GGUF file, which this computer cannot load"
    elif version == 1:
        message = (
            f"{name} uses GGUF version 1, which llama.cpp no longer reads; "
            "download a newer conversion"
        )
    else:
        message = f"{name} uses GGUF version {version}; only versions 2 and 3 are supported"
    raise ModelFileError("unsupported_version", message)


def _read_kv_pairs(r: _Reader, p: _Parsed, n_kv: int) -> None:
    seen: set[bytes] = set()
    strings_left = MAX_ARRAY_STRINGS
    values = p.values
    for _ in range(n_kv):
        key_len = r.u64()
        if key_len == 0:
            raise _Corrupt("a metadata key is empty")
        if key_len > MAX_KEY_BYTES:
            raise _Corrupt(f"a metadata key is {key_len:,} bytes long")
        raw_key = r.read(key_len)
        key = raw_key.decode("utf-8", "replace")
        if raw_key in seen:
            raise _Corrupt(f"the metadata key {_quote(key)} appears twice")
        seen.add(raw_key)
        value_type = r.u32()
        if key == _KEY_ALIGNMENT and value_type != _UINT32_TYPE:
            raise _Corrupt("its alignment is not stored as a uint32")  # llama.cpp insists
        if value_type == _TYPE_STRING:
            _read_string_value(r, p, key)
        elif value_type == _TYPE_ARRAY:
            item_type: int
            count: int
            item_type, count = r.unpack(_ARRAY_HEADER)
            if item_type == _TYPE_STRING:
                if count > MAX_ARRAY_ITEMS or count > strings_left:
                    raise _Corrupt(f"the metadata array {_quote(key)} claims {count:,} strings")
                if count * 8 > r.remaining():
                    raise _Truncated(r.pos)
                strings_left -= count
                if key == _KEY_TOKENS:
                    p.tokens_at = (r.pos, count)
                    p.duplicate_token = r.scan_tokens(count)
                else:
                    r.skip_strings(count)
            elif item_type in _SCALARS:
                if count > MAX_ARRAY_ITEMS:
                    raise _Corrupt(f"the metadata array {_quote(key)} claims {count:,} items")
                nbytes = count * _SCALARS[item_type].size
                # Vocabulary arrays (scores, types) are never kept, whatever their size.
                if count <= METADATA_ARRAY_ITEMS and not key.startswith("tokenizer."):
                    fmt = f"<{count}{_SCALAR_FORMATS[item_type]}"
                    values[key] = struct.unpack(fmt, r.read(nbytes))
                else:
                    r.skip(nbytes)
            else:
                raise _Corrupt(
                    f"the metadata array {_quote(key)} has items of unknown type {item_type}"
                )
        elif value_type in _SCALARS:
            values[key] = r.unpack(_SCALARS[value_type])[0]
        else:
            raise _Corrupt(f"the metadata key {_quote(key)} has unknown type {value_type}")


def _read_string_value(r: _Reader, p: _Parsed, key: str) -> None:
    length = r.u64()
    if length > _LLAMA_MAX_STRING:
        raise _Corrupt(f"the metadata string {_quote(key)} claims {length:,} bytes")
    if key == _KEY_CHAT_TEMPLATE:
        if length > MAX_CHAT_TEMPLATE_BYTES:
            raise _Corrupt(f"its chat template is {_format_bytes(length)} long")
        p.chat_template = r.read(length).decode("utf-8", "replace")
    elif key == _KEY_ARCHITECTURE:
        if length > MAX_STRING_BYTES:
            raise _Corrupt(f"its architecture name is {_format_bytes(length)} long")
        p.values[key] = r.read(length).decode("utf-8", "replace")
    else:
        # Only a preview is kept; 4 bytes per character covers any UTF-8 text.
        head = r.read(min(length, 4 * METADATA_STRING_CHARS))
        r.skip(length - len(head))
        p.values[key] = head.decode("utf-8", "replace")[:METADATA_STRING_CHARS]


def _alignment(values: Mapping[str, MetadataValue]) -> int:
    if _KEY_ALIGNMENT not in values:
        return _DEFAULT_ALIGNMENT
    alignment = values[_KEY_ALIGNMENT]
    if type(alignment) is not int or alignment <= 0:
        raise _Corrupt(f"its alignment {alignment!r} is not valid")
    if alignment & (alignment - 1):
        raise _Corrupt(f"its alignment {alignment} is not a power of two")
    return alignment


def _read_tensor_infos(r: _Reader, p: _Parsed, n_tensors: int, alignment: int) -> None:
    names: set[bytes] = set()
    data_size = 0  # padded bytes of the tensors so far = where the next one must start
    last_padding = 0
    for _ in range(n_tensors):
        name_len = r.u64()
        if name_len > _TENSOR_NAME_MAX:
            raise _Corrupt(f"a tensor name is {name_len:,} bytes long")
        raw_name = r.read(name_len)
        tensor = _quote(raw_name.decode("utf-8", "replace"))
        if raw_name in names:
            raise _Corrupt(f"the tensor {tensor} appears twice")
        names.add(raw_name)
        n_dims = r.u32()
        if n_dims > _MAX_DIMS:
            raise _Corrupt(f"the tensor {tensor} has {n_dims:,} dimensions")
        dims: tuple[int, ...] = r.unpack(_DIMS[n_dims])
        if any(d < 0 for d in dims):
            raise _Corrupt(f"the tensor {tensor} has a negative dimension")
        n_elements = math.prod(dims)
        if n_elements > _INT64_MAX:
            raise _Corrupt(f"the tensor {tensor} has too many elements")
        if _SHAPE_KEPT.fullmatch(raw_name):
            p.tensor_shapes[raw_name.decode("ascii")] = dims
        ggml_type: int
        offset: int
        ggml_type, offset = r.unpack(_TYPE_AND_OFFSET)
        block = _GGML_BLOCKS.get(ggml_type)
        if block is None:
            raise _Corrupt(
                f"the tensor {tensor} has type {ggml_type}, which this llama.cpp does not know"
            )
        block_size, block_bytes = block
        if (dims[0] if dims else 1) % block_size:
            raise _Corrupt(f"the tensor {tensor} has rows that do not fill whole blocks")
        if offset != data_size:
            raise _Corrupt(f"the tensor {tensor} starts at {offset:,} instead of {data_size:,}")
        n_bytes = n_elements // block_size * block_bytes
        padded = -(-n_bytes // alignment) * alignment
        data_size += padded
        last_padding = padded - n_bytes
    if n_tensors:
        p.data_offset = -(-r.pos // alignment) * alignment
    else:
        p.data_offset = r.pos
    p.expected_size = p.data_offset + data_size
    p.required_size = p.expected_size - last_padding


def _special_tokens(r: _Reader, p: _Parsed) -> tuple[str | None, str | None]:
    """Fetch the BOS and EOS token texts by stepping through the vocabulary again.

    Their ids usually come after the vocabulary in the file, so they cannot be
    picked up on the first pass; ids are small in practice, so this is cheap.
    """
    if p.tokens_at is None:
        return None, None
    start, count = p.tokens_at
    found: list[str | None] = []
    for key in ("tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"):
        token_id = p.values.get(key)
        if type(token_id) is not int or not 0 <= token_id < count:
            found.append(None)
            continue
        r.pos = start
        r.skip_strings(token_id)
        length = r.u64()
        found.append(r.read(length).decode("utf-8", "replace") if length <= 1024 else None)
    return found[0], found[1]


def _info(path: Path, size: int, p: _Parsed, bos: str | None, eos: str | None) -> GGUFInfo:
    values = p.values
    architecture = values.get(_KEY_ARCHITECTURE)
    arch = architecture if isinstance(architecture, str) else None
    name = values.get("general.name")
    file_type = values.get("general.file_type")
    context_length = _positive_int(values.get(f"{arch}.context_length")) if arch else None
    return GGUFInfo(
        path=path,
        file_size=size,
        version=p.version,
        architecture=arch,
        name=name if isinstance(name, str) else None,
        context_length=context_length,
        chat_template=p.chat_template,
        bos_token=bos,
        eos_token=eos,
        tensor_count=p.tensor_count,
        expected_size=p.expected_size,
        file_type=_FILE_TYPES.get(file_type) if type(file_type) is int else None,
        metadata=MappingProxyType(_small_metadata(values, arch)),
        vocab_size=p.tokens_at[1] if p.tokens_at is not None else None,
        tensor_shapes=MappingProxyType(p.tensor_shapes),
    )


def _small_metadata(values: Mapping[str, MetadataValue], arch: str | None) -> dict[str, object]:
    wanted = {f"{arch}.{suffix}" for suffix in _KEPT_SUFFIXES} if arch else set()
    metadata: dict[str, object] = {}
    for key, value in values.items():
        if len(metadata) >= METADATA_MAX_ENTRIES and key not in wanted:
            continue
        if isinstance(value, str):
            metadata[key] = value[:METADATA_STRING_CHARS]
        else:
            metadata[key] = value
    return metadata


# --- small helpers, also used by check.py for its messages ----------------------------


def _positive_int(value: object) -> int | None:
    return value if type(value) is int and value > 0 else None


def _format_sizes(have: int, want: int) -> tuple[str, str]:
    """Two sizes that read differently: exact bytes where the rounded figures agree."""
    a, b = _format_bytes(have), _format_bytes(want)
    if a == b:
        return f"{have:,} bytes", f"{want:,} bytes"
    return a, b


def _format_bytes(n: int) -> str:
    """Decimal units, as download sizes are shown: 253113024 -> '253.1 MB'."""
    if n < 1000:
        return "1 byte" if n == 1 else f"{n} bytes"
    value = float(n)
    for unit in ("KB", "MB", "GB", "TB", "PB"):
        value /= 1000
        if value < 1000 or unit == "PB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def _quote(text: str, limit: int = 64) -> str:
    """Quote text from the file for a message: one line, bounded length."""
    if len(text) > limit:
        text = text[:limit] + "…"
    return "'" + one_line(text, limit=None) + "'"


def _display_name(path: Path) -> str:
    return one_line(path.name or str(path), limit=None)


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower() if exc.strerror[:1].isupper() else exc.strerror
    return type(exc).__name__
