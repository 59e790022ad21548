"""The Hugging Face Hub (or a mirror of it): search, repository pages, file metadata, URLs.

``HubClient`` is what the Models pane, the CLI and the downloads use to talk to the Hub.
It uses huggingface_hub for what that library does well (its shared HTTP session, the
Hub's error headers turned into typed errors, ``ModelInfo`` parsing, file metadata from
``HEAD /resolve``) and does four things itself:

- **Endpoint.** huggingface_hub reads ``HF_ENDPOINT`` once, when it is imported, into
  module constants. Here the endpoint is resolved when asked (``resolve_endpoint``) and
  passed to every call, so a changed setting or environment takes effect without a
  restart, and a URL is built from the client's endpoint, never from the import-time one.
- **Paging.** ``HfApi.list_models`` follows every ``Link`` page itself and retries an
  unreachable endpoint for ~20 s; search here fetches exactly one page, fails fast, and
  hands the ``cursor`` of the next page back to the caller (more results on scroll).
- **The token.** It goes only to the endpoint's own origin (scheme, host and port), never
  to another host, and huggingface_hub's own stored token (``~/.cache/huggingface``,
  ``HF_TOKEN``) is never used: the app's token store is the one place a token comes from.
- **Proxy and TLS.** huggingface_hub's session is built by a client factory we install:
  the proxy from the settings (or the system's), TLS verification always on, our time
  limits. The factory is process-wide (huggingface_hub has one session); the app has one
  ``HubClient`` at a time. ``httpx_client()`` gives downloads the same proxy and checks.

Errors come out as ``ModelsError`` with a kind the UI can act on. Every call blocks:
callers run it off the GUI thread. huggingface_hub is imported inside the methods, so
importing this module costs nothing at start-up.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import re
import sys
import threading
import unicodedata
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, NoReturn
from urllib.parse import parse_qs, quote, urlsplit

from llmos_desktop.core.models.hub_token import check_token
from llmos_desktop.core.models.naming import is_mmproj, model_stem, quant_of, split_of
from llmos_desktop.core.models.types import (
    GatedKind,
    ModelsError,
    RemoteFile,
    RemoteModel,
    RepoDetails,
    RepoSummary,
    SearchPage,
    SearchSort,
)
from llmos_desktop.core.text import one_line

if TYPE_CHECKING:
    import httpx
    import httpx2

__all__ = [
    "CHINA_MIRROR",
    "DEFAULT_ENDPOINT",
    "MAX_CARD_BYTES",
    "HubClient",
    "check_repo_id",
    "resolve_endpoint",
    "safe_repo_path",
    "same_origin",
]

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT: Final = "https://huggingface.co"
CHINA_MIRROR: Final = "https://hf-mirror.com"
MAX_CARD_BYTES: Final = 256 * 1024  # a model card bigger than this is cut
MAX_PATH_CHARS: Final = 1000
_MAX_SEARCH_LIMIT: Final = 100
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_SORT_PARAMS: Final[Mapping[str, str]] = {
    "downloads": "downloads",
    "likes": "likes",
    "trending": "trendingScore",
    "modified": "lastModified",
}
_SEARCH_EXPAND: Final = (
    "downloads",
    "likes",
    "trendingScore",
    "lastModified",
    "gated",
    "tags",
    "pipeline_tag",
)
# The Hub's rules for a repository name: letters, digits, "-", "_", "."; no "--" or "..";
# not starting or ending with "-" or "."; at most 96 characters for the name.
_REPO_PART: Final = re.compile(r"^(?![-.])(?!.*(?:--|\.\.))[A-Za-z0-9._-]{1,96}(?<![-.])\Z")
_DRIVE: Final = re.compile(r"^[A-Za-z]:")
_BIDI: Final = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_WINDOWS_RESERVED: Final = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{i}" for i in range(1, 10)]
    + [f"LPT{i}" for i in range(1, 10)]
)
_SHA256: Final = re.compile(r"^[0-9a-f]{64}\Z")


# --- input checks ----------------------------------------------------------------------


def resolve_endpoint(setting: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The Hub endpoint to use: ``setting``, else ``HF_ENDPOINT``, else the Hub itself.

    Read now from ``environ`` (default: ``os.environ``), not from huggingface_hub's
    import-time constant. The result is an ``http(s)://host[:port][/path]`` URL without a
    trailing "/"; anything else is ``ModelsError("invalid")`` naming where it came from.
    """
    if environ is None:
        import os

        environ = os.environ
    if setting is not None and setting.strip():
        value, source = setting, "the Hub endpoint setting"
    elif environ.get("HF_ENDPOINT", "").strip():
        value, source = environ["HF_ENDPOINT"], "HF_ENDPOINT"
    else:
        return DEFAULT_ENDPOINT
    value = value.strip()
    bad = ModelsError(
        "invalid",
        f"{source} must be an http:// or https:// address such as {DEFAULT_ENDPOINT}, "
        f"not {one_line(value, 120)!r}",
    )
    if not value.isprintable() or any(c.isspace() for c in value) or "\\" in value:
        raise bad
    try:
        parts = urlsplit(value)
        port = parts.port  # raises on a port that is not a number in range
    except ValueError:
        raise bad from None
    scheme = parts.scheme.lower()
    if (
        scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or parts.query
        or parts.fragment
        or value.endswith(("?", "#"))
    ):
        raise bad
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path}".rstrip("/")


