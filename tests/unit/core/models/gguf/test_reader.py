"""The bounded GGUF reader: the real model, truncated downloads and hostile files."""

from __future__ import annotations

import io
import os
import pickle
import random
import shutil
import struct
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import gguf
import pytest

import llmos_desktop
from llmos_desktop.core.models.gguf import GGUFInfo, ModelFileError, read_gguf_info, reader
from tests.helpers.gguf_factory import (
    KV_COUNT_OFFSET,
    TENSOR_COUNT_OFFSET,
    VERSION_OFFSET,
    kv_value_offset,
    patch_bytes,
    patch_u32,
    patch_u64,
    raw_array,
    raw_gguf,
    raw_kv,
    raw_string,
    raw_tensor_info,
    truncate_copy,
    write_gguf,
)
from tests.helpers.model_file_errors import expect_model_file_error

STRING = int(gguf.GGUFValueType.STRING)
UINT32 = int(gguf.GGUFValueType.UINT32)
UINT64 = int(gguf.GGUFValueType.UINT64)
ARRAY = int(gguf.GGUFValueType.ARRAY)


@pytest.fixture(scope="session")
def real_header(real_model: Path) -> bytes:
    """The real file's first 8 MiB: all of its metadata (~6.5 MB) and some tensor data."""
    with open(real_model, "rb") as file:
        return file.read(8 << 20)


def expect_error(path: str | os.PathLike[str], kind: str | tuple[str, ...]) -> str:
    """read_gguf_info refuses ``path`` with a ModelFileError of ``kind``; its message."""
    return expect_model_file_error(read_gguf_info, path, kind)


# --- the real model ---------------------------------------------------------------------


@pytest.mark.model
def test_real_model_reads_as_gemma3(real_model: Path, real_info: GGUFInfo) -> None:
    info = real_info
    assert info.path == real_model
    assert info.version == 3
    assert info.architecture == "gemma3"
    assert info.name == "Gemma 3 270m"
    assert info.chat_template is None  # a base model: the app's fallback template applies
    assert info.context_length == 32768
    assert info.tensor_count == 236
    assert info.file_size == real_model.stat().st_size
    assert info.expected_size == info.file_size
    assert info.file_type == "Q4_K_M"
    assert (info.bos_token, info.eos_token) == ("<bos>", "<eos>")
    assert info.metadata["gemma3.block_count"] == 18
    assert all(not isinstance(v, tuple) or len(v) <= 1024 for v in info.metadata.values())
    assert "tokenizer.ggml.tokens" not in info.metadata


@pytest.mark.model
def test_real_model_is_read_without_its_tensor_data(
    real_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Replaces a wall-clock bound: the reader reads the ~6.5 MB of metadata, never the
    # ~245 MB of tensor data after it (gguf.GGUFReader, which would take ~20 s, is kept
    # out by test_importing_the_reader_is_light).
    opened: list[_CountingFile] = []

    def counting_open(fd: int, mode: str, buffering: int) -> _CountingFile:
        assert (mode, buffering) == ("rb", 0)
        opened.append(_CountingFile(fd, mode))
        return opened[-1]

    monkeypatch.setattr(reader, "open", counting_open, raising=False)
    info = read_gguf_info(real_model)
    assert info.tensor_count == 236
    assert len(opened) == 1
    assert 6 << 20 < opened[0].bytes_read < 16 << 20


class _CountingFile(io.FileIO):
    """An unbuffered file that counts the bytes read through it."""

    bytes_read = 0

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data or b"")
        return data or b""


@pytest.mark.model
def test_real_header_fixture_holds_all_metadata(real_header: bytes, tmp_path: Path) -> None:
    # Cut inside the tensor data: the reader gets through every header field first.
    path = tmp_path / "head.gguf"
    path.write_bytes(real_header)
    assert "8.4 MB of 253.1 MB expected" in expect_error(path, "truncated")


# --- incomplete downloads ----------------------------------------------------------------


