"""The fake Hub, with the write API that ``HfApi.create_repo`` and ``create_commit`` use.

``tests/helpers/hub_server.py``'s ``FakeHub`` serves reads only (search, repository
info, resolve). Publishing an app catalogue needs three more routes, answered here in
the Hub's shapes so the real huggingface_hub client can write through them:

- ``POST /api/repos/create`` (``{"name", "organization", "type"}``): 200 with the
  repository's ``url``; 409 when it exists (``exist_ok=True`` accepts that).
- ``POST /api/models/{owner}/{name}/preupload/{rev}``: every file is ``regular`` (git,
  not LFS; an ``.llmapp`` is at most 1 MiB); files of LFS size are refused with 400,
  because this fake has no LFS batch API.
- ``POST /api/models/{owner}/{name}/commit/{rev}``: the NDJSON commit (a ``header``
  line, then ``file`` lines with base64 content and ``deletedFile`` lines); the
  repository's files change at once, with a new commit sha.

Writing needs a token (``Authorization: Bearer``): none is 401; ``write_token`` set and
a different token is 403, as the Hub answers a token without write access. Every
commit is kept in ``commits`` (who, summary, paths), so a test can check what was
written and with which token.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.helpers.hub_server import LFS_MIN_SIZE, FakeHub, RequestLog, _bearer, _Handler

__all__ = ["CommitRecord", "UploadingFakeHub"]


@dataclass(frozen=True)
class CommitRecord:
    """One commit the fake Hub accepted."""

    repo_id: str
    token: str
    summary: str
    added: tuple[str, ...]
    deleted: tuple[str, ...]
    sha: str


class UploadingFakeHub(FakeHub):
    """``FakeHub`` that also accepts repository creation and commits (see the module)."""

    def __init__(self) -> None:
        super().__init__()
        self.write_token: str | None = None  # None: any token may write
        self.commits: list[CommitRecord] = []

    def start(self) -> UploadingFakeHub:
        super().start()
        server = self._server
        assert server is not None
        hub = self

        class Handler(_UploadHandler):
            fake = hub

        # The base class made its handler class in start(); requests after this line
        # (there are none yet) use the one that also writes.
        server.RequestHandlerClass = Handler
        return self

    def __enter__(self) -> UploadingFakeHub:
        return self.start()

    def _commit(
        self,
        repo_id: str,
        token: str,
        summary: str,
        added: dict[str, bytes],
        deleted: list[str],
    ) -> str:
        """Apply a commit to the repository's files; its new sha."""
        with self._lock:
            repo = self.repos[repo_id]
        files: dict[str, bytes | Path] = {}
        for path, hub_file in repo.files.items():
            if path == ".gitattributes" or path in deleted:
                continue
            if hub_file.data is not None:
                files[path] = hub_file.data
            else:
                assert hub_file.source is not None
                files[path] = hub_file.source
        files.update(added)
        self.add_repo(
            repo_id,
            files,
            gated=repo.gated,
            downloads=repo.downloads,
            likes=repo.likes,
            tags=repo.tags,
            trending_score=repo.trending_score,
            pipeline_tag=repo.pipeline_tag,
            created_at=repo.created_at,
        )
        sha = self.revision(repo_id)
        with self._lock:
            self.commits.append(
                CommitRecord(repo_id, token, summary, tuple(added), tuple(deleted), sha)
            )
        return sha


class _UploadHandler(_Handler):
    fake: UploadingFakeHub

    def _dispatch(self, method: str) -> None:
        if method != "POST":
            super()._dispatch(method)
            return
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
        body = self.rfile.read(length) if length else b""
        segments = parts.path.split("/")[1:]
        token = self._writer()
        if token is None:
            return
        try:
            if parts.path == "/api/repos/create":
                self._create_repo(json.loads(body or b"{}"))
            elif segments[:2] == ["api", "models"] and len(segments) >= 6:
                repo_id = f"{unquote(segments[2])}/{unquote(segments[3])}"
                action, revision = segments[4], unquote("/".join(segments[5:]))
                if self._find_repo(repo_id, revision) is None:
                    return
                if action == "preupload":
                    self._preupload(repo_id, json.loads(body or b"{}"))
                elif action == "commit":
                    self._commit(repo_id, token, body)
                else:
                    self._error(404, "Not Found")
            else:
                self._error(404, "Not Found")
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            self._error(400, f"bad request: {exc}")

    def _writer(self) -> str | None:
        """The token of a request that may write, or None after answering 401/403."""
        token = _bearer(self.headers.get("Authorization"))
        if token is None:
            self._error(401, "Invalid credentials in Authorization header")
            return None
        wanted = self.fake.write_token
        if wanted is not None and token != wanted:
            self._error(403, "You don't have the rights to write to this namespace")
            return None
        return token

    def _create_repo(self, payload: dict[str, Any]) -> None:
        if payload.get("type", "model") != "model":
            self._error(400, "this fake Hub has model repositories only")
            return
        name = payload["name"]
        owner = payload.get("organization") or "fake-user"
        repo_id = f"{owner}/{name}"
        url = f"{self.fake.url}/{repo_id}"
        with self.fake._lock:
            exists = repo_id in self.fake.repos
        if exists:
            self._send_json(409, {"error": "You already created this model repo", "url": url})
            return
        self.fake.add_repo(repo_id, {}, tags=())
        self._send_json(200, {"url": url, "name": repo_id, "id": repo_id})

    def _preupload(self, repo_id: str, payload: dict[str, Any]) -> None:
        with self.fake._lock:
            repo = self.fake.repos[repo_id]
        answer = []
        for item in payload["files"]:
            path, size = str(item["path"]), int(item["size"])
            if size >= LFS_MIN_SIZE or path.lower().endswith(".gguf"):
                self._error(400, f"{path}: this fake Hub takes no LFS uploads")
                return
            existing = repo.files.get(path)
            answer.append(
                {
                    "path": path,
                    "uploadMode": "regular",
                    "shouldIgnore": False,
                    "oid": existing.git_sha1 if existing is not None else None,
                }
            )
        self._send_json(200, {"files": answer, "commitOid": repo.sha})

    def _commit(self, repo_id: str, token: str, body: bytes) -> None:
        summary = ""
        added: dict[str, bytes] = {}
        deleted: list[str] = []
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                summary = str(value.get("summary", ""))
            elif key == "file":
                if value.get("encoding") != "base64":
                    raise ValueError("file content must be base64")
                added[str(value["path"])] = base64.b64decode(value["content"], validate=True)
            elif key == "deletedFile":
                deleted.append(str(value["path"]))
            else:
                self._error(400, f"this fake Hub does not take {key!r} operations")
                return
        if not summary:
            self._error(400, "a commit needs a summary")
            return
        sha = self.fake._commit(repo_id, token, summary, added, deleted)
        self._send_json(
            200,
            {
                "success": True,
                "commitOid": sha,
                "commitUrl": f"{self.fake.url}/{repo_id}/commit/{sha}",
            },
        )

    def _send_json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self._send_head(
            status,
            {"Content-Type": "application/json; charset=utf-8", "Content-Length": str(len(data))},
        )
        self.wfile.write(data)
        self.entry.bytes_sent = len(data)
