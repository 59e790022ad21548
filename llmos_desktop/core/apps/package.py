"""The ``.llmapp`` file, catalogue indexes and the built-in catalogue.

An ``.llmapp`` file is ONE JSON document (UTF-8, at most 1 MiB) holding the manifest.
It is deliberately not an archive: there is nothing to unpack, so no path inside it
can land anywhere (no zip-slip), and no compression ratio can make it large. The icon
travels inside it as a data: URI.

Reading is bounded before the JSON parser runs: the size (the file is read up to one
byte past the limit, and only a regular file is opened, so a FIFO cannot block), then
how deeply it nests (Python's json has no depth limit and recurses in C; a cheap scan of
the brackets outside strings comes first, and RecursionError is caught anyway).
Duplicate keys are refused (two parsers could disagree on which one counts), and so
are NaN and Infinity, which JSON does not have. Writing is atomic (core/atomic.py).

A catalogue index (``index.json``: the built-in one in ``resources/apps/catalogue``,
a remote one in a Hugging Face repository) lists each app's id, version, file name and
the SHA-256 of its file; a file whose hash differs is refused.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from llmos_desktop.core.apps.manifest import (
    AppError,
    AppManifest,
    _as_app_error,
    _check_id,
    _check_version,
    _problem,
    parse_manifest,
)
from llmos_desktop.core.text import one_line

__all__ = [
    "INDEX_FORMAT_VERSION",
    "LLMAPP_SUFFIX",
    "MAX_INDEX_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_LLMAPP_BYTES",
    "CatalogueIndex",
    "IndexEntry",
    "builtin_catalogue",
    "builtin_catalogue_folder",
    "llmapp_bytes",
    "llmapp_sha256",
    "load_json",
    "parse_catalogue_index",
    "read_catalogue_folder",
    "read_llmapp",
    "write_llmapp",
]

LLMAPP_SUFFIX: Final = ".llmapp"
MAX_LLMAPP_BYTES: Final = 1024 * 1024
# A manifest nests 4 levels; an output schema up to 12 more (manifest.MAX_SCHEMA_DEPTH).
MAX_JSON_DEPTH: Final = 32
INDEX_FORMAT_VERSION: Final = 1
MAX_INDEX_BYTES: Final = 1024 * 1024
MAX_INDEX_ENTRIES: Final = 2000

# Strings (skipped whole, escapes included) and the brackets outside them. A string that
# is never closed runs to the end of the data, and the loop is possessive: each byte is
# looked at once. (A pattern that can fail on an unclosed string would be tried again
# from every later quote: quadratic, hours for 1 MiB of '"' + '\\"' * n.)
_JSON_TOKENS: Final = re.compile(rb'"(?:[^"\\]|\\(?:.|\Z))*+(?:"|\Z)|[\[\]{}]', re.S)


def _too_deep(data: bytes, max_depth: int) -> bool:
    """Whether the JSON text nests deeper than ``max_depth`` (arrays and objects),
    without parsing it; stops at the first level too deep.

    Malformed text may be counted wrongly; the parser refuses it next anyway.
    """
    depth = 0
    for match in _JSON_TOKENS.finditer(data):
        char = match.group()[0]
        if char in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > max_depth:
                return True
        elif char in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Refused(f"the key {one_line(key, 40)!r} appears twice in one object")
        result[key] = value
    return result


def _no_constant(name: str) -> object:
    raise _Refused(f"{name} is not a JSON number")


class _Refused(ValueError):
    """Raised from the parser's hooks: the reason is the message."""


