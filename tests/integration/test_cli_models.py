"""``llmos models``, run as a user runs it: real processes, the real huggingface_hub client
and our downloads against the fake Hub (a real HTTP server on 127.0.0.1, reached through
``HF_ENDPOINT``), the real library under ``LLMOS_HOME``.

The heavy check is the kill: ``llmos models pull`` SIGKILLed in the middle of a file
and run again resumes from the bytes on disk (the Hub's log shows the second run asked
for exactly the rest) and ends with a verified model in ``llmos models list --json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cli import assert_ok, assert_one_line_error
from tests.helpers.gguf_factory import write_big_gguf, write_gguf
from tests.helpers.hub_server import FakeHub

TOKEN = "hf_" + "b" * 34


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    """The fake Hub, started for one test."""
    with FakeHub() as hub:
        yield hub


COMMAND = [sys.executable, "-m", "llmos_desktop.cli"]


@pytest.fixture
def home(llmos_home: Path, fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    return llmos_home


def _settings(home: Path, **values: object) -> None:
    config = home / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "settings.json").write_text(json.dumps(values), encoding="utf-8")


def _llmos(*args: str, stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, "models", *args], input=stdin, capture_output=True, text=True, timeout=timeout
    )


def _listed(*, with_starter: bool = False) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(assert_ok(_llmos("list", "--json")).stdout)
    return rows if with_starter else [r for r in rows if not r["read_only"]]


def _small(tmp_path: Path, name: str = "small.gguf", **kwargs: object) -> Path:
    path = tmp_path / "src" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_gguf(path, **kwargs)  # type: ignore[arg-type]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- pull -------------------------------------------------------------------------------


def test_pull_ends_with_a_verified_model_in_the_list(
    home: Path,
    fake_hub: FakeHub,
    tmp_path: Path,
) -> None:
    source = _small(tmp_path, chat_template="{{ x }}", extra_kv={"general.size_label": "2M"})
    fake_hub.add_repo("owner/tiny", {"Tiny-Q8_0.gguf": source.read_bytes()})

    result = assert_ok(_llmos("pull", "owner/tiny", "Tiny-Q8_0.gguf"))

    target = home / "data" / "models" / "owner" / "tiny" / "Tiny-Q8_0.gguf"
    assert str(target) in result.stdout
    assert "verified" in result.stdout  # plain progress lines: stdout is not a terminal
    assert result.stderr == ""
    assert _sha256(target) == _sha256(source)
    (row,) = _listed()
    assert row["path"] == str(target)
    assert row["name"] == "Tiny-Q8_0"
    assert row["source_repo"] == "owner/tiny"
    assert row["size"] == source.stat().st_size
    assert row["has_chat_template"] is True
    assert row["parameters"] == 2_000_000
    assert row["quant"] == "F32"  # the header's file type, not the name's
    assert row["error"] is None
    assert row["in_place"] is False
    assert row["defaults"] == {
        "n_ctx": None,
        "n_gpu_layers": "auto",
        "n_threads": None,
        "chat_template": None,
    }
    # Running it again fetches nothing.
    fake_hub.clear_requests()
    again = assert_ok(_llmos("pull", "owner/tiny", "Tiny-Q8_0.gguf"))
    assert "already downloaded" in again.stdout
    assert fake_hub.requests_for(".gguf", "GET") == []


def test_pull_killed_mid_file_resumes_without_fetching_a_byte_twice(
    home: Path,
    fake_hub: FakeHub,
    tmp_path: Path,
) -> None:
    source = write_big_gguf(tmp_path / "src" / "Big-Q8_0.gguf", 8)
    size = source.stat().st_size
    fake_hub.add_repo("owner/big", {"Big-Q8_0.gguf": source})
    fake_hub.rate_limit = 1024 * 1024  # 8 s for the file: plenty of time to kill it
    target = home / "data" / "models" / "owner" / "big" / "Big-Q8_0.gguf"
    partial = target.with_name(target.name + ".part")

    child = subprocess.Popen(
        [*COMMAND, "models", "pull", "owner/big", "Big-Q8_0.gguf"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (partial.exists() and partial.stat().st_size >= 1024 * 1024):
            assert child.poll() is None, "the pull ended before it could be killed"
            assert time.monotonic() < deadline, "no bytes arrived"
            time.sleep(0.05)
        child.kill()  # SIGKILL (TerminateProcess on Windows): no chance to clean up
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    on_disk = partial.stat().st_size
    assert 0 < on_disk < size
    assert not target.exists()
    assert _listed() == []  # a partial file is never a model

    fake_hub.rate_limit = None
    fake_hub.clear_requests()
    assert_ok(_llmos("pull", "owner/big", "Big-Q8_0.gguf"))

    (get,) = fake_hub.requests_for(".gguf", "GET")
    assert get.range == f"bytes={on_disk}-"
    assert get.status == 206
    assert get.bytes_sent == size - on_disk  # only what was not on disk
    assert not partial.exists()
    assert _sha256(target) == fake_hub.sha256("owner/big", "Big-Q8_0.gguf")
    (row,) = _listed()
    assert row["path"] == str(target)
    assert row["error"] is None
    assert row["source_repo"] == "owner/big"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_ctrl_c_stops_the_pull_and_keeps_its_bytes_for_the_next_run(
    home: Path,
    fake_hub: FakeHub,
    tmp_path: Path,
) -> None:
    source = write_big_gguf(tmp_path / "src" / "Stop.gguf", 4)
    fake_hub.add_repo("owner/stop", {"Stop.gguf": source})
    fake_hub.rate_limit = 1024 * 1024
    target = home / "data" / "models" / "owner" / "stop" / "Stop.gguf"
    partial = target.with_name(target.name + ".part")
    child = subprocess.Popen(
        [*COMMAND, "models", "pull", "owner/stop", "Stop.gguf"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (partial.exists() and partial.stat().st_size >= 512 * 1024):
            assert child.poll() is None, "the pull ended before it could be stopped"
            assert time.monotonic() < deadline, "no bytes arrived"
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130
    assert "Traceback" not in stderr
    assert "the same command resumes" in stderr
    on_disk = partial.stat().st_size
    assert 0 < on_disk < source.stat().st_size

    fake_hub.rate_limit = None
    fake_hub.clear_requests()
    assert_ok(_llmos("pull", "owner/stop", "Stop.gguf"))

    (get,) = fake_hub.requests_for(".gguf", "GET")
    assert get.range == f"bytes={on_disk}-"
    assert _sha256(target) == _sha256(source)


def test_a_corrupted_download_fails_with_one_line_and_nothing_listed(
    home: Path,
    fake_hub: FakeHub,
    tmp_path: Path,
) -> None:
    fake_hub.add_repo("owner/tiny", {"Tiny.gguf": _small(tmp_path).read_bytes()})
    fake_hub.corrupt_at = 100

    result = _llmos("pull", "owner/tiny", "Tiny.gguf")

    assert result.returncode == 1
    assert_one_line_error(result, "SHA-256")
    folder = home / "data" / "models"
    assert [p.name for p in folder.rglob("*") if p.is_file()] == []
    assert _listed() == []


@pytest.mark.parametrize(
    ("repo", "file", "needle"),
    [
        ("owner/tiny", "missing.gguf", "has no file"),
        ("owner/nothing", "Tiny.gguf", "owner/nothing"),
        ("owner/tiny", "../evil.gguf", "evil.gguf"),
        ("owner", "Tiny.gguf", "owner"),
    ],
)
def test_a_pull_that_cannot_work_says_why_in_one_line(
    home: Path,
    fake_hub: FakeHub,
    tmp_path: Path,
    repo: str,
    file: str,
    needle: str,
) -> None:
    fake_hub.add_repo("owner/tiny", {"Tiny.gguf": _small(tmp_path).read_bytes()})

    result = _llmos("pull", repo, file)

    assert_one_line_error(result, needle)
    assert not any((home / "data" / "models").rglob("*.gguf*"))


def test_a_gated_repository_says_a_token_is_needed(
    home: Path,
    fake_hub: FakeHub,
    tmp_path: Path,
) -> None:
    fake_hub.add_repo("owner/gated", {"G.gguf": _small(tmp_path).read_bytes()}, gated="manual")
    fake_hub.required_token = TOKEN

    result = _llmos("pull", "owner/gated", "G.gguf")

    assert_one_line_error(result, "token")


def test_pull_follows_the_settings_endpoint_and_models_folder(
    home: Path,
    fake_hub: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_hub.add_repo("owner/tiny", {"Tiny.gguf": _small(tmp_path).read_bytes()})
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the setting wins over it
    folder = tmp_path / "my models"
    _settings(home, hub_endpoint=fake_hub.url, models_dir=str(folder))

    assert_ok(_llmos("pull", "owner/tiny", "Tiny.gguf"))

    (row,) = _listed()
    assert row["path"] == str(folder / "owner" / "tiny" / "Tiny.gguf")


def test_the_proxy_setting_is_used(home: Path, fake_hub: FakeHub, tmp_path: Path) -> None:
    fake_hub.add_repo("owner/tiny", {"Tiny.gguf": _small(tmp_path).read_bytes()})
    _settings(home, http_proxy="http://127.0.0.1:9")  # nothing listens there

    result = _llmos("search", "tiny")

    assert_one_line_error(result)
    assert fake_hub.requests_for("/api/models") == []  # it never reached the Hub directly


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal (pty)")
def test_pull_draws_a_progress_bar_on_a_terminal(
    home: Path,
    fake_hub: FakeHub,
    tmp_path: Path,
) -> None:
    import pty

    source = write_big_gguf(tmp_path / "src" / "Bar.gguf", 2)
    fake_hub.add_repo("owner/bar", {"Bar.gguf": source})
    fake_hub.rate_limit = 4 * 1024 * 1024
    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            [*COMMAND, "models", "pull", "owner/bar", "Bar.gguf"],
            stdout=subprocess.PIPE,
            stderr=follower,
            timeout=120,
        )
        os.close(follower)
        follower = -1
        drawn = b""
        with contextlib.suppress(OSError):
            while chunk := os.read(leader, 65536):
                drawn += chunk
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    assert result.returncode == 0
    text = drawn.decode("utf-8", "replace")
    assert "\r" in text
    assert "█" in text
    assert "verified" in text
    assert b"verified" not in result.stdout  # no plain lines when the bar is drawn
    assert b"Bar" in result.stdout  # the model and where it is


# --- list, search, import, rm ---------------------------------------------------------


def test_list_shows_the_starter_read_only(home: Path) -> None:
    rows = _listed(with_starter=True)
    starters = [r for r in rows if r["read_only"]]
    assert len(starters) <= 1  # only when the starter package is installed
    for row in starters:
        assert row["in_place"] is True
        assert row["name"] == "SmolLM2-135M-Instruct.Q4_1"
        result = _llmos("rm", row["name"], "--yes")
        assert_one_line_error(result, "starter")
        assert Path(row["path"]).is_file()


def test_list_text_and_an_error_row(home: Path, tmp_path: Path) -> None:
    folder = home / "data" / "models"
    folder.mkdir(parents=True)
    write_gguf(folder / "good-Q4_K_M.gguf", extra_kv={"general.size_label": "135M"})
    (folder / "bad.gguf").write_text("<html>not found</html>")

    result = assert_ok(_llmos("list"))

    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "QUANT", "SIZE", "PARAMS", "CONTEXT", "DETAILS"]
    good = next(line for line in lines if line.startswith("good-Q4_K_M"))
    assert "135M" in good and "llama" in good
    bad = next(line for line in lines if line.startswith("bad "))
    assert "error: bad.gguf is not a GGUF model file" in bad


def test_search_json_lists_repositories_with_their_files(
    home: Path,
    fake_hub: FakeHub,
    tmp_path: Path,
) -> None:
    small = _small(tmp_path).read_bytes()
    fake_hub.add_repo(
        "owner/chat-GGUF",
        {
            "Chat-Q4_K_M.gguf": small,
            "Chat-Q8_0-00001-of-00002.gguf": small,
            "Chat-Q8_0-00002-of-00002.gguf": small + b"x",
            "mmproj-Chat-f16.gguf": small,
            "config.json": b"{}",
        },
        downloads=50,
        likes=3,
    )
    fake_hub.add_repo("owner/chat-gated-GGUF", {"G.gguf": small}, gated="manual", downloads=10)
    fake_hub.add_repo("owner/other", {"O.gguf": small}, downloads=99)

    rows = json.loads(assert_ok(_llmos("search", "chat", "--json")).stdout)

    assert [r["repo_id"] for r in rows] == ["owner/chat-GGUF", "owner/chat-gated-GGUF"]
    chat, gated = rows
    assert chat["downloads"] == 50
    assert chat["likes"] == 3
    assert chat["error"] is None
    assert chat["revision"] == fake_hub.revision("owner/chat-GGUF")
    files = {f["path"]: f for f in chat["files"]}
    assert set(files) == {
        "Chat-Q4_K_M.gguf",
        "Chat-Q8_0-00001-of-00002.gguf",
        "Chat-Q8_0-00002-of-00002.gguf",
        "mmproj-Chat-f16.gguf",
    }
    assert files["Chat-Q4_K_M.gguf"]["size"] == len(small)
    assert files["Chat-Q4_K_M.gguf"]["quant"] == "Q4_K_M"
    assert files["Chat-Q4_K_M.gguf"]["sha256"] == hashlib.sha256(small).hexdigest()
    assert files["Chat-Q8_0-00002-of-00002.gguf"]["model"] == "Chat-Q8_0"
    assert files["Chat-Q8_0-00002-of-00002.gguf"]["size"] == len(small) + 1
    assert files["mmproj-Chat-f16.gguf"]["is_mmproj"] is True
    assert gated["gated"] == "manual"
    assert gated["error"]["kind"] == "auth"

    text = assert_ok(_llmos("search", "chat"))
    assert [line.split()[0] for line in text.stdout.splitlines()[1:]] == [
        "owner/chat-GGUF",
        "owner/chat-gated-GGUF",
    ]


def test_import_copies_or_uses_in_place_and_rm_keeps_the_users_file(
    home: Path, tmp_path: Path
) -> None:
    mine = _small(tmp_path, "Mine-Q4_0.gguf")
    before = mine.read_bytes()

    copied = assert_ok(_llmos("import", str(mine)))
    copy = home / "data" / "models" / "imported" / "Mine-Q4_0.gguf"
    assert str(copy) in copied.stdout
    assert copy.read_bytes() == before
    assert_ok(_llmos("rm", "Mine-Q4_0", "--yes"))
    assert not copy.exists()
    assert mine.read_bytes() == before

    assert_ok(_llmos("import", str(mine), "--in-place"))
    (row,) = _listed()
    assert row["in_place"] is True
    assert row["path"] == str(mine.resolve())
    removed = assert_ok(_llmos("rm", str(mine), "--yes"))
    assert "kept" in removed.stdout
    assert mine.read_bytes() == before
    assert _listed() == []


def test_import_refuses_what_is_not_a_model(home: Path, tmp_path: Path) -> None:
    page = tmp_path / "model.gguf"
    page.write_text("<!doctype html><p>Sign in</p>")

    result = _llmos("import", str(page))

    assert_one_line_error(result, "model.gguf is not a GGUF model file")
    assert _listed() == []


def test_rm_asks_and_without_a_terminal_needs_yes(home: Path) -> None:
    folder = home / "data" / "models"
    folder.mkdir(parents=True)
    model = write_gguf(folder / "keep.gguf")

    result = _llmos("rm", "keep")

    assert result.returncode == 2
    assert_one_line_error(result, "--yes")
    assert model.exists()
    assert_one_line_error(_llmos("rm", "nothing-like-it", "--yes"), "no model named")
    assert_ok(_llmos("rm", "keep", "--yes"))
    assert not model.exists()


def test_models_without_an_action_shows_its_help(home: Path) -> None:
    result = _llmos()
    assert result.returncode == 2
    for action in ("list", "search", "pull", "import", "rm"):
        assert action in result.stderr


def test_every_json_field_is_documented(home: Path, fake_hub: FakeHub, tmp_path: Path) -> None:
    import llmos_desktop.cli_models as cli_models

    fake_hub.add_repo("owner/doc", {"Doc-Q4_0.gguf": _small(tmp_path).read_bytes()})
    (home / "data" / "models").mkdir(parents=True)
    write_gguf(home / "data" / "models" / "m.gguf")
    (row,) = _listed()
    (repo,) = json.loads(assert_ok(_llmos("search", "doc", "--json")).stdout)
    list_help = assert_ok(_llmos("list", "--help")).stdout
    search_help = assert_ok(_llmos("search", "--help")).stdout
    docs = cli_models.__doc__ or ""

    def documented(key: str, text: str) -> bool:
        return re.search(rf"(?m)^\s+{key}[\s,]|[:,] {key}[ ,]", text) is not None

    for key in [*row, *row["defaults"]]:
        assert documented(key, list_help), key
        assert documented(key, docs), key
    for key in [*repo, *repo["files"][0]]:
        assert documented(key, search_help), key
        assert documented(key, docs), key
