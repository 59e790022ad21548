"""``RemoteCatalogue``: an app catalogue in a Hugging Face repository, read and published.

A remote catalogue is a repository that holds what the built-in one holds
(``resources/apps/catalogue``): an ``index.json`` (package.py's ``CatalogueIndex``:
each app's id, version, file and the SHA-256 of that file) and the ``.llmapp`` files
next to it. Anyone can publish one; the store reads the repository named by the
``apps_catalogue_repo`` setting.

Reading goes through the Models pane's ``HubClient`` (core/models/hub.py), so the Hub
endpoint or mirror, the proxy and the token apply as they do to model downloads (the
token only to the endpoint's own host; TLS always verified). The files are fetched
with that client's httpx client and our own bounded reads rather than
``hf_hub_download``, which would write into huggingface_hub's cache in the user's home
folder and has no size bound.

What a catalogue can send is untrusted:

- ``index.json`` is read up to its size limit (1 MiB) and checked strictly
  (``parse_catalogue_index``: unknown fields, bad ids, versions, file names or hashes
  are refused); each file name must be a plain name next to the index.
- Every ``.llmapp`` is read up to 1 MiB, its SHA-256 compared with the index's before
  it is parsed (a mismatch is ``AppError("checksum")``: refused, never installed), and
  then its id and version with the index entry's.
- The files are read at the commit the index was read at (``X-Repo-Commit``), so a
  publish between the two reads cannot pair an index with other files.

A verified file is kept in the cache folder under its SHA-256, so a refresh fetches
only what changed, and the last index read is kept too, so the remote apps still show
when the Hub cannot be reached (``cached_entries``); a cached file is hashed again
whenever it is read.

``publish`` uploads apps with ``huggingface_hub`` (``create_repo`` with
``exist_ok``, then one ``create_commit`` that adds the files and the new index
together), with the token it is given. It refuses to replace a published version with
an older one, or the same version with different content: people who installed it
would never be offered the change.

Every method blocks (network, disk): callers run them off the GUI thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from llmos_desktop.core.apps.manifest import AppError, AppErrorKind, AppManifest, version_key
from llmos_desktop.core.apps.package import (
    INDEX_FORMAT_VERSION,
    MAX_INDEX_BYTES,
    MAX_LLMAPP_BYTES,
    CatalogueIndex,
    IndexEntry,
    llmapp_bytes,
    llmapp_sha256,
    parse_catalogue_index,
    read_llmapp,
)
from llmos_desktop.core.atomic import write_bytes_atomic
from llmos_desktop.core.text import one_line

if TYPE_CHECKING:
    import httpx

    from llmos_desktop.core.models.hub import HubClient

__all__ = ["INDEX_FILE", "CatalogueEntry", "RemoteCatalogue", "index_bytes"]

log = logging.getLogger(__name__)

INDEX_FILE: Final = "index.json"
RESERVED_ID_PREFIX: Final = "llmos."
"""Ids of the built-in apps. A catalogue that offered one (a newer version) would show it
as an update of the built-in app: anyone's catalogue could replace ours."""
_CACHED_INDEX_SUFFIX: Final = ".index.json"
_SHA256: Final = re.compile(r"^[0-9a-f]{64}\Z")
_COMMIT: Final = re.compile(r"^[0-9a-f]{40}\Z")


@dataclass(frozen=True)
class CatalogueEntry:
    """One app a remote catalogue lists: the index's entry and where it was read."""

    repo_id: str
    revision: str | None  # the commit the index was read at (None: the server did not say)
    id: str
    version: str
    file: str
    sha256: str

    @classmethod
    def of(cls, repo_id: str, revision: str | None, entry: IndexEntry) -> CatalogueEntry:
        return cls(repo_id, revision, entry.id, entry.version, entry.file, entry.sha256)


HubSource = Callable[[], "HubClient"]


