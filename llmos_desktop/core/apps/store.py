"""``AppStore``: the installed apps, one ``.llmapp`` file each in the data folder.

Installed apps are data the user chose to keep, so they are written the way settings
are: atomically (a temporary file, fsync, rename; core/atomic.py), never half a file.
Each app is ``<folder>/<id>.llmapp`` (``data/apps`` in the app), the bytes exactly as
they were installed: an app from a catalogue keeps the SHA-256 the catalogue lists, and
an export is the same file. There is no index beside the files to fall out of step
with them: the folder is the list, read again on every call, so an app installed by
``llmos apps install`` shows in the window at its next refresh, and the reverse.

- **Install** reads the whole file (bounded), validates it (manifest.py) and writes it.
  An app that is already installed is replaced only by a newer version
  (``version_key``); an older version is refused with a message that says both
  versions, and so is a different app under the same version (people who have it
  would never be offered the change). ``replace=True`` installs whatever it is given:
  the builder saving the user's own app, or a downgrade the user asked for.
- **A damaged file** (cut short, edited by hand, from a newer LLMOS) is left where it
  is and listed in ``problems``, never deleted: the user may want it back, and a newer
  LLMOS may read it.
- The file name is checked twice: the manifest's id pattern allows no separators, and
  the path must still be a plain name inside the folder.

Every method blocks (disk): the pane calls them off the GUI thread. One lock makes the
read-compare-write of an install atomic within the process; across processes (the
window and the command line) the atomic rename means a reader sees the old file or the
new one.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from llmos_desktop.core.apps.manifest import AppError, AppManifest, version_key
from llmos_desktop.core.atomic import write_bytes_atomic
from llmos_desktop.core.text import one_line

__all__ = ["APPS_FOLDER", "LLMAPP_SUFFIX", "AppStore", "InstallKind", "StoreProblem"]

log = logging.getLogger(__name__)

APPS_FOLDER: Final = "apps"
"""The installed apps' folder, in the data folder."""
LLMAPP_SUFFIX: Final = ".llmapp"

InstallKind = Literal["new", "newer", "same", "older", "changed"]
"""What installing an app would do: ``new`` (not installed), ``newer`` (an update),
``same`` (this exact file is installed: nothing to do), ``older`` (a lower version than
the installed one: refused unless replace=True), ``changed`` (the installed version,
but different content: refused unless replace=True)."""


@dataclass(frozen=True)
class StoreProblem:
    """A file in the apps folder that is not a valid app (left in place)."""

    path: Path
    message: str


