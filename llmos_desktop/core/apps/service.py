"""``AppsService``: the one front of the Store pane and of ``llmos apps``.

It puts together the built-in catalogue (package.py, shipped in resources/: works
offline), the remote catalogue of the ``apps_catalogue_repo`` setting (remote.py, read
through the Models service's Hub client, so the endpoint, mirror, proxy and token
settings apply), the installed apps (store.py, ``data/apps``) and the runner
(runner.py), so the window and the command line list, install and run apps the same
way.

- **The catalogue** is every app of the built-in catalogue and of the remote one (the
  last index read, from the cache until ``refresh_remote`` runs), one item per id: the
  highest version of the two. Installed apps that neither lists (built by the user,
  imported from a file) are items too. Each item says its installed version and
  whether the catalogue's is newer (``update_available``); ``updates()`` lists those.
- **The remote catalogue never takes the built-in one down**: an unreachable server,
  a missing repository or a damaged index is ``remote_error`` (and the AppError
  ``refresh_remote`` raises), and the built-in apps and the remote apps read before
  stay listed. A remote file that fails its SHA-256 or its checks is left out and
  named in ``remote_problems``; the other apps are listed.
- **Install** takes a file, its bytes, a manifest (the builder) or an id: an id is
  looked up in the catalogue, and a remote app is fetched (and its SHA-256 checked)
  at that moment.
- **Publish** uploads installed apps with the token of the Models pane's token store
  (or one given).

Every method blocks (disk, network, the template sandbox): the pane calls them off the
GUI thread. The runner's ``run`` is async, on the loop that runs the engine.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from llmos_desktop.core.apps.manifest import AppError, AppManifest, is_newer_version
from llmos_desktop.core.apps.remote import CatalogueEntry, RemoteCatalogue
from llmos_desktop.core.apps.runner import AppEngine, AppRunner
from llmos_desktop.core.apps.store import APPS_FOLDER, AppStore

if TYPE_CHECKING:
    from llmos_desktop.core.engine.contract import SamplingOptions
    from llmos_desktop.core.engines.service import EnginesService
    from llmos_desktop.core.models.hub import HubClient
    from llmos_desktop.core.models.service import ModelsService
    from llmos_desktop.core.paths import AppPaths
    from llmos_desktop.core.settings import Settings

__all__ = [
    "REMOTE_CACHE_FOLDER",
    "AppsService",
    "CatalogueItem",
    "RemoteProblem",
    "Source",
]

log = logging.getLogger(__name__)

REMOTE_CACHE_FOLDER: Final = "apps-remote"
"""Verified files and the last index of the remote catalogue, in the cache folder."""

Source = Literal["builtin", "remote", "installed"]
_FROM_SETTINGS: Final = object()


@dataclass(frozen=True)
class CatalogueItem:
    """One app of the store: the catalogue's version (or the installed one when no
    catalogue lists it) and what is installed."""

    app: AppManifest
    source: Source  # where ``app`` comes from
    installed: AppManifest | None  # the installed version, if any
    entry: CatalogueEntry | None = None  # the remote index entry (source "remote")

    @property
    def id(self) -> str:
        return self.app.id

    @property
    def update_available(self) -> bool:
        return self.installed is not None and is_newer_version(
            self.app.version, self.installed.version
        )


@dataclass(frozen=True)
class RemoteProblem:
    """An app of the remote catalogue that was left out, and why."""

    app_id: str
    file: str
    kind: str  # the AppError's kind: "checksum", "invalid", "network"...
    message: str


class AppsService:
    """The Store's services, from the app's paths and settings (see the module docstring).

    ``models``: the Models service whose Hub client (endpoint, proxy, token) the remote
    catalogue uses (default: one made here, closed with this service). ``catalogue_repo``:
    the remote catalogue's repository (default: the ``apps_catalogue_repo`` setting;
    None: no remote catalogue). ``builtin``: the built-in catalogue's reader (tests).
    """

    def __init__(
        self,
        paths: AppPaths,
        settings: Settings,
        *,
        models: ModelsService | None = None,
        catalogue_repo: str | object | None = _FROM_SETTINGS,
        builtin: Callable[[], list[AppManifest]] | None = None,
    ) -> None:
        self.paths = paths
        self._settings = settings
        self._models = models
        self._own_models = models is None
        self._repo_override = catalogue_repo
        self._builtin_reader = builtin
        self._lock = threading.RLock()
        self.store = AppStore(paths.data / APPS_FOLDER)
        self._builtin: list[AppManifest] | None = None
        self._remote: RemoteCatalogue | None = None
        self._remote_apps: dict[str, tuple[CatalogueEntry, AppManifest]] | None = None
        self.remote_problems: list[RemoteProblem] = []
        """Apps of the remote catalogue left out at the last refresh, and why."""
        self.remote_error: AppError | None = None
        """Why the last refresh of the remote catalogue failed (None: it did not)."""
        self._closed = False

    # --- settings ------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self._settings

    def update_settings(self, settings: Settings) -> None:
        """New settings: a changed catalogue repository is read from its cache again."""
        with self._lock:
            self._settings = settings
            if self._remote is not None and self._remote.repo_id != self.catalogue_repo():
                self._remote = None
                self._remote_apps = None
                self.remote_problems = []
                self.remote_error = None

    def catalogue_repo(self) -> str | None:
        """The remote catalogue's repository (``owner/name``), or None."""
        if self._repo_override is not _FROM_SETTINGS:
            return self._repo_override if isinstance(self._repo_override, str) else None
        value = self._settings.apps_catalogue_repo
        return value.strip() or None if value is not None else None

    # --- the catalogue -------------------------------------------------------------------

    def builtin(self) -> list[AppManifest]:
        """The built-in catalogue (read once; about half a second the first time)."""
        with self._lock:
            if self._builtin is None:
                if self._builtin_reader is not None:
                    self._builtin = list(self._builtin_reader())
                else:
                    from llmos_desktop.core.apps.package import builtin_catalogue

                    self._builtin = builtin_catalogue()
            return list(self._builtin)

    def remote(self) -> RemoteCatalogue | None:
        """The remote catalogue of the setting (None when there is none)."""
        repo = self.catalogue_repo()
        if repo is None:
            return None
        with self._lock:
            if self._remote is None or self._remote.repo_id != repo:
                self._remote = RemoteCatalogue(
                    repo, self._hub, cache_folder=self.paths.cache / REMOTE_CACHE_FOLDER
                )
                self._remote_apps = None
            return self._remote

    def refresh_remote(self) -> list[CatalogueItem]:
        """Read the remote catalogue again (network): its apps, each file checked. Raises
        AppError when the index cannot be read (``remote_error`` keeps it); the apps read
        before stay listed. Files that fail their checks are left out and named in
        ``remote_problems``."""
        remote = self.remote()
        if remote is None:
            raise AppError(
                "not_found", "apps_catalogue_repo", "no remote catalogue is set (Settings)"
            )
        try:
            entries = remote.refresh()
        except AppError as exc:
            with self._lock:
                self.remote_error = exc
            log.warning("apps: the remote catalogue %s: %s", remote.repo_id, exc)
            raise
        apps, problems = self._fetch_all(remote, entries, offline=False)
        with self._lock:
            self._remote_apps = apps
            self.remote_problems = problems
            self.remote_error = None
        return [item for item in self.catalogue() if item.source == "remote"]

    def catalogue(self) -> list[CatalogueItem]:
        """Every app of the store (built-in, remote, installed), by name."""
        installed = {app.id: app for app in self.store.installed()}
        offered: dict[str, CatalogueItem] = {}
        for app in self.builtin():
            offered[app.id] = CatalogueItem(app, "builtin", installed.get(app.id))
        for entry, app in self._remote_known().values():
            current = offered.get(app.id)
            if current is None or is_newer_version(app.version, current.app.version):
                offered[app.id] = CatalogueItem(app, "remote", installed.get(app.id), entry)
        for app_id, app in installed.items():
            if app_id not in offered:
                offered[app_id] = CatalogueItem(app, "installed", app)
        return sorted(offered.values(), key=lambda item: (item.app.name.casefold(), item.id))

    def updates(self) -> list[CatalogueItem]:
        """Installed apps with a newer version in a catalogue."""
        return [item for item in self.catalogue() if item.update_available]

    def installed(self) -> list[AppManifest]:
        return self.store.installed()

    def find(self, app_id: str) -> AppManifest:
        """The app ``app_id``: the installed one, else the catalogue's (fetched when it is
        remote); AppError("not_found")."""
        if self.store.is_installed(app_id):
            return self.store.get(app_id)
        return self._offered(app_id)[0]

    # --- installing ----------------------------------------------------------------------

    def install(
        self, source: Path | bytes | AppManifest | str, *, replace: bool = False
    ) -> AppManifest:
        """Install or update: a ``.llmapp`` file (a Path), its bytes, a manifest, or the id
        of a catalogue app (a str). See ``AppStore.install`` for versions."""
        if isinstance(source, str):
            app, data = self._offered(source)
            return self.store.install(data if data is not None else app, replace=replace)
        return self.store.install(source, replace=replace)

    def remove(self, app_id: str) -> None:
        self.store.remove(app_id)

    def export(self, app_id: str, path: Path) -> Path:
        return self.store.export(app_id, path)

    def _offered(self, app_id: str) -> tuple[AppManifest, bytes | None]:
        """A catalogue app and its file's bytes (None: install the manifest itself)."""
        item = next((i for i in self.catalogue() if i.id == app_id), None)
        if item is None or item.source == "installed":
            if item is not None:
                return item.app, None
            known = "" if self.remote() is None else " (refresh the remote catalogue?)"
            raise AppError("not_found", "", f"no app {app_id} in the catalogue{known}")
        if item.source == "remote":
            remote = self.remote()
            assert remote is not None and item.entry is not None
            return remote.fetch_with_data(item.entry)
        return item.app, _builtin_bytes(item.app)

    # --- the remote catalogue ------------------------------------------------------------

    def _hub(self) -> HubClient:
        return self._models_service().hub()

    def _models_service(self) -> ModelsService:
        with self._lock:
            if self._closed:
                raise AppError("invalid", "", "the apps service is closed")
            if self._models is None:
                from llmos_desktop.core.models.service import ModelsService

                self._models = ModelsService(
                    self.paths, self._settings, starter=None, resume_downloads=False
                )
            return self._models

    def _remote_known(self) -> dict[str, tuple[CatalogueEntry, AppManifest]]:
        """The remote apps of the last refresh, or of the cached index (no network)."""
        remote = self.remote()
        if remote is None:
            return {}
        with self._lock:
            if self._remote_apps is not None:
                return dict(self._remote_apps)
        apps, problems = self._fetch_all(remote, remote.cached_entries(), offline=True)
        with self._lock:
            if self._remote_apps is None:
                self._remote_apps = apps
                self.remote_problems = problems
            return dict(self._remote_apps)

    @staticmethod
    def _fetch_all(
        remote: RemoteCatalogue, entries: Sequence[CatalogueEntry], *, offline: bool
    ) -> tuple[dict[str, tuple[CatalogueEntry, AppManifest]], list[RemoteProblem]]:
        apps: dict[str, tuple[CatalogueEntry, AppManifest]] = {}
        problems: list[RemoteProblem] = []
        for entry in entries:
            try:
                apps[entry.id] = (entry, remote.fetch(entry, offline=offline))
            except AppError as exc:
                if offline and exc.kind == "not_found":
                    continue
                problems.append(RemoteProblem(entry.id, entry.file, exc.kind, str(exc)))
                log.warning("apps: %s of %s left out: %s", entry.file, entry.repo_id, exc)
        return apps, problems

    # --- publishing ----------------------------------------------------------------------

    def publish(
        self,
        app_ids: Sequence[str],
        repo_id: str,
        *,
        token: str | None = None,
        message: str | None = None,
    ) -> str:
        """Upload installed apps to ``repo_id`` and list them in its index; the commit's
        URL. ``token``: default the Models pane's stored token (AppError("auth") when
        there is none)."""
        token = token or self._models_service().token.get()
        if not token:
            raise AppError(
                "auth", "", "publishing needs a Hugging Face token with write access (Models page)"
            )
        data = [self.store.data(app_id) for app_id in app_ids]
        remote = self.remote() or RemoteCatalogue(repo_id, self._hub)
        return remote.publish(data, repo_id, token, message=message)

    # --- running -------------------------------------------------------------------------

    def runner(
        self, engine: AppEngine, *, base_sampling: SamplingOptions | None = None
    ) -> AppRunner:
        """A runner of apps on ``engine`` (the window's, or the command line's)."""
        return AppRunner(engine, base_sampling=base_sampling)

    def runner_on(
        self,
        engines: EnginesService,
        engine_name: str,
        model_id: str,
        *,
        base_sampling: SamplingOptions | None = None,
    ) -> AppRunner:
        """A runner of apps on ``model_id`` of the remote engine ``engine_name``. Blocking
        the first time per engine (the key is read from the keyring): in the window, on
        the executor."""
        return AppRunner(engines.engine_for(engine_name, model_id), base_sampling=base_sampling)

    # --- life cycle ----------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            models, self._models = self._models, None
        if models is not None and self._own_models:
            models.close()

    def __enter__(self) -> AppsService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _builtin_bytes(app: AppManifest) -> bytes | None:
    """The built-in app's own file, so that an installed copy is byte for byte the
    shipped one (None when it cannot be found: the manifest is written instead)."""
    from llmos_desktop.core.apps.package import (
        builtin_catalogue_folder,
        llmapp_sha256,
        parse_catalogue_index,
    )

    try:
        folder = builtin_catalogue_folder()
        index = parse_catalogue_index((folder / "index.json").read_bytes())
        entry = next((e for e in index.apps if e.id == app.id), None)
        if entry is None:
            return None
        data = (folder / entry.file).read_bytes()
    except (OSError, AppError) as exc:
        log.warning("apps: the built-in file of %s: %s", app.id, exc)
        return None
    return data if llmapp_sha256(data) == entry.sha256 else None
