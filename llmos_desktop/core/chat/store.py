"""The chat store: every conversation in one SQLite file, written so that nothing is lost.

The window and ``llmos chat`` both use this class, on the same file (``chats.db`` in the
data folder; the caller passes the path). What it guarantees, and how:

- **A kill loses at most about a second.** WAL with ``synchronous=NORMAL``: a committed
  transaction survives the death of the process (it is in the WAL file); only a power
  cut may lose the last ones, and never corrupts the file. Each message is its own
  transaction. A streaming reply is a row from its first moment (status ``streaming``),
  and ``ReplyWriter`` writes its text as it grows, at most about once a second (a timer,
  not a token count) and at the end.
- **Two processes, one writer at a time, nothing lost.** Every write is ``BEGIN
  IMMEDIATE``: it takes the write lock when it starts, so a second writer waits on the
  busy timeout (15 s) instead of failing half way with SQLITE_BUSY, and a write never
  works from a stale read. A connection is guarded by a lock, so one store can be used
  from several threads (the window calls it from executor threads).
- **A damaged file is moved aside, never emptied.** At open, ``PRAGMA quick_check``; a file
  that is not a database, fails the check or is cut short is renamed (with its ``-wal``
  and ``-shm``) to ``chats.damaged-<time>.db`` and a new one is started. ``recovered_from``
  tells the caller, who tells the user. The open, check and move happen under a lock
  file, so two processes starting at once cannot move each other's new file aside.
- **Schema versions.** ``PRAGMA user_version`` and ``MIGRATIONS`` (one step per version,
  each in one transaction). A file from a newer version is refused with a message, and
  left alone.
- **A reply left "streaming" by a dead process reads as incomplete.** A streaming row
  names its writer (host, pid, process start time). It is streaming only while that
  process lives (a reused pid has another start time) and, within this process, while
  its ``ReplyWriter`` is open; otherwise it reads as ``incomplete``, and each open of
  the store writes that down. A writer on another host (a synced folder) cannot be
  asked: its row counts as live while it was written in the last minute.

Conversations are trees of messages (``parent_id``): "edit and resend" and "regenerate"
add a sibling, so the older version stays and one can switch back. A conversation's
``current_leaf`` picks the branch shown: ``thread`` is the path from the root to it.

Search is ``LIKE '%text%'`` over titles and message text (with ``%``, ``_`` and ``\\``
escaped), not FTS5: FTS5's default tokenizer splits on spaces and punctuation, so it
cannot find a Chinese word inside a sentence (Chinese has no spaces); its trigram
tokenizer finds substrings but not of one or two characters, the common length of a
Chinese word; and either index roughly doubles the file. A scan of every message takes
milliseconds for the tens of thousands of messages a person writes. LIKE folds case for
ASCII letters only.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import os
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmos_desktop.core.chat.options import ChatOptions

log = logging.getLogger(__name__)

CHATS_FILE_NAME = "chats.db"
"""The store's file name in the data folder (``AppPaths.data / CHATS_FILE_NAME``)."""

BUSY_TIMEOUT_S = 15.0
FLUSH_INTERVAL_S = 1.0
FOREIGN_WRITER_STALE_S = 60.0
MAX_TITLE_CHARS = 200
AUTO_TITLE_CHARS = 60
MAX_PRESET_NAME_CHARS = 100

EXPORT_FORMAT = "llmos-chat"
EXPORT_VERSION = 1
MAX_IMPORT_BYTES = 64 * 1024 * 1024
MAX_IMPORT_MESSAGES = 50_000
MAX_IMPORT_MESSAGE_CHARS = 4_000_000
MAX_IMPORT_META_BYTES = 16 * 1024
MAX_TIMESTAMP_CHARS = 64

Role = Literal["system", "user", "assistant"]
Status = Literal["streaming", "complete", "incomplete"]
ROLES: tuple[Role, ...] = ("system", "user", "assistant")

_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26