class AppStore:
    """The installed apps in ``folder`` (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.RLock()
        self.problems: list[StoreProblem] = []
        """Files ``installed()`` could not read the last time it ran."""

    # --- reading -------------------------------------------------------------------------

    def installed(self) -> list[AppManifest]:
        """Every installed app, by name; unreadable files go to ``problems``."""
        from llmos_desktop.core.apps.package import read_llmapp

        apps: list[AppManifest] = []
        problems: list[StoreProblem] = []
        for path in self._files():
            try:
                app = read_llmapp(_read_bounded(path))
            except AppError as exc:
                problems.append(StoreProblem(path, str(exc)))
                continue
            if path.name != _file_name(app.id):
                problems.append(
                    StoreProblem(path, f"holds the app {app.id}, not the one its name says")
                )
                continue
            apps.append(app)
        for problem in problems:
            log.warning("apps: %s is not a valid app: %s", problem.path, problem.message)
        with self._lock:
            self.problems = problems
        apps.sort(key=lambda a: (a.name.casefold(), a.id))
        return apps

    def is_installed(self, app_id: str) -> bool:
        return self.path_for(app_id).is_file()

    def get(self, app_id: str) -> AppManifest:
        """The installed app ``app_id``; AppError("not_found") when it is not installed."""
        from llmos_desktop.core.apps.package import read_llmapp

        return read_llmapp(self.data(app_id))

    def data(self, app_id: str) -> bytes:
        """The installed ``.llmapp`` file's bytes, as installed (export, publish)."""
        path = self.path_for(app_id)
        if not path.is_file():
            raise AppError("not_found", "", f"the app {app_id} is not installed")
        return _read_bounded(path)

    def path_for(self, app_id: str) -> Path:
        """Where the app ``app_id`` is (or would be) installed; AppError("invalid") for an
        id that is not a plain file name."""
        name = _file_name(app_id)
        path = self.folder / name
        if path.parent != self.folder or path.name != name:
            raise AppError("invalid", "id", f"{one_line(app_id, 60)!r} is not a valid app id")
        return path

    def compare(self, app: AppManifest, data: bytes | None = None) -> InstallKind:
        """What installing ``app`` (whose file is ``data``, when known) would do."""
        try:
            installed_data = self.data(app.id)
            installed = self.get(app.id)
        except AppError:  # not installed, or a damaged file: installing repairs it
            return "new"
        new_key, old_key = version_key(app.version), version_key(installed.version)
        if new_key > old_key:
            return "newer"
        if new_key < old_key:
            return "older"
        same = installed_data == data if data is not None else installed == app
        if same or installed == app:
            return "same"
        return "changed"

    # --- changing ------------------------------------------------------------------------

    def install(self, source: Path | bytes | AppManifest, *, replace: bool = False) -> AppManifest:
        """Install (or update) the app in ``source``: a ``.llmapp`` file, its bytes, or a
        manifest (the builder). Returns the app as installed.

        AppError("invalid") for a file that is not a valid app; for an older version of
        an installed app, or a different app under the installed version, unless
        ``replace``; AppError("io") when the file cannot be read or written.
        """
        app, data = self._load(source)
        with self._lock:
            kind = self.compare(app, data)
            if kind == "same":
                return self.get(app.id)
            if not replace and kind in ("older", "changed"):
                installed = self.get(app.id)
                if kind == "older":
                    why = (
                        f"version {app.version} is older than the installed "
                        f"{installed.version}; remove the installed app first to go back"
                    )
                else:
                    why = (
                        f"version {app.version} is installed with different content; an "
                        "update needs a higher version"
                    )
                raise AppError("invalid", "version", f"{app.id}: {why}")
            target = self.path_for(app.id)
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                write_bytes_atomic(target, data)
            except OSError as exc:
                raise AppError(
                    "io", "", f"could not write {target}: {exc.strerror or exc}"
                ) from exc
        log.info("apps: installed %s %s (%s)", app.id, app.version, kind)
        return app

    def remove(self, app_id: str) -> None:
        """Uninstall ``app_id``; AppError("not_found") when it is not installed."""
        path = self.path_for(app_id)
        with self._lock:
            try:
                path.unlink()
            except FileNotFoundError:
                raise AppError("not_found", "", f"the app {app_id} is not installed") from None
            except OSError as exc:
                raise AppError("io", "", f"could not remove {path}: {exc.strerror or exc}") from exc
        log.info("apps: removed %s", app_id)

    def export(self, app_id: str, path: Path) -> Path:
        """Write the installed app's file to ``path`` (a folder: ``<id>.llmapp`` in it),
        atomically; the path written."""
        data = self.data(app_id)
        target = path / _file_name(app_id) if path.is_dir() else path
        try:
            write_bytes_atomic(target, data)
        except OSError as exc:
            raise AppError("io", "", f"could not write {target}: {exc.strerror or exc}") from exc
        return target

    # --- internals -----------------------------------------------------------------------

    def _files(self) -> list[Path]:
        try:
            entries = sorted(self.folder.iterdir())
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise AppError(
                "io", "", f"could not read {self.folder}: {exc.strerror or exc}"
            ) from exc
        # Temporary files of an atomic write start with "." (core/atomic.py).
        return [
            entry
            for entry in entries
            if entry.name.endswith(LLMAPP_SUFFIX) and not entry.name.startswith(".")
        ]

    def _load(self, source: Path | bytes | AppManifest) -> tuple[AppManifest, bytes]:
        from llmos_desktop.core.apps.package import llmapp_bytes, read_llmapp

        if isinstance(source, AppManifest):
            return source, llmapp_bytes(source)
        data = _read_bounded(Path(source)) if isinstance(source, (str, os.PathLike)) else source
        return read_llmapp(bytes(data)), bytes(data)


def _file_name(app_id: str) -> str:
    """``<id>.llmapp`` for an id that can be a file name; AppError("invalid") otherwise.
    The manifest's pattern already allows nothing else; checked again here because a
    path is made from it."""
    from llmos_desktop.core.models.hub import safe_repo_path
    from llmos_desktop.core.models.types import ModelsError

    name = f"{app_id}{LLMAPP_SUFFIX}"
    try:
        if not app_id or "/" in app_id or app_id.startswith("."):
            raise ModelsError("unsafe_name", "")
        safe_repo_path(name)
    except ModelsError:
        raise AppError("invalid", "id", f"{one_line(app_id, 60)!r} is not a valid app id") from None
    return name


def _read_bounded(path: Path) -> bytes:
    """A ``.llmapp`` file's bytes; AppError("invalid") past the format's size limit (read
    no further), AppError("io") when it cannot be read."""
    from llmos_desktop.core.apps.package import MAX_LLMAPP_BYTES

    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_LLMAPP_BYTES + 1)
    except OSError as exc:
        raise AppError("io", "", f"could not read {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_LLMAPP_BYTES:
        raise AppError(
            "invalid", "", f"{path.name} is larger than {MAX_LLMAPP_BYTES // 1024} KiB: not an app"
        )
    return data