def safe_repo_path(path: str) -> str:
    """``path`` unchanged if it is a safe relative file path inside a repository.

    Refused (``ModelsError("unsafe_name")``): empty, absolute, ``..`` or ``.`` parts,
    empty parts (``a//b``, a trailing "/"), backslashes, drive letters and other colons,
    NUL and control characters, bidi overrides, names Windows cannot create (``CON``,
    a trailing dot or space), and paths over 1000 characters. A repository's file names
    come from the Hub: untrusted.
    """

    def refuse(why: str) -> NoReturn:
        raise ModelsError("unsafe_name", f"refused the file name {one_line(path, 200)!r}: {why}")

    if not isinstance(path, str) or not path:
        refuse("it is empty")
    if len(path) > MAX_PATH_CHARS:
        refuse("it is too long")
    if "\x00" in path:
        refuse("it contains a NUL character")
    if any(unicodedata.category(c) == "Cc" or c in _BIDI for c in path):
        refuse("it contains control characters")
    if "\\" in path:
        refuse("it contains a backslash")
    if path.startswith("/"):
        refuse("it is an absolute path")
    if _DRIVE.match(path) or ":" in path:
        refuse("it contains a drive letter or a colon")
    for part in path.split("/"):
        if part in ("", ".", ".."):
            refuse("it has an empty, '.' or '..' part")
        if part.endswith((".", " ")) or part.startswith(" "):
            refuse("a part starts with a space or ends with a dot or a space")
        if part.split(".", 1)[0].upper() in _WINDOWS_RESERVED:
            refuse("it uses a name Windows reserves")
    return path


def check_repo_id(repo_id: str) -> str:
    """``repo_id`` if it is ``owner/name`` as the Hub allows; ``ModelsError("invalid")``."""
    parts = repo_id.split("/") if isinstance(repo_id, str) else []
    if len(parts) != 2 or not all(_REPO_PART.match(p) for p in parts):
        raise ModelsError(
            "invalid",
            f"{one_line(str(repo_id), 120)!r} is not a repository id of the form owner/name",
        )
    return repo_id


def same_origin(url: str, other: str) -> bool:
    """Whether two URLs have the same scheme, host and port (default ports filled in)."""
    return _origin(url) == _origin(other)


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port


def _check_proxy(proxy: str) -> str:
    try:
        parts = urlsplit(proxy)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme.lower() not in ("http", "https", "socks5", "socks5h")
        or not parts.hostname
        or not proxy.isprintable()
        or any(c.isspace() for c in proxy)
    ):
        raise ModelsError(
            "invalid",
            f"the proxy must be an address such as http://proxy.example:8080, "
            f"not {one_line(proxy, 120)!r}",
        )
    if parts.scheme.lower().startswith("socks"):
        import importlib.util

        if importlib.util.find_spec("socksio") is None:
            raise ModelsError(
                "invalid", "SOCKS proxies are not supported in this build; use an HTTP proxy"
            )
    return proxy


def _user_agent() -> str:
    import llmos_desktop

    python = ".".join(map(str, sys.version_info[:3]))
    return f"llmos-desktop/{llmos_desktop.__version__}; python/{python}"


# --- the client ------------------------------------------------------------------------

_FACTORY_LOCK = threading.Lock()
_INSTALLED: tuple[tuple[tuple[str, str | None], ...], float] | None = None


