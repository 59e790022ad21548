"""``ModelsService``: the one front of the Models pane and of ``llmos models``.

It puts together the local library (library.py), the Hub client and the token store
(hub.py, hub_token.py), the downloads (downloads.py) and the fit advice (fit.py), from the
app's folders and settings, so the window and the command line do the same things the
same way: the same models folder, the same endpoint (the setting, else ``HF_ENDPOINT``,
else huggingface.co), the same proxy, the same token, the same download states (a pull
that the window started and the command line finishes, or the reverse, goes on from the
bytes on disk).

- ``hub()`` is rebuilt whenever the endpoint, the proxy or the token changes (the
  token is read from its store each time: it may be set from the pane at any moment).
- ``downloads`` is made on first use: a window that never downloads starts no thread
  and reads no state. Its client and headers come from ``hub()`` at request time, so a
  token entered after a 401 is used by the next attempt.
- ``pull`` downloads every shard of a split model (one download each) to
  ``library.target_for(folder, repo, path)`` and records the source repository in the
  library when each file is verified.
- ``load_spec`` turns a library row into the engine's ``ModelLoad``: the model's own
  defaults over the Settings load options, and "auto" GPU layers from the fit advice
  (0 where there is no GPU).

Every method blocks (network, disk): the pane calls them off the GUI thread. The service
is thread-safe: one lock guards what it builds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from llmos_desktop.core.models.library import ModelLibrary, target_for
from llmos_desktop.core.models.types import DownloadProgress, LocalModel, ModelsError, RemoteFile

if TYPE_CHECKING:
    import httpx

    from llmos_desktop.core.engine.contract import LoadOptions, ModelLoad
    from llmos_desktop.core.models.downloads import DownloadManager
    from llmos_desktop.core.models.hub import HubClient
    from llmos_desktop.core.models.hub_token import TokenStore
    from llmos_desktop.core.paths import AppPaths
    from llmos_desktop.core.settings import Settings

__all__ = [
    "DOWNLOADS_FOLDER",
    "METADATA_CACHE_FILE",
    "REGISTRY_FILE",
    "TOKEN_FILE",
    "ModelsService",
    "PulledFile",
]

log = logging.getLogger(__name__)

REGISTRY_FILE: Final = "models.json"
"""The library's registry, in the data folder."""
METADATA_CACHE_FILE: Final = "models-metadata.json"
"""The library's cache of GGUF header facts, in the cache folder."""
DOWNLOADS_FOLDER: Final = "downloads"
"""Download states (never the token), in the data folder: they survive a restart."""
TOKEN_FILE: Final = "huggingface-token"
"""The token's file where no system keyring exists (mode 0600), in the config folder."""

_AUTO: Final = object()


@dataclass(frozen=True)
class PulledFile:
    """One file of a pull: its download id, or None when it was already here."""

    file: RemoteFile
    target: Path
    download_id: str | None