class RemoteCatalogue:
    """The catalogue in ``repo_id`` (see the module docstring).

    ``hub``: the Hub client, or a function that returns the current one (the Models
    service's ``hub``, which follows the endpoint, proxy and token settings).
    ``cache_folder``: where verified files and the last index are kept (None: nowhere).
    """

    def __init__(
        self,
        repo_id: str,
        hub: HubClient | HubSource,
        *,
        cache_folder: Path | None = None,
    ) -> None:
        from llmos_desktop.core.models.hub import check_repo_id
        from llmos_desktop.core.models.types import ModelsError

        try:
            self.repo_id = check_repo_id(repo_id)
        except ModelsError as exc:
            raise AppError("invalid", "apps_catalogue_repo", exc.message) from None
        self._hub_source: HubSource = hub if callable(hub) else (lambda: hub)
        self.cache_folder = cache_folder

    def _hub(self) -> HubClient:
        """The current Hub client; a bad endpoint or proxy setting is an AppError."""
        from llmos_desktop.core.models.types import ModelsError

        try:
            return self._hub_source()
        except ModelsError as exc:
            raise AppError("invalid", "", exc.message) from None

    # --- reading -------------------------------------------------------------------------

    def refresh(self) -> list[CatalogueEntry]:
        """Read the repository's ``index.json`` now: its entries. Raises AppError:
        "network" (unreachable, a server error), "not_found" (no such repository or no
        index in it), "auth" (a private repository), "invalid" (an index that is not
        valid). The last good index stays cached when it fails."""
        hub = self._hub()
        with self._client(hub) as client:
            data, revision = self._get(hub, client, self.repo_id, INDEX_FILE, None, MAX_INDEX_BYTES)
        index = _parse_index(data, self.repo_id)
        self._cache_index(data, revision)
        return [CatalogueEntry.of(self.repo_id, revision, entry) for entry in index.apps]

    def cached_entries(self) -> list[CatalogueEntry]:
        """The entries of the last index ``refresh`` read (no network); [] when none."""
        path = self._cached_index_path()
        if path is None:
            return []
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            revision = stored.get("revision")
            index = parse_catalogue_index(stored["index"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError, AppError) as exc:
            if not isinstance(exc, FileNotFoundError):
                log.warning("apps: the cached index of %s is not usable: %s", self.repo_id, exc)
            return []
        if stored.get("repo_id") != self.repo_id:
            return []
        revision = revision if isinstance(revision, str) and _COMMIT.match(revision) else None
        return [CatalogueEntry.of(self.repo_id, revision, entry) for entry in index.apps]

    def fetch(self, entry: CatalogueEntry, *, offline: bool = False) -> AppManifest:
        """The app of ``entry``, its file checked against the entry's SHA-256, id and
        version. ``offline``: from the cache only (AppError("not_found") when it is not
        there). AppError("checksum") for a file whose bytes are not the ones the index
        lists: it is refused, and nothing is cached."""
        return self.fetch_with_data(entry, offline=offline)[0]

    def fetch_with_data(
        self, entry: CatalogueEntry, *, offline: bool = False
    ) -> tuple[AppManifest, bytes]:
        """``fetch``, and the file's bytes (what an install writes)."""
        data = self._cached_file(entry.sha256)
        if data is None:
            if offline:
                raise AppError("not_found", entry.file, "not downloaded yet; refresh the catalogue")
            hub = self._hub()
            with self._client(hub) as client:
                data, _ = self._get(
                    hub, client, entry.repo_id, entry.file, entry.revision, MAX_LLMAPP_BYTES
                )
            if llmapp_sha256(data) != entry.sha256:
                raise AppError(
                    "checksum",
                    entry.file,
                    f"its SHA-256 is not the one {entry.repo_id}'s index lists: the file was "
                    "changed or damaged, so it was refused",
                )
        app = _checked_app(entry, data)
        self._cache_file(entry.sha256, data)
        return app, data

    # --- publishing ----------------------------------------------------------------------

    def publish(
        self,
        apps: Sequence[AppManifest | bytes],
        repo_id: str,
        token: str,
        *,
        message: str | None = None,
        private: bool = False,
    ) -> str:
        """Upload ``apps`` (manifests, or ``.llmapp`` bytes as installed) to ``repo_id``
        with ``token``, and list them in its index (made when there is none); the URL of
        the commit. The repository is created when it does not exist (public unless
        ``private``). Raises AppError: "auth" (no token, or one without write access),
        "invalid" (an app twice, an older version than the one published, the same
        version with other content), "network"."""
        from llmos_desktop.core.models.hub import HubClient, check_repo_id
        from llmos_desktop.core.models.types import ModelsError

        try:
            check_repo_id(repo_id)
        except ModelsError as exc:
            raise AppError("invalid", "repo_id", exc.message) from None
        if not token:
            raise AppError("auth", "", "publishing needs a Hugging Face token with write access")
        items = _publish_items(apps)
        hub = self._hub()
        try:
            writer = HubClient(hub.endpoint, token=token, proxy=hub.proxy, timeout=hub.timeout)
        except ModelsError as exc:
            raise AppError("auth", "", exc.message) from None
        with _hub_errors(writer, f"publish to {repo_id}"):
            from huggingface_hub import CommitOperationAdd

            # The session with our proxy and TLS settings (HubClient installs it).
            writer._session()
            api = writer._api()
            api.create_repo(repo_id, private=private, exist_ok=True)
            current = self._published_index(writer, repo_id)
            entries = {entry.id: entry for entry in current.apps}
            operations = []
            for app, data in items:
                sha = llmapp_sha256(data)
                old = entries.get(app.id)
                if old is not None:
                    _check_publishable(app, sha, old, repo_id)
                    if old.sha256 == sha:
                        continue
                file = old.file if old is not None else f"{app.id}.llmapp"
                entries[app.id] = IndexEntry(id=app.id, version=app.version, file=file, sha256=sha)
                operations.append(CommitOperationAdd(path_in_repo=file, path_or_fileobj=data))
            if not operations:
                raise AppError(
                    "invalid", "", f"{repo_id} already has these versions; nothing to publish"
                )
            try:
                index = CatalogueIndex(
                    format_version=INDEX_FORMAT_VERSION,
                    apps=sorted(entries.values(), key=lambda e: e.id),
                )
            except ValueError as exc:
                raise AppError(
                    "invalid", "", one_line(f"the new index is not valid: {exc}")
                ) from None
            operations.append(
                CommitOperationAdd(path_in_repo=INDEX_FILE, path_or_fileobj=index_bytes(index))
            )
            ids = ", ".join(f"{app.id} {app.version}" for app, _ in items)
            info = api.create_commit(
                repo_id,
                operations,
                commit_message=message or one_line(f"Publish {ids}", 200),
            )
        url = getattr(info, "commit_url", None)
        return url if isinstance(url, str) else f"{writer.endpoint}/{repo_id}"

    def _published_index(self, writer: HubClient, repo_id: str) -> CatalogueIndex:
        """The index ``repo_id`` has now (an empty one when it has none)."""
        with self._client(writer) as client:
            try:
                data, _ = self._get(writer, client, repo_id, INDEX_FILE, None, MAX_INDEX_BYTES)
            except AppError as exc:
                if exc.kind == "not_found":
                    return CatalogueIndex(format_version=INDEX_FORMAT_VERSION, apps=[])
                raise
        return _parse_index(data, repo_id)

    # --- HTTP ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _client(self, hub: HubClient) -> Iterator[httpx.Client]:
        try:
            client = hub.httpx_client()
        except ValueError as exc:
            raise AppError("network", "", one_line(str(exc))) from None
        with client:
            yield client

    def _get(
        self,
        hub: HubClient,
        client: httpx.Client,
        repo_id: str,
        path: str,
        revision: str | None,
        limit: int,
    ) -> tuple[bytes, str | None]:
        """The bytes of ``path`` in ``repo_id`` (at most ``limit``) and the commit the
        server read them at."""
        import httpx

        from llmos_desktop.core.models.types import RemoteFile

        url = hub.file_url(RemoteFile(repo_id, path, None, None, revision))
        host = urlsplit(hub.endpoint).netloc
        what = f"{path} of {repo_id}"
        try:
            with client.stream("GET", url, headers=hub.headers_for(url)) as response:
                if response.status_code >= 400:
                    raise _status_error(response, what, host, hub.token is not None)
                commit = response.headers.get("X-Repo-Commit")
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise AppError(
                            "invalid", path, f"{what} is larger than {limit // 1024} KiB; refused"
                        )
                    chunks.append(chunk)
        except httpx.TimeoutException:
            raise AppError(
                "network", "", f"could not read {what}: {host} did not answer in time"
            ) from None
        except httpx.HTTPError as exc:
            raise AppError(
                "network", "", one_line(f"could not read {what}: cannot reach {host} ({exc})")
            ) from None
        commit = (
            commit.lower() if isinstance(commit, str) and _COMMIT.match(commit.lower()) else None
        )
        return b"".join(chunks), commit or revision

    # --- the cache -----------------------------------------------------------------------

    def _cached_index_path(self) -> Path | None:
        if self.cache_folder is None:
            return None
        name = self.repo_id.replace("/", "--")
        return self.cache_folder / f"{name}{_CACHED_INDEX_SUFFIX}"

    def _cache_index(self, data: bytes, revision: str | None) -> None:
        path = self._cached_index_path()
        if path is None:
            return
        stored = {"repo_id": self.repo_id, "revision": revision, "index": json.loads(data)}
        try:
            write_bytes_atomic(path, json.dumps(stored, ensure_ascii=False).encode("utf-8"))
        except OSError as exc:
            log.warning("apps: could not cache the index of %s: %s", self.repo_id, exc)

    def _cached_file(self, sha256: str) -> bytes | None:
        if self.cache_folder is None or not _SHA256.match(sha256):
            return None
        path = self.cache_folder / f"{sha256}.llmapp"
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_LLMAPP_BYTES + 1)
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != sha256:
            log.warning("apps: the cached file %s is damaged; it is fetched again", path)
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        return data

    def _cache_file(self, sha256: str, data: bytes) -> None:
        if self.cache_folder is None or not _SHA256.match(sha256):
            return
        path = self.cache_folder / f"{sha256}.llmapp"
        if path.exists():
            return
        try:
            write_bytes_atomic(path, data)
        except OSError as exc:
            log.warning("apps: could not cache %s: %s", path, exc)