class HubClient:
    """Blocking calls to one Hub endpoint; callers run them off the GUI thread.

    ``proxy``: None uses the system's proxy settings (the environment's ``HTTPS_PROXY``
    and ``NO_PROXY``, or the registry and System Settings on Windows and macOS); "" uses
    none; anything else is the proxy's URL. ``timeout`` bounds each request.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        token: str | None = None,
        proxy: str | None = None,
        timeout: float = 20.0,
    ) -> None:
        self.endpoint = resolve_endpoint(endpoint, environ={})
        # A token with a newline would be a header injection: checked like the store does.
        self.token = check_token(token) if token else None
        # None: the system's proxy; "": none; else the proxy's URL, checked.
        if proxy is None or not proxy.strip():
            self.proxy = proxy if proxy is None else ""
        else:
            self.proxy = _check_proxy(proxy.strip())
        self.timeout = timeout
        self._user_agent = _user_agent()

    # --- search --------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        sort: SearchSort = "downloads",
        cursor: str | None = None,
        limit: int = 30,
    ) -> SearchPage:
        """One page of GGUF repositories matching ``query``; ``next_cursor`` for more."""
        if sort not in _SORT_PARAMS:
            raise ModelsError("invalid", f"unknown sort order {sort!r}")
        query = query.strip()
        if len(query) > 200 or not query.isprintable():
            raise ModelsError("invalid", "the search text must be one line under 200 characters")
        params: list[tuple[str, str | int | float | bool | None]] = [("filter", "gguf")]
        if query:
            params.append(("search", query))
        params += [
            ("sort", _SORT_PARAMS[sort]),
            ("limit", max(1, min(limit, _MAX_SEARCH_LIMIT))),
        ]
        params += [("expand", name) for name in _SEARCH_EXPAND]
        if cursor:
            params.append(("cursor", cursor))
        with self._hub_errors("search the Hub"):
            from huggingface_hub import ModelInfo, hf_raise_for_status

            response = self._session().get(
                f"{self.endpoint}/api/models",
                params=params,
                headers=self._api_headers(),
                timeout=self.timeout,
            )
            hf_raise_for_status(response)
            items = response.json()
            if not isinstance(items, list):
                raise ModelsError("server", f"{self._host()} answered the search with no list")
            repos = []
            for item in items:
                try:
                    info = ModelInfo(**{"siblings": None, **item})  # type: ignore[no-untyped-call]
                    repo_id = check_repo_id(info.id)
                except (TypeError, KeyError, ValueError, ModelsError):
                    log.warning("skipped a search result that is not a repository: %.200r", item)
                    continue
                repos.append(
                    RepoSummary(
                        repo_id=repo_id,
                        downloads=_int(info.downloads),
                        likes=_int(info.likes),
                        trending_score=_float(info.trending_score),
                        last_modified=_datetime(info.last_modified),
                        gated=_gated(info.gated),
                        tags=tuple(t for t in info.tags or () if isinstance(t, str)),
                        pipeline_tag=info.pipeline_tag
                        if isinstance(info.pipeline_tag, str)
                        else None,
                    )
                )
            next_url = response.links.get("next", {}).get("url")
            next_cursor = None
            if next_url:
                # Only the cursor is taken from the link: the next page is fetched from the
                # endpoint with our own parameters, whatever host the link names.
                found = parse_qs(urlsplit(next_url).query).get("cursor")
                next_cursor = found[0] if found and found[0] else None
            return SearchPage(tuple(repos), next_cursor)

    # --- a repository --------------------------------------------------------------------

    def repo(self, repo_id: str) -> RepoDetails:
        """The repository page: every GGUF model (split shards grouped), sizes and LFS
        SHA-256, the card (at most ``MAX_CARD_BYTES``), and ``access_error`` when the
        files need a token (401) or access to a gated repository (403)."""
        info = self._model_info(check_repo_id(repo_id), None)
        revision = info.sha if isinstance(info.sha, str) else None
        files: list[RemoteFile] = []
        has_readme = False
        for sibling in info.siblings or ():
            name = getattr(sibling, "rfilename", None)
            if name == "README.md":
                has_readme = True
            if not isinstance(name, str) or not name.lower().endswith(".gguf"):
                continue
            try:
                safe_repo_path(name)
            except ModelsError as exc:
                log.warning("%s: %s", repo_id, exc)
                continue
            files.append(_remote_file(repo_id, name, sibling, revision))
        models = group_models(repo_id, files)
        card = self._card(repo_id, revision) if has_readme else None
        access_error = self._access_error(models[0].files[0]) if models else None
        card_data = info.card_data
        license_name = None
        if card_data is not None and isinstance(card_data.get("license"), str):
            license_name = card_data.get("license")
        else:
            license_name = next(
                (t[8:] for t in info.tags or () if isinstance(t, str) and t.startswith("license:")),
                None,
            )
        return RepoDetails(
            repo_id=repo_id,
            revision=revision,
            models=models,
            card_markdown=card,
            gated=_gated(info.gated),
            license=license_name,
            last_modified=_datetime(info.last_modified),
            downloads=_int(info.downloads),
            likes=_int(info.likes),
            access_error=access_error,
        )

    def remote_file(self, repo_id: str, path: str, revision: str | None = None) -> RemoteFile:
        """One file's size, LFS SHA-256 and commit, from the repository's metadata."""
        check_repo_id(repo_id)
        safe_repo_path(path)
        info = self._model_info(repo_id, revision)
        revision = info.sha if isinstance(info.sha, str) else revision
        for sibling in info.siblings or ():
            if getattr(sibling, "rfilename", None) == path:
                return _remote_file(repo_id, path, sibling, revision)
        raise ModelsError(
            "not_found", f"{repo_id} has no file {one_line(path, 200)!r} on {self._host()}"
        )

    # --- URLs, headers, clients ----------------------------------------------------------

    def file_url(self, file: RemoteFile) -> str:
        """The resolve URL of ``file`` at its revision (``main`` when it has none)."""
        check_repo_id(file.repo_id)
        safe_repo_path(file.path)
        revision = quote(file.revision or "main", safe="")
        return f"{self.endpoint}/{file.repo_id}/resolve/{revision}/{quote(file.path)}"

    def headers_for(self, url: str) -> dict[str, str]:
        """Headers for a request to ``url``: the user agent, no compression (ranges are of
        the file's bytes), and the token only when ``url`` is on the endpoint's origin."""
        headers = {"User-Agent": self._user_agent, "Accept-Encoding": "identity"}
        if self.token is not None and same_origin(url, self.endpoint):
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def httpx_client(self, **kwargs: Any) -> httpx.Client:
        """A new ``httpx.Client`` (the caller closes it) with this client's proxy, our
        user agent and TLS verification on; ``verify`` cannot be turned off."""
        import httpx

        if kwargs.pop("verify", True) is not True:
            raise ValueError("TLS verification cannot be turned off")
        kwargs.setdefault("timeout", httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)))
        kwargs.setdefault("follow_redirects", True)
        headers = {"User-Agent": self._user_agent, **dict(kwargs.pop("headers", None) or {})}
        mounts: dict[str, httpx.BaseTransport | None] = {
            f"{scheme}://": httpx.HTTPTransport(verify=True, proxy=proxy)
            for scheme, proxy in self.proxies()
        }
        return httpx.Client(verify=True, trust_env=False, headers=headers, mounts=mounts, **kwargs)

    def proxies(self) -> tuple[tuple[str, str | None], ...]:
        """The proxy for ``http`` and ``https`` requests (None: direct)."""
        if self.proxy is not None:
            chosen: str | None = self.proxy or None
            return (("http", chosen), ("https", chosen))
        host = urlsplit(self.endpoint).hostname or ""
        system = urllib.request.getproxies()
        if host and urllib.request.proxy_bypass(host):
            return (("http", None), ("https", None))
        chosen_by_scheme: list[tuple[str, str | None]] = []
        for scheme in ("http", "https"):
            found = system.get(scheme) or None
            if found is not None:
                try:
                    _check_proxy(found)
                except ModelsError as exc:
                    log.warning("ignored the system's %s proxy: %s", scheme, exc)
                    found = None
            chosen_by_scheme.append((scheme, found))
        return tuple(chosen_by_scheme)

    def close(self) -> None:
        """Closes huggingface_hub's shared session (it is made again when next needed)."""
        if "huggingface_hub" in sys.modules:
            from huggingface_hub import close_session

            close_session()

    # --- internals -----------------------------------------------------------------------

    def _host(self) -> str:
        return urlsplit(self.endpoint).netloc

    def _api_headers(self) -> dict[str, str]:
        headers = {"User-Agent": self._user_agent}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _api(self) -> Any:
        from huggingface_hub import HfApi

        # token=False: never the token huggingface_hub keeps for its own CLI.
        return HfApi(
            endpoint=self.endpoint,
            token=self.token or False,
            library_name="llmos-desktop",
            user_agent=self._user_agent,
        )

    def _session(self) -> httpx2.Client:
        """huggingface_hub's shared session, built with this client's proxy and limits."""
        global _INSTALLED
        from huggingface_hub import get_session, set_client_factory

        wanted = (self.proxies(), self.timeout)
        with _FACTORY_LOCK:
            if wanted != _INSTALLED:
                set_client_factory(_client_factory(*wanted))
                _INSTALLED = wanted
        return get_session()

    def _model_info(self, repo_id: str, revision: str | None) -> Any:
        with self._hub_errors(f"read {repo_id}"):
            self._session()
            return self._api().model_info(
                repo_id, revision=revision, files_metadata=True, timeout=self.timeout
            )

    def _card(self, repo_id: str, revision: str | None) -> str | None:
        """README.md without its YAML header, cut at MAX_CARD_BYTES; None if unreadable."""
        url = self.file_url(RemoteFile(repo_id, "README.md", None, None, revision))
        try:
            with self._hub_errors(f"read the card of {repo_id}"):
                from huggingface_hub import hf_raise_for_status

                chunks: list[bytes] = []
                size = 0
                with self._session().stream(
                    "GET", url, headers=self.headers_for(url), timeout=self.timeout
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                    hf_raise_for_status(response)
                    for chunk in response.iter_bytes():
                        chunks.append(chunk[: MAX_CARD_BYTES - size])
                        size += len(chunks[-1])
                        if size >= MAX_CARD_BYTES:
                            break
        except ModelsError as exc:
            log.info("no card for %s: %s", repo_id, exc)
            return None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = decoder.decode(b"".join(chunks), final=size < MAX_CARD_BYTES)
        return _strip_front_matter(text.replace("\x00", "\ufffd"))

    def _access_error(self, file: RemoteFile) -> ModelsError | None:
        """What a download of ``file`` would meet with the current token: the Hub answers
        gated and private files with 401/403 even when their metadata is public."""
        url = self.file_url(file)
        try:
            with self._hub_errors(f"download from {file.repo_id}", exists=True):
                from huggingface_hub import get_hf_file_metadata

                self._session()
                get_hf_file_metadata(
                    url,
                    token=self.token or False,
                    timeout=self.timeout,
                    library_name="llmos-desktop",
                    user_agent=self._user_agent,
                    endpoint=self.endpoint,
                )
        except ModelsError as exc:
            if exc.kind in ("auth", "gated"):
                return exc
            log.info("could not check access to %s: %s", file.repo_id, exc)
        return None

    @contextlib.contextmanager
    def _hub_errors(self, what: str, *, exists: bool = False) -> Iterator[None]:
        """Turns huggingface_hub's and httpx2's errors into ``ModelsError``; ``exists``:
        the repository is known to be there, so a 401 means a token is needed."""
        try:
            yield
        except ModelsError:
            raise
        except Exception as exc:
            mapped = _map_error(exc, what, self._host(), self.token is not None, exists)
            if mapped is None:
                raise
            raise mapped from exc


def _map_error(
    exc: Exception, what: str, host: str, has_token: bool, exists: bool = False
) -> ModelsError | None:
    import httpx2
    from huggingface_hub.errors import (
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, HfHubHTTPError):
        response = exc.response
        status = response.status_code if response is not None else 0
        gated = response is not None and response.headers.get("X-Error-Code") == "GatedRepo"
        if gated and status == 401:
            return ModelsError(
                "auth",
                f"could not {what}: the repository is gated; enter a Hugging Face token "
                "that has access to it",
            )
        if status == 403:
            return ModelsError(
                "gated",
                f"could not {what}: the token has no access to this repository yet; ask "
                "for access on its page on the Hub",
            )
        # The Hub answers 401 "RepoNotFound" for a private repository (or none) when the
        # token is missing or not good enough for it.
        not_found = isinstance(exc, RepositoryNotFoundError | RevisionNotFoundError)
        if (not_found and not (exists and status == 401)) or status == 404:
            hint = "" if has_token else " (or it is private and needs a token)"
            return ModelsError("not_found", f"could not {what}: not found on {host}{hint}")
        if status == 401:
            why = "refused the token" if has_token else "asks for a Hugging Face token"
            return ModelsError("auth", f"could not {what}: {host} {why}")
        if status == 429:
            return ModelsError(
                "rate_limited", f"could not {what}: {host} says too many requests; wait a minute"
            )
        return ModelsError("server", f"could not {what}: {host} answered HTTP {status}")
    if isinstance(exc, OfflineModeIsEnabled):
        return ModelsError("network", f"could not {what}: HF_HUB_OFFLINE is set")
    if isinstance(exc, httpx2.TimeoutException):
        return ModelsError("network", f"could not {what}: {host} did not answer in time")
    if isinstance(exc, httpx2.ProxyError):
        return ModelsError(
            "network", f"could not {what}: the proxy failed ({one_line(str(exc), 200)})"
        )
    if isinstance(exc, httpx2.TransportError):
        return ModelsError(
            "network", f"could not {what}: cannot reach {host} ({one_line(str(exc), 200)})"
        )
    if isinstance(exc, ValueError | KeyError | TypeError | AttributeError):  # not the Hub's JSON
        return ModelsError(
            "server", f"could not {what}: {host} sent an answer that is not the Hub's"
        )
    return None


def group_models(repo_id: str, files: list[RemoteFile]) -> tuple[RemoteModel, ...]:
    """GGUF files as models: a split model's shards become one model (only when every
    shard is there), the rest one model each; ordered smallest first, projectors last."""
    splits: dict[tuple[str, str, int], dict[int, RemoteFile]] = {}
    models: list[RemoteModel] = []
    for file in files:
        split = split_of(file.path)
        if split is None:
            models.append(_model(repo_id, (file,)))
            continue
        folder = file.path.rsplit("/", 1)[0] if "/" in file.path else ""
        splits.setdefault((folder, split.stem, split.count), {})[split.index] = file
    for (folder, stem, count), shards in splits.items():
        if len(shards) != count:
            log.warning(
                "%s: %s/%s has %d of %d shards; not listed",
                repo_id,
                folder,
                stem,
                len(shards),
                count,
            )
            continue
        models.append(_model(repo_id, tuple(shards[i] for i in range(1, count + 1))))
    models.sort(key=lambda m: (m.is_mmproj, m.size is None, m.size or 0, m.name, m.files[0].path))
    return tuple(models)


def _remote_file(repo_id: str, path: str, sibling: Any, revision: str | None) -> RemoteFile:
    """A sibling from the repository's metadata; the server's values are type-checked."""
    size = getattr(sibling, "size", None)
    lfs = getattr(sibling, "lfs", None)
    sha256 = getattr(lfs, "sha256", None) if lfs is not None else None
    sha256 = sha256.lower() if isinstance(sha256, str) else None
    return RemoteFile(
        repo_id=repo_id,
        path=path,
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
        sha256=sha256 if sha256 is not None and _SHA256.match(sha256) else None,
        revision=revision,
    )


def _model(repo_id: str, files: tuple[RemoteFile, ...]) -> RemoteModel:
    first = files[0].path
    return RemoteModel(
        repo_id=repo_id,
        name=model_stem(first),
        quant=quant_of(first),
        files=files,
        is_mmproj=is_mmproj(first),
    )


def _client_factory(
    proxies: tuple[tuple[str, str | None], ...], timeout: float
) -> Callable[[], httpx2.Client]:
    def factory() -> httpx2.Client:
        import httpx2
        from huggingface_hub.utils._http import hf_request_event_hook

        return httpx2.Client(
            event_hooks={"request": [hf_request_event_hook]},
            follow_redirects=True,
            verify=True,
            trust_env=False,
            timeout=httpx2.Timeout(timeout, connect=min(timeout, 10.0)),
            mounts={
                f"{scheme}://": httpx2.HTTPTransport(verify=True, proxy=proxy)
                for scheme, proxy in proxies
            },
        )

    return factory


def _strip_front_matter(text: str) -> str:
    match = re.match(r"^\ufeff?---[ \t]*\r?\n.*?\r?\n---[ \t]*(?:\r?\n|$)", text, re.S)
    return text[match.end() :].lstrip("\r\n") if match else text


def _gated(value: object) -> GatedKind:
    if value == "auto":
        return "auto"
    if value == "manual":
        return "manual"
    return False


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _float(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _datetime(value: object) -> datetime | None:
    return value if isinstance(value, datetime) else None