@pytest.mark.model
@pytest.mark.parametrize("size", ["1KB", "half", "all_but_last_byte"])
def test_truncated_real_model(real_model: Path, tmp_path: Path, size: str) -> None:
    full = real_model.stat().st_size
    cut = {"1KB": 1024, "half": full // 2, "all_but_last_byte": full - 1}[size]
    copy = truncate_copy(real_model, tmp_path / "gemma partial.gguf", cut)
    message = expect_error(copy, "truncated")
    assert "incomplete download" in message
    if size == "half":
        assert "126.6 MB of 253.1 MB expected" in message
    if size == "all_but_last_byte":  # the sizes in MB would read the same
        assert "253,113,023 bytes of 253,113,024 bytes expected" in message


def test_every_prefix_of_a_small_file_is_refused(tiny: Path) -> None:
    for cut in range(tiny.stat().st_size - 1, -1, -1):
        os.truncate(tiny, cut)
        with pytest.raises(ModelFileError) as caught:
            read_gguf_info(tiny)
        assert caught.value.kind == ("empty" if cut == 0 else "truncated"), cut


def test_trailing_bytes_are_tolerated(tiny: Path) -> None:
    with open(tiny, "ab") as file:
        file.write(b"\0" * 100)
    info = read_gguf_info(tiny)
    assert info.file_size == info.expected_size + 100


def test_short_by_a_few_bytes_says_exactly_how_many(tmp_path: Path) -> None:
    # Rounded to 0.1 MB both sizes would read "1.3 MB of 1.3 MB".
    path = write_gguf(tmp_path / "big vocab.gguf", vocab=[f"t{i}" for i in range(40_000)])
    full = path.stat().st_size
    os.truncate(path, full - 10)
    message = expect_error(path, "truncated")
    assert f"incomplete download: {full - 10:,} bytes of {full:,} bytes expected" in message


# --- damaged, not cut off -------------------------------------------------------------------


@pytest.mark.model
def test_bit_flips_in_a_full_size_file_are_damage_not_a_short_download(
    real_model: Path, tmp_path: Path
) -> None:
    """One flipped bit in the first 64 KiB: the file has its full size, so whatever is
    wrong, it is not an incomplete download (it was, for 8 of 10 such files)."""
    copy = tmp_path / "flipped.gguf"
    shutil.copyfile(real_model, copy)
    rng = random.Random(2024)
    head = _first_bytes(real_model, 64 * 1024)
    kinds: list[str] = []
    with open(copy, "r+b") as file:
        for _ in range(60):
            at, bit = rng.randrange(8, len(head)), rng.randrange(8)
            file.seek(at)
            file.write(bytes([head[at] ^ (1 << bit)]))
            file.flush()
            try:
                read_gguf_info(copy)
                kinds.append("read")
            except ModelFileError as exc:
                assert exc.kind == "corrupt", (at, bit, exc.message)
                assert "damaged" in exc.message
                kinds.append(exc.kind)
            file.seek(at)
            file.write(head[at : at + 1])
    assert "corrupt" in kinds  # most flips land in the vocabulary, some only rename a token


def _first_bytes(path: Path, n: int) -> bytes:
    with open(path, "rb") as file:
        return file.read(n)


def test_a_length_past_the_end_of_a_long_file_is_damage(tiny: Path) -> None:
    # A cut-off download ends inside its last item; this length points 100 MB past
    # the end of a file that goes on for 100 MB more.
    patch_u64(tiny, kv_value_offset(tiny, "general.name") + 4, 200 << 20)
    os.truncate(tiny, 100 << 20)  # sparse: trailing zeros, as after the real tensors
    message = expect_error(tiny, "corrupt")
    assert "points past the end of the file (104,857,600 bytes)" in message


def test_a_length_past_the_end_of_a_short_file_is_a_short_download(tiny: Path) -> None:
    patch_u64(tiny, kv_value_offset(tiny, "general.name") + 4, 200 << 20)
    assert "inside its header" in expect_error(tiny, "truncated")


# --- the vocabulary -------------------------------------------------------------------------


def test_a_token_that_appears_twice_is_damage(tmp_path: Path) -> None:
    # llama.cpp aborts on this (GGML_ASSERT(id_to_token.size() == token_to_id.size())).
    path = write_gguf(tmp_path / "twice.gguf", vocab=["<unk>", "<s>", "</s>", "hi", "yo", "hi"])
    message = expect_error(path, "corrupt")
    assert message == "twice.gguf is damaged: the token 'hi' appears twice in its vocabulary"


def test_empty_tokens_may_repeat(tmp_path: Path) -> None:
    # llama.cpp loads these; only non-empty tokens must be unique.
    path = write_gguf(tmp_path / "empties.gguf", vocab=["<unk>", "<s>", "</s>", "", "", "a"])
    assert read_gguf_info(path).vocab_size == 6


def test_a_repeat_far_into_a_large_vocabulary_is_found(tmp_path: Path) -> None:
    # 200,000 tokens (~2.4 MB) span several read windows; the repeat is in the last.
    words = [f"word{i}" for i in range(200_000)]
    words[-1] = "word3"
    path = write_gguf(tmp_path / "large.gguf", vocab=words)
    assert "the token 'word3' appears twice" in expect_error(path, "corrupt")


def test_tokens_longer_than_the_read_window_are_compared_too(tmp_path: Path) -> None:
    long_a, long_b = "x" * (3 << 20), "x" * ((3 << 20) - 1) + "y"
    words = ["<unk>", "<s>", "</s>", long_a, "y", long_b]
    assert read_gguf_info(write_gguf(tmp_path / "long.gguf", vocab=words)).vocab_size == 6
    twice = write_gguf(tmp_path / "long twice.gguf", vocab=[*words, long_a])
    assert "the token 'xxxx" in expect_error(twice, "corrupt")


@pytest.mark.model
def test_real_model_vocabulary_and_attention_shapes(real_info: GGUFInfo) -> None:
    assert real_info.vocab_size == 262_144
    assert real_info.tensor_shapes["token_embd.weight"] == (640, 262_144)
    assert real_info.tensor_shapes["blk.17.attn_k.weight"] == (640, 256)
    assert real_info.tensor_shapes["blk.0.attn_q.weight"] == (640, 1024)
    assert len(real_info.tensor_shapes) == 1 + 18 * 3


# --- not a model at all -------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    message = expect_error(tmp_path / "gone.gguf", "missing")
    assert "does not exist" in message


def test_missing_parent_is_missing(tiny: Path) -> None:
    expect_error(tiny / "child.gguf", "missing")


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.gguf"
    empty.touch()
    expect_error(empty, "empty")


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "folder.gguf"
    folder.mkdir()
    expect_error(folder, "unreadable")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.gguf"
    os.mkfifo(fifo)
    expect_error(fifo, "unreadable")


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read anything"
)
def test_permission_denied(tiny: Path) -> None:
    tiny.chmod(0)
    try:
        expect_error(tiny, "unreadable")
    finally:
        tiny.chmod(0o644)


