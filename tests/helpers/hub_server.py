"""A fake Hugging Face Hub: a real HTTP server on 127.0.0.1 that the real clients talk to.

The Models tests point huggingface_hub (``HfApi(endpoint=fake.url)``, or ``HF_ENDPOINT``)
and our own httpx downloads at it. It answers the routes the Hub client calls, with the
Hub's JSON shapes and headers, and has switches for what the real network does to a
download: drop the connection mid-file, stall, answer 401/403/404/429/5xx, flip a byte,
go slowly. Every request is logged, so a test can check what was (not) fetched and where
a token was (not) sent.

Routes (as the Hub has them):

- ``GET /api/models``: search (``search``, ``filter`` (repeatable), ``author``, ``sort``,
  ``direction``, ``limit``, ``expand``/``full``), paged with a ``Link: <...>; rel="next"``
  header carrying a ``cursor``.
- ``GET /api/models/{owner}/{name}`` and ``.../revision/{rev}``: repository info with
  ``siblings``; with ``blobs=true`` each sibling has ``size``, ``blobId`` and, for LFS
  files, ``lfs: {sha256, size, pointerSize}``.
- ``GET /api/models/{owner}/{name}/tree/{rev}[/{folder}]`` (``recursive``), paged.
- ``HEAD``/``GET /{owner}/{name}/resolve/{rev}/{path}``: ``X-Repo-Commit``, ``ETag``,
  ``X-Linked-Etag`` (the SHA-256) and ``X-Linked-Size`` for LFS files, ``Content-Length``,
  ``Accept-Ranges: bytes``; ``Range: bytes=a-b``, ``a-`` and ``-n`` give 206 with
  ``Content-Range``, 416 when unsatisfiable.
- ``GET /api/whoami-v2``: 200 for an accepted token, 401 otherwise.

Gated repositories answer file requests with 401 (no token) or 403 (a token without
access), ``X-Error-Code: GatedRepo``, like the Hub; their ``README.md`` and
``.gitattributes`` stay readable, and their info is public. A GGUF file, or any file of
10 MiB or more, is an LFS file.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import pytest

from llmos_desktop.core.models.types import GatedKind

__all__ = ["FakeHub", "HubFile", "HubRepo", "RequestLog", "fake_hub"]

LFS_MIN_SIZE: Final = 10 * 1024 * 1024
_CHUNK: Final = 1024 * 1024
_OPEN_FILES: Final = frozenset({"README.md", ".gitattributes"})  # readable in gated repos
_GITATTRIBUTES: Final = b"*.gguf filter=lfs diff=lfs merge=lfs -text\n"
_SORT_KEYS: Final = {
    "downloads": "downloads",
    "likes": "likes",
    "trendingScore": "trendingScore",
    "trending_score": "trendingScore",
    "lastModified": "lastModified",
    "last_modified": "lastModified",
    "createdAt": "createdAt",
    "created_at": "createdAt",
    "id": "id",
}


@dataclass
class RequestLog:
    """One request the fake Hub received; ``bytes_sent`` grows while the body is sent."""

    method: str
    path: str  # the URL path as received (still %-quoted), without the query
    query: str
    range: str | None
    authorization: str | None
    user_agent: str | None
    status: int = 0
    bytes_sent: int = 0  # body bytes written to the socket


@dataclass(frozen=True)
class HubFile:
    """One file of a fake repository."""

    path: str
    size: int
    sha256: str
    git_sha1: str  # the git blob id (the ETag of a file kept in git)
    lfs: bool
    data: bytes | None  # None: read from ``source``
    source: Path | None

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.git_sha1

    def read(self, start: int, end: int) -> Iterator[bytes]:
        """The bytes [start, end) in chunks."""
        if self.data is not None:
            view = memoryview(self.data)
            for offset in range(start, end, _CHUNK):
                yield bytes(view[offset : min(end, offset + _CHUNK)])
            return
        assert self.source is not None
        with self.source.open("rb") as handle:
            handle.seek(start)
            left = end - start
            while left > 0:
                chunk = handle.read(min(_CHUNK, left))
                if not chunk:
                    raise OSError(f"{self.source} shrank while being served")
                left -= len(chunk)
                yield chunk


@dataclass
class HubRepo:
    """One fake repository."""

    repo_id: str
    files: dict[str, HubFile]
    sha: str
    gated: GatedKind
    downloads: int
    likes: int
    trending_score: float
    tags: tuple[str, ...]
    last_modified: str
    created_at: str
    card_data: dict[str, Any] | None
    pipeline_tag: str | None


@dataclass(frozen=True)
class _Faults:
    drop_after: int | None
    stall_after: int | None
    stall_seconds: float
    fail_status: int | None
    corrupt_at: int | None
    rate_limit: int | None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _hash_source(source: bytes | Path) -> tuple[int, str, str, bytes | None, Path | None]:
    sha256 = hashlib.sha256()
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        sha256.update(data)
        size = len(data)
        git = hashlib.sha1(b"blob %d\0" % size + data, usedforsecurity=False)
        return size, sha256.hexdigest(), git.hexdigest(), data, None
    path = Path(source)
    size = path.stat().st_size
    git = hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(4 * _CHUNK):
            sha256.update(chunk)
            git.update(chunk)
    return size, sha256.hexdigest(), git.hexdigest(), None, path


def _card_data(card: str | None, license: str | None) -> dict[str, Any] | None:
    data: dict[str, Any] = {}
    if card is not None:
        match = re.match(r"^---\s*\n(.*?)\n---\s*(?:\n|$)", card, re.S)
        if match is not None:
            for line in match.group(1).splitlines():
                key, sep, value = line.partition(":")
                if sep and key.strip() and not key.startswith((" ", "-")) and value.strip():
                    data[key.strip()] = value.strip().strip("'\"")
    if license is not None:
        data["license"] = license
    return data or None


class FakeHub:
    """The fake Hub. ``with FakeHub() as hub:`` starts it; ``hub.url`` is its endpoint.

    The switches are plain attributes, read once when a resolve GET starts answering (so a
    change takes effect on the next request). They apply to resolve GETs only: HEAD and
    the ``/api`` routes answer normally, except that ``api_fail_status`` makes every
    ``/api/...`` request fail with that status. ``fault_limit`` (None: every GET) makes
    ``drop_after``/``stall_after``/``fail_status`` hit only that many more GETs.
    """

    def __init__(self) -> None:
        self.drop_after: int | None = None
        self.stall_after: int | None = None
        self.stall_seconds: float = 60.0
        self.fail_status: int | None = None
        self.corrupt_at: int | None = None
        self.rate_limit: int | None = None
        self.fault_limit: int | None = None
        self.required_token: str | None = None
        self.api_fail_status: int | None = None  # answer every /api/ request with this
        self.search_page_size: int = 1000  # page size when the client sends no limit
        self.tree_page_size: int = 1000
        self.requests: list[RequestLog] = []
        self.repos: dict[str, HubRepo] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._sockets: set[socket.socket] = set()
        self.url = ""

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> FakeHub:
        if self._server is not None:
            return self
        hub = self

        class Handler(_Handler):
            fake = hub

        server = _Server(("127.0.0.1", 0), Handler)
        self._server = server
        host, port = server.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self._stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.name = "fake-hub"
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:  # end stalled and slow answers now
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- content -------------------------------------------------------------------------

    def add_repo(
        self,
        repo_id: str,
        files: Mapping[str, bytes | Path],
        *,
        card: str | None = None,
        gated: GatedKind = False,
        downloads: int = 0,
        likes: int = 0,
        tags: Sequence[str] = ("gguf",),
        last_modified: str | None = None,
        trending_score: float = 0.0,
        license: str | None = None,
        pipeline_tag: str | None = "text-generation",
        created_at: str | None = None,
    ) -> None:
        """Add (or replace) a repository; ``card`` becomes its README.md.

        ``files`` maps paths in the repository to their bytes, or to a file on disk (served
        from disk, for big files). Paths are stored as given, hostile ones included, so a
        test can offer a client ``../evil.gguf``. ``.gitattributes`` is added like the Hub
        does. ``last_modified``/``created_at`` are ISO 8601 strings (default: now).
        """
        if repo_id.count("/") != 1:
            raise ValueError(f"repo_id must be owner/name, got {repo_id!r}")
        entries: dict[str, bytes | Path] = {".gitattributes": _GITATTRIBUTES}
        if card is not None:
            entries["README.md"] = card.encode("utf-8")
        entries.update(files)
        hub_files: dict[str, HubFile] = {}
        commit = hashlib.sha1(repo_id.encode(), usedforsecurity=False)
        for path, source in entries.items():
            size, sha256, git_sha1, data, disk = _hash_source(source)
            lfs = path.lower().endswith(".gguf") or size >= LFS_MIN_SIZE
            hub_files[path] = HubFile(path, size, sha256, git_sha1, lfs, data, disk)
            commit.update(f"{path}\0{git_sha1}\0".encode())
        all_tags = list(tags)
        if license is not None and f"license:{license}" not in all_tags:
            all_tags.append(f"license:{license}")
        now = _iso(datetime.now(UTC))
        repo = HubRepo(
            repo_id=repo_id,
            files=hub_files,
            sha=commit.hexdigest(),
            gated=gated,
            downloads=downloads,
            likes=likes,
            trending_score=trending_score,
            tags=tuple(all_tags),
            last_modified=last_modified or now,
            created_at=created_at or last_modified or now,
            card_data=_card_data(card, license),
            pipeline_tag=pipeline_tag,
        )
        with self._lock:
            self.repos[repo_id] = repo

    def file(self, repo_id: str, path: str) -> HubFile:
        return self.repos[repo_id].files[path]

    def sha256(self, repo_id: str, path: str) -> str:
        return self.file(repo_id, path).sha256

    def revision(self, repo_id: str) -> str:
        """The repository's commit sha (what ``X-Repo-Commit`` says)."""
        return self.repos[repo_id].sha

    def file_url(self, repo_id: str, path: str, revision: str = "main") -> str:
        return f"{self.url}/{repo_id}/resolve/{quote(revision, safe='')}/{quote(path)}"

    # --- switches and the log ------------------------------------------------------------

    def reset_faults(self) -> None:
        """All switches off."""
        self.drop_after = self.stall_after = self.fail_status = None
        self.corrupt_at = self.rate_limit = self.fault_limit = None
        self.api_fail_status = None

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def requests_for(self, fragment: str, method: str | None = None) -> list[RequestLog]:
        """Logged requests whose path contains ``fragment`` (and of ``method``)."""
        with self._lock:
            return [
                r
                for r in self.requests
                if fragment in r.path and (method is None or r.method == method)
            ]

    def bytes_served(self, fragment: str = "/resolve/") -> int:
        """Body bytes sent for requests whose path contains ``fragment``."""
        return sum(r.bytes_sent for r in self.requests_for(fragment, "GET"))

    # --- internals used by the handler ---------------------------------------------------

    def _log(self, entry: RequestLog) -> None:
        with self._lock:
            self.requests.append(entry)

    def _track(self, sock: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._sockets.add(sock)
            else:
                self._sockets.discard(sock)

    def _faults_for_get(self) -> _Faults:
        with self._lock:
            limited = self.fault_limit is not None
            hits = self.drop_after is not None or self.stall_after is not None
            hits = hits or self.fail_status is not None
            active = not limited or (self.fault_limit is not None and self.fault_limit > 0)
            if limited and hits and active and self.fault_limit is not None:
                self.fault_limit -= 1
            return _Faults(
                drop_after=self.drop_after if active else None,
                stall_after=self.stall_after if active else None,
                stall_seconds=self.stall_seconds,
                fail_status=self.fail_status if active else None,
                corrupt_at=self.corrupt_at,
                rate_limit=self.rate_limit,
            )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away mid-answer is what the tests do on purpose.
        pass


class _Dropped(Exception):
    """The fake Hub drops this connection (a fault switch)."""


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHub
    protocol_version = "HTTP/1.1"
    server_version = "FakeHub/1.0"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.fake._track(self.connection, True)

    def finish(self) -> None:
        self.fake._track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is self.fake.requests

    # --- dispatch ------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        self.entry = RequestLog(
            method=method,
            path=parts.path,
            query=parts.query,
            range=self.headers.get("Range"),
            authorization=self.headers.get("Authorization"),
            user_agent=self.headers.get("User-Agent"),
        )
        self.fake._log(self.entry)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        query = parse_qs(parts.query, keep_blank_values=True)
        segments = parts.path.split("/")[1:]
        try:
            if method == "POST":
                self._error(405, "method not allowed")
            elif parts.path.startswith("/api/") and self.fake.api_fail_status is not None:
                status = self.fake.api_fail_status
                extra = {"Retry-After": "1"} if status == 429 else None
                self._error(status, f"fake API failure {status}", extra=extra)
            elif parts.path == "/api/models":
                self._search(method, query)
            elif parts.path == "/api/whoami-v2":
                self._whoami(method)
            elif segments[:2] == ["api", "models"] and len(segments) >= 4:
                self._api_repo(method, segments[2:], query)
            elif len(segments) >= 5 and segments[2] == "resolve":
                self._resolve(method, segments)
            else:
                self._error(404, "Not Found")
        except _Dropped:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    # --- answers -------------------------------------------------------------------------

    def _send_head(self, status: int, headers: Mapping[str, str]) -> None:
        self.entry.status = status
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _json(self, method: str, body: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self._send_head(
            200,
            {
                "Content-Type": "application/json; charset=utf-8",
                "Content-Length": str(len(data)),
                **(headers or {}),
            },
        )
        if method != "HEAD":
            self.wfile.write(data)
            self.entry.bytes_sent = len(data)

    def _error(
        self,
        status: int,
        message: str,
        code: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        data = json.dumps({"error": message}).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Content-Length": str(len(data)),
            "X-Error-Message": message,
            **(extra or {}),
        }
        if code is not None:
            headers["X-Error-Code"] = code
        self._send_head(status, headers)
        if self.command != "HEAD":
            self.wfile.write(data)

    def _page_link(self, base: str, query: Mapping[str, list[str]], cursor: str) -> str:
        pairs = [(k, v) for k, values in query.items() if k != "cursor" for v in values]
        pairs.append(("cursor", cursor))
        return f'<{self.fake.url}{base}?{urlencode(pairs)}>; rel="next"'

    # --- search --------------------------------------------------------------------------

    def _search(self, method: str, query: Mapping[str, list[str]]) -> None:
        with self.fake._lock:
            repos = list(self.fake.repos.values())
        text = (query.get("search") or [""])[0].lower()
        filters = [f for value in query.get("filter", []) for f in value.split(",") if f]
        authors = query.get("author", [])
        if text:
            repos = [r for r in repos if text in r.repo_id.lower()]
        for tag in filters:
            repos = [r for r in repos if tag in r.tags]
        if authors:
            repos = [r for r in repos if r.repo_id.split("/")[0] == authors[0]]
        sort = (query.get("sort") or [""])[0]
        if sort:
            key = _SORT_KEYS.get(sort)
            if key is None:
                self._error(400, f"Invalid sort parameter: {sort}")
                return
            descending = (query.get("direction") or ["-1"])[0] != "1"
            repos.sort(key=lambda r: r.repo_id)
            repos.sort(key=lambda r: _summary(r)[key], reverse=descending)
        try:
            limit = int((query.get("limit") or [str(self.fake.search_page_size)])[0])
            offset = _decode_cursor((query.get("cursor") or [""])[0])
        except ValueError:
            self._error(400, "Invalid limit or cursor")
            return
        limit = max(1, min(limit, 1000))
        page = repos[offset : offset + limit]
        expand = query.get("expand", []) + query.get("expand[]", [])
        full = (query.get("full") or ["false"])[0].lower() in ("1", "true")
        items = [_search_item(r, expand, full) for r in page]
        headers = {}
        if offset + limit < len(repos):
            headers["Link"] = self._page_link("/api/models", query, _encode_cursor(offset + limit))
        self._json(method, items, headers)

    def _whoami(self, method: str) -> None:
        token = _bearer(self.headers.get("Authorization"))
        accepted = self.fake.required_token
        if token is None or (accepted is not None and token != accepted):
            self._error(401, "Invalid credentials in Authorization header")
            return
        self._json(
            method,
            {
                "type": "user",
                "id": "fake-user-id",
                "name": "fake-user",
                "fullname": "Fake User",
                "auth": {
                    "type": "access_token",
                    "accessToken": {"displayName": "test", "role": "read"},
                },
            },
        )

    # --- repository info and tree --------------------------------------------------------

    def _find_repo(self, repo_id: str, revision: str) -> HubRepo | None:
        """The repository, or None after answering the error."""
        with self.fake._lock:
            repo = self.fake.repos.get(repo_id)
        if repo is None:
            self._error(404, "Repository not found", "RepoNotFound")
            return None
        if revision not in ("main", repo.sha):
            self._error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            return None
        return repo

    def _api_repo(self, method: str, rest: list[str], query: Mapping[str, list[str]]) -> None:
        repo_id = f"{unquote(rest[0])}/{unquote(rest[1])}"
        tail = rest[2:]
        if not tail or tail == [""]:
            revision = "main"
        elif tail[0] == "revision" and len(tail) == 2:
            revision = unquote(tail[1])
        elif tail[0] == "tree" and len(tail) >= 2:
            revision = unquote(tail[1])
            repo = self._find_repo(repo_id, revision)
            if repo is not None:
                folder = unquote("/".join(tail[2:])).strip("/")
                self._tree(method, repo, folder, query)
            return
        else:
            self._error(404, "Not Found")
            return
        repo = self._find_repo(repo_id, revision)
        if repo is None:
            return
        blobs = (query.get("blobs") or ["false"])[0].lower() in ("1", "true")
        info = _summary(repo)
        siblings = []
        for hub_file in repo.files.values():
            sibling: dict[str, Any] = {"rfilename": hub_file.path}
            if blobs:
                sibling["blobId"] = hub_file.git_sha1
                sibling["size"] = hub_file.size
                if hub_file.lfs:
                    sibling["lfs"] = {
                        "sha256": hub_file.sha256,
                        "size": hub_file.size,
                        "pointerSize": 134,
                    }
            siblings.append(sibling)
        info.update(
            {
                "author": repo.repo_id.split("/")[0],
                "sha": repo.sha,
                "disabled": False,
                "siblings": siblings,
                "spaces": [],
                "usedStorage": sum(f.size for f in repo.files.values()),
            }
        )
        if repo.card_data is not None:
            info["cardData"] = repo.card_data
        self._json(method, info)

    def _tree(
        self, method: str, repo: HubRepo, folder: str, query: Mapping[str, list[str]]
    ) -> None:
        recursive = (query.get("recursive") or ["false"])[0].lower() in ("1", "true")
        prefix = f"{folder}/" if folder else ""
        entries: dict[str, dict[str, Any]] = {}
        for hub_file in sorted(repo.files.values(), key=lambda f: f.path):
            if not hub_file.path.startswith(prefix):
                continue
            rest = hub_file.path[len(prefix) :]
            parts = rest.split("/")
            if not recursive and len(parts) > 1:
                sub = prefix + parts[0]
                entries.setdefault(
                    sub,
                    {
                        "type": "directory",
                        "oid": hashlib.sha1(sub.encode()).hexdigest(),
                        "path": sub,
                    },
                )
                continue
            if recursive:
                for depth in range(1, len(parts)):
                    sub = prefix + "/".join(parts[:depth])
                    entries.setdefault(
                        sub,
                        {
                            "type": "directory",
                            "oid": hashlib.sha1(sub.encode()).hexdigest(),
                            "path": sub,
                        },
                    )
            entry: dict[str, Any] = {
                "type": "file",
                "oid": hub_file.git_sha1,
                "size": hub_file.size,
                "path": hub_file.path,
            }
            if hub_file.lfs:
                entry["lfs"] = {"oid": hub_file.sha256, "size": hub_file.size, "pointerSize": 134}
            entries[hub_file.path] = entry
        if folder and not entries:
            self._error(404, f"Entry not found: {folder}", "EntryNotFound")
            return
        items = list(entries.values())
        try:
            offset = _decode_cursor((query.get("cursor") or [""])[0])
        except ValueError:
            self._error(400, "Invalid cursor")
            return
        size = max(1, self.fake.tree_page_size)
        headers = {}
        if offset + size < len(items):
            headers["Link"] = self._page_link(
                urlsplit(self.path).path, query, _encode_cursor(offset + size)
            )
        self._json(method, items[offset : offset + size], headers)

    # --- files ---------------------------------------------------------------------------

    def _resolve(self, method: str, segments: list[str]) -> None:
        repo_id = f"{unquote(segments[0])}/{unquote(segments[1])}"
        revision = unquote(segments[3])
        path = unquote("/".join(segments[4:]))
        repo = self._find_repo(repo_id, revision)
        if repo is None:
            return
        hub_file = repo.files.get(path)
        if hub_file is None:
            self._error(404, f"Entry not found: {path}", "EntryNotFound")
            return
        if not self._authorized(repo, path):
            return
        faults = self.fake._faults_for_get() if method == "GET" else None
        if faults is not None and faults.fail_status is not None:
            extra = {"Retry-After": "1"} if faults.fail_status == 429 else None
            code = {401: "RepoNotFound", 403: "GatedRepo", 404: "EntryNotFound"}.get(
                faults.fail_status
            )
            self._error(faults.fail_status, f"fake failure {faults.fail_status}", code, extra)
            return
        start, end, status = 0, hub_file.size, 200
        wanted = self.headers.get("Range")
        if wanted is not None:
            parsed = _parse_range(wanted, hub_file.size)
            if isinstance(parsed, str):  # "unsatisfiable"
                self._error(
                    416,
                    "Requested Range Not Satisfiable",
                    extra={"Content-Range": f"bytes */{hub_file.size}"},
                )
                return
            if parsed is not None:
                start, end = parsed
                status = 206
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(end - start),
            "Accept-Ranges": "bytes",
            "ETag": f'"{hub_file.etag}"',
            "X-Repo-Commit": repo.sha,
            "Last-Modified": email.utils.formatdate(usegmt=True),
            "Content-Disposition": f'inline; filename="{quote(path.rsplit("/", 1)[-1])}"',
        }
        if hub_file.lfs:
            headers["X-Linked-Etag"] = f'"{hub_file.sha256}"'
            headers["X-Linked-Size"] = str(hub_file.size)
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{hub_file.size}"
        self._send_head(status, headers)
        if method == "GET":
            assert faults is not None
            self._send_body(hub_file, start, end, faults)

    def _authorized(self, repo: HubRepo, path: str) -> bool:
        """Whether the request may read ``path``; answers 401/403 when not."""
        required = self.fake.required_token
        gated = repo.gated is not False and path not in _OPEN_FILES
        if not gated and required is None:
            return True
        token = _bearer(self.headers.get("Authorization"))
        if gated:
            if token is None:
                self._error(
                    401,
                    f"Access to model {repo.repo_id} is restricted. You must have access to "
                    "it and be authenticated to access it. Please log in.",
                    "GatedRepo",
                )
                return False
            if token != required:
                self._error(
                    403,
                    f"Access to model {repo.repo_id} is restricted and you are not in the "
                    f"authorized list. Visit {self.fake.url}/{repo.repo_id} to ask for access.",
                    "GatedRepo",
                )
                return False
            return True
        if token is None:
            self._error(401, "Repository not found", "RepoNotFound")
            return False
        if token != required:
            self._error(401, "Invalid credentials in Authorization header")
            return False
        return True

    def _send_body(self, hub_file: HubFile, start: int, end: int, faults: _Faults) -> None:
        sent = 0
        began = time.monotonic()
        stalled = False
        step = _CHUNK if faults.rate_limit is None else max(1, min(_CHUNK, faults.rate_limit // 20))
        for chunk in hub_file.read(start, end):
            offset = 0
            while offset < len(chunk):
                piece = chunk[offset : offset + step]
                limit = None
                if faults.drop_after is not None:
                    limit = faults.drop_after
                if faults.stall_after is not None and not stalled:
                    limit = faults.stall_after if limit is None else min(limit, faults.stall_after)
                if limit is not None and sent + len(piece) > limit:
                    piece = piece[: max(0, limit - sent)]
                if faults.corrupt_at is not None:
                    at = faults.corrupt_at - (start + sent)
                    if 0 <= at < len(piece):
                        piece = piece[:at] + bytes([piece[at] ^ 0xFF]) + piece[at + 1 :]
                if piece:
                    self.wfile.write(piece)
                    sent += len(piece)
                    offset += len(piece)
                    self.entry.bytes_sent = sent
                if faults.drop_after is not None and sent >= faults.drop_after:
                    raise _Dropped
                if faults.stall_after is not None and not stalled and sent >= faults.stall_after:
                    stalled = True
                    if self.fake._stopping.wait(faults.stall_seconds):
                        raise _Dropped
                    began = (
                        time.monotonic() - sent / faults.rate_limit if faults.rate_limit else began
                    )
                if faults.rate_limit is not None:
                    ahead = sent / faults.rate_limit - (time.monotonic() - began)
                    if ahead > 0 and self.fake._stopping.wait(ahead):
                        raise _Dropped
                if self.fake._stopping.is_set():
                    raise _Dropped


def _summary(repo: HubRepo) -> dict[str, Any]:
    owner = repo.repo_id.split("/")[0]
    return {
        "_id": hashlib.md5(repo.repo_id.encode(), usedforsecurity=False).hexdigest()[:24],
        "id": repo.repo_id,
        "modelId": repo.repo_id,
        "author": owner,
        "likes": repo.likes,
        "trendingScore": repo.trending_score,
        "private": False,
        "gated": repo.gated,
        "downloads": repo.downloads,
        "tags": list(repo.tags),
        "pipeline_tag": repo.pipeline_tag,
        "library_name": "gguf" if "gguf" in repo.tags else None,
        "createdAt": repo.created_at,
        "lastModified": repo.last_modified,
    }


def _search_item(repo: HubRepo, expand: Sequence[str], full: bool) -> dict[str, Any]:
    summary = _summary(repo)
    if expand:
        item = {"_id": summary["_id"], "id": repo.repo_id}
        for key in expand:
            if key in summary:
                item[key] = summary[key]
            elif key == "sha":
                item["sha"] = repo.sha
            elif key == "siblings":
                item["siblings"] = [{"rfilename": p} for p in repo.files]
            elif key == "cardData" and repo.card_data is not None:
                item["cardData"] = repo.card_data
        return item
    item = dict(summary)
    del item["lastModified"], item["author"]  # the Hub's default list omits these
    if full:
        item.update(
            {
                "author": summary["author"],
                "lastModified": repo.last_modified,
                "sha": repo.sha,
                "siblings": [{"rfilename": p} for p in repo.files],
            }
        )
    return item


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        offset = json.loads(raw)["o"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(cursor) from exc
    if not isinstance(offset, int) or offset < 0:
        raise ValueError(cursor)
    return offset


def _bearer(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """[start, end) for a single ``bytes=`` range; "unsatisfiable"; None: serve it all."""
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if match is None or (not match[1] and not match[2]):
        return None  # not a single byte range: ignored, as RFC 9110 allows
    if not match[1]:  # the last n bytes
        suffix = int(match[2])
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size
    first = int(match[1])
    last = int(match[2]) if match[2] else size - 1
    if first >= size:
        return "unsatisfiable"
    if last < first:
        return None  # invalid: ignored
    return first, min(last, size - 1) + 1


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    """A started fake Hub, empty; stopped after the test."""
    with FakeHub() as hub:
        yield hub
