"""Model downloads that resume, retry, verify and never list a half file.

huggingface_hub writes each download to a process-unique temporary file and resumes only
within one call, so it cannot resume across a pause or a restart, and it does not check
the SHA-256 of a plain HTTP download. ``DownloadManager`` does the transfer itself, with
httpx, on worker threads (no Qt here: the pane and ``llmos models pull`` share it):

- **Partial file beside the target** (``<target>.part``), so the final rename is atomic
  (same folder, same file system) and the library, which lists ``*.gguf`` only, never
  sees it. The partial is opened without following symlinks and locked (flock; a byte
  lock on Windows), so two processes never write one file.
- **Resume with Range** after a pause, a network error, a stall or a restart. Each
  download's state (URL, repository, path, revision, size, SHA-256, the server's ETag,
  its status) is a small JSON file in ``state_dir``, written atomically at every status
  change; the token never is (headers come from a callable at request time). After a
  restart the bytes on disk are hashed again on the worker thread (SHA-256 state cannot
  be saved) and the transfer goes on from there: bytes on disk are never fetched again.
  A pause within one process keeps the running hash, so resuming costs nothing.
- **The server's answer is checked**: a 206's ``Content-Range`` must start at the bytes
  on disk and end at the size the Hub lists; the ETag must not have changed
  (``If-Range`` is sent with a strong ETag). A server that ignores the Range (200) or a
  file that changed upstream starts the file over, cleanly (truncated, hash reset).
- **Retry** with exponential back-off and jitter on network errors, stalls, 5xx, 408
  and 429 (``Retry-After`` honoured, bounded); an attempt that brought bytes resets the
  count, so a flaky link that drops every few hundred MB still finishes. 401/403/404
  fail at once with the kind the UI needs (token field, "no access", "not found").
- **Stalls**: the read timeout is ``stall_seconds``, so a connection that brings no
  bytes for that long is aborted and retried. Pause, cancel and close shut the socket
  down from the caller's thread, so they never wait for a stalled read.
- **Disk space** is checked before the first byte (what is left to fetch plus
  ``min_free_bytes``) and every half second while writing (what is left plus half the
  margin); ENOSPC, EDQUOT and EFBIG (a file system's or a process's size limit) on a
  write are the same ``disk_full``. The partial is kept for a resume once there is room.
- **Verified before it is used**: SHA-256 is computed as the bytes are written (over
  exactly the bytes that reached the file), checked with the size after an fsync, and
  only then is the partial renamed over the target (``os.replace``; the folder fsynced
  too). A mismatch is ``checksum`` and the partial is deleted: it cannot be trusted.
- **Names from the Hub are hostile**: ``hub.safe_repo_path`` on the repository path, and
  the resolved target (and its partial) must stay inside their folder, checked in
  ``add`` before anything is written or requested.

Listeners are called on worker threads (or the caller's, for a status change it made):
at most ``1 / PROGRESS_INTERVAL`` times a second per download, plus every status change.
They must return quickly and marshal to their own thread (the pane emits a queued Qt
signal). Blocking methods (``add``, ``pause``...) touch small files only; callers in the
GUI still run them off the event loop, as every service call there.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import hashlib
import json
import logging
import math
import os
import queue
import random
import re
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import urljoin, urlsplit

from llmos_desktop.core.atomic import write_text_atomic
from llmos_desktop.core.models.types import (
    DownloadProgress,
    DownloadStatus,
    ModelsError,
    ModelsErrorKind,
    RemoteFile,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["PROGRESS_INTERVAL", "DownloadManager", "partial_path", "widen_reads"]

log = logging.getLogger(__name__)

MiB: Final = 1024 * 1024
PROGRESS_INTERVAL: Final = 0.1  # seconds between progress calls of one download
DISK_CHECK_INTERVAL: Final = 0.5  # seconds between free-space checks while writing
SPEED_WINDOW: Final = 0.25  # seconds: the shortest span a speed sample is taken over
SPEED_TAU: Final = 2.0  # seconds: the time constant of the smoothed speed
_HASH_CHUNK: Final = 4 * MiB  # reads while hashing a partial again
_HASH_BATCH: Final = MiB  # bytes handed to the hashing thread at a time
_HASH_QUEUE: Final = 8  # batches waiting for it, at most
_READ_SIZE: Final = MiB  # the most one network read of a body takes
_MAX_REDIRECTS: Final = 10
_MAX_RESTARTS: Final = 3  # starts from byte 0 in one run before the server is blamed
_STATE_VERSION: Final = 1
_PART_SUFFIX: Final = ".part"
_WAITABLE: Final = frozenset({"done", "failed", "cancelled", "paused"})
_RUNNING: Final = frozenset({"downloading", "retrying", "verifying"})
_DISK_ERRNOS: Final = frozenset(
    {errno.ENOSPC, errno.EFBIG, *([errno.EDQUOT] if hasattr(errno, "EDQUOT") else [])}
)
_OWN_HEADERS: Final = frozenset({"range", "if-range", "accept-encoding"})
_CONTENT_RANGE: Final = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.I)

StopReason = Literal["pause", "cancel", "close"]
Listener = Callable[[DownloadProgress], None]


def partial_path(target: Path) -> Path:
    """Where the bytes of ``target`` are written until they are verified."""
    return target.with_name(target.name + _PART_SUFFIX)


def _download_id(target: Path) -> str:
    """A stable id for the download to ``target``: the same in every process and run, so
    ``llmos models pull`` run again after a kill finds the partial the first run left."""
    return hashlib.sha256(os.fsencode(target)).hexdigest()[:16]


def _human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


class _Stop(Exception):
    """The transfer was asked to stop (pause, cancel or close)."""


class _Retry(Exception):
    """This attempt failed in a way another attempt may not."""

    def __init__(self, error: ModelsError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class _InUse(ModelsError):
    """Another process holds the partial: its state file is its own, not ours to write."""


class _Restart(Exception):
    """The bytes on disk do not belong to what the server now sends: start from byte 0."""


@dataclass(eq=False)
class _Entry:
    """One download, as the manager keeps it (guarded by the manager's lock)."""

    id: str
    file: RemoteFile
    url: str
    target: Path
    root: Path
    created: float
    status: DownloadStatus = "queued"
    received: int = 0
    total: int | None = None
    error: ModelsError | None = None
    attempt: int = 0
    speed: float = 0.0
    etag: str | None = None  # the server's strong ETag of the bytes in the partial
    stop: StopReason | None = None
    requeue: bool = False  # resume() arrived while a pause was still stopping the worker
    thread: threading.Thread | None = None
    sock: socket.socket | None = None  # the open response's socket, to abort a read
    wake: threading.Event = field(default_factory=threading.Event)
    # Listener calls: each state is numbered when it is taken (under the manager's lock)
    # and delivered under ``emit_lock``; one older than the last delivered is dropped, so
    # a listener never sees a download go back to an earlier state, nor "done" twice.
    emit_lock: threading.RLock = field(default_factory=threading.RLock)
    taken: int = 0
    delivered: int = 0
    # The running SHA-256 of the first ``hashed`` bytes of the partial, kept across a
    # pause so a resume in the same process does not read the partial again.
    hasher: Any = None
    hashed: int = 0
    last_emit: float = 0.0
    rate_time: float = 0.0
    rate_bytes: int = 0

    @property
    def part(self) -> Path:
        return partial_path(self.target)

    @property
    def expected_size(self) -> int | None:
        return self.file.size if self.file.size is not None else self.total

    def snapshot(self) -> DownloadProgress:
        total = self.expected_size
        eta = None
        if self.status == "downloading" and total is not None and self.speed > 0:
            eta = max(0.0, (total - self.received) / self.speed)
        return DownloadProgress(
            id=self.id,
            repo_id=self.file.repo_id,
            path=self.file.path,
            target=self.target,
            status=self.status,
            received=self.received,
            total=total,
            speed=self.speed if self.status == "downloading" else 0.0,
            eta=eta,
            attempt=self.attempt,
            error=self.error,
        )


class _PartialFile:
    """The partial file, opened without following a symlink and locked against other
    processes for as long as it is open."""

    def __init__(self, path: Path) -> None:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        try:
            self.fd = os.open(path, flags, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ModelsError("unsafe_name", f"{path.name} is a link; refused.") from exc
            raise
        try:
            self._lock()
        except BaseException:
            os.close(self.fd)
            raise

    def _lock(self) -> None:
        try:
            if sys.platform == "win32":
                import msvcrt

                # A byte far past any model's end: locks nothing anyone reads or writes.
                os.lseek(self.fd, 1 << 50, os.SEEK_SET)
                msvcrt.locking(self.fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise _InUse(
                "io", "Another LLMOS process is downloading this file; try again when it ends."
            ) from exc

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def truncate(self, size: int) -> None:
        os.ftruncate(self.fd, size)
        os.lseek(self.fd, size, os.SEEK_SET)

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)  # releases the lock too


class DownloadManager:
    """Queued, resumable, verified downloads (see the module docstring).

    ``client`` makes the httpx client for one transfer (proxy, TLS, user agent: the Hub
    client's ``httpx_client``); ``headers(url)`` gives the headers for one request,
    called for every request and every redirect hop (the Hub client's ``headers_for``,
    which sends the token only to the Hub itself). Neither is ever written to disk.
    ``resume_on_start``: downloads that were running when the last process stopped are
    started again (the app); ``llmos models pull`` passes False and resumes only the
    file it was asked for (``add`` finds its state).
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        client: Callable[[], httpx.Client],
        headers: Callable[[str], Mapping[str, str]],
        max_active: int = 1,
        stall_seconds: float = 30.0,
        retries: int = 8,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        max_retry_after: float = 300.0,
        min_free_bytes: int = 256 * MiB,
        resume_on_start: bool = True,
    ) -> None:
        if max_active < 1:
            raise ValueError("max_active must be at least 1")
        if stall_seconds <= 0:
            raise ValueError("stall_seconds must be positive")
        self.state_dir = state_dir
        self._client = client
        self._headers = headers
        self._max_active = max_active
        self._stall_seconds = stall_seconds
        self._retries = max(0, retries)
        self._backoff = max(0.0, backoff)
        self._max_backoff = max_backoff
        self._max_retry_after = max_retry_after
        self._min_free = max(0, min_free_bytes)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._entries: dict[str, _Entry] = {}
        self._listeners: builtins.list[Listener] = []
        self._closed = False
        state_dir.mkdir(parents=True, exist_ok=True)
        self._load_states(resume_on_start)
        with self._lock:
            self._schedule()

    # --- the public API -------------------------------------------------------------------

    def add(self, file: RemoteFile, url: str, target: Path, *, root: Path | None = None) -> str:
        """Queue ``file`` (fetched from ``url``) to end up verified at ``target``; its id.

        ``root``: the folder the target must stay inside (the models folder); by default
        the folder the repository path hangs from (``target`` minus ``file.path``'s
        parts). Refused with ``unsafe_name`` before anything is written. Adding a file
        that is already here returns its id: a running or queued one goes on; a paused or
        failed one is queued again (from its bytes on disk, unless the Hub now lists
        another size or SHA-256 for it).
        """
        target, root = _check_names(file, target, root)
        _check_url(url)
        download_id = _download_id(target)
        with self._lock:
            self._check_open()
            entry = self._entries.get(download_id)
            if entry is not None and entry.thread is not None:
                if entry.stop == "cancel" or entry.status == "cancelled":
                    # Cancelled a moment ago and wanted again: from zero once it stops.
                    entry.file, entry.url, entry.root = file, url, root
                    entry.requeue = True
                elif entry.stop == "pause" or entry.status in ("paused", "failed"):
                    entry.requeue = True
                return download_id
            if entry is not None and entry.status not in ("done", "cancelled"):
                if entry.status == "queued":
                    return download_id
                changed = (file.sha256, file.size) != (entry.file.sha256, entry.file.size)
                entry.file, entry.url, entry.root = file, url, root
                if changed:
                    self._forget_partial(entry)
                self._requeue(entry)
            else:
                entry = _Entry(download_id, file, url, target, root, created=time.time())
                with contextlib.suppress(OSError):
                    if entry.part.is_file() and not entry.part.is_symlink():
                        entry.received = entry.part.stat().st_size  # its state was lost
                self._entries[download_id] = entry
                self._persist(entry)
                self._notify(entry)
                self._schedule()
            snap = self._snap(entry)
        self._deliver(entry, snap)
        return download_id

    def pause(self, download_id: str) -> None:
        """Stop the transfer and keep its bytes; ``resume`` goes on from them."""
        with self._lock:
            entry = self._entry(download_id)
            entry.requeue = False
            if entry.thread is not None:
                self._stop(entry, "pause")
                return
            if entry.status != "queued":
                return
            entry.status = "paused"
            self._persist(entry)
            self._notify(entry)
            snap = self._snap(entry)
        self._deliver(entry, snap)

    def resume(self, download_id: str) -> None:
        """Queue a paused or failed download again (a failed one from its bytes on disk)."""
        with self._lock:
            self._check_open()
            entry = self._entry(download_id)
            if entry.thread is not None:
                if entry.stop == "pause" or entry.status in ("paused", "failed"):
                    entry.requeue = True  # the worker queues it again as it ends
                return
            if entry.status not in ("paused", "failed"):
                return
            self._requeue(entry)
            snap = self._snap(entry)
        self._deliver(entry, snap)

    def cancel(self, download_id: str) -> None:
        """Stop the transfer and delete its partial file; a finished download stays."""
        with self._lock:
            entry = self._entry(download_id)
            if entry.status in ("done", "cancelled"):
                return
            entry.requeue = False
            if entry.thread is not None:
                self._stop(entry, "cancel")
                return
            self._discard(entry)
            entry.status = "cancelled"
            self._notify(entry)
            snap = self._snap(entry)
        self._deliver(entry, snap)

    def get(self, download_id: str) -> DownloadProgress:
        with self._lock:
            return self._entry(download_id).snapshot()

    def list(self) -> builtins.list[DownloadProgress]:
        """Every download of this run and every unfinished one of earlier runs, oldest first."""
        with self._lock:
            entries = sorted(self._entries.values(), key=lambda e: e.created)
            return [e.snapshot() for e in entries]

    def clear_finished(self) -> None:
        """Forget done and cancelled downloads (the list's "clear")."""
        with self._lock:
            for key in [k for k, e in self._entries.items() if e.status in ("done", "cancelled")]:
                del self._entries[key]

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every progress and status change; returns the unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    def wait(self, download_id: str, timeout: float | None = None) -> DownloadProgress:
        """Block until the download is done, failed, cancelled or paused (or ``timeout``
        passes, or the manager closes); its state then."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            entry = self._entry(download_id)
            while not self._closed and (entry.status not in _WAITABLE or entry.thread is not None):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._changed.wait(left)
            return entry.snapshot()

    def close(self) -> None:
        """Stop every transfer and wait for the workers; the partials and the states stay,
        so the next manager on ``state_dir`` resumes them."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads: builtins.list[threading.Thread] = []
            for entry in self._entries.values():
                if entry.thread is not None:
                    threads.append(entry.thread)
                    self._stop(entry, "close")
            self._changed.notify_all()
        for thread in threads:
            if thread is not threading.current_thread():  # close() from a listener
                thread.join()

    def __enter__(self) -> DownloadManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- bookkeeping (under the lock) -----------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ModelsError("invalid", "The download manager is closed.")

    def _entry(self, download_id: str) -> _Entry:
        entry = self._entries.get(download_id)
        if entry is None:
            raise ModelsError("not_found", f"No download with id {download_id!r}.")
        return entry

    def _requeue(self, entry: _Entry) -> None:
        entry.status = "queued"
        entry.error = None
        entry.attempt = 0
        entry.stop = None
        entry.requeue = False
        entry.wake.clear()
        self._persist(entry)
        self._notify(entry)
        self._schedule()

    def _stop(self, entry: _Entry, reason: StopReason) -> None:
        """Ask the worker to stop: wake its back-off wait and abort its read."""
        if entry.stop != "cancel":  # a cancel is never turned back into a pause
            entry.stop = reason
        entry.wake.set()
        sock = entry.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                # socket.socket's own shutdown, also for an SSLSocket: it only wakes the
                # reader, which then sees entry.stop.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def _schedule(self) -> None:
        if self._closed:
            return
        running = sum(1 for e in self._entries.values() if e.thread is not None)
        for entry in sorted(self._entries.values(), key=lambda e: e.created):
            if running >= self._max_active:
                break
            if entry.status == "queued" and entry.thread is None:
                entry.stop = None
                entry.wake.clear()
                entry.thread = threading.Thread(
                    target=self._run, args=(entry,), name=f"download-{entry.id[:8]}", daemon=True
                )
                entry.thread.start()
                running += 1

    def _notify(self, entry: _Entry) -> None:
        self._changed.notify_all()

    def _discard(self, entry: _Entry) -> None:
        """Delete the partial and the state: the download is gone."""
        self._forget_partial(entry)
        with contextlib.suppress(FileNotFoundError):
            self._state_file(entry.id).unlink()

    def _forget_partial(self, entry: _Entry) -> None:
        with contextlib.suppress(FileNotFoundError):
            entry.part.unlink()
        entry.hasher = None
        entry.hashed = 0
        entry.received = 0
        entry.total = None
        entry.etag = None

    # --- listeners ------------------------------------------------------------------------

    def _snap(self, entry: _Entry) -> tuple[int, DownloadProgress]:
        """``entry``'s state now, numbered; take it under the lock, right after a change."""
        with self._lock:
            entry.taken += 1
            return entry.taken, entry.snapshot()

    def _deliver(self, entry: _Entry, snap: tuple[int, DownloadProgress]) -> None:
        """Call the listeners with a state from ``_snap``. Never under ``self._lock`` (a
        listener may call the manager)."""
        number, snapshot = snap
        with entry.emit_lock:
            if number <= entry.delivered:
                return  # a later state went out already
            entry.delivered = number
            with self._lock:
                listeners = builtins.list(self._listeners)
            for listener in listeners:
                try:
                    listener(snapshot)
                except Exception:
                    log.exception("a download listener failed")

    def _emit(self, entry: _Entry) -> None:
        """Call the listeners with ``entry``'s state now (never under ``self._lock``)."""
        self._deliver(entry, self._snap(entry))

    def _set_status(
        self, entry: _Entry, status: DownloadStatus, error: ModelsError | None = None
    ) -> None:
        with self._lock:
            entry.status = status
            entry.error = error
            if status != "downloading":
                entry.speed = 0.0
            self._notify(entry)
            snap = self._snap(entry)
        self._deliver(entry, snap)

    def _progress(self, entry: _Entry, now: float) -> None:
        """A progress call at most every PROGRESS_INTERVAL, with the speed smoothed."""
        if now - entry.last_emit < PROGRESS_INTERVAL:
            return
        elapsed = now - entry.rate_time
        if entry.rate_time <= 0:
            entry.rate_time, entry.rate_bytes = now, entry.received
        elif elapsed >= SPEED_WINDOW:  # shorter windows measure buffers, not the link
            current = (entry.received - entry.rate_bytes) / elapsed
            if entry.speed <= 0:
                entry.speed = current
            else:
                weight = 1.0 - math.exp(-elapsed / SPEED_TAU)
                entry.speed += weight * (current - entry.speed)
            entry.rate_time, entry.rate_bytes = now, entry.received
        entry.last_emit = now
        self._emit(entry)

    # --- persisted state ------------------------------------------------------------------

    def _state_file(self, download_id: str) -> Path:
        return self.state_dir / f"{download_id}.json"

    def _persist(self, entry: _Entry) -> None:
        """Write ``entry``'s state (never a header or token). Done or cancelled: removed."""
        if entry.status in ("done", "cancelled"):
            with contextlib.suppress(FileNotFoundError):
                self._state_file(entry.id).unlink()
            return
        status = entry.status if entry.status in ("paused", "failed") else "queued"
        record = {
            "version": _STATE_VERSION,
            "id": entry.id,
            "repo_id": entry.file.repo_id,
            "path": entry.file.path,
            "revision": entry.file.revision,
            "size": entry.file.size,
            "sha256": entry.file.sha256,
            "url": entry.url,
            "target": str(entry.target),
            "root": str(entry.root),
            "status": status,
            "etag": entry.etag,
            "total": entry.total,
            "created": entry.created,
            "error": None
            if entry.error is None
            else {"kind": entry.error.kind, "message": entry.error.message},
        }
        try:
            write_text_atomic(self._state_file(entry.id), json.dumps(record, indent=1))
        except OSError as exc:
            log.warning("downloads: the state of %s could not be saved: %s", entry.id, exc)

    def _load_states(self, resume: bool) -> None:
        for state in sorted(self.state_dir.glob("*.json")):
            try:
                entry = self._read_state(state)
            except (OSError, ValueError, TypeError, KeyError, ModelsError) as exc:
                log.warning("downloads: %s is not a download state (%s); moved aside", state, exc)
                with contextlib.suppress(OSError):
                    os.replace(state, state.with_name(state.name + ".bad"))
                continue
            if entry.status == "queued" and not resume:
                entry.status = "paused"  # in memory only: the app resumes it at its start
            self._entries[entry.id] = entry

    def _read_state(self, state: Path) -> _Entry:
        record = json.loads(state.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or record.get("version") != _STATE_VERSION:
            raise ValueError("unknown format")

        def text(key: str, *, optional: bool = False) -> str | None:
            value = record.get(key)
            if value is None and optional:
                return None
            if not isinstance(value, str):
                raise ValueError(f"{key} is not a string")
            return value

        def number(key: str) -> int | None:
            value = record.get(key)
            if value is None:
                return None
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{key} is not a size")
            return value

        file = RemoteFile(
            repo_id=str(text("repo_id")),
            path=str(text("path")),
            size=number("size"),
            sha256=text("sha256", optional=True),
            revision=text("revision", optional=True),
        )
        target, root = _check_names(file, Path(str(text("target"))), Path(str(text("root"))))
        download_id = _download_id(target)
        if state.stem != download_id or record.get("id") != download_id:
            raise ValueError("the id does not match the target")
        url = str(text("url"))
        _check_url(url)
        status = record.get("status")
        if status not in ("queued", "paused", "failed"):
            raise ValueError("unknown status")
        created = record.get("created")
        entry = _Entry(
            download_id,
            file,
            url,
            target,
            root,
            created=float(created) if isinstance(created, int | float) else state.stat().st_mtime,
            status=status,
            total=number("total"),
            etag=text("etag", optional=True),
        )
        error = record.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            kind = error.get("kind")
            entry.error = ModelsError(_error_kind(kind), error["message"])
        with contextlib.suppress(OSError):
            if entry.part.is_file() and not entry.part.is_symlink():
                entry.received = entry.part.stat().st_size
        return entry

    # --- the worker -----------------------------------------------------------------------

    def _run(self, entry: _Entry) -> None:
        """A worker thread: one download from its bytes on disk to verified (or stopped)."""
        outcome: DownloadStatus
        error: ModelsError | None = None
        try:
            with self._lock:
                entry.rate_time = 0.0
                entry.speed = 0.0
            self._set_status(entry, "downloading")
            self._transfer(entry)
            outcome = "done"
        except _Stop:
            outcome = "paused"
        except ModelsError as exc:
            outcome, error = "failed", exc
        except OSError as exc:
            outcome, error = "failed", _disk_error(exc, entry.part)
        except Exception as exc:  # a bug: say so, keep the partial
            log.exception("download %s failed unexpectedly", entry.id)
            outcome = "failed"
            error = ModelsError("io", f"The download failed unexpectedly: {exc}")
        with self._lock:
            entry.sock = None
            stop, entry.stop = entry.stop, None
            if outcome != "done" and stop is not None:
                outcome, error = ("cancelled" if stop == "cancel" else "paused"), None
            if stop == "close":  # the state on disk stays "queued": the next start resumes
                entry.thread = None
                entry.status = "paused"
                self._notify(entry)
                return
            self._finish(entry, outcome, error)
            snap = self._snap(entry)
        # The last call goes out before waiters are released and the next download starts.
        self._deliver(entry, snap)
        late = None
        with self._lock:
            entry.thread = None
            stop, entry.stop = entry.stop, None  # asked for while that call went out
            if stop == "cancel" and entry.status in ("paused", "failed"):
                self._finish(entry, "cancelled", None)
                late = self._snap(entry)
            elif entry.requeue and entry.status in ("paused", "failed", "cancelled"):
                self._requeue(entry)
                late = self._snap(entry)
            entry.requeue = False
            self._notify(entry)
            self._schedule()
        if late is not None:
            self._deliver(entry, late)

    def _finish(self, entry: _Entry, outcome: DownloadStatus, error: ModelsError | None) -> None:
        """Record how a transfer ended (under the lock)."""
        if outcome == "cancelled":
            self._discard(entry)
        elif outcome == "failed":
            with contextlib.suppress(OSError):
                if entry.part.stat().st_size == 0:  # refused before any byte came
                    entry.part.unlink()
        entry.status = outcome
        entry.error = error
        entry.speed = 0.0
        if outcome in ("done", "cancelled"):
            entry.hasher = None
        if error is not None:
            log.warning("download %s of %s failed: %s", entry.file.path, entry.id, error)
        if not isinstance(error, _InUse):
            self._persist(entry)

    def _check_stop(self, entry: _Entry) -> None:
        if entry.stop is not None:
            raise _Stop

    def _transfer(self, entry: _Entry) -> None:
        part = entry.part
        on_disk = 0
        with contextlib.suppress(FileNotFoundError):
            if part.is_symlink():
                raise ModelsError("unsafe_name", f"{part.name} is a link; refused.")
            on_disk = part.stat().st_size
        expected = entry.expected_size
        if expected is not None and on_disk > expected:
            on_disk = 0  # longer than the file: not its bytes; truncated below
        self._check_space(entry, on_disk, self._min_free)
        entry.target.parent.mkdir(parents=True, exist_ok=True)
        handle = _PartialFile(part)
        renamed = False
        try:
            offset = self._prepare(entry, handle)
            if expected is None or offset < expected:
                offset = self._fetch_all(entry, handle, offset)
            self._set_status(entry, "verifying")
            os.fsync(handle.fd)
            self._verify(entry, offset)
            if sys.platform != "win32":  # rename while the lock is held
                os.replace(part, entry.target)
                renamed = True
        except ModelsError as exc:
            if exc.kind == "checksum":
                handle.close()
                self._forget_partial(entry)
            raise
        finally:
            handle.close()
        if not renamed:
            os.replace(part, entry.target)  # Windows cannot rename an open file
        _fsync_folder(entry.target.parent)
        entry.hasher = None

    def _prepare(self, entry: _Entry, handle: _PartialFile) -> int:
        """The bytes on disk that can be kept, with ``entry.hasher`` over exactly them."""
        size = handle.size()
        expected = entry.expected_size
        if expected is not None and size > expected:
            log.info("download %s: the partial is longer than the file; starting over", entry.id)
            handle.truncate(0)
            size = 0
            entry.hasher, entry.hashed, entry.etag = None, 0, None
        if entry.hasher is not None and entry.hashed == size:
            os.lseek(handle.fd, size, os.SEEK_SET)
            entry.received = size
            return size
        # A new process (or a partial changed behind our back): hash what is on disk.
        hasher = hashlib.sha256()
        done = 0
        entry.received = 0
        os.lseek(handle.fd, 0, os.SEEK_SET)
        while done < size:
            self._check_stop(entry)
            chunk = os.read(handle.fd, min(_HASH_CHUNK, size - done))
            if not chunk:
                break
            hasher.update(chunk)
            done += len(chunk)
            entry.received = done
            now = time.monotonic()
            if now - entry.last_emit >= PROGRESS_INTERVAL:
                entry.last_emit = now
                self._emit(entry)
        if done != size:  # shrank while being read: keep what was hashed
            handle.truncate(done)
        os.lseek(handle.fd, done, os.SEEK_SET)
        entry.hasher, entry.hashed = hasher, done
        return done

    def _fetch_all(self, entry: _Entry, handle: _PartialFile, offset: int) -> int:
        """Fetch from ``offset`` to the end, with retries; the bytes on disk at the end."""
        import httpx

        client = self._client()
        failures = 0
        restarts = 0
        try:
            while True:
                self._check_stop(entry)
                started_at = offset
                try:
                    offset = self._fetch(entry, client, handle, offset)
                    expected = entry.expected_size
                    if expected is None or offset >= expected:
                        return offset
                    raise _Retry(
                        ModelsError(
                            "network",
                            f"The connection closed after {_human(offset)} of {_human(expected)}.",
                        )
                    )
                except _Restart:
                    restarts += 1
                    if restarts > _MAX_RESTARTS:
                        raise ModelsError(
                            "server",
                            f"The server keeps sending another version of {entry.file.path}.",
                        ) from None
                    handle.truncate(0)
                    offset = 0
                    entry.received = 0
                    entry.hasher, entry.hashed = hashlib.sha256(), 0
                    entry.etag = entry.total = None
                    continue
                except _Retry as retry:
                    self._check_stop(entry)
                    offset = entry.hashed  # what reached the file before it failed
                    progressed = offset != started_at
                    failures = 1 if progressed else failures + 1
                    if failures > self._retries:
                        raise retry.error from None
                    delay = self._delay(failures, retry.retry_after)
                    log.info(
                        "download %s: %s; attempt %d of %d in %.1f s",
                        entry.id,
                        retry.error,
                        failures,
                        self._retries,
                        delay,
                    )
                    with self._lock:
                        entry.attempt = failures
                    self._set_status(entry, "retrying", retry.error)
                    if entry.wake.wait(delay):
                        self._check_stop(entry)
                    with self._lock:
                        entry.rate_time = 0.0
                    self._set_status(entry, "downloading")
                except (httpx.HTTPError, httpx.InvalidURL) as exc:  # not the network's fault
                    raise ModelsError("server", f"The download failed: {exc}") from exc
        finally:
            client.close()

    def _delay(self, failures: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(0.0, retry_after), self._max_retry_after)
        ceiling = min(self._backoff * 2 ** (failures - 1), self._max_backoff)
        return random.uniform(ceiling / 2, ceiling)  # jitter: retries do not march in step

    def _fetch(self, entry: _Entry, client: httpx.Client, handle: _PartialFile, offset: int) -> int:
        """One request from ``offset``: write and hash its body; the bytes on disk after."""
        import httpx

        try:
            response = self._open(entry, client, offset)
        except httpx.TransportError as exc:
            self._check_stop(entry)
            raise _Retry(_transport_error(exc, self._stall_seconds)) from exc
        try:
            if response.status_code == 200 and offset > 0:
                log.info("download %s: the server ignored the Range; starting over", entry.id)
                handle.truncate(0)
                offset = 0
                entry.hasher, entry.hashed = hashlib.sha256(), 0
            elif entry.hasher is None:
                entry.hasher, entry.hashed = hashlib.sha256(), 0
            entry.received = offset
            stream = response.extensions.get("network_stream")
            with self._lock:
                entry.sock = stream.get_extra_info("socket") if stream is not None else None
            self._check_stop(entry)
            widen_reads(response)
            expected = entry.expected_size
            fd = handle.fd
            now = time.monotonic()
            next_disk_check = now + DISK_CHECK_INTERVAL
            if entry.rate_time <= 0:
                entry.rate_time, entry.rate_bytes = now, offset
            pipe = _HashPipe(entry.hasher, f"sha256-{entry.id[:8]}")
            try:
                for chunk in response.iter_raw():
                    if expected is not None and offset + len(chunk) > expected:
                        raise ModelsError(
                            "server", f"The server sent more than {_human(expected)}."
                        )
                    view = memoryview(chunk)
                    while view:
                        written = os.write(fd, view)
                        pipe.feed(view[:written])  # exactly what reached the file
                        offset += written
                        entry.hashed = entry.received = offset
                        view = view[written:]
                    if entry.stop is not None:
                        raise _Stop
                    now = time.monotonic()
                    if now >= next_disk_check:
                        next_disk_check = now + DISK_CHECK_INTERVAL
                        self._check_space(entry, offset, self._min_free // 2)
                    self._progress(entry, now)
            except httpx.TransportError as exc:
                self._check_stop(entry)
                raise _Retry(_transport_error(exc, self._stall_seconds)) from exc
            finally:
                pipe.finish()  # entry.hasher now covers exactly entry.hashed bytes
            self._check_stop(entry)
            return offset
        finally:
            with self._lock:
                entry.sock = None
            response.close()

    def _open(self, entry: _Entry, client: httpx.Client, offset: int) -> httpx.Response:
        """The response for the bytes from ``offset``, checked, with redirects followed by
        hand so that each hop gets its own headers (the token only where it belongs)."""
        import httpx

        url = entry.url
        timeout = httpx.Timeout(self._stall_seconds, connect=max(self._stall_seconds, 10.0))
        for _hop in range(_MAX_REDIRECTS + 1):
            headers = {k: v for k, v in self._headers(url).items() if k.lower() not in _OWN_HEADERS}
            headers["Accept-Encoding"] = "identity"
            if offset > 0:
                headers["Range"] = f"bytes={offset}-"
                if entry.etag is not None and not entry.etag.startswith("W/"):
                    headers["If-Range"] = entry.etag
            request = client.build_request("GET", url, headers=headers, timeout=timeout)
            response = client.send(request, stream=True, follow_redirects=False)
            if response.is_redirect:
                location = response.headers.get("Location", "")
                response.close()
                url = _redirect(url, location)
                continue
            try:
                self._check_response(entry, response, offset)
            except BaseException:
                response.close()
                raise
            return response
        raise ModelsError("server", f"Too many redirects for {entry.file.path}.")

    def _check_response(self, entry: _Entry, response: httpx.Response, offset: int) -> None:
        """Raise unless ``response`` carries ``entry``'s bytes from ``offset`` (a 200 from
        byte 0 is fine too: ``_fetch`` then starts over)."""
        status = response.status_code
        name = entry.file.path
        etag = response.headers.get("ETag")
        if status == 416:
            raise _Restart  # the partial is longer than the file now is
        if status in (200, 206):
            length = _int_header(response, "Content-Length")
            if status == 200:
                total = length
            else:
                match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
                if match is None:
                    raise _Retry(ModelsError("server", "The server's Content-Range is not valid."))
                first, last = int(match[1]), int(match[2])
                total = None if match[3] == "*" else int(match[3])
                if first != offset or (length is not None and length != last - first + 1):
                    raise _Retry(
                        ModelsError(
                            "server",
                            f"The server sent bytes from {first} when {offset} were asked for.",
                        )
                    )
                if entry.etag is not None and etag is not None and etag != entry.etag:
                    raise _Restart  # the file changed upstream
                if total is not None and last + 1 > total:
                    raise _Retry(ModelsError("server", "The server's Content-Range is not valid."))
            if total is not None:
                if entry.file.size is not None and total != entry.file.size:
                    raise ModelsError(
                        "server",
                        f"The server offers {_human(total)} for {name}, but the Hub lists "
                        f"{_human(entry.file.size)}.",
                    )
                if entry.total is not None and total != entry.total and status == 206:
                    raise _Restart
            total = total if total is not None else entry.total
            if (entry.etag, entry.total) != (etag, total):
                with self._lock:
                    entry.etag, entry.total = etag, total
                    self._persist(entry)
            return
        retry_after = _retry_after(response)
        if status == 401:
            raise ModelsError(
                "auth", f"The Hub needs a Hugging Face token to download {name} (401)."
            )
        if status == 403:
            raise ModelsError(
                "gated",
                f"Your Hugging Face token has no access to {entry.file.repo_id} yet (403): "
                "accept its terms on the Hub.",
            )
        if status in (404, 410):
            raise ModelsError("not_found", f"{name} is not on the Hub ({status}).")
        if status == 429:
            raise _Retry(
                ModelsError("rate_limited", "The Hub is limiting requests (429)."), retry_after
            )
        if status == 408 or status >= 500:
            raise _Retry(ModelsError("server", f"The server failed ({status})."), retry_after)
        raise ModelsError("server", f"The server answered {status} for {name}.")

    def _check_space(self, entry: _Entry, on_disk: int, margin: int) -> None:
        """``disk_full`` unless the rest of the file plus ``margin`` fits on its disk."""
        folder = entry.target.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        try:
            free = shutil.disk_usage(folder).free
        except OSError as exc:
            log.warning("downloads: free space of %s unknown: %s", folder, exc)
            return
        expected = entry.expected_size
        needed = (0 if expected is None else max(0, expected - on_disk)) + margin
        if free < needed:
            raise ModelsError(
                "disk_full",
                f"Not enough disk space for {entry.target.name}: {_human(needed)} needed, "
                f"{_human(free)} free in {folder}.",
            )

    def _verify(self, entry: _Entry, size: int) -> None:
        expected = entry.expected_size
        name = entry.file.path
        if expected is not None and size != expected:
            raise ModelsError(
                "checksum",
                f"{name} has {_human(size)} instead of {_human(expected)}; it was deleted.",
            )
        wanted = entry.file.sha256
        if wanted is not None:
            digest = entry.hasher.hexdigest() if entry.hasher is not None else ""
            if digest != wanted.lower():
                raise ModelsError(
                    "checksum",
                    f"{name} does not match the SHA-256 the Hub publishes; the damaged "
                    "download was deleted.",
                )


# --- helpers -----------------------------------------------------------------------------


class _HashPipe:
    """SHA-256 on a thread of its own, fed the bytes in the order they reached the file.

    hashlib lets go of the GIL while it hashes a large buffer, so the hash runs beside the
    next network read and file write instead of after each (SHA-256 is about a third of
    the client's CPU at full speed). Bytes go over in batches of ``_HASH_BATCH`` through a
    bounded queue: a hash that falls behind slows the download instead of filling memory.
    ``finish`` must be called: after it, the hasher has seen every byte fed.
    """

    def __init__(self, hasher: Any, name: str) -> None:
        self._hasher = hasher
        self._batch: builtins.list[bytes | memoryview] = []
        self._batched = 0
        self._queue: queue.Queue[builtins.list[bytes | memoryview] | None] = queue.Queue(
            maxsize=_HASH_QUEUE
        )
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def feed(self, data: bytes | memoryview) -> None:
        self._batch.append(data)
        self._batched += len(data)
        if self._batched >= _HASH_BATCH:
            self._queue.put(self._batch)
            self._batch, self._batched = [], 0

    def _work(self) -> None:
        update = self._hasher.update
        while (batch := self._queue.get()) is not None:
            for data in batch:
                update(data)

    def finish(self) -> None:
        if self._batch:
            self._queue.put(self._batch)
            self._batch, self._batched = [], 0
        self._queue.put(None)
        self._thread.join()


def widen_reads(response: httpx.Response) -> bool:
    """Let ``response``'s own HTTP connection read up to ``_READ_SIZE`` per ``recv``.

    httpcore reads a body 64 KiB at a time, and each read costs about 80 µs of Python in
    h11, httpcore and httpx: on a fast link that, not the network, caps a download at
    about half of curl's speed (benchmarks/downloads.py). httpcore has no public setting
    for it; ``READ_NUM_BYTES`` is read from the connection object, so it is set on this
    one connection only (never on the class: the engine's SSE client keeps small reads).
    Over TLS a read returns at most one 16 KiB record anyway. The connection is found by
    walking the stream wrappers' private attributes (httpx 0.28: ``BoundSyncStream._stream``
    -> ``ResponseStream._httpcore_stream`` -> ``PoolByteStream._stream`` ->
    ``HTTP11ConnectionByteStream._connection``); when they change, downloads still work
    at the default size and a test says so (tests/integration/test_downloads.py). True
    when it was set.
    """
    node: object = response.stream
    for _depth in range(8):
        if isinstance(getattr(node, "READ_NUM_BYTES", None), int):
            setattr(node, "READ_NUM_BYTES", _READ_SIZE)  # noqa: B010 - an instance attribute
            return True
        node = next(
            (
                getattr(node, name)
                for name in ("_stream", "_httpcore_stream", "_connection")
                if getattr(node, name, None) is not None
            ),
            None,
        )
        if node is None:
            break
    return False


def _check_names(file: RemoteFile, target: Path, root: Path | None) -> tuple[Path, Path]:
    """(target, root), absolute; ``unsafe_name`` for a path that could land elsewhere."""
    from llmos_desktop.core.models.hub import safe_repo_path

    safe_repo_path(file.path)
    target = Path(os.path.abspath(target))
    if root is None:
        depth = len(file.path.split("/"))
        root = target.parents[depth - 1] if depth <= len(target.parents) else target.parent
    root = Path(os.path.abspath(root))
    name = target.name
    if name in ("", ".", "..") or "\0" in str(target):
        raise ModelsError("unsafe_name", f"{file.path!r} is not a file name that can be saved.")
    real_root = root.resolve()
    real_target = target.parent.resolve() / name
    if real_target == real_root or real_root not in real_target.parents:
        raise ModelsError("unsafe_name", f"{file.path!r} would be saved outside {root}; refused.")
    for path in (target, partial_path(target)):
        if path.is_symlink():
            raise ModelsError("unsafe_name", f"{path.name} is a link; refused.")
    return target, root


def _check_url(url: str) -> None:
    if urlsplit(url).scheme not in ("http", "https"):
        raise ModelsError("invalid", f"Not a download URL: {url!r}.")


def _redirect(url: str, location: str) -> str:
    """The next hop; only http(s), and never from https down to http."""
    if not location:
        raise ModelsError("server", "The server redirected without a Location.")
    target = urljoin(url, location)
    scheme = urlsplit(target).scheme
    if scheme not in ("http", "https") or (urlsplit(url).scheme == "https" and scheme != "https"):
        raise ModelsError("server", "The server redirected to an address that is not safe.")
    return target


def _int_header(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _transport_error(exc: Exception, stall_seconds: float) -> ModelsError:
    import httpx

    if isinstance(exc, httpx.ReadTimeout):
        return ModelsError("network", f"No data for {stall_seconds:g} s: the download stalled.")
    if isinstance(exc, httpx.TimeoutException):
        return ModelsError("network", "The server did not answer in time.")
    if isinstance(exc, httpx.ConnectError):
        return ModelsError("network", f"The server cannot be reached: {exc}")
    return ModelsError("network", f"The connection failed: {exc}")


def _disk_error(exc: OSError, path: Path) -> ModelsError:
    if exc.errno in _DISK_ERRNOS:
        if exc.errno == errno.EFBIG:
            return ModelsError(
                "disk_full",
                f"{path.name} cannot grow: the file is larger than this disk (or this "
                "process) allows.",
            )
        return ModelsError("disk_full", f"The disk is full: {path.name} could not be written.")
    return ModelsError("io", f"{path} could not be written: {exc.strerror or exc}")


def _error_kind(kind: object) -> ModelsErrorKind:
    kinds: tuple[ModelsErrorKind, ...] = (
        "auth",
        "gated",
        "not_found",
        "rate_limited",
        "network",
        "server",
        "unsafe_name",
        "disk_full",
        "checksum",
        "invalid",
        "io",
    )
    for known in kinds:
        if kind == known:
            return known
    return "io"


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX; Windows has no folder handles to sync)."""
    if sys.platform == "win32":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