def test_permission_error_on_open(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Runs as root too: the open itself is made to fail.
    real_open = os.open

    def refuse(path: object, *args: object, **kwargs: object) -> int:
        if Path(str(path)) == tiny:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refuse)
    assert "permission denied" in expect_error(tiny, "unreadable")


def test_unexpected_bugs_become_model_file_errors(
    tiny: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(reader, "_parse", broken)
    assert "RuntimeError" in expect_error(tiny, "corrupt")
    assert "a bug" in caplog.text


def test_random_bytes(tmp_path: Path) -> None:
    noise = tmp_path / "noise.gguf"
    noise.write_bytes(b"\x00" + random.Random(0).randbytes(4095))
    expect_error(noise, "not_gguf")


@pytest.mark.parametrize(
    ("content", "hint"),
    [
        (b"<!DOCTYPE html><html>rate limited</html>", "web page"),
        (b"PK\x03\x04" + b"\0" * 60, "ZIP"),
        (b"lmgg" + b"\0" * 60, "old GGML"),
        (struct.pack("<Q", 20) + b'{"__metadata__":{}}' + b"\0" * 8, "safetensors"),
        (b"GG", "incomplete"),
    ],
)
def test_wrong_formats_get_a_hint(tmp_path: Path, content: bytes, hint: str) -> None:
    wrong = tmp_path / "wrong.gguf"
    wrong.write_bytes(content)
    message = expect_error(wrong, ("not_gguf", "truncated"))
    assert hint in message


@pytest.mark.model
def test_wrong_magic_on_real_header(real_header: bytes, tmp_path: Path) -> None:
    bad = tmp_path / "flipped.gguf"
    bad.write_bytes(bytes([real_header[0] ^ 0xFF]) + real_header[1:])
    expect_error(bad, "not_gguf")


@pytest.mark.parametrize("version", [0, 1, 4, 99, 2**32 - 1])
def test_unsupported_versions(tiny: Path, version: int) -> None:
    patch_u32(tiny, VERSION_OFFSET, version)
    message = expect_error(tiny, "unsupported_version")
    assert f"version {version}" in message


def test_big_endian_file(tiny: Path) -> None:
    patch_bytes(tiny, VERSION_OFFSET, struct.pack(">I", 3))
    assert "big-endian" in expect_error(tiny, "unsupported_version")


def test_version_2_is_read(tiny: Path) -> None:
    patch_u32(tiny, VERSION_OFFSET, 2)
    assert read_gguf_info(tiny).version == 2


# --- architecture and size ----------------------------------------------------------------
# --- hostile headers ------------------------------------------------------------------------


@pytest.mark.model
@pytest.mark.parametrize("field", [TENSOR_COUNT_OFFSET, KV_COUNT_OFFSET])
@pytest.mark.parametrize("value", [2**62, 2**64 - 1, 999_999, 99_999])
def test_huge_counts_are_refused_quickly(
    real_header: bytes, tmp_path: Path, field: int, value: int
) -> None:
    path = tmp_path / "counts.gguf"
    path.write_bytes(real_header)
    patch_u64(path, field, value)
    expect_bounded_error(path, ("corrupt", "truncated"))


def test_string_length_of_2_pow_40(tiny: Path) -> None:
    patch_u64(tiny, kv_value_offset(tiny, "general.name") + 4, 2**40)
    expect_bounded_error(tiny, ("corrupt", "truncated"), megabytes=8)


def test_string_length_just_past_the_end(tiny: Path) -> None:
    patch_u64(tiny, kv_value_offset(tiny, "general.name") + 4, tiny.stat().st_size)
    expect_error(tiny, "truncated")


@pytest.mark.model
def test_token_array_count_lies(real_header: bytes, tmp_path: Path) -> None:
    path = tmp_path / "vocab lies.gguf"
    path.write_bytes(real_header)
    count_at = kv_value_offset(path, "tokenizer.ggml.tokens") + 8
    for count in (2**62, 2**30, 7_000_000):
        patch_u64(path, count_at, count)
        expect_bounded_error(path, ("corrupt", "truncated"))


def test_key_length_lies(tiny: Path) -> None:
    at = kv_value_offset(tiny, "general.name") - len("general.name") - 8
    patch_u64(tiny, at, 2**50)
    expect_error(tiny, "corrupt")


def test_chat_template_over_the_limit(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "template.gguf", chat_template="{{ messages }}")
    patch_u64(path, kv_value_offset(path, "tokenizer.chat_template") + 4, (64 << 20) + 1)
    assert "chat template" in expect_bounded_error(path, "corrupt", megabytes=8)


@pytest.mark.model
def test_random_mutations_only_raise_model_file_errors(tiny: Path, real_header: bytes) -> None:
    rng = random.Random(1234)
    original = tiny.read_bytes()
    # The real header's first 8 KB: counts, general.*, and the start of the vocabulary.
    real_start = real_header[:8192]
    for i in range(400):
        source = original if i % 2 else real_start
        data = bytearray(source)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(4, min(len(data), 2048))
            data[at] = rng.randrange(256)
        tiny.write_bytes(bytes(data))
        start = time.perf_counter()
        try:
            read_gguf_info(tiny)
        except ModelFileError as exc:
            assert "\n" not in exc.message
        assert time.perf_counter() - start < 1.0


def _hand_made(tmp_path: Path, *kvs: bytes, tensor_infos: tuple[bytes, ...] = ()) -> Path:
    arch = raw_kv("general.architecture", STRING, raw_string("llama"))
    return raw_gguf(tmp_path / "hand made.gguf", [arch, *kvs], tensor_infos, data=b"\0" * 64)


@pytest.mark.parametrize(
    ("kv", "detail"),
    [
        (raw_kv("weird.type", 77, b"\0" * 8), "unknown type"),
        (raw_kv("nested", ARRAY, raw_array(ARRAY, 1, raw_array(UINT32, 0))), "unknown type"),
        (raw_kv("general.architecture", STRING, raw_string("llama")), "appears twice"),
        (raw_kv("", STRING, raw_string("x")), "empty"),
        (raw_kv("general.alignment", UINT32, struct.pack("<I", 24)), "power of two"),
        (raw_kv("general.alignment", UINT32, struct.pack("<I", 0)), "alignment"),
        (raw_kv("general.alignment", STRING, raw_string("32")), "alignment"),
        (raw_kv("general.alignment", UINT64, struct.pack("<Q", 32)), "uint32"),
        (raw_kv("strings", ARRAY, raw_array(STRING, 2**31)), "claims"),
        (raw_kv("numbers", ARRAY, raw_array(UINT32, 2**40)), "claims"),
    ],
)
def test_corrupt_metadata(tmp_path: Path, kv: bytes, detail: str) -> None:
    path = _hand_made(tmp_path, kv)
    assert detail in expect_error(path, "corrupt")


F32 = int(gguf.GGMLQuantizationType.F32)
Q4_K = int(gguf.GGMLQuantizationType.Q4_K)


@pytest.mark.parametrize(
    ("infos", "detail"),
    [
        ((raw_tensor_info("t", [4], 4, 0),), "type 4"),
        ((raw_tensor_info("t", [4], 9999, 0),), "type 9999"),
        ((raw_tensor_info("t", [4, 1, 1, 1, 1], F32, 0),), "dimensions"),
        ((raw_tensor_info("t", [-4], F32, 0),), "negative"),
        ((raw_tensor_info("t", [2**40, 2**40], F32, 0),), "too many elements"),
        ((raw_tensor_info("t", [100], Q4_K, 0),), "whole blocks"),
        ((raw_tensor_info("t", [4], F32, 64),), "starts at 64"),
        ((raw_tensor_info("t", [4], F32, 0), raw_tensor_info("t", [4], F32, 32)), "twice"),
        ((raw_tensor_info("n" * 64, [4], F32, 0),), "name"),
    ],
)
def test_corrupt_tensor_infos(tmp_path: Path, infos: tuple[bytes, ...], detail: str) -> None:
    path = _hand_made(tmp_path, tensor_infos=infos)
    assert detail in expect_error(path, "corrupt")


def test_hand_made_file_with_valid_tensors(tmp_path: Path) -> None:
    infos = (raw_tensor_info("a", [4], F32, 0), raw_tensor_info("b", [8], F32, 32))
    path = _hand_made(tmp_path, tensor_infos=infos)
    info = read_gguf_info(path)
    assert info.tensor_count == 2
    assert info.expected_size == info.file_size  # 64 bytes of data after the header


# --- hostile chat templates -----------------------------------------------------------------

HOSTILE_TEMPLATE = (
    "{% for i in range(10**12) %}{{ i }}{% endfor %}"
    "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}\n\r\0\u202e<script>"
    "{{ messages[0]['content'] * 999999999 }}"
)


def test_hostile_chat_template_round_trips_as_a_string(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "hostile.gguf", chat_template=HOSTILE_TEMPLATE)
    info = read_gguf_info(path)
    assert info.chat_template == HOSTILE_TEMPLATE
    assert type(info.chat_template) is str
    assert not any("chat_template" in key for key in info.metadata)


def test_large_chat_template_round_trips(tmp_path: Path) -> None:
    template = "{# " + "x" * (3 << 20) + " #}{{ messages }}"  # above the 1 MiB string cap
    path = write_gguf(tmp_path / "big template.gguf", chat_template=template)
    assert read_gguf_info(path).chat_template == template


def test_invalid_utf8_is_replaced(tmp_path: Path) -> None:
    path = _hand_made(tmp_path, raw_kv("tokenizer.chat_template", STRING, raw_string(b"\xff{{x}}")))
    assert read_gguf_info(path).chat_template == "\ufffd{{x}}"


# --- metadata ---------------------------------------------------------------------------------


def test_metadata_is_small_and_read_only(tmp_path: Path) -> None:
    path = write_gguf(
        tmp_path / "meta.gguf",
        name="n" * 5000,
        extra_kv={"general.description": "d" * 5000, "general.tags": ["a", "b"]},
    )
    info = read_gguf_info(path)
    assert info.name == "n" * 256
    assert info.metadata["general.description"] == "d" * 256
    assert "general.tags" not in info.metadata  # string arrays are never kept
    assert "tokenizer.ggml.scores" not in info.metadata
    assert info.metadata["llama.block_count"] == 1
    with pytest.raises(TypeError):
        info.metadata["x"] = 1  # type: ignore[index]


def test_reads_of_one_file_compare_equal(tiny: Path, tmp_path: Path) -> None:
    # What a cache of file infos relies on: the same file reads the same, another does not.
    info = read_gguf_info(tiny)
    again = read_gguf_info(tiny)
    assert again == info
    assert {info: "cached"}[again] == "cached"
    other = read_gguf_info(write_gguf(tmp_path / "other.gguf", name="another model"))
    assert other != info
    with open(tiny, "ab") as file:
        file.write(b"\0" * 32)  # the file changed since
    assert read_gguf_info(tiny) != info


def test_bos_eos_out_of_range_are_none(tmp_path: Path) -> None:
    path = write_gguf(
        tmp_path / "ids.gguf",
        extra_kv={"tokenizer.ggml.bos_token_id": 10**6, "tokenizer.ggml.eos_token_id": 5},
    )
    info = read_gguf_info(path)
    assert info.bos_token is None
    assert info.eos_token == "!"


def test_error_type_contract() -> None:
    error = ModelFileError("corrupt", "a.gguf is damaged:\nline two")
    assert error.kind == "corrupt"
    assert str(error) == error.message == "a.gguf is damaged:\\nline two"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.kind, copy.message) == (error.kind, error.message)