def load_json(
    data: bytes | bytearray | str,
    *,
    what: str = "the file",
    max_bytes: int = MAX_LLMAPP_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
) -> object:
    """Parse untrusted JSON within bounds; AppError("invalid", "", message) if it is not.

    ``what`` names the document in the message ("the app is not valid JSON: ...").
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise AppError("invalid", "", f"{what} is larger than {_size(max_bytes)}")
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark, as some editors write
        raw = raw[3:]
    if _too_deep(raw, max_depth):
        raise AppError("invalid", "", f"{what} nests deeper than {max_depth} levels")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AppError(
            "invalid", "", f"{what} is not UTF-8 text (byte {exc.start} is not valid)"
        ) from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _Refused as exc:
        raise AppError("invalid", "", f"{what} is not valid: {exc}") from None
    except json.JSONDecodeError as exc:
        raise AppError(
            "invalid",
            "",
            f"{what} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
        ) from None
    except RecursionError:
        raise AppError("invalid", "", f"{what} nests too deeply") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise AppError("invalid", "", one_line(f"{what} is not valid: {exc}")) from None


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"


def _read_bounded(path: Path, limit: int, what: str) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; AppError("io"/"invalid")."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise AppError("invalid", "", f"{what} {one_line(path.name)!r} is not a regular file")
        if info.st_size > limit:
            raise AppError("invalid", "", f"{what} is larger than {_size(limit)}")
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except AppError:
        raise
    except OSError as exc:
        raise AppError(
            "io", "", f"cannot read {one_line(path.name)!r}: {exc.strerror or exc}"
        ) from None
    if len(data) > limit:
        raise AppError("invalid", "", f"{what} is larger than {_size(limit)}")
    return data


def read_llmapp(source: Path | str | bytes | bytearray) -> AppManifest:
    """The app in an ``.llmapp`` file (a path) or in its bytes.

    Raises AppError: "io" when the file cannot be read, "invalid" (naming the field)
    when it is not a valid app. Blocking (a small read and the validation: about 10 ms
    for a typical app, longer for a long template).
    """
    data = (
        bytes(source)
        if isinstance(source, (bytes, bytearray))
        else _read_bounded(Path(source), MAX_LLMAPP_BYTES, "the app file")
    )
    value = load_json(data, what="the app file")
    if not isinstance(value, Mapping):
        raise AppError("invalid", "", "the app file must hold a JSON object")
    return parse_manifest(value)


def llmapp_bytes(app: AppManifest) -> bytes:
    """The ``.llmapp`` file's bytes for ``app``: indented UTF-8 JSON, fields at their
    defaults left out. AppError("invalid") if it would exceed MAX_LLMAPP_BYTES."""
    data = (json.dumps(app.to_dict(), ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    if len(data) > MAX_LLMAPP_BYTES:
        raise AppError(
            "invalid", "", f"the app file would be larger than {_size(MAX_LLMAPP_BYTES)}"
        )
    return data


def write_llmapp(app: AppManifest, path: Path) -> bytes:
    """Write ``app`` to ``path`` atomically (a temporary file, fsync, rename); returns the
    bytes written (for a SHA-256). Raises AppError("io") when the disk fails."""
    from llmos_desktop.core.atomic import write_bytes_atomic

    data = llmapp_bytes(app)
    try:
        write_bytes_atomic(Path(path), data)
    except OSError as exc:
        raise AppError(
            "io", "", f"cannot write {one_line(Path(path).name)!r}: {exc.strerror or exc}"
        ) from None
    return data


def llmapp_sha256(data: bytes) -> str:
    """The SHA-256 of an ``.llmapp`` file's bytes, lowercase hex (as an index lists it)."""
    return hashlib.sha256(data).hexdigest()


# --- catalogue indexes ---------------------------------------------------------------

_FILE_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,150}\.llmapp$"
_FILE = re.compile(_FILE_PATTERN)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _check_file(value: str) -> str:
    if ".." in value or not _FILE.match(value):
        raise _problem(
            "must be the name of a .llmapp file next to the index, no folders"
            f" (got {one_line(value, 40)!r})"
        )
    return value


def _check_sha256(value: str) -> str:
    if not _SHA256.match(value):
        raise _problem("must be 64 lowercase hexadecimal digits")
    return value


