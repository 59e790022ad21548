"""TokenStore: the Hugging Face token in the system keyring, else in a private file.

No operating-system keyring runs on the test machines (``keyring`` finds only its fail
backend), so the keyring path runs against ``MemoryKeyring``, a real ``keyring`` backend
class that keeps passwords in a dict, installed with ``keyring.set_keyring`` as an OS
keyring would be. That is the one stand-in here: the store's code talks to it through the
same ``keyring`` API. Every test installs a backend explicitly, so no test can reach a
developer's real keychain.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from llmos_desktop.core.models.hub_token import (
    KEYRING_SERVICE,
    KEYRING_USER,
    TokenStore,
    check_token,
)
from llmos_desktop.core.models.types import ModelsError
from tests.helpers.keyrings import MemoryKeyring, memory_keyring, no_keyring

__all__ = ["memory_keyring", "no_keyring"]  # fixtures

TOKEN = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- no keyring: the private file ------------------------------------------------------


@pytest.mark.usefixtures("no_keyring")
def test_without_a_keyring_the_token_goes_to_a_file_only_the_user_can_read(
    tmp_path: Path,
) -> None:
    store = TokenStore(tmp_path / "data" / "hf_token")
    assert store.get() is None
    assert store.where() is None
    assert not store.keyring_available()

    assert store.set(f"  {TOKEN}\n") == "file"

    assert store.file.read_text() == TOKEN + "\n"
    if os.name == "posix":
        assert _mode(store.file) == 0o600
    assert store.get() == TOKEN
    assert store.where() == "file"
    assert TokenStore(store.file).get() == TOKEN  # read back by a new store (a restart)
    assert [p.name for p in store.file.parent.iterdir()] == ["hf_token"]  # no temp files


@pytest.mark.usefixtures("no_keyring")
def test_a_new_token_replaces_the_old_one_atomically(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "hf_token")
    store.set("hf_old")
    inode = store.file.stat().st_ino
    store.set("hf_new")
    assert store.get() == "hf_new"
    assert store.file.stat().st_ino != inode  # a new file renamed over, not rewritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf_token"]


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
@pytest.mark.usefixtures("no_keyring")
def test_a_token_file_made_readable_by_others_is_closed_again(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "hf_token")
    store.set(TOKEN)
    store.file.chmod(0o644)
    assert store.get() == TOKEN
    assert _mode(store.file) == 0o600


@pytest.mark.usefixtures("no_keyring")
def test_clear_removes_the_file(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "hf_token")
    store.set(TOKEN)
    store.clear()
    assert not store.file.exists()
    assert store.get() is None
    store.clear()  # clearing nothing is fine


@pytest.mark.parametrize(
    "bad",
    ["", "   ", "hf_ab cd", "hf_\x00abc", "hf_\u00e9t\u00e9", "hf_a\nb", "x" * 513],
)
@pytest.mark.usefixtures("no_keyring")
def test_what_cannot_be_a_token_is_refused_and_nothing_is_written(tmp_path: Path, bad: str) -> None:
    store = TokenStore(tmp_path / "hf_token")
    store.set(TOKEN)
    with pytest.raises(ModelsError) as caught:
        store.set(bad)
    assert caught.value.kind == "invalid"
    assert store.get() == TOKEN  # the old token is kept


def test_check_token_strips_and_keeps_the_token() -> None:
    assert check_token(f"\t{TOKEN} ") == TOKEN
    assert check_token("x" * 512) == "x" * 512


@pytest.mark.usefixtures("no_keyring")
def test_a_damaged_token_file_reads_as_no_token(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "hf_token")
    store.file.write_bytes(b"\xff\xfe garbage \x00")
    assert store.get() is None
    store.file.write_bytes(b"x" * 100_000)  # too long to be a token; read is bounded
    assert store.get() is None


@pytest.mark.usefixtures("no_keyring")
def test_a_token_that_cannot_be_saved_is_a_clear_io_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    store = TokenStore(blocker / "hf_token")
    with pytest.raises(ModelsError) as caught:
        store.set(TOKEN)
    assert caught.value.kind == "io"
    assert "hf_token" in str(caught.value)
    assert TOKEN not in str(caught.value)


# --- a keyring -------------------------------------------------------------------------


def test_with_a_keyring_the_token_goes_there_and_no_file_is_left(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    store = TokenStore(tmp_path / "hf_token")
    store.file.write_text("hf_older_file_token\n")  # from a time without a keyring

    assert store.keyring_available()
    assert store.set(TOKEN) == "keyring"

    assert memory_keyring.passwords == {(KEYRING_SERVICE, KEYRING_USER): TOKEN}
    assert not store.file.exists()  # no second, stale copy on disk
    assert store.get() == TOKEN
    assert store.where() == "keyring"

    store.clear()
    assert memory_keyring.passwords == {}
    assert store.get() is None


def test_a_keyring_that_refuses_the_token_falls_back_to_the_file(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    memory_keyring.fail_set = True
    store = TokenStore(tmp_path / "hf_token")
    assert store.set(TOKEN) == "file"
    assert store.get() == TOKEN
    if os.name == "posix":
        assert _mode(store.file) == 0o600


def test_a_locked_keyring_does_not_hide_the_file_token(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    store = TokenStore(tmp_path / "hf_token")
    store.file.write_text(TOKEN + "\n")
    memory_keyring.fail_get = True
    assert store.get() == TOKEN
    store.clear()  # a keyring error is logged, the file still goes
    assert not store.file.exists()


def test_use_keyring_false_keeps_the_token_in_the_file(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    store = TokenStore(tmp_path / "hf_token", use_keyring=False)
    assert store.set(TOKEN) == "file"
    assert memory_keyring.passwords == {}
    assert store.get() == TOKEN


def test_importing_the_store_does_not_import_keyring() -> None:
    code = "import sys, llmos_desktop.core.models.hub_token; print('keyring' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"