def test_non_path_argument() -> None:
    with pytest.raises(ModelFileError) as caught:
        read_gguf_info(12345)  # type: ignore[arg-type]
    assert caught.value.kind == "unreadable"


# --- tables copied from llama.cpp -------------------------------------------------------------


def test_tables_agree_with_the_gguf_package() -> None:
    blocks = reader._GGML_BLOCKS
    for ggml_type, sizes in gguf.GGML_QUANT_SIZES.items():
        assert blocks[int(ggml_type)] == sizes, ggml_type.name
    value_types = {int(t) for t in gguf.GGUFValueType}
    assert set(reader._SCALAR_FORMATS) | {STRING, ARRAY} == value_types
    for file_type in gguf.LlamaFileType:
        if file_type is gguf.LlamaFileType.GUESSED:
            continue
        expected = file_type.name.removeprefix("MOSTLY_").removeprefix("ALL_")
        assert reader._FILE_TYPES[int(file_type)] == expected


def test_importing_the_reader_is_light() -> None:
    code = (
        "import sys, llmos_desktop.core.models.gguf as m; "
        "bad = {'numpy', 'gguf', 'psutil', 'PySide6'} & set(sys.modules); "
        "assert not bad, bad"
    )
    root = Path(llmos_desktop.__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


# --- helpers ----------------------------------------------------------------------------------


def expect_bounded_error(
    path: Path, kind: str | tuple[str, ...], *, seconds: float = 1.0, megabytes: int = 32
) -> str:
    """expect_error, also asserting that it is quick and allocates little.

    Timed and traced in separate runs: tracemalloc slows the vocabulary walk ~10x.
    """
    start = time.perf_counter()
    message = expect_error(path, kind)
    elapsed = time.perf_counter() - start
    assert elapsed < seconds, f"took {elapsed:.2f} s"
    tracemalloc.start()
    try:
        expect_error(path, kind)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < megabytes << 20, f"peak {peak / 1e6:.1f} MB"
    return message
