"""HubClient against the fake Hub (tests/helpers/hub_server.py), with the real
huggingface_hub client and real HTTP on 127.0.0.1: search and paging, repository pages,
gated repositories, errors, where the token goes, the proxy, TLS, the endpoint setting
and hostile file names.

The proxy is a real forward proxy written here (``ForwardProxy``, ~40 lines of
http.server): it forwards each request it gets and logs it, so the test sees which
requests went through it. The TLS test serves a self-signed certificate that no trust
store holds, as a man in the middle would.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import http.client
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from llmos_desktop.core.models.hub import (
    CHINA_MIRROR,
    DEFAULT_ENDPOINT,
    MAX_CARD_BYTES,
    HubClient,
    check_repo_id,
    resolve_endpoint,
    safe_repo_path,
    same_origin,
)
from llmos_desktop.core.models.types import ModelsError, RemoteFile
from tests.helpers.http_server import LocalServer
from tests.helpers.hub_server import FakeHub

TOKEN = "hf_SecretTokenForTheFakeHub0123456789"
CARD = """---
license: apache-2.0
tags: [gguf]
---
# Tiny Model GGUF

Quantized with **llama.cpp**.
"""


def gguf_bytes(tag: str, size: int = 4096) -> bytes:
    """Distinct bytes per file, so a mixed-up size or hash would show."""
    seed = hashlib.sha256(tag.encode()).digest()
    return b"GGUF" + (seed * (size // len(seed) + 1))[: size - 4]


REPO_FILES: dict[str, bytes] = {
    "Tiny-1B-Instruct-Q4_K_M.gguf": gguf_bytes("q4km", 5000),
    "Tiny-1B-Instruct-Q8_0.gguf": gguf_bytes("q8", 9000),
    "Tiny-1B-Instruct-IQ2_XXS.gguf": gguf_bytes("iq2xxs", 2000),
    "Tiny-1B-Instruct-IQ4_XS.gguf": gguf_bytes("iq4xs", 4000),
    "Tiny-1B-Instruct-f16.gguf": gguf_bytes("f16", 16000),
    "mmproj-Tiny-1B-f16.gguf": gguf_bytes("mmproj", 1000),
    "Q6_K/Tiny-1B-Instruct-Q6_K-00001-of-00002.gguf": gguf_bytes("q6-1", 3000),
    "Q6_K/Tiny-1B-Instruct-Q6_K-00002-of-00002.gguf": gguf_bytes("q6-2", 3500),
    "Tiny-1B-Instruct-Q3_K_L-00001-of-00003.gguf": gguf_bytes("q3-1"),  # 2 of 3 missing
    "config.json": b"{}",
    "../escape.gguf": gguf_bytes("evil1"),
    "C:/Windows/evil.gguf": gguf_bytes("evil2"),
    "sub\\evil.gguf": gguf_bytes("evil3"),
}


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    with FakeHub() as hub:
        yield hub


@pytest.fixture
def hub(fake_hub: FakeHub) -> FakeHub:
    fake_hub.add_repo(
        "tiny/Tiny-1B-Instruct-GGUF",
        REPO_FILES,
        card=CARD,
        downloads=1234,
        likes=56,
        license="apache-2.0",
    )
    return fake_hub


def client(hub: FakeHub, **kwargs: Any) -> HubClient:
    kwargs.setdefault("proxy", "")  # direct, whatever the machine's proxy settings
    return HubClient(hub.url, **kwargs)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- search ----------------------------------------------------------------------------


def add_search_repos(hub: FakeHub) -> None:
    rows = [  # repo, downloads, likes, trending, last modified
        ("alpha/Qwen-0.5B-GGUF", 500, 1, 3.0, "2025-01-03T00:00:00.000Z"),
        ("beta/qwen-7b-instruct-gguf", 100, 50, 9.0, "2025-01-01T00:00:00.000Z"),
        ("gamma/QWEN-14B-GGUF", 900, 20, 1.0, "2025-01-02T00:00:00.000Z"),
        ("delta/Qwen-32B-GGUF", 50, 5, 5.0, "2025-01-05T00:00:00.000Z"),
        ("eps/Qwen-72B-GGUF", 700, 30, 7.0, "2025-01-04T00:00:00.000Z"),
    ]
    for repo_id, downloads, likes, trending, modified in rows:
        hub.add_repo(
            repo_id,
            {"m-Q4_K_M.gguf": b"GGUF"},
            downloads=downloads,
            likes=likes,
            trending_score=trending,
            last_modified=modified,
        )
    hub.add_repo("zeta/qwen-safetensors", {"model.safetensors": b"x"}, tags=("safetensors",))
    hub.add_repo("eta/llama-GGUF", {"m.gguf": b"GGUF"}, downloads=10_000)


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("downloads", ["gamma", "eps", "alpha", "beta", "delta"]),
        ("likes", ["beta", "eps", "gamma", "delta", "alpha"]),
        ("trending", ["beta", "eps", "delta", "alpha", "gamma"]),
        ("modified", ["delta", "eps", "alpha", "gamma", "beta"]),
    ],
)
def test_search_finds_gguf_repositories_in_the_order_asked(
    fake_hub: FakeHub, sort: Any, expected: list[str]
) -> None:
    add_search_repos(fake_hub)
    page = client(fake_hub).search("qwen", sort=sort)
    assert [r.repo_id.split("/")[0] for r in page.repos] == expected  # no safetensors repo
    assert page.next_cursor is None


def test_search_results_carry_what_the_list_shows(fake_hub: FakeHub) -> None:
    add_search_repos(fake_hub)
    fake_hub.add_repo("meta/Llama-Gated-GGUF", {"m.gguf": b"GGUF"}, gated="manual", likes=3)
    found = {r.repo_id: r for r in client(fake_hub).search("").repos}
    gamma = found["gamma/QWEN-14B-GGUF"]
    assert (gamma.downloads, gamma.likes, gamma.trending_score) == (900, 20, 1.0)
    assert gamma.last_modified == dt.datetime(2025, 1, 2, tzinfo=dt.UTC)
    assert gamma.tags == ("gguf",)
    assert gamma.pipeline_tag == "text-generation"
    assert gamma.gated is False
    assert found["meta/Llama-Gated-GGUF"].gated == "manual"
    assert "zeta/qwen-safetensors" not in found


def test_search_pages_with_the_cursor_until_the_end(fake_hub: FakeHub) -> None:
    for i in range(23):
        fake_hub.add_repo(f"org{i:02d}/Model-{i}-GGUF", {"m.gguf": b"GGUF"}, downloads=1000 - i)
    hub_client = client(fake_hub)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = hub_client.search("model", cursor=cursor, limit=10)
        pages += 1
        seen += [r.repo_id for r in page.repos]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3
    assert seen == [f"org{i:02d}/Model-{i}-GGUF" for i in range(23)]  # each once, in order
    # One request per page: search never walks all pages by itself.
    assert len(fake_hub.requests_for("/api/models", "GET")) == 3


def test_search_skips_results_that_are_not_repository_ids(fake_hub: FakeHub) -> None:
    fake_hub.add_repo("evil/..", {"m.gguf": b"GGUF"}, downloads=5)
    fake_hub.add_repo("good/Model-GGUF", {"m.gguf": b"GGUF"}, downloads=1)
    assert [r.repo_id for r in client(fake_hub).search("").repos] == ["good/Model-GGUF"]


def test_search_refuses_bad_input_without_asking_the_hub(fake_hub: FakeHub) -> None:
    hub_client = client(fake_hub)
    cases: list[tuple[str, Any]] = [("x", "random"), ("two\nlines", "likes"), ("x" * 201, "likes")]
    for text, sort in cases:
        with pytest.raises(ModelsError) as caught:
            hub_client.search(text, sort=sort)
        assert caught.value.kind == "invalid"
    assert fake_hub.requests == []


# --- a repository page -----------------------------------------------------------------


def test_repo_page_lists_every_quantization_with_sizes_and_hashes(hub: FakeHub) -> None:
    details = client(hub).repo("tiny/Tiny-1B-Instruct-GGUF")

    assert details.revision == hub.revision("tiny/Tiny-1B-Instruct-GGUF")
    by_quant = {m.quant: m for m in details.models}
    assert set(by_quant) == {"IQ2_XXS", "IQ4_XS", "Q4_K_M", "Q6_K", "Q8_0", "F16"}
    assert [m.quant for m in details.models][-1] == "F16"  # the projector is last
    for model in details.models:
        for file in model.files:
            data = REPO_FILES[file.path]
            assert file.size == len(data)
            assert file.sha256 == hashlib.sha256(data).hexdigest()
            assert file.revision == details.revision
            assert file.repo_id == "tiny/Tiny-1B-Instruct-GGUF"
    plain = [m for m in details.models if not m.is_mmproj]
    assert [m.size for m in plain] == sorted(m.size or 0 for m in plain)  # smallest first
    assert by_quant["Q4_K_M"].name == "Tiny-1B-Instruct-Q4_K_M"


def test_repo_page_groups_split_shards_and_drops_incomplete_ones(hub: FakeHub) -> None:
    details = client(hub).repo("tiny/Tiny-1B-Instruct-GGUF")
    q6 = next(m for m in details.models if m.quant == "Q6_K")
    assert q6.is_split
    assert q6.name == "Tiny-1B-Instruct-Q6_K"
    assert [f.path for f in q6.files] == [
        "Q6_K/Tiny-1B-Instruct-Q6_K-00001-of-00002.gguf",
        "Q6_K/Tiny-1B-Instruct-Q6_K-00002-of-00002.gguf",
    ]
    assert q6.size == 3000 + 3500
    assert all(m.quant != "Q3_K_L" for m in details.models)  # 1 of 3 shards: not loadable


def test_repo_page_marks_the_vision_projector(hub: FakeHub) -> None:
    details = client(hub).repo("tiny/Tiny-1B-Instruct-GGUF")
    projectors = [m for m in details.models if m.is_mmproj]
    assert [m.files[0].path for m in projectors] == ["mmproj-Tiny-1B-f16.gguf"]
    assert details.models[-1].is_mmproj


def test_repo_page_leaves_out_hostile_and_non_gguf_files(hub: FakeHub) -> None:
    details = client(hub).repo("tiny/Tiny-1B-Instruct-GGUF")
    paths = {f.path for m in details.models for f in m.files}
    assert not paths & {"../escape.gguf", "C:/Windows/evil.gguf", "sub\\evil.gguf"}
    assert "config.json" not in paths
    assert len(paths) == 8


def test_repo_page_has_the_card_license_and_counts(hub: FakeHub) -> None:
    details = client(hub).repo("tiny/Tiny-1B-Instruct-GGUF")
    assert details.card_markdown == "# Tiny Model GGUF\n\nQuantized with **llama.cpp**.\n"
    assert details.license == "apache-2.0"
    assert (details.downloads, details.likes) == (1234, 56)
    assert details.gated is False
    assert details.access_error is None
    assert isinstance(details.last_modified, dt.datetime)


def test_a_huge_or_broken_card_is_cut_and_decoded_safely(fake_hub: FakeHub) -> None:
    huge = "# Big\n" + "é" * (MAX_CARD_BYTES)  # two bytes each: the cut falls mid-character
    fake_hub.add_repo("big/Card-GGUF", {"m.gguf": b"GGUF"}, card=huge)
    card = client(fake_hub).repo("big/Card-GGUF").card_markdown
    assert card is not None
    assert card.startswith("# Big\n")
    assert len(card.encode()) <= MAX_CARD_BYTES
    assert "\ufffd" not in card  # no half character at the cut

    fake_hub.add_repo("bad/Card-GGUF", {"m.gguf": b"GGUF", "README.md": b"# ok \xff\xfe\x00 end"})
    assert client(fake_hub).repo("bad/Card-GGUF").card_markdown == "# ok \ufffd\ufffd\ufffd end"


def test_a_repository_without_gguf_files_has_no_models(fake_hub: FakeHub) -> None:
    fake_hub.add_repo("org/Safetensors", {"model.safetensors": b"x"}, card="# hi")
    details = client(fake_hub).repo("org/Safetensors")
    assert details.models == ()
    assert details.card_markdown == "# hi"


def test_remote_file_has_the_hubs_size_hash_and_commit(hub: FakeHub) -> None:
    path = "Tiny-1B-Instruct-Q8_0.gguf"
    file = client(hub).remote_file("tiny/Tiny-1B-Instruct-GGUF", path)
    assert file == RemoteFile(
        repo_id="tiny/Tiny-1B-Instruct-GGUF",
        path=path,
        size=len(REPO_FILES[path]),
        sha256=hashlib.sha256(REPO_FILES[path]).hexdigest(),
        revision=hub.revision("tiny/Tiny-1B-Instruct-GGUF"),
    )
    pinned = client(hub).remote_file("tiny/Tiny-1B-Instruct-GGUF", path, file.revision)
    assert pinned == file
    small = client(hub).remote_file("tiny/Tiny-1B-Instruct-GGUF", "config.json")
    assert (small.size, small.sha256) == (2, None)  # not an LFS file: no SHA-256 published


def test_remote_file_that_is_not_there_is_not_found(hub: FakeHub) -> None:
    with pytest.raises(ModelsError) as caught:
        client(hub).remote_file("tiny/Tiny-1B-Instruct-GGUF", "nope.gguf")
    assert caught.value.kind == "not_found"
    with pytest.raises(ModelsError) as caught:
        client(hub).remote_file("tiny/Tiny-1B-Instruct-GGUF", "nope.gguf", "f" * 40)
    assert caught.value.kind == "not_found"


def test_hostile_names_are_refused_before_any_request(hub: FakeHub) -> None:
    hub_client = client(hub)
    for path in ("../escape.gguf", "C:/Windows/evil.gguf", "sub\\evil.gguf", "/etc/passwd"):
        with pytest.raises(ModelsError) as caught:
            hub_client.remote_file("tiny/Tiny-1B-Instruct-GGUF", path)
        assert caught.value.kind == "unsafe_name"
        with pytest.raises(ModelsError):
            hub_client.file_url(RemoteFile("tiny/Tiny-1B-Instruct-GGUF", path, 1, None))
    assert hub.requests == []


def test_file_url_resolves_at_the_revision_and_downloads_the_bytes(hub: FakeHub) -> None:
    hub_client = client(hub)
    file = hub_client.remote_file("tiny/Tiny-1B-Instruct-GGUF", "Tiny-1B-Instruct-Q4_K_M.gguf")
    url = hub_client.file_url(file)
    assert url == hub.file_url("tiny/Tiny-1B-Instruct-GGUF", file.path, file.revision or "")
    with hub_client.httpx_client() as http:
        response = http.get(url, headers=hub_client.headers_for(url))
    assert response.content == REPO_FILES[file.path]
    odd = RemoteFile("a/b", "dir/x y#?.gguf", 1, None, "refs/pr/1")
    assert hub_client.file_url(odd) == f"{hub.url}/a/b/resolve/refs%2Fpr%2F1/dir/x%20y%23%3F.gguf"


# --- gated repositories and errors ---------------------------------------------------


@pytest.fixture
def gated(fake_hub: FakeHub) -> FakeHub:
    fake_hub.add_repo(
        "meta/Gated-GGUF",
        {"Gated-Q4_K_M.gguf": gguf_bytes("gated")},
        card="# Gated\n\nAccept the licence first.",
        gated="manual",
    )
    fake_hub.required_token = TOKEN
    return fake_hub


def test_a_gated_repository_is_shown_with_an_access_error_before_download(
    gated: FakeHub,
) -> None:
    details = client(gated).repo("meta/Gated-GGUF")
    assert details.gated == "manual"
    assert details.models[0].files[0].size == 4096  # what it is, before any download
    assert details.access_error is not None
    assert details.access_error.kind == "auth"  # 401: enter a token

    wrong = client(gated, token="hf_WrongToken").repo("meta/Gated-GGUF")
    assert wrong.access_error is not None
    assert wrong.access_error.kind == "gated"  # 403: ask for access

    right = client(gated, token=TOKEN).repo("meta/Gated-GGUF")
    assert right.access_error is None


def test_the_hub_refusing_files_of_a_public_repository_shows_too(fake_hub: FakeHub) -> None:
    fake_hub.add_repo("org/Private-GGUF", {"m-Q4_0.gguf": b"GGUF"})
    fake_hub.required_token = TOKEN
    details = client(fake_hub).repo("org/Private-GGUF")
    assert details.access_error is not None and details.access_error.kind == "auth"
    assert client(fake_hub, token=TOKEN).repo("org/Private-GGUF").access_error is None


def test_a_missing_repository_is_not_found(fake_hub: FakeHub) -> None:
    with pytest.raises(ModelsError) as caught:
        client(fake_hub).repo("nobody/Nothing-GGUF")
    assert caught.value.kind == "not_found"
    assert "nobody/Nothing-GGUF" in str(caught.value)


def test_a_bad_repository_id_is_refused_without_a_request(fake_hub: FakeHub) -> None:
    for bad in ("noslash", "a/b/c", "../x", "a/..", "a/b c", "", "a/-b", "a--b/c", "a/b\n"):
        with pytest.raises(ModelsError) as caught:
            client(fake_hub).repo(bad)
        assert caught.value.kind == "invalid"
    assert fake_hub.requests == []


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, "auth"), (403, "gated"), (404, "not_found"), (429, "rate_limited"), (500, "server")],
)
def test_hub_errors_become_models_error_kinds(hub: FakeHub, status: int, kind: str) -> None:
    hub.api_fail_status = status
    started = time.monotonic()
    with pytest.raises(ModelsError) as caught:
        client(hub).search("tiny")
    assert caught.value.kind == kind
    with pytest.raises(ModelsError) as caught:
        client(hub).repo("tiny/Tiny-1B-Instruct-GGUF")
    assert caught.value.kind == kind
    assert time.monotonic() - started < 5  # no minutes of silent retries


def test_an_unreachable_endpoint_is_a_network_error_at_once() -> None:
    hub_client = HubClient(f"http://127.0.0.1:{closed_port()}", proxy="")
    started = time.monotonic()
    for call in (lambda: hub_client.search("x"), lambda: hub_client.repo("a/b")):
        with pytest.raises(ModelsError) as caught:
            call()
        assert caught.value.kind == "network"
        assert "cannot reach 127.0.0.1" in str(caught.value)
    assert time.monotonic() - started < 2


def test_an_endpoint_that_never_answers_times_out() -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        hub_client = HubClient(f"http://127.0.0.1:{port}", proxy="", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(ModelsError) as caught:
            hub_client.search("x")
        assert caught.value.kind == "network"
        assert "did not answer in time" in str(caught.value)
        assert time.monotonic() - started < 3


def test_a_server_that_is_not_the_hub_is_a_server_error(fake_hub: FakeHub) -> None:
    class NotAHub(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>captive portal</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with LocalServer(NotAHub) as server:
        url = server.url
        with pytest.raises(ModelsError) as caught:
            HubClient(url, proxy="").search("x")
        assert caught.value.kind == "server"


def json_server(routes: dict[str, Any]) -> LocalServer:
    """A server that answers GET ``path`` with ``routes[path]`` as JSON (404 otherwise)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            body = json.dumps(routes[path]).encode() if path in routes else b"{}"
            self.send_response(200 if path in routes else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_HEAD(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return LocalServer(Handler)


def test_a_hostile_hub_answer_never_crashes_the_client() -> None:
    sha = "a" * 64
    info = {
        "id": "x/y",
        "sha": "../../etc",
        "siblings": [
            {"rfilename": 5},
            {
                "rfilename": "ok-Q4_0.gguf",
                "size": "big",
                "lfs": {"sha256": 7, "size": 1, "pointerSize": 1},
            },
            {
                "rfilename": "hash-Q8_0.gguf",
                "size": -5,
                "lfs": {"sha256": sha + "\n", "size": 1, "pointerSize": 1},
            },
            {
                "rfilename": "good-F16.gguf",
                "size": 10,
                "lfs": {"sha256": sha.upper(), "size": 10, "pointerSize": 1},
            },
            {"rfilename": "../../x.gguf", "size": 1},
        ],
        "downloads": "many",
        "likes": True,
        "gated": "sometimes",
        "tags": [1, "gguf"],
    }
    with json_server({"/api/models/x/y": info, "/api/models": {"not": "a list"}}) as server:
        url = server.url
        hub_client = HubClient(url, proxy="")
        details = hub_client.repo("x/y")
        files = {f.path: f for m in details.models for f in m.files}
        assert set(files) == {"ok-Q4_0.gguf", "hash-Q8_0.gguf", "good-F16.gguf"}
        assert (files["ok-Q4_0.gguf"].size, files["ok-Q4_0.gguf"].sha256) == (None, None)
        assert (files["hash-Q8_0.gguf"].size, files["hash-Q8_0.gguf"].sha256) == (None, None)
        assert (files["good-F16.gguf"].size, files["good-F16.gguf"].sha256) == (10, sha)
        assert (details.downloads, details.likes, details.gated) == (0, 0, False)
        # The revision is only ever quoted into a URL path segment.
        assert hub_client.file_url(files["good-F16.gguf"]).startswith(
            f"{url}/x/y/resolve/..%2F..%2Fetc/"
        )
        with pytest.raises(ModelsError) as caught:
            hub_client.search("x")
        assert caught.value.kind == "server"


# --- the token goes to the endpoint only ---------------------------------------------


def test_headers_carry_the_token_only_for_the_endpoints_origin(fake_hub: FakeHub) -> None:
    hub_client = client(fake_hub, token=TOKEN)
    port = urlsplit(fake_hub.url).port
    assert hub_client.headers_for(f"{fake_hub.url}/a/b/resolve/main/x.gguf")["Authorization"] == (
        f"Bearer {TOKEN}"
    )
    for elsewhere in (
        f"http://127.0.0.1:{closed_port()}/a/b/resolve/main/x.gguf",  # another port
        f"https://127.0.0.1:{port}/x",  # another scheme
        f"http://localhost:{port}/x",  # another host name
        f"http://127.0.0.1:{port}@evil.example/x",  # userinfo trick: the host is evil
        "https://cdn-lfs.hf.co/x",
        "not a url",
    ):
        assert "Authorization" not in hub_client.headers_for(elsewhere), elsewhere
    assert "Authorization" not in client(fake_hub).headers_for(fake_hub.url)
    assert same_origin("https://huggingface.co/x", "https://HuggingFace.co:443/y")


def test_a_server_on_another_port_never_gets_the_token(hub: FakeHub) -> None:
    with FakeHub() as other:
        other.add_repo("other/Repo-GGUF", {"m.gguf": b"GGUF-other"})
        hub_client = client(hub, token=TOKEN)
        url = other.file_url("other/Repo-GGUF", "m.gguf")
        with hub_client.httpx_client() as http:
            assert http.get(url, headers=hub_client.headers_for(url)).content == b"GGUF-other"
        assert [r.authorization for r in other.requests] == [None]


def test_every_request_to_the_endpoint_carries_the_token(hub: FakeHub) -> None:
    hub_client = client(hub, token=TOKEN)
    hub_client.search("tiny")
    hub_client.repo("tiny/Tiny-1B-Instruct-GGUF")
    assert hub.requests  # search, info, card, HEAD
    assert {r.authorization for r in hub.requests} == {f"Bearer {TOKEN}"}
    assert all((r.user_agent or "").startswith("llmos-desktop/") for r in hub.requests)


def test_huggingface_hubs_own_stored_token_is_never_sent(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_FromTheEnvironment")
    (tmp_path / "hf-home").mkdir()
    (tmp_path / "hf-home" / "token").write_text("hf_FromTheCliLogin")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    hub_client = client(hub)
    hub_client.search("tiny")
    hub_client.repo("tiny/Tiny-1B-Instruct-GGUF")
    hub_client.remote_file("tiny/Tiny-1B-Instruct-GGUF", "Tiny-1B-Instruct-Q8_0.gguf")
    assert {r.authorization for r in hub.requests} == {None}


# --- proxy and TLS ---------------------------------------------------------------------


class ForwardProxy:
    """A plain HTTP forward proxy on 127.0.0.1 that logs every URL it forwards."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.forward()

            def do_HEAD(self) -> None:
                self.forward()

            def forward(self) -> None:
                proxy.seen.append(f"{self.command} {self.path}")
                target = urlsplit(self.path)  # absolute-form: the proxy's job
                assert target.hostname is not None
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("proxy-connection", "connection", "keep-alive")
                }
                path = target.path + (f"?{target.query}" if target.query else "")
                upstream.request(self.command, path, headers=headers)
                answer = upstream.getresponse()
                body = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("connection", "keep-alive", "transfer-encoding"):
                        self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
                upstream.close()

        self._local = LocalServer(Handler)
        self.url = self._local.url

    def __enter__(self) -> ForwardProxy:
        self._local.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._local.__exit__(*exc)


def test_the_proxy_setting_carries_hub_calls_and_downloads(hub: FakeHub) -> None:
    with ForwardProxy() as proxy:
        hub_client = HubClient(hub.url, proxy=proxy.url, token=TOKEN)
        assert [r.repo_id for r in hub_client.search("tiny").repos] == [
            "tiny/Tiny-1B-Instruct-GGUF"
        ]
        details = hub_client.repo("tiny/Tiny-1B-Instruct-GGUF")
        url = hub_client.file_url(details.models[0].files[0])
        with hub_client.httpx_client() as http:
            data = http.get(url, headers=hub_client.headers_for(url)).content
    assert data == REPO_FILES[details.models[0].files[0].path]
    api = f"GET {hub.url}/api/models/tiny/Tiny-1B-Instruct-GGUF"
    assert any(line.startswith(f"GET {hub.url}/api/models?") for line in proxy.seen)
    assert any(line.startswith(api) for line in proxy.seen)
    assert f"HEAD {hub.url}/tiny/Tiny-1B-Instruct-GGUF/resolve/" in "\n".join(proxy.seen)
    assert f"GET {url}" in proxy.seen
    assert len(proxy.seen) == len(hub.requests)  # nothing went around the proxy


def test_the_system_proxy_is_used_unless_the_setting_says_none(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with ForwardProxy() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        HubClient(hub.url).search("tiny")  # None: the system's proxy
        through = len(proxy.seen)
        HubClient(hub.url, proxy="").search("tiny")  # "": no proxy
        assert len(proxy.seen) == through == 1
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        HubClient(hub.url).search("tiny")  # the system says: not for this host
        assert len(proxy.seen) == 1
    assert len(hub.requests_for("/api/models")) == 3


def test_a_proxy_that_cannot_be_reached_is_a_network_error(hub: FakeHub) -> None:
    hub_client = HubClient(hub.url, proxy=f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(ModelsError) as caught:
        hub_client.search("tiny")
    assert caught.value.kind == "network"
    assert hub.requests == []


@pytest.mark.parametrize("bad", ["ftp://proxy:21", "proxy.example:8080", "http://", "http://a b"])
def test_a_bad_proxy_setting_is_refused(bad: str) -> None:
    with pytest.raises(ModelsError) as caught:
        HubClient(DEFAULT_ENDPOINT, proxy=bad)
    assert caught.value.kind == "invalid"


def test_a_token_that_would_break_the_header_is_refused() -> None:
    with pytest.raises(ModelsError) as caught:
        HubClient(DEFAULT_ENDPOINT, token="hf_abc\r\nX-Injected: yes")
    assert caught.value.kind == "invalid"


def self_signed_context(folder: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


def test_tls_is_verified_for_hub_calls_and_downloads(tmp_path: Path) -> None:
    requests: list[str] = []

    class Hub(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def handle(self) -> None:
            # The client refuses our certificate: what this test wants.
            with contextlib.suppress(ssl.SSLError, ConnectionError):
                super().handle()

    with LocalServer(Hub, self_signed_context(tmp_path)) as server:
        url = server.url
        hub_client = HubClient(url, proxy="", token=TOKEN)
        with pytest.raises(ModelsError) as caught:
            hub_client.search("x")
        assert caught.value.kind == "network"
        assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
        import httpx

        with hub_client.httpx_client() as http, pytest.raises(httpx.ConnectError):
            http.get(f"{url}/a/b/resolve/main/m.gguf")
        with pytest.raises(ValueError, match="TLS verification"):
            hub_client.httpx_client(verify=False)
    assert requests == []  # not one request (nor the token) went over the untrusted link


# --- the endpoint ----------------------------------------------------------------------


def test_the_endpoint_setting_wins_then_hf_endpoint_then_the_hub() -> None:
    env = {"HF_ENDPOINT": "https://hf-mirror.com/"}
    assert resolve_endpoint("http://127.0.0.1:8080/", env) == "http://127.0.0.1:8080"
    assert resolve_endpoint(None, env) == CHINA_MIRROR
    assert resolve_endpoint("  ", env) == CHINA_MIRROR  # a blank setting is no setting
    assert resolve_endpoint(None, {}) == DEFAULT_ENDPOINT
    assert resolve_endpoint(None, {"HF_ENDPOINT": ""}) == DEFAULT_ENDPOINT
    assert (
        resolve_endpoint("HTTPS://Mirror.Example:8443/hf/", {}) == "https://mirror.example:8443/hf"
    )
    assert resolve_endpoint("http://[::1]:9000", {}) == "http://[::1]:9000"


def test_the_endpoint_comes_from_os_environ_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "https://hf-mirror.com")
    assert resolve_endpoint(None) == CHINA_MIRROR
    monkeypatch.delenv("HF_ENDPOINT")
    assert resolve_endpoint(None) == DEFAULT_ENDPOINT


@pytest.mark.parametrize(
    "bad",
    [
        "huggingface.co",
        "ftp://huggingface.co",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "http://",
        "https://user:secret@huggingface.co",
        "https://huggingface.co?x=1",
        "https://huggingface.co#top",
        "https://huggingface.co:99999",
        "https://hugging face.co",
        "https://hugging\nface.co",
        "https://huggingface.co\\evil",
    ],
)
def test_an_endpoint_that_is_not_an_http_url_is_refused(bad: str) -> None:
    with pytest.raises(ModelsError) as caught:
        resolve_endpoint(bad, {})
    assert caught.value.kind == "invalid"
    assert "Hub endpoint setting" in str(caught.value)
    with pytest.raises(ModelsError) as caught:
        resolve_endpoint(None, {"HF_ENDPOINT": bad})
    assert "HF_ENDPOINT" in str(caught.value)
    with pytest.raises(ModelsError):
        HubClient(bad)


def test_the_client_ignores_huggingface_hubs_import_time_endpoint(hub: FakeHub) -> None:
    # huggingface_hub reads HF_ENDPOINT once, at import: here it names a dead address, and
    # the client must still use only the endpoint it was given.
    code = f"""
import sys
from llmos_desktop.core.models.hub import HubClient
c = HubClient({hub.url!r}, proxy="")
d = c.repo("tiny/Tiny-1B-Instruct-GGUF")
print(c.file_url(d.models[0].files[0]))
print(len(c.search("tiny").repos))
"""
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    url, count = out.stdout.split()
    assert url.startswith(f"{hub.url}/tiny/Tiny-1B-Instruct-GGUF/resolve/")
    assert count == "1"


def test_importing_the_hub_module_loads_no_http_library() -> None:
    code = (
        "import sys, llmos_desktop.core.models.hub; "
        "print(sorted(m for m in ('huggingface_hub', 'httpx', 'httpx2', 'keyring') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


# --- names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "..",
        "../model.gguf",
        "a/../../model.gguf",
        "a/./model.gguf",
        "/etc/passwd",
        "//server/share/m.gguf",
        "a//b.gguf",
        "a/",
        "sub\\model.gguf",
        "..\\..\\model.gguf",
        "C:model.gguf",
        "c:/Windows/model.gguf",
        "model.gguf:stream",
        "model\x00.gguf",
        "model\n.gguf",
        "model\x1b[31m.gguf",
        "model\u202egguf.exe",
        "CON.gguf",
        "a/nul.gguf",
        "model.gguf.",
        "model.gguf ",
        " model.gguf",
        "x" * 1001,
    ],
)
def test_safe_repo_path_refuses_hostile_names(bad: str) -> None:
    with pytest.raises(ModelsError) as caught:
        safe_repo_path(bad)
    assert caught.value.kind == "unsafe_name"
    assert "\n" not in str(caught.value) and "\x00" not in str(caught.value)


@pytest.mark.parametrize(
    "good",
    [
        "model.gguf",
        "Q4_K_M/Llama-3.1-70B-Q4_K_M-00001-of-00002.gguf",
        "a b/c d.gguf",
        "模型-Q4_K_M.gguf",
        ".hidden.gguf",
        "conversation.gguf",  # starts with "con" but is not CON
    ],
)
def test_safe_repo_path_returns_safe_names_unchanged(good: str) -> None:
    assert safe_repo_path(good) == good


@pytest.mark.parametrize(
    "good", ["bartowski/Llama-3.2-1B-Instruct-GGUF", "Qwen/Qwen2.5-0.5B-Instruct-GGUF", "a/b.c_d-e"]
)
def test_check_repo_id_takes_hub_ids(good: str) -> None:
    assert check_repo_id(good) == good


# --- the fake Hub itself speaks the Hub's protocol -------------------------------------
# Other tests (downloads, remote headers, the CLI, the pane) rely on these behaviours.


def test_the_fake_hub_answers_huggingface_hubs_own_calls(hub: FakeHub) -> None:
    from huggingface_hub import HfApi, get_hf_file_metadata

    add_search_repos(hub)
    api = HfApi(endpoint=hub.url, token=False)
    top = api.list_models(search="qwen", filter="gguf", sort="downloads", limit=2)
    assert [m.id for m in top] == ["gamma/QWEN-14B-GGUF", "eps/Qwen-72B-GGUF"]
    hub.search_page_size = 2  # list_models without a limit follows every Link page
    assert len(list(api.list_models(filter="gguf"))) == 7

    info = api.model_info("tiny/Tiny-1B-Instruct-GGUF", files_metadata=True)
    siblings = {s.rfilename: s for s in info.siblings or ()}
    q8 = siblings["Tiny-1B-Instruct-Q8_0.gguf"]
    assert q8.size == 9000
    assert q8.lfs is not None
    assert q8.lfs.sha256 == hashlib.sha256(REPO_FILES[q8.rfilename]).hexdigest()
    assert siblings["README.md"].lfs is None
    assert info.card_data is not None and info.card_data.get("license") == "apache-2.0"

    tree = list(api.list_repo_tree("tiny/Tiny-1B-Instruct-GGUF", "Q6_K"))
    assert [t.path for t in tree] == [
        "Q6_K/Tiny-1B-Instruct-Q6_K-00001-of-00002.gguf",
        "Q6_K/Tiny-1B-Instruct-Q6_K-00002-of-00002.gguf",
    ]
    hub.tree_page_size = 3
    everything = list(api.list_repo_tree("tiny/Tiny-1B-Instruct-GGUF", recursive=True))
    assert {t.path for t in everything} >= set(REPO_FILES) | {"Q6_K", "C:", "C:/Windows"}

    meta = get_hf_file_metadata(hub.file_url("tiny/Tiny-1B-Instruct-GGUF", q8.rfilename))
    assert (meta.size, meta.etag) == (9000, q8.lfs.sha256)
    assert meta.commit_hash == hub.revision("tiny/Tiny-1B-Instruct-GGUF")


def test_the_fake_hub_works_through_hf_endpoint(hub: FakeHub, tmp_path: Path) -> None:
    code = """
from huggingface_hub import HfApi, hf_hub_download, hf_hub_url
print(hf_hub_url("tiny/Tiny-1B-Instruct-GGUF", "Tiny-1B-Instruct-Q4_K_M.gguf"))
print([m.id for m in HfApi().list_models(search="tiny", filter="gguf")])
print(hf_hub_download("tiny/Tiny-1B-Instruct-GGUF", "Tiny-1B-Instruct-Q4_K_M.gguf"))
"""
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    env.pop("HF_TOKEN", None)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    url, ids, path = out.stdout.splitlines()
    assert url == hub.file_url("tiny/Tiny-1B-Instruct-GGUF", "Tiny-1B-Instruct-Q4_K_M.gguf")
    assert ids == "['tiny/Tiny-1B-Instruct-GGUF']"
    assert Path(path).read_bytes() == REPO_FILES["Tiny-1B-Instruct-Q4_K_M.gguf"]


def test_the_fake_hub_serves_byte_ranges(hub: FakeHub) -> None:
    import httpx

    data = REPO_FILES["Tiny-1B-Instruct-Q4_K_M.gguf"]
    url = hub.file_url("tiny/Tiny-1B-Instruct-GGUF", "Tiny-1B-Instruct-Q4_K_M.gguf")
    with httpx.Client() as http:
        part = http.get(url, headers={"Range": "bytes=100-199"})
        assert (part.status_code, part.content) == (206, data[100:200])
        assert part.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
        assert part.headers["Accept-Ranges"] == "bytes"
        rest = http.get(url, headers={"Range": "bytes=4990-"})
        assert (rest.status_code, rest.content) == (206, data[4990:])
        tail = http.get(url, headers={"Range": "bytes=-7"})
        assert (tail.status_code, tail.content) == (206, data[-7:])
        past = http.get(url, headers={"Range": f"bytes={len(data)}-"})
        assert past.status_code == 416
        assert past.headers["Content-Range"] == f"bytes */{len(data)}"
        whole = http.get(url, headers={"Range": "bytes=9-3"})  # invalid: ignored
        assert (whole.status_code, whole.content) == (200, data)
        head = http.head(url)
        assert head.headers["X-Linked-Size"] == str(len(data))
        assert head.headers["X-Linked-Etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
        assert head.headers["X-Repo-Commit"] == hub.revision("tiny/Tiny-1B-Instruct-GGUF")
    assert [r.range for r in hub.requests][:2] == ["bytes=100-199", "bytes=4990-"]
    assert hub.requests[0].bytes_sent == 100


def test_the_fake_hubs_fault_switches(hub: FakeHub) -> None:
    import httpx

    data = REPO_FILES["Tiny-1B-Instruct-Q8_0.gguf"]
    url = hub.file_url("tiny/Tiny-1B-Instruct-GGUF", "Tiny-1B-Instruct-Q8_0.gguf")
    with httpx.Client(timeout=5) as http:
        hub.drop_after = 1000
        with pytest.raises(httpx.RemoteProtocolError):
            http.get(url)
        assert hub.requests[-1].bytes_sent == 1000
        hub.reset_faults()

        hub.corrupt_at = 4321
        body = http.get(url, headers={"Range": "bytes=4000-"}).content
        assert [i for i, (a, b) in enumerate(zip(body, data[4000:], strict=True)) if a != b] == [
            321
        ]
        hub.reset_faults()

        hub.fail_status, hub.fault_limit = 429, 1
        first, second = http.get(url), http.get(url)
        assert (first.status_code, first.headers["Retry-After"]) == (429, "1")
        assert (second.status_code, second.content) == (200, data)
        hub.reset_faults()

        hub.stall_after, hub.stall_seconds = 500, 30.0
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            http.get(url, timeout=0.5)
        assert time.monotonic() - started < 3
        hub.stall_seconds = 0.3
        started = time.monotonic()
        assert http.get(url).content == data  # a short stall, then the rest
        assert time.monotonic() - started >= 0.3
        hub.reset_faults()

        hub.rate_limit = 30_000  # 9000 bytes: at least 0.3 s
        started = time.monotonic()
        assert http.get(url).content == data
        assert time.monotonic() - started >= 0.25


def test_stopping_the_fake_hub_ends_a_stalled_answer(fake_hub: FakeHub) -> None:
    import httpx

    fake_hub.add_repo("o/r", {"m.gguf": b"G" * 10_000})
    fake_hub.stall_after, fake_hub.stall_seconds = 10, 60.0
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            httpx.get(fake_hub.file_url("o/r", "m.gguf"), timeout=30)
        except httpx.HTTPError as exc:
            errors.append(exc)

    thread = threading.Thread(target=fetch)
    thread.start()
    while not fake_hub.requests or fake_hub.requests[-1].bytes_sent < 10:
        time.sleep(0.01)
    started = time.monotonic()
    fake_hub.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - started < 2
    assert len(errors) == 1