class IndexEntry(BaseModel):
    """One app in a catalogue index: where its file is and what its bytes hash to."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    id: Annotated[str, Field(max_length=100), AfterValidator(_check_id)]
    version: Annotated[str, Field(max_length=40), AfterValidator(_check_version)]
    file: Annotated[str, Field(max_length=160), AfterValidator(_check_file)]
    sha256: Annotated[str, Field(max_length=64), AfterValidator(_check_sha256)]


class CatalogueIndex(BaseModel):
    """``index.json``: ``{"format_version": 1, "apps": [...]}``; ids and files unique."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    format_version: Annotated[int, Field(ge=1, le=INDEX_FORMAT_VERSION)]
    apps: Annotated[list[IndexEntry], Field(max_length=MAX_INDEX_ENTRIES)]

    @field_validator("apps")
    @classmethod
    def _unique(cls, apps: list[IndexEntry]) -> list[IndexEntry]:
        ids: set[str] = set()
        files: set[str] = set()
        for entry in apps:
            if entry.id in ids:
                raise _problem(f"{entry.id!r} is listed twice")
            if entry.file.lower() in files:
                raise _problem(f"{entry.file!r} is listed twice")
            ids.add(entry.id)
            files.add(entry.file.lower())
        return apps


def parse_catalogue_index(data: bytes | str | Mapping[str, object]) -> CatalogueIndex:
    """A catalogue's ``index.json`` (bytes, text or the decoded mapping), checked.

    Raises AppError("invalid", field, message), the field like ``apps.3.sha256``.
    """
    value = (
        data
        if isinstance(data, Mapping)
        else load_json(data, what="the catalogue index", max_bytes=MAX_INDEX_BYTES, max_depth=8)
    )
    try:
        return CatalogueIndex.model_validate(value)
    except ValidationError as exc:
        raise _as_app_error(exc) from None


def builtin_catalogue_folder() -> Path:
    """``resources/apps/catalogue`` (in a checkout, a wheel or the bundle)."""
    from llmos_desktop.resources import resource_path

    # A file, not the folder: tests/packaging checks each named resource is a shipped file.
    return resource_path("apps", "catalogue", "index.json").parent


def read_catalogue_folder(folder: Path) -> list[AppManifest]:
    """Every app that ``folder/index.json`` lists, each file checked against its SHA-256
    and its manifest's id and version against the entry. Raises AppError naming the file."""
    index = parse_catalogue_index(
        _read_bounded(folder / "index.json", MAX_INDEX_BYTES, "the catalogue index")
    )
    apps: list[AppManifest] = []
    for entry in index.apps:
        data = _read_bounded(folder / entry.file, MAX_LLMAPP_BYTES, entry.file)
        if llmapp_sha256(data) != entry.sha256:
            raise AppError("checksum", entry.file, "its SHA-256 is not the one the index lists")
        try:
            app = read_llmapp(data)
        except AppError as exc:
            raise AppError(
                exc.kind, f"{entry.file}: {exc.field}" if exc.field else entry.file, exc.message
            ) from None
        if app.id != entry.id or app.version != entry.version:
            raise AppError(
                "invalid",
                entry.file,
                f"holds {app.id} {app.version}; the index lists {entry.id} {entry.version}",
            )
        apps.append(app)
    return apps


@functools.cache
def _builtin() -> tuple[AppManifest, ...]:
    return tuple(read_catalogue_folder(builtin_catalogue_folder()))


def builtin_catalogue() -> list[AppManifest]:
    """The apps that ship with LLMOS Desktop (``resources/apps/catalogue``), validated.

    Read once per process (about 0.5 s: each template compiles and trial-renders in the
    sandbox), so call it off the GUI thread the first time. Raises AppError when the
    shipped catalogue is damaged (a test checks it is not).
    """
    try:
        return list(_builtin())
    except FileNotFoundError as exc:
        raise AppError("io", "", f"the built-in app catalogue is missing: {exc}") from None