class ModelsService:
    """The Models pane's and ``llmos models``' services, built from the app's paths and
    settings (see the module docstring).

    ``environ``: where ``HF_ENDPOINT`` is read (default: os.environ). ``starter``: the
    starter model's file for the library (default: where the installation keeps it;
    None: not listed). ``resume_downloads``: downloads left running by an earlier process
    start again when the manager is made (the app); ``llmos models pull`` passes False
    and resumes only what it is asked for. ``download_options``: keyword arguments for
    the DownloadManager (stall time, retries; tests make them short). ``token``: the
    token store (default: the system keyring, else ``TOKEN_FILE`` in the config folder).
    """

    def __init__(
        self,
        paths: AppPaths,
        settings: Settings,
        *,
        environ: Mapping[str, str] | None = None,
        starter: Path | object | None = _AUTO,
        resume_downloads: bool = True,
        download_options: Mapping[str, Any] | None = None,
        token: TokenStore | None = None,
    ) -> None:
        from llmos_desktop.core.models.hub_token import TokenStore

        self.paths = paths
        self._settings = settings
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        if starter is _AUTO:
            from llmos_desktop.core.models.starter import starter_location

            starter = starter_location()
        self._starter = starter if isinstance(starter, Path) else None
        self._resume = resume_downloads
        self._download_options = dict(download_options or {})
        self._lock = threading.RLock()
        self.token: TokenStore = token or TokenStore(paths.config / TOKEN_FILE)
        self.library = self._make_library(settings)
        self._hub: HubClient | None = None
        self._hub_key: tuple[str, str | None, str | None] | None = None
        self._downloads: DownloadManager | None = None
        self._revisions: dict[str, str | None] = {}  # target -> the commit pulled
        self._closed = False

    # --- settings -------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self._settings

    def update_settings(self, settings: Settings) -> None:
        """New settings (the pane calls this after the Settings page saved): a new models
        folder gets a new library; the Hub client follows the endpoint and proxy."""
        with self._lock:
            # Against the library's own folder: the window's Settings object is changed
            # in place, so the old settings would already say the new folder.
            self._settings = settings
            if settings.models_folder(self.paths).absolute() != self.library.folder:
                self.library = self._make_library(settings)

    def endpoint(self) -> str:
        """The Hub endpoint in use: the setting, else HF_ENDPOINT, else huggingface.co."""
        from llmos_desktop.core.models.hub import resolve_endpoint

        return resolve_endpoint(self._settings.hub_endpoint, self._environ)

    def _make_library(self, settings: Settings) -> ModelLibrary:
        return ModelLibrary(
            settings.models_folder(self.paths),
            self.paths.data / REGISTRY_FILE,
            cache_file=self.paths.cache / METADATA_CACHE_FILE,
            starter=self._starter,
        )

    # --- the Hub ----------------------------------------------------------------------------

    def hub(self) -> HubClient:
        """The Hub client for the current endpoint, proxy and token (made again when one
        of them changed)."""
        from llmos_desktop.core.models.hub import HubClient

        endpoint = self.endpoint()
        token = self.token.get()
        proxy = self._settings.http_proxy
        key = (endpoint, token, proxy)
        with self._lock:
            self._check_open()
            if self._hub is None or self._hub_key != key:
                old, self._hub = self._hub, HubClient(endpoint, token=token, proxy=proxy)
                self._hub_key = key
                if old is not None:
                    old.close()
            return self._hub

    # --- downloads --------------------------------------------------------------------------

    @property
    def downloads(self) -> DownloadManager:
        """The download manager, made on first use (it then resumes what was running)."""
        with self._lock:
            self._check_open()
            if self._downloads is None:
                from llmos_desktop.core.models.downloads import DownloadManager

                manager = DownloadManager(
                    self.paths.data / DOWNLOADS_FOLDER,
                    client=self._http_client,
                    headers=self._headers,
                    resume_on_start=self._resume,
                    **self._download_options,
                )
                manager.subscribe(self._on_download_progress)
                self._downloads = manager
            return self._downloads

    def _http_client(self) -> httpx.Client:
        return self.hub().httpx_client()

    def _headers(self, url: str) -> Mapping[str, str]:
        return self.hub().headers_for(url)

    def pull(self, repo_id: str, path: str) -> str:
        """Download ``path`` of ``repo_id`` (every shard, when it is one of a split model);
        the first shard's download id. ModelsError("invalid") when every file is already
        in the library (nothing to download)."""
        for pulled in self.pull_files(repo_id, path):
            if pulled.download_id is not None:
                return pulled.download_id
        raise ModelsError("invalid", f"{path} is already in the library")

    def pull_files(self, repo_id: str, path: str) -> list[PulledFile]:
        """Queue every file of the model ``path`` belongs to (its shards, in order).

        A file already at its target with the size the Hub lists is not fetched again
        (its ``download_id`` is None; its source is recorded). Only ``.gguf`` files are
        fetched. The repository's metadata gives each file's size, SHA-256 and the
        commit; a gated repository without access raises its ModelsError (auth/gated).
        """
        from llmos_desktop.core.models.hub import check_repo_id, safe_repo_path

        repo_id = check_repo_id(repo_id)
        path = safe_repo_path(path)
        if not path.lower().endswith(".gguf"):
            raise ModelsError("invalid", f"only .gguf model files are downloaded, not {path}")
        hub = self.hub()
        details = hub.repo(repo_id)
        if details.access_error is not None:
            raise details.access_error
        model = next((m for m in details.models if any(f.path == path for f in m.files)), None)
        if model is None:
            raise ModelsError("not_found", f"{repo_id} has no file {path}")
        folder = self.library.folder
        pulled: list[PulledFile] = []
        for file in model.files:
            target = target_for(folder, repo_id, file.path)
            if _already_here(target, file):
                self.library.record_source(target, repo_id, file.revision)
                pulled.append(PulledFile(file, target, None))
                continue
            with self._lock:  # before add: a small file may be done before add returns
                self._revisions[str(target)] = file.revision
            download_id = self.downloads.add(file, hub.file_url(file), target, root=folder)
            pulled.append(PulledFile(file, target, download_id))
        return pulled

    def _on_download_progress(self, progress: DownloadProgress) -> None:
        """On a worker thread: a verified file is in the library; say where it came from."""
        if progress.status != "done":
            return
        with self._lock:
            revision = self._revisions.pop(str(progress.target), None)
            library = self.library
        try:
            library.record_source(progress.target, progress.repo_id, revision)
        except ModelsError as exc:
            log.warning("models: the source of %s was not recorded: %s", progress.target, exc)

    # --- loading ----------------------------------------------------------------------------

    def load_spec(
        self, model: LocalModel, base: LoadOptions, *, backend: str | None = None
    ) -> ModelLoad:
        """What to hand the engine for ``model``: its defaults over ``base`` (the Settings
        load options), with "auto" GPU layers resolved by the fit advice for this machine
        (``backend``: what the engine reports, when known). ModelsError("invalid") for a
        row that has an error, or values out of the contract's bounds."""
        from pydantic import ValidationError

        from llmos_desktop.core.engine.contract import ModelLoad

        if model.error is not None:
            raise ModelsError("invalid", model.error)
        defaults = model.defaults
        n_ctx = defaults.n_ctx if defaults.n_ctx is not None else base.n_ctx
        gpu = defaults.n_gpu_layers if defaults.n_gpu_layers is not None else base.n_gpu_layers
        if gpu == "auto":
            gpu = self._auto_gpu_layers(model, n_ctx, backend)
        try:
            return ModelLoad(
                path=str(model.path),
                n_ctx=n_ctx,
                n_gpu_layers=gpu,
                n_threads=defaults.n_threads if defaults.n_threads is not None else base.n_threads,
                chat_template=defaults.chat_template
                if defaults.chat_template is not None
                else base.chat_template,
            )
        except ValidationError as exc:
            error = exc.errors()[0]
            where = str(error["loc"][0]) if error["loc"] else "options"
            raise ModelsError("invalid", f"{model.name}: {where}: {error['msg']}") from exc

    def load_options_for(self, path: str | Path, base: LoadOptions) -> LoadOptions:
        """Blocking: how the file at ``path`` is loaded, wherever the load starts (the chat
        page's picker too): its library model's defaults over ``base``, "auto" resolved.
        ``base`` itself for a file the library does not have, or a row with an error
        (the load then reports the file's problem)."""
        model = self.model_at(path)
        return base if model is None else self.load_spec(model, base).options

    def model_at(self, path: str | Path) -> LocalModel | None:
        """Blocking: the library's usable model whose (first) file is ``path``; None."""
        try:
            wanted = Path(path).resolve()
        except (OSError, RuntimeError):
            return None
        for model in self.library.scan():
            if model.error is None and _same_file(model.path, wanted):
                return model
        return None

    def _auto_gpu_layers(self, model: LocalModel, n_ctx: int, backend: str | None) -> int:
        """The layers the fit advice offloads; 0 on a CPU-only machine or when it fits
        nowhere (the load then says why)."""
        from llmos_desktop.core.models import fit
        from llmos_desktop.core.models.gguf.reader import ModelFileError, read_gguf_info

        machine = fit.machine_memory(backend)
        if machine.backend == "cpu":
            return 0
        info = None
        with contextlib.suppress(ModelFileError):
            info = read_gguf_info(model.path)
        advice = fit.advise(model.size, machine, info=info, context=n_ctx)
        if advice.kind in ("full_gpu", "partial_gpu"):
            return advice.gpu_layers
        return 0

    # --- life cycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the transfers (their partial files stay, for a resume) and the Hub client."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            downloads, self._downloads = self._downloads, None
            hub, self._hub = self._hub, None
        if downloads is not None:
            downloads.close()
        if hub is not None:
            hub.close()

    def __enter__(self) -> ModelsService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ModelsError("invalid", "the models service is closed")


def _already_here(target: Path, file: RemoteFile) -> bool:
    """A file at ``target`` of the size the Hub lists: only a verified download (or the
    user) puts one there, so it is not fetched again."""
    try:
        return target.is_file() and file.size is not None and target.stat().st_size == file.size
    except OSError:
        return False


def _same_file(candidate: Path, wanted: Path) -> bool:
    try:
        return candidate.resolve() == wanted
    except (OSError, RuntimeError):
        return False