# One step per schema version: MIGRATIONS[n] brings version n to n + 1. Never edit a
# step that has shipped; add one. Each step runs in one transaction with the version bump.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: conversations and their message trees.
    (
        """CREATE TABLE conversations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            title TEXT NOT NULL DEFAULT '',
            title_auto INTEGER NOT NULL DEFAULT 1,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            deleted_at REAL,
            current_leaf INTEGER,
            options TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX conversations_by_activity ON conversations (updated_at)",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            parent_id INTEGER REFERENCES messages (id),
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            content TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'complete'
                CHECK (status IN ('streaming', 'complete', 'incomplete')),
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            meta TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX messages_by_conversation ON messages (conversation_id)",
        "CREATE INDEX messages_by_parent ON messages (parent_id)",
    ),
    # 2: who writes a streaming reply (so a dead writer's reply reads as incomplete), and
    # named option presets.
    (
        "ALTER TABLE messages ADD COLUMN writer TEXT",
        "CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming'",
        """CREATE TABLE presets (
            name TEXT PRIMARY KEY,
            options TEXT NOT NULL,
            updated_at REAL NOT NULL
        )""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
_OUR_TABLES = frozenset({"conversations", "messages", "presets", "sqlite_sequence"})


# --- errors -----------------------------------------------------------------------------


class ChatStoreError(Exception):
    """The store cannot do what was asked; the message is for the user."""


class ChatStoreBusy(ChatStoreError):
    """Another process kept the file locked for longer than the busy timeout."""


class NewerSchemaError(ChatStoreError):
    """The file was written by a newer version of the app; it is left as it is."""


class ChatNotFound(ChatStoreError):
    pass


class MessageNotFound(ChatStoreError):
    pass


class ImportRejected(ChatStoreError, ValueError):
    """A JSON export that is not one, or breaks a bound; nothing was written."""


class _Damaged(Exception):
    pass


# --- records ------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    parent_id: int | None
    role: Role
    content: str
    status: Status  # "streaming" only while its writer lives (see the module docstring)
    created_at: float  # seconds since the epoch
    updated_at: float
    meta: Mapping[str, Any] = field(default_factory=dict)  # ttft_s, tokens_per_s, model, ...


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str  # "" until the first user message gives it one
    title_auto: bool  # made from the first message (not given by the user)
    created_at: float
    updated_at: float  # last activity: a message added or finished
    deleted_at: float | None  # in the trash (restore_conversation undoes it)
    current_leaf: int | None  # the last message of the branch shown
    message_count: int  # stored messages, every version of edited or regenerated ones included


class _Leaf(enum.Enum):
    CURRENT = "current"
    KEEP = "keep"


CURRENT_LEAF = _Leaf.CURRENT
"""``add_message(parent=CURRENT_LEAF)``: after the conversation's current leaf."""
KEEP_LEAF = _Leaf.KEEP


def auto_title(text: str) -> str:
    """A title from a first message: one line, at most AUTO_TITLE_CHARS, cut at a word."""
    flat = "".join(c for c in " ".join(text[: AUTO_TITLE_CHARS * 20].split()) if c.isprintable())
    if len(flat) <= AUTO_TITLE_CHARS:
        return flat
    cut = flat[: AUTO_TITLE_CHARS - 1]
    space = cut.rfind(" ")
    if space >= AUTO_TITLE_CHARS // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def iso_time(timestamp: float) -> str:
    """A timestamp as ISO 8601 in UTC, to the millisecond (what exports and --json use)."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def _parse_iso(text: str, where: str) -> float:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ImportRejected(f"{where}: not an ISO 8601 time: {text[:40]!r}") from exc
    if value.tzinfo is None:
        raise ImportRejected(f"{where}: the time has no UTC offset: {text[:40]!r}")
    return value.timestamp()


# --- who writes a streaming reply -------------------------------------------------------

_HOST = socket.gethostname()
_self_started: float | None = None
_active_lock = threading.Lock()
_active: dict[str, set[int]] = {}  # store key -> ids of replies with an open ReplyWriter


def _process_started(pid: int | None = None) -> float:
    import psutil

    return float(psutil.Process(pid).create_time())


def _this_writer() -> str:
    global _self_started
    if _self_started is None:
        _self_started = _process_started()
    return json.dumps([_HOST, os.getpid(), _self_started])


def _process_alive(pid: int, started: float, updated_at: float) -> bool:
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(float(process.create_time()) - started) < 1.0
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's process: judge by the row's age
        return time.time() - updated_at < FOREIGN_WRITER_STALE_S


# --- the store -----------------------------------------------------------------------


class ChatStore:
    """Conversations, their message trees, presets; export and import. Thread-safe.

    ``ChatStore(path)`` opens (or creates) the file; ``ChatStore.in_memory()`` keeps
    everything in memory (the chat page before it had a store, tests). Every method
    blocks for a few milliseconds (longer while another process writes): a GUI calls it
    from an executor thread. Errors are ``ChatStoreError``s with a message for the user.
    """

    def __init__(self, path: Path | str, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self._memory = str(path) == ":memory:"
        self.path: Path | None = None if self._memory else Path(path)
        self.busy_timeout_s = busy_timeout_s
        self.recovered_from: Path | None = None
        """Where a damaged file was moved at open (None: it was fine, or there was none)."""
        self.damage: str | None = None
        """What was wrong with that file (SQLite's words)."""
        self._lock = threading.RLock()
        self._writers: set[ReplyWriter] = set()
        self._key = f"memory:{id(self)}" if self.path is None else str(self.path.resolve())
        self._conn: sqlite3.Connection | None = self._open()

    @classmethod
    def in_memory(cls) -> ChatStore:
        return cls(":memory:")

    def __enter__(self) -> ChatStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Writes what open reply writers hold (their rows then read as incomplete), closes."""
        for writer in list(self._writers):
            writer.abandon(flush=True)
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # --- opening, checking, migrating ----------------------------------------------------

    def _connect(self, target: str) -> sqlite3.Connection:
        conn = sqlite3.connect(
            target,
            timeout=self.busy_timeout_s,
            isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
            check_same_thread=False,  # guarded by self._lock
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
        return conn

    def _open(self) -> sqlite3.Connection:
        if self.path is None:
            conn = self._connect(":memory:")
            conn.execute("PRAGMA foreign_keys = ON")
            self._migrate(conn)
            return conn
        with contextlib.ExitStack() as stack:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                lock = self.path.with_name(self.path.name + ".lock")
                stack.enter_context(_file_lock(lock, self.busy_timeout_s))
            except OSError as exc:
                raise ChatStoreError(
                    f"{self.path} cannot be opened: {exc.strerror or exc}"
                ) from exc
            return self._open_locked(self.path)

    def _open_locked(self, path: Path) -> sqlite3.Connection:
        """Open and check ``path`` (a damaged file is moved aside), migrate, sweep; called
        under the lock file."""
        try:
            conn = self._open_checked(path)
        except _Damaged as exc:
            self.damage = str(exc)
            self.recovered_from = self._move_aside(path)
            log.warning(
                "chats: %s was damaged (%s); moved to %s, starting a new one",
                path,
                exc,
                self.recovered_from,
            )
            try:
                conn = self._open_checked(path)
            except _Damaged as again:
                raise ChatStoreError(f"{path} cannot be created: {again}") from again
        try:
            self._migrate(conn)
            self._sweep_dead_writers(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_checked(self, path: Path) -> sqlite3.Connection:
        """A connection to ``path``, checked; _Damaged when the file is damaged.

        The check runs on a read-only connection: closing it never checkpoints the WAL
        into the file or removes the WAL, so a damaged file is moved aside as it was.
        """
        if path.exists():
            self._check(path)
        try:
            conn = self._connect(str(path))
        except sqlite3.Error as exc:
            raise ChatStoreError(f"{path} cannot be opened: {exc}") from exc
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("chats: %s is in journal mode %s, not WAL", path, mode)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise _damage_or_error(exc, path) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _check(self, path: Path) -> None:
        """quick_check and the schema version, read-only; raises _Damaged or an error."""
        try:
            conn = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=self.busy_timeout_s
            )
        except sqlite3.Error as exc:
            raise ChatStoreError(f"{path} cannot be opened: {exc}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            rows = conn.execute("PRAGMA quick_check").fetchall()
            if rows != [("ok",)]:
                raise _Damaged("; ".join(str(row[0]) for row in rows[:3]))
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise NewerSchemaError(
                    f"{path} was written by a newer version of LLMOS Desktop (chat schema "
                    f"{version}; this version knows up to {SCHEMA_VERSION}). It was left as "
                    "it is: update LLMOS Desktop to open it."
                )
            if version == 0:
                tables = {
                    str(row[0])
                    for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                }
                if tables - _OUR_TABLES:
                    raise _Damaged(
                        "not a chats database (tables: " + ", ".join(sorted(tables)[:5]) + ")"
                    )
        except sqlite3.DatabaseError as exc:
            raise _damage_or_error(exc, path) from exc
        finally:
            conn.close()

    @staticmethod
    def _move_aside(path: Path) -> Path:
        """Rename ``path`` and its sidecars to ``<stem>.damaged-<time>.db[-wal|-shm]``.

        The sidecars go first: a new file must never meet the old file's WAL, whose
        frames SQLite would apply to it.
        """
        stamp = time.strftime("%Y%m%d-%H%M%S")
        stem = path.stem if path.suffix == ".db" else path.name
        suffixes = ("-wal", "-shm", "-journal")
        for n in range(1000):
            aside = path.with_name(f"{stem}.damaged-{stamp}{'' if n == 0 else f'-{n}'}.db")
            if aside.exists() or any(Path(f"{aside}{s}").exists() for s in suffixes):
                continue
            try:
                for suffix in suffixes:
                    sidecar = Path(f"{path}{suffix}")
                    if sidecar.exists():
                        os.replace(sidecar, Path(f"{aside}{suffix}"))
                os.replace(path, aside)
            except OSError as exc:
                raise ChatStoreError(
                    f"{path} is damaged and could not be moved aside ({exc.strerror or exc}); "
                    "close every program that uses it and try again"
                ) from exc
            return aside
        raise ChatStoreError(f"{path} is damaged and there is no free name to move it to")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version >= SCHEMA_VERSION:
            return
        with _transaction(conn, immediate=True):
            # Read again inside the write lock: another process may have migrated it.
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step]:
                    conn.execute(statement)
                log.info("chats: schema %d -> %d", step, step + 1)
            conn.execute(f"PRAGMA user_version = {max(version, SCHEMA_VERSION)}")

    def _sweep_dead_writers(self, conn: sqlite3.Connection) -> None:
        """Write down, as incomplete, the streaming rows whose writer is gone."""
        rows = conn.execute(
            "SELECT id, writer, updated_at FROM messages WHERE status = 'streaming'"
        ).fetchall()
        dead = [row for row in rows if not self._writer_alive(row[1], row[2], row[0])]
        if not dead:
            return
        with _transaction(conn, immediate=True):
            for message_id, writer, _ in dead:
                conn.execute(
                    "UPDATE messages SET status = 'incomplete', writer = NULL "
                    "WHERE id = ? AND status = 'streaming' AND writer IS ?",
                    (message_id, writer),
                )
        log.info("chats: %d reply(s) left streaming by a dead process marked incomplete", len(dead))

    def _writer_alive(self, writer: Any, updated_at: float, message_id: int) -> bool:
        try:
            host, pid, started = json.loads(writer)
            if not (isinstance(host, str) and isinstance(pid, int) and isinstance(started, float)):
                return False
        except (TypeError, ValueError):
            return False
        if host != _HOST:
            return time.time() - updated_at < FOREIGN_WRITER_STALE_S
        if pid == os.getpid():
            with _active_lock:
                return message_id in _active.get(self._key, ())
        return _process_alive(pid, started, updated_at)

    # --- transactions ----------------------------------------------------------------------

    def _write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return self._transaction(immediate=True, failed="the chats could not be saved")

    def _read(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return self._transaction(immediate=False, failed="the chats could not be read")

    @contextlib.contextmanager
    def _transaction(self, *, immediate: bool, failed: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            try:
                with _transaction(conn, immediate=immediate):
                    yield conn
            except sqlite3.Error as exc:
                raise _store_error(exc, failed) from exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ChatStoreError("the chat store is closed")
        return self._conn

    def integrity_check(self) -> list[str]:
        """``PRAGMA integrity_check`` (the full one): ["ok"] when the file is sound."""
        with self._read() as conn:
            return [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]

    # --- conversations -------------------------------------------------------------------

    _CONVERSATION_SQL = (
        "SELECT c.id, c.title, c.title_auto, c.created_at, c.updated_at, c.deleted_at, "
        "c.current_leaf, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) "
        "FROM conversations c"
    )

    @staticmethod
    def _conversation_of(row: Sequence[Any]) -> Conversation:
        return Conversation(
            id=int(row[0]),
            title=str(row[1]),
            title_auto=bool(row[2]),
            created_at=float(row[3]),
            updated_at=float(row[4]),
            deleted_at=None if row[5] is None else float(row[5]),
            current_leaf=None if row[6] is None else int(row[6]),
            message_count=int(row[7]),
        )

    def _get_conversation(self, conn: sqlite3.Connection, conversation_id: int) -> Conversation:
        row = conn.execute(
            self._CONVERSATION_SQL + " WHERE c.id = ?", (conversation_id,)
        ).fetchone()
        if row is None:
            raise ChatNotFound(f"there is no chat {conversation_id}")
        return self._conversation_of(row)

    def create_conversation(
        self, *, title: str = "", options: ChatOptions | None = None
    ) -> Conversation:
        """A new, empty conversation; an empty title is made from the first user message."""
        clean = _clean_title(title)
        now = time.time()
        stored = json.dumps((options or ChatOptions()).stored())
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO conversations (title, title_auto, created_at, updated_at, options) "
                "VALUES (?, ?, ?, ?, ?)",
                (clean, 0 if clean else 1, now, now, stored),
            )
            return self._get_conversation(conn, int(cursor.lastrowid or 0))

    def conversation(self, conversation_id: int) -> Conversation:
        """One conversation (also one in the trash); ChatNotFound when there is none."""
        with self._read() as conn:
            return self._get_conversation(conn, conversation_id)

    def conversations(
        self, search: str | None = None, *, deleted: bool = False, limit: int | None = None
    ) -> list[Conversation]:
        """Conversations by last activity, newest first; ``search`` finds text in titles
        and in any message (every branch); ``deleted=True`` lists the trash instead."""
        sql = (
            self._CONVERSATION_SQL + " WHERE c.deleted_at IS " + ("NOT NULL" if deleted else "NULL")
        )
        params: list[Any] = []
        if search:
            pattern = "%" + _like_escape(search) + "%"
            sql += (
                " AND (c.title LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM messages m "
                "WHERE m.conversation_id = c.id AND m.content LIKE ? ESCAPE '\\'))"
            )
            params += [pattern, pattern]
        sql += " ORDER BY c.updated_at DESC, c.id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(max(0, limit))
        with self._read() as conn:
            return [self._conversation_of(row) for row in conn.execute(sql, params)]

    def most_recent(self) -> Conversation | None:
        """The conversation with the latest activity (not in the trash), if any."""
        found = self.conversations(limit=1)
        return found[0] if found else None

    def rename(self, conversation_id: int, title: str) -> Conversation:
        clean = _clean_title(title)
        with self._write() as conn:
            self._get_conversation(conn, conversation_id)
            conn.execute(
                "UPDATE conversations SET title = ?, title_auto = ? WHERE id = ?",
                (clean, 0 if clean else 1, conversation_id),
            )
            return self._get_conversation(conn, conversation_id)

    def delete_conversation(self, conversation_id: int) -> None:
        """Move to the trash (``restore_conversation`` undoes it; ``purge_*`` removes it)."""
        with self._write() as conn:
            self._get_conversation(conn, conversation_id)
            conn.execute(
                "UPDATE conversations SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                (time.time(), conversation_id),
            )

    def restore_conversation(self, conversation_id: int) -> Conversation:
        with self._write() as conn:
            self._get_conversation(conn, conversation_id)
            conn.execute(
                "UPDATE conversations SET deleted_at = NULL WHERE id = ?", (conversation_id,)
            )
            return self._get_conversation(conn, conversation_id)

    def purge_conversation(self, conversation_id: int) -> None:
        """Remove a conversation in the trash for good; one not in the trash is refused."""
        with self._write() as conn:
            found = self._get_conversation(conn, conversation_id)
            if found.deleted_at is None:
                raise ChatStoreError(f"chat {conversation_id} is not in the trash")
            conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def purge_deleted(self, older_than_s: float = 0.0) -> int:
        """Remove for good what has been in the trash longer than ``older_than_s``."""
        with self._write() as conn:
            cursor = conn.execute(
                "DELETE FROM conversations WHERE deleted_at IS NOT NULL AND deleted_at <= ?",
                (time.time() - older_than_s,),
            )
            return int(cursor.rowcount)

    def options(self, conversation_id: int) -> ChatOptions:
        with self._read() as conn:
            row = conn.execute(
                "SELECT options FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
        if row is None:
            raise ChatNotFound(f"there is no chat {conversation_id}")
        try:
            data = json.loads(row[0])
        except ValueError:
            data = None
        return ChatOptions.from_stored(data)

    def set_options(self, conversation_id: int, options: ChatOptions) -> None:
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE conversations SET options = ? WHERE id = ?",
                (json.dumps(options.stored()), conversation_id),
            )
            if cursor.rowcount == 0:
                raise ChatNotFound(f"there is no chat {conversation_id}")

    # --- messages -------------------------------------------------------------------------

    _MESSAGE_SQL = (
        "SELECT id, conversation_id, parent_id, role, content, status, created_at, updated_at, "
        "meta, writer FROM messages"
    )

    def _message_of(self, row: Sequence[Any]) -> Message:
        status = str(row[5])
        if status == "streaming" and not self._writer_alive(row[9], float(row[7]), int(row[0])):
            status = "incomplete"
        try:
            meta = json.loads(row[8])
        except ValueError:
            meta = {}
        return Message(
            id=int(row[0]),
            conversation_id=int(row[1]),
            parent_id=None if row[2] is None else int(row[2]),
            role=cast(Role, str(row[3])),
            content=str(row[4]),
            status=cast(Status, status),
            created_at=float(row[6]),
            updated_at=float(row[7]),
            meta=meta if isinstance(meta, dict) else {},
        )

    def _get_message(self, conn: sqlite3.Connection, message_id: int) -> Message:
        row = conn.execute(self._MESSAGE_SQL + " WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise MessageNotFound(f"there is no message {message_id}")
        return self._message_of(row)

    def message(self, message_id: int) -> Message:
        with self._read() as conn:
            return self._get_message(conn, message_id)

    def _insert_message(
        self,
        conn: sqlite3.Connection,
        conversation_id: int,
        role: Role,
        content: str,
        parent: int | _Leaf | None,
        status: Status,
        meta: Mapping[str, Any] | None,
        writer: str | None = None,
    ) -> Message:
        if role not in ROLES:
            raise ChatStoreError(f"unknown role {role!r}")
        conversation = self._get_conversation(conn, conversation_id)
        parent_id = conversation.current_leaf if parent is CURRENT_LEAF else parent
        if isinstance(parent_id, _Leaf):
            raise ChatStoreError("KEEP_LEAF is not a parent")
        if parent_id is not None:
            found = self._get_message(conn, parent_id)
            if found.conversation_id != conversation_id:
                raise ChatStoreError(f"message {parent_id} belongs to another chat")
        now = time.time()
        cursor = conn.execute(
            "INSERT INTO messages (conversation_id, parent_id, role, content, status, "
            "created_at, updated_at, meta, writer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (conversation_id, parent_id, role, content, status, now, now, _dump_meta(meta), writer),
        )
        message_id = int(cursor.lastrowid or 0)
        conn.execute(
            "UPDATE conversations SET current_leaf = ?, updated_at = ? WHERE id = ?",
            (message_id, now, conversation_id),
        )
        if role == "user" and conversation.title_auto and not conversation.title:
            conn.execute(
                "UPDATE conversations SET title = ? WHERE id = ?",
                (auto_title(content), conversation_id),
            )
        return self._get_message(conn, message_id)

    def add_message(
        self,
        conversation_id: int,
        role: Role,
        content: str,
        *,
        parent: int | _Leaf | None = CURRENT_LEAF,
        status: Status = "complete",
        meta: Mapping[str, Any] | None = None,
    ) -> Message:
        """Add a message (one transaction) after ``parent`` (by default the current leaf)
        and make it the current leaf. The first user message titles an untitled chat."""
        if status == "streaming":
            raise ChatStoreError("a streaming reply is started with start_reply")
        with self._write() as conn:
            return self._insert_message(conn, conversation_id, role, content, parent, status, meta)

    def update_message(
        self,
        message_id: int,
        *,
        content: str | None = None,
        status: Status | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Message:
        """Change a message's text, status or meta (``meta`` replaces the old one)."""
        if status == "streaming":
            raise ChatStoreError("a streaming reply is started with start_reply")
        with self._write() as conn:
            self._get_message(conn, message_id)
            now = time.time()
            if content is not None:
                conn.execute(
                    "UPDATE messages SET content = ?, updated_at = ? WHERE id = ?",
                    (content, now, message_id),
                )
            if status is not None:
                conn.execute(
                    "UPDATE messages SET status = ?, writer = NULL, updated_at = ? WHERE id = ?",
                    (status, now, message_id),
                )
            if meta is not None:
                conn.execute(
                    "UPDATE messages SET meta = ?, updated_at = ? WHERE id = ?",
                    (_dump_meta(meta), now, message_id),
                )
            return self._get_message(conn, message_id)

    def _remove(self, conn: sqlite3.Connection, message: Message) -> None:
        conn.execute(
            "UPDATE messages SET parent_id = ? WHERE parent_id = ?", (message.parent_id, message.id)
        )
        conn.execute("DELETE FROM messages WHERE id = ?", (message.id,))

    def _newest_descent(
        self, conn: sqlite3.Connection, conversation_id: int, start: int | None
    ) -> int | None:
        """From ``start`` (None: the roots) down the newest child at each step to a leaf."""
        current = start
        while True:
            if current is None:
                row = conn.execute(
                    "SELECT MAX(id) FROM messages WHERE conversation_id = ? AND parent_id IS NULL",
                    (conversation_id,),
                ).fetchone()
            else:
                row = conn.execute(
                    "SELECT MAX(id) FROM messages WHERE parent_id = ?", (current,)
                ).fetchone()
            if row is None or row[0] is None:
                return current
            current = int(row[0])

    def _after_removal(self, conn: sqlite3.Connection, conversation_id: int) -> None:
        """An auto title made from messages that are all gone is given up."""
        conn.execute(
            "UPDATE conversations SET title = '' WHERE id = ? AND title_auto = 1 AND NOT EXISTS "
            "(SELECT 1 FROM messages WHERE conversation_id = ?)",
            (conversation_id, conversation_id),
        )

    def delete_message(self, message_id: int) -> int | None:
        """Delete one message; its replies move up to its parent. Returns the current leaf
        (when the deleted message was the leaf: the newest branch from its parent)."""
        with self._write() as conn:
            message = self._get_message(conn, message_id)
            conversation = self._get_conversation(conn, message.conversation_id)
            self._remove(conn, message)
            leaf = conversation.current_leaf
            if leaf == message_id:
                leaf = self._newest_descent(conn, message.conversation_id, message.parent_id)
                conn.execute(
                    "UPDATE conversations SET current_leaf = ? WHERE id = ?",
                    (leaf, conversation.id),
                )
            self._after_removal(conn, conversation.id)
            return leaf

    def remove_messages(
        self,
        conversation_id: int,
        message_ids: Sequence[int],
        *,
        leaf: int | _Leaf | None = KEEP_LEAF,
    ) -> None:
        """Delete messages as ``delete_message`` does and set the current leaf (KEEP_LEAF:
        keep it), in one transaction: a reply that produced nothing takes back its rows.
        A leaf that is gone falls back to the newest branch."""
        with self._write() as conn:
            conversation = self._get_conversation(conn, conversation_id)
            for message_id in message_ids:
                row = conn.execute(self._MESSAGE_SQL + " WHERE id = ?", (message_id,)).fetchone()
                if row is not None and int(row[1]) == conversation_id:
                    self._remove(conn, self._message_of(row))
            wanted = conversation.current_leaf if isinstance(leaf, _Leaf) else leaf
            if (
                wanted is not None
                and not conn.execute(
                    "SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?",
                    (wanted, conversation_id),
                ).fetchone()
            ):
                wanted = self._newest_descent(conn, conversation_id, None)
            conn.execute(
                "UPDATE conversations SET current_leaf = ? WHERE id = ?", (wanted, conversation_id)
            )
            self._after_removal(conn, conversation_id)

    def _path(self, conn: sqlite3.Connection, leaf: int | None) -> list[Message]:
        if leaf is None:
            return []
        rows = conn.execute(
            "WITH RECURSIVE up (id, depth) AS (SELECT ?, 0 UNION ALL "
            "SELECT m.parent_id, up.depth + 1 FROM messages m JOIN up ON m.id = up.id "
            "WHERE m.parent_id IS NOT NULL AND up.depth < 10000000) "
            "SELECT m.id, m.conversation_id, m.parent_id, m.role, m.content, m.status, "
            "m.created_at, m.updated_at, m.meta, m.writer "
            "FROM up JOIN messages m ON m.id = up.id ORDER BY up.depth DESC",
            (leaf,),
        ).fetchall()
        return [self._message_of(row) for row in rows]

    def thread(self, conversation_id: int) -> list[Message]:
        """The branch shown: the messages from the root to the current leaf."""
        with self._read() as conn:
            conversation = self._get_conversation(conn, conversation_id)
            return self._path(conn, conversation.current_leaf)

    def path_to(self, message_id: int) -> list[Message]:
        """The messages from the root to ``message_id``, inclusive."""
        with self._read() as conn:
            self._get_message(conn, message_id)
            return self._path(conn, message_id)

    def children(self, message_id: int) -> list[Message]:
        with self._read() as conn:
            rows = conn.execute(
                self._MESSAGE_SQL + " WHERE parent_id = ? ORDER BY id", (message_id,)
            ).fetchall()
            return [self._message_of(row) for row in rows]

    def siblings(self, message_id: int) -> list[Message]:
        """The versions at this point of the tree (the message included), oldest first."""
        with self._read() as conn:
            message = self._get_message(conn, message_id)
            rows = conn.execute(
                self._MESSAGE_SQL + " WHERE conversation_id = ? AND parent_id IS ? ORDER BY id",
                (message.conversation_id, message.parent_id),
            ).fetchall()
            return [self._message_of(row) for row in rows]

    def versions(self, conversation_id: int) -> dict[int, tuple[int, int]]:
        """(version, versions) of every message that has siblings, 1-based, oldest first:
        what ``siblings`` gives per message, for a whole conversation in one query."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, parent_id FROM messages WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            ).fetchall()
        by_parent: dict[int | None, list[int]] = {}
        for message_id, parent_id in rows:
            by_parent.setdefault(parent_id, []).append(int(message_id))
        return {
            message_id: (index, len(ids))
            for ids in by_parent.values()
            if len(ids) > 1
            for index, message_id in enumerate(ids, start=1)
        }

    def select(self, message_id: int) -> int:
        """Show the branch through ``message_id`` (e.g. another version of a reply): the
        current leaf becomes the end of its newest continuation. Returns that leaf."""
        with self._write() as conn:
            message = self._get_message(conn, message_id)
            leaf = self._newest_descent(conn, message.conversation_id, message_id)
            assert leaf is not None
            conn.execute(
                "UPDATE conversations SET current_leaf = ? WHERE id = ?",
                (leaf, message.conversation_id),
            )
            return leaf

    def set_leaf(self, conversation_id: int, message_id: int | None) -> None:
        """Make ``message_id`` (of this conversation) the current leaf, exactly."""
        with self._write() as conn:
            self._get_conversation(conn, conversation_id)
            if message_id is not None:
                found = self._get_message(conn, message_id)
                if found.conversation_id != conversation_id:
                    raise ChatStoreError(f"message {message_id} belongs to another chat")
            conn.execute(
                "UPDATE conversations SET current_leaf = ? WHERE id = ?",
                (message_id, conversation_id),
            )

    # --- streaming replies ------------------------------------------------------------------

    def start_reply(
        self,
        conversation_id: int,
        parent: int | _Leaf | None = CURRENT_LEAF,
        *,
        meta: Mapping[str, Any] | None = None,
        interval_s: float = FLUSH_INTERVAL_S,
    ) -> ReplyWriter:
        """Create the assistant's row (status streaming; the current leaf) and a writer
        that saves its text as it grows."""
        with self._write() as conn:
            message = self._insert_message(
                conn, conversation_id, "assistant", "", parent, "streaming", meta, _this_writer()
            )
            self._register(message.id)
            message = self._get_message(conn, message.id)  # now read as streaming
        return ReplyWriter(self, message, prefix="", interval_s=interval_s)

    def resume_reply(self, message_id: int, *, interval_s: float = FLUSH_INTERVAL_S) -> ReplyWriter:
        """A writer that appends to an existing assistant message (Continue)."""
        with self._write() as conn:
            message = self._get_message(conn, message_id)
            if message.role != "assistant":
                raise ChatStoreError("only a reply of the assistant can be continued")
            if message.status == "streaming":
                raise ChatStoreError("this reply is being written right now")
            conn.execute(
                "UPDATE messages SET status = 'streaming', writer = ?, updated_at = ? WHERE id = ?",
                (_this_writer(), time.time(), message_id),
            )
            self._register(message_id)
            message = self._get_message(conn, message_id)
        return ReplyWriter(self, message, prefix=message.content, interval_s=interval_s)

    def _register(self, message_id: int) -> None:
        with _active_lock:
            _active.setdefault(self._key, set()).add(message_id)

    def _unregister(self, message_id: int) -> None:
        with _active_lock:
            _active.get(self._key, set()).discard(message_id)

    def _write_reply(self, message_id: int, text: str) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE messages SET content = ?, updated_at = ? WHERE id = ?",
                (text, time.time(), message_id),
            )

    def _finish_reply(
        self, message_id: int, text: str, status: Status, meta: Mapping[str, Any] | None
    ) -> Message | None:
        with self._write() as conn:
            row = conn.execute(
                "SELECT meta, conversation_id FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
            if row is None:  # deleted meanwhile (by the user, or another process)
                return None
            try:
                merged = json.loads(row[0])
            except ValueError:
                merged = {}
            merged = {**(merged if isinstance(merged, dict) else {}), **(meta or {})}
            now = time.time()
            conn.execute(
                "UPDATE messages SET content = ?, status = ?, writer = NULL, meta = ?, "
                "updated_at = ? WHERE id = ?",
                (text, status, _dump_meta(merged), now, message_id),
            )
            conn.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, row[1]))
            return self._get_message(conn, message_id)

    # --- presets --------------------------------------------------------------------------

    def save_preset(self, name: str, options: ChatOptions) -> None:
        """Save (or replace) a named set of chat options."""
        clean = " ".join(name.split())
        if not clean or len(clean) > MAX_PRESET_NAME_CHARS or not clean.isprintable():
            raise ChatStoreError(
                f"a preset name must be 1 to {MAX_PRESET_NAME_CHARS} printable characters"
            )
        with self._write() as conn:
            conn.execute(
                "INSERT INTO presets (name, options, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET options = excluded.options, "
                "updated_at = excluded.updated_at",
                (clean, json.dumps(options.stored()), time.time()),
            )

    def presets(self) -> dict[str, ChatOptions]:
        """The presets by name, in name order."""
        with self._read() as conn:
            rows = conn.execute("SELECT name, options FROM presets ORDER BY name").fetchall()
        out: dict[str, ChatOptions] = {}
        for name, text in rows:
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            out[str(name)] = ChatOptions.from_stored(data)
        return out

    def delete_preset(self, name: str) -> bool:
        with self._write() as conn:
            return conn.execute("DELETE FROM presets WHERE name = ?", (name,)).rowcount > 0

    # --- export and import -----------------------------------------------------------------

    def export_markdown(self, conversation_id: int) -> str:
        """The branch shown, as Markdown (replies are Markdown already)."""
        conversation = self.conversation(conversation_id)
        options = self.options(conversation_id)
        thread = self.thread(conversation_id)
        lines = [f"# {conversation.title or 'Untitled chat'}", ""]
        lines.append(f"- Started: {iso_time(conversation.created_at)}")
        lines.append(f"- Last activity: {iso_time(conversation.updated_at)}")
        if options.model_path:
            lines.append(f"- Model: {Path(options.model_path).name}")
        lines.append("")
        if options.system_prompt:
            lines += ["## System", "", options.system_prompt, ""]
        for message in thread:
            lines += [f"## {message.role.capitalize()}", "", message.content, ""]
            if message.role == "assistant" and message.status != "complete":
                lines += ["*(incomplete reply)*", ""]
        return "\n".join(lines).rstrip("\n") + "\n"

    def export_json(self, conversation_id: int) -> str:
        """The whole conversation (every branch) as JSON, in export format version 1."""
        with self._read() as conn:
            conversation = self._get_conversation(conn, conversation_id)
            rows = conn.execute(
                self._MESSAGE_SQL + " WHERE conversation_id = ? ORDER BY id", (conversation_id,)
            ).fetchall()
            messages = [self._message_of(row) for row in rows]
        options = self.options(conversation_id)
        data = {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "exported_at": iso_time(time.time()),
            "conversation": {
                "title": conversation.title,
                "title_auto": conversation.title_auto,
                "created_at": iso_time(conversation.created_at),
                "updated_at": iso_time(conversation.updated_at),
                "options": options.stored(),
                "current": conversation.current_leaf,
                "messages": [
                    {
                        "id": m.id,
                        "parent": m.parent_id,
                        "role": m.role,
                        "content": m.content,
                        "status": "complete" if m.status == "complete" else "incomplete",
                        "created_at": iso_time(m.created_at),
                        "updated_at": iso_time(m.updated_at),
                        "meta": dict(m.meta),
                    }
                    for m in messages
                ],
            },
        }
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"

    def import_json(self, data: str | bytes) -> Conversation:
        """A conversation from ``export_json``'s format, as a new conversation.

        Everything is checked before anything is written (ImportRejected names the first
        problem); then one transaction writes it all. The imported chat's last activity is
        now, so it shows at the top of the list; every other time is kept.
        """
        parsed = _parse_export(data)
        conv = parsed.conversation
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO conversations (title, title_auto, created_at, updated_at, options) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    _clean_title(conv.title),
                    1 if conv.title_auto else 0,
                    _parse_iso(conv.created_at, "conversation.created_at"),
                    time.time(),
                    json.dumps(ChatOptions.model_validate(conv.options).stored()),
                ),
            )
            new_conversation = int(cursor.lastrowid or 0)
            ids: dict[int, int] = {}
            for i, m in enumerate(conv.messages):
                where = f"conversation.messages.{i}"
                cursor = conn.execute(
                    "INSERT INTO messages (conversation_id, parent_id, role, content, status, "
                    "created_at, updated_at, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        new_conversation,
                        None if m.parent is None else ids[m.parent],
                        m.role,
                        m.content,
                        m.status,
                        _parse_iso(m.created_at, where + ".created_at"),
                        _parse_iso(m.updated_at, where + ".updated_at"),
                        _dump_meta(m.meta),
                    ),
                )
                ids[m.id] = int(cursor.lastrowid or 0)
            leaf = None if conv.current is None else ids[conv.current]
            conn.execute(
                "UPDATE conversations SET current_leaf = ? WHERE id = ?", (leaf, new_conversation)
            )
            return self._get_conversation(conn, new_conversation)


# --- the streaming reply ------------------------------------------------------------------


class ReplyWriter:
    """Saves one streaming reply into its row while it grows, and at its end.

    ``append`` only adds to memory (it is called per token on the event loop's thread);
    a timer thread writes the text so far about once a second when it changed, in one
    transaction. ``finish`` writes the final text, status and meta; ``abandon`` stops
    without a final write (the caller removes or keeps the row). Until one of them, the
    row reads as streaming; after a kill, as incomplete with what the last write held.
    """

    def __init__(
        self, store: ChatStore, message: Message, *, prefix: str, interval_s: float
    ) -> None:
        self.message = message
        self.message_id = message.id
        self.conversation_id = message.conversation_id
        self._store = store
        self._pieces: list[str] = [prefix] if prefix else []
        self._lock = threading.Lock()  # the pieces
        self._write_lock = threading.Lock()  # one write at a time, the newest text last
        self._dirty = False
        self._closed = False
        self._stop = threading.Event()
        self._interval_s = interval_s
        store._writers.add(self)
        self._thread = threading.Thread(
            target=self._run, name=f"chat-reply-{message.id}", daemon=True
        )
        self._thread.start()

    @property
    def text(self) -> str:
        """All of the reply's text so far (with the text it continues)."""
        with self._lock:
            joined = "".join(self._pieces)
            self._pieces = [joined] if joined else []
            return joined

    def append(self, piece: str) -> None:
        if piece:
            with self._lock:
                self._pieces.append(piece)
                self._dirty = True

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.flush()
            except ChatStoreError as exc:  # kept in memory; the next tick tries again
                log.warning("chats: a reply could not be saved yet: %s", exc)

    def flush(self) -> None:
        """Write the text so far now, if it changed since the last write."""
        with self._write_lock:
            with self._lock:
                if not self._dirty or self._closed:
                    return
                self._dirty = False
            self._store._write_reply(self.message_id, self.text)

    def _stop_timer(self) -> None:
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def finish(
        self, status: Literal["complete", "incomplete"], meta: Mapping[str, Any] | None = None
    ) -> Message | None:
        """The final text, ``status`` and ``meta`` (merged into the row's), in one transaction.

        Returns the stored message (None when it was deleted meanwhile).
        """
        self._stop_timer()
        with self._write_lock:
            self._closed = True
            try:
                return self._store._finish_reply(self.message_id, self.text, status, meta)
            finally:
                self._release()

    def abandon(self, *, flush: bool = False) -> None:
        """Stop writing; with ``flush``, write the text so far first. The row then reads as
        incomplete (its writer is gone)."""
        self._stop_timer()
        try:
            if flush:
                with contextlib.suppress(ChatStoreError):
                    self.flush()
        finally:
            with self._write_lock:
                self._closed = True
            self._release()

    def _release(self) -> None:
        self._store._unregister(self.message_id)
        self._store._writers.discard(self)


# --- helpers ---------------------------------------------------------------------------


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection, *, immediate: bool) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _damage_or_error(exc: sqlite3.DatabaseError, path: Path) -> Exception:
    """SQLite's "corrupt" and "not a database" are damage; anything else is an error."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return _Damaged(str(exc))
    return _store_error(exc, f"{path} cannot be opened")


def _store_error(exc: sqlite3.Error, what: str) -> ChatStoreError:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return ChatStoreBusy(f"{what}: another program kept the chats locked ({exc})")
    return ChatStoreError(f"{what}: {exc}")


@contextlib.contextmanager
def _file_lock(path: Path, timeout_s: float) -> Iterator[None]:
    """An exclusive lock on ``path`` between processes (flock; a byte lock on Windows)."""
    deadline = time.monotonic() + timeout_s
    with open(path, "a+b") as handle:
        lock, unlock = _lock_calls(handle)
        while True:
            try:
                lock()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise ChatStoreBusy(f"{path} stayed locked by another program") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            unlock()


def _lock_calls(handle: Any) -> tuple[Callable[[], None], Callable[[], None]]:
    """(try to lock without waiting, unlock) for an open file, on this platform."""
    fd = handle.fileno()
    if sys.platform == "win32":
        import msvcrt

        def lock() -> None:
            handle.seek(0)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

        def unlock() -> None:
            handle.seek(0)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

        return lock, unlock
    import fcntl

    return (
        lambda: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB),
        lambda: fcntl.flock(fd, fcntl.LOCK_UN),
    )


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _clean_title(title: str) -> str:
    clean = "".join(c for c in " ".join(title.split()) if c.isprintable())
    if len(clean) > MAX_TITLE_CHARS:
        raise ChatStoreError(f"a title may have at most {MAX_TITLE_CHARS} characters")
    return clean


def _dump_meta(meta: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(meta or {}), ensure_ascii=False, allow_nan=False, default=str)


# --- the export format, as checked on import ---------------------------------------------

_Timestamp = Annotated[str, Field(max_length=MAX_TIMESTAMP_CHARS)]
_Id = Annotated[int, Field(ge=0, le=2**53)]


class _ExportedMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: _Id
    parent: _Id | None
    role: Role
    content: Annotated[str, Field(max_length=MAX_IMPORT_MESSAGE_CHARS)]
    status: Literal["complete", "incomplete"]
    created_at: _Timestamp
    updated_at: _Timestamp
    meta: dict[str, Any]


class _ExportedConversation(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    title: Annotated[str, Field(max_length=MAX_TITLE_CHARS)]
    title_auto: bool
    created_at: _Timestamp
    updated_at: _Timestamp
    options: dict[str, Any]
    current: _Id | None
    messages: Annotated[list[_ExportedMessage], Field(max_length=MAX_IMPORT_MESSAGES)]


class _ExportFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    format: Literal["llmos-chat"]
    version: Literal[1]
    exported_at: _Timestamp
    conversation: _ExportedConversation


def _parse_export(data: str | bytes) -> _ExportFile:
    size = len(data.encode("utf-8") if isinstance(data, str) else data)
    if size > MAX_IMPORT_BYTES:
        raise ImportRejected(
            f"the file is {size:,} bytes; an export may have at most {MAX_IMPORT_BYTES:,}"
        )
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ImportRejected(f"not JSON: {str(exc)[:200]}") from exc
    if not isinstance(raw, dict) or raw.get("format") != EXPORT_FORMAT:
        raise ImportRejected(f'not an LLMOS chat export (no "format": "{EXPORT_FORMAT}")')
    version = raw.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > EXPORT_VERSION:
        raise ImportRejected(
            f"this export is format version {version}, from a newer LLMOS Desktop; this "
            f"version reads version {EXPORT_VERSION}"
        )
    try:
        parsed = _ExportFile.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "the file"
        raise ImportRejected(f"{where}: {error['msg']}") from None
    conv = parsed.conversation
    try:
        ChatOptions.model_validate(conv.options)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in ("conversation", "options", *error["loc"]))
        raise ImportRejected(f"{where}: {error['msg']}") from None
    _parse_iso(parsed.exported_at, "exported_at")
    _parse_iso(conv.created_at, "conversation.created_at")
    _parse_iso(conv.updated_at, "conversation.updated_at")
    seen: set[int] = set()
    for i, m in enumerate(conv.messages):
        where = f"conversation.messages.{i}"
        if m.id in seen:
            raise ImportRejected(f"{where}.id: {m.id} appears twice")
        if m.parent is not None and m.parent not in seen:
            raise ImportRejected(
                f"{where}.parent: {m.parent} is not an earlier message (a parent comes first)"
            )
        try:
            meta_size = len(_dump_meta(m.meta).encode("utf-8"))
        except (ValueError, TypeError, RecursionError) as exc:
            raise ImportRejected(f"{where}.meta: {exc}") from None
        if meta_size > MAX_IMPORT_META_BYTES:
            raise ImportRejected(f"{where}.meta: more than {MAX_IMPORT_META_BYTES:,} bytes")
        _parse_iso(m.created_at, where + ".created_at")
        _parse_iso(m.updated_at, where + ".updated_at")
        seen.add(m.id)
    if conv.current is not None and conv.current not in seen:
        raise ImportRejected(f"conversation.current: there is no message {conv.current}")
    return parsed


__all__ = [
    "CHATS_FILE_NAME",
    "CURRENT_LEAF",
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "KEEP_LEAF",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "ChatNotFound",
    "ChatStore",
    "ChatStoreBusy",
    "ChatStoreError",
    "Conversation",
    "ImportRejected",
    "Message",
    "MessageNotFound",
    "NewerSchemaError",
    "ReplyWriter",
    "Role",
    "Status",
    "auto_title",
    "iso_time",
]