def index_bytes(index: CatalogueIndex) -> bytes:
    """``index.json``'s bytes for ``index``, as the built-in catalogue writes it."""
    return (json.dumps(index.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n").encode()


def _parse_index(data: bytes, repo_id: str) -> CatalogueIndex:
    try:
        return parse_catalogue_index(data)
    except AppError as exc:
        where = f"{INDEX_FILE}: {exc.field}" if exc.field else INDEX_FILE
        raise AppError(
            "invalid", where, f"{repo_id}'s catalogue index is not valid: {exc.message}"
        ) from None


def _checked_app(entry: CatalogueEntry, data: bytes) -> AppManifest:
    try:
        app = read_llmapp(data)
    except AppError as exc:
        field = f"{entry.file}: {exc.field}" if exc.field else entry.file
        raise AppError(exc.kind, field, exc.message, problems=exc.problems) from None
    if app.id != entry.id or app.version != entry.version:
        raise AppError(
            "invalid",
            entry.file,
            f"holds {app.id} {app.version}, but the index lists {entry.id} {entry.version}",
        )
    _refuse_reserved_id(app, entry.file)
    return app


def _refuse_reserved_id(app: AppManifest, where: str) -> None:
    if app.id.startswith(RESERVED_ID_PREFIX):
        raise AppError(
            "invalid",
            f"{where}: id" if where else "id",
            f"{app.id}: ids that start with {RESERVED_ID_PREFIX!r} belong to the built-in "
            "apps; a catalogue cannot offer one (give the app an id of your own)",
        )


def _publish_items(apps: Sequence[AppManifest | bytes]) -> list[tuple[AppManifest, bytes]]:
    if not apps:
        raise AppError("invalid", "", "choose at least one app to publish")
    items: list[tuple[AppManifest, bytes]] = []
    seen: set[str] = set()
    for item in apps:
        if isinstance(item, AppManifest):
            app, data = item, llmapp_bytes(item)
        else:
            data = bytes(item)
            app = read_llmapp(data)
        _refuse_reserved_id(app, "")
        if app.id in seen:
            raise AppError("invalid", "", f"{app.id} is listed twice")
        seen.add(app.id)
        items.append((app, data))
    return items


def _check_publishable(app: AppManifest, sha: str, old: IndexEntry, repo_id: str) -> None:
    new_key, old_key = version_key(app.version), version_key(old.version)
    if new_key < old_key:
        raise AppError(
            "invalid",
            "version",
            f"{repo_id} already has {app.id} {old.version}, newer than {app.version}",
        )
    if new_key == old_key and old.sha256 != sha:
        raise AppError(
            "invalid",
            "version",
            f"{repo_id} already has {app.id} {app.version} with other content; "
            "give the changed app a higher version",
        )


def _status_error(response: httpx.Response, what: str, host: str, has_token: bool) -> AppError:
    status = response.status_code
    code = response.headers.get("X-Error-Code", "")
    if status == 404 or (status == 401 and code in ("RepoNotFound", "EntryNotFound")):
        hint = "" if has_token else " (or it is private and needs a token)"
        return AppError("not_found", "", f"could not read {what}: not found on {host}{hint}")
    if status in (401, 403):
        why = "refused the token" if has_token else "asks for a Hugging Face token"
        return AppError("auth", "", f"could not read {what}: {host} {why}")
    if status == 429:
        return AppError("network", "", f"could not read {what}: {host} says too many requests")
    return AppError("network", "", f"could not read {what}: {host} answered HTTP {status}")


@contextlib.contextmanager
def _hub_errors(hub: HubClient, what: str) -> Iterator[None]:
    """huggingface_hub's errors as AppError, through HubClient's own mapping."""
    from llmos_desktop.core.models.types import ModelsError

    kinds: dict[str, AppErrorKind] = {"auth": "auth", "gated": "auth", "not_found": "not_found"}
    try:
        with hub._hub_errors(what, exists=True):
            yield
    except ModelsError as exc:
        kind = kinds.get(exc.kind, "network")
        message = exc.message
        if exc.kind == "gated":  # a 403 on a write: the token may read, not write
            message = f"could not {what}: the token has no write access to it"
        raise AppError(kind, "", message) from None
