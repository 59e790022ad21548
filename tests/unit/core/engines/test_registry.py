"""The engines file and the keys: what is kept where, and what a damaged file does.

Real files in a temporary folder; the keyring is the test machine's (none: keys go to
0600 files) or an in-memory backend (see conftest.py).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from llmos_desktop.core.engines.registry import EngineRegistry, EngineRegistryError
from llmos_desktop.core.engines.types import RemoteEngineConfig
from tests.unit.core.engines.conftest import MemoryKeyring

KEY = "sk-live-0123456789abcdef"


def registry(tmp_path: Path) -> EngineRegistry:
    return EngineRegistry(tmp_path / "data", tmp_path / "config")


def engine(name: str = "gpu-box", url: str = "http://10.0.0.5:8000/v1") -> RemoteEngineConfig:
    return RemoteEngineConfig(name=name, base_url=url)


def test_engines_are_kept_in_order_and_the_key_is_not_in_the_file(
    tmp_path: Path, no_keyring: None
) -> None:
    reg = registry(tmp_path)
    assert reg.list() == []
    assert reg.add(engine("a"), KEY) == "file"
    reg.add(engine("b", "https://b.example/v1"))
    assert [c.name for c in registry(tmp_path).list()] == ["a", "b"]  # read back fresh
    text = reg.file.read_text()
    assert KEY not in text
    assert json.loads(text)["engines"][1]["base_url"] == "https://b.example/v1"
    key_file = tmp_path / "config" / "engine-keys" / "a.key"
    assert key_file.read_text().strip() == KEY
    if os.name == "posix":
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(reg.file.stat().st_mode) == 0o600
    assert reg.api_key("a") == KEY
    assert reg.api_key("b") is None
    assert reg.key_place("A") == "file"  # names are case-insensitive


def test_with_a_keyring_the_key_goes_there_only(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    reg = registry(tmp_path)
    assert reg.add(engine("a"), KEY) == "keyring"
    assert memory_keyring.passwords == {("LLMOS Desktop", "engine:a"): KEY}
    assert not (tmp_path / "config" / "engine-keys" / "a.key").exists()
    assert reg.api_key("a") == KEY
    reg.remove("a")
    assert memory_keyring.passwords == {}
    assert reg.list() == []


def test_a_name_is_unique_and_replace_keeps_the_key(tmp_path: Path, no_keyring: None) -> None:
    reg = registry(tmp_path)
    reg.add(engine("box"), KEY)
    with pytest.raises(EngineRegistryError) as caught:
        reg.add(engine("BOX", "http://other:1/v1"))
    assert caught.value.kind == "exists"
    reg.add(engine("box", "http://other:1/v1"), replace=True)
    assert reg.get("box").base_url == "http://other:1/v1"
    assert reg.api_key("box") == KEY
    assert len(reg.list()) == 1


def test_a_key_that_cannot_be_sent_is_refused_before_anything_is_written(
    tmp_path: Path, no_keyring: None
) -> None:
    reg = registry(tmp_path)
    for bad in ("sk-abc\r\nX-Injected: 1", "two words", "", "ключ"):
        with pytest.raises(EngineRegistryError) as caught:
            reg.add(engine(), bad)
        assert caught.value.kind == "invalid"
    assert reg.list() == []


def test_unknown_names_say_how_to_see_the_engines(tmp_path: Path, no_keyring: None) -> None:
    reg = registry(tmp_path)
    for call in (reg.get, reg.remove):
        with pytest.raises(EngineRegistryError) as caught:
            call("nope")
        assert caught.value.kind == "not_found"
        assert "llmos engines list" in caught.value.message


def test_set_and_clear_a_key(tmp_path: Path, no_keyring: None) -> None:
    reg = registry(tmp_path)
    reg.add(engine())
    assert reg.set_api_key("gpu-box", KEY) == "file"
    assert reg.api_key("gpu-box") == KEY
    reg.set_api_key("gpu-box", None)
    assert reg.api_key("gpu-box") is None


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe", b'{"engines": 3}'])
def test_a_damaged_file_is_moved_aside_and_reported(tmp_path: Path, content: bytes) -> None:
    reg = registry(tmp_path)
    reg.file.parent.mkdir(parents=True)
    reg.file.write_bytes(content)
    assert reg.list() == []
    assert reg.recovered_from is not None
    assert reg.recovered_from.read_bytes() == content  # nothing lost
    assert "damaged" in reg.problems[0]
    assert not reg.file.exists()


def test_a_bad_entry_is_left_out_and_the_file_as_it_was_is_kept(
    tmp_path: Path, no_keyring: None
) -> None:
    reg = registry(tmp_path)
    good = engine("good").model_dump(mode="json")
    document = {
        "version": 1,
        "engines": [
            good,
            {"name": "bad", "base_url": "ftp://x"},
            {**good, "name": "GOOD"},  # a second "good"
        ],
    }
    original = json.dumps(document).encode()
    reg.file.parent.mkdir(parents=True)
    reg.file.write_bytes(original)
    assert [c.name for c in reg.list()] == ["good"]
    assert any("#2" in p and "base_url" in p for p in reg.problems)
    assert any("#3" in p and "twice" in p for p in reg.problems)
    assert reg.recovered_from is not None
    assert reg.recovered_from.read_bytes() == original
    again = registry(tmp_path)
    assert [c.name for c in again.list()] == ["good"]
    assert again.problems == []  # reported once, then the file is clean
