"""The lab's stored measurements and comparisons: one SQLite file, ``data/lab/results.db``.

Model files are named by absolute path (``Path.absolute()``, symlinks not resolved).

Every finished quantization, perplexity, speed and score run is a row (``LabRecord``): the
model file (path, size, type), what kind of measurement, on what (``label``: the text, the
sizes, the dataset), the result as JSON and the time. A comparison is a name and a list
of model files; opening it gathers the records of those files, so a comparison that is
reopened shows every measurement made since, and adding a model extends it.

The window and ``llmos lab`` may use the file at once, as the chat store does
(core/chat/store.py): WAL, a busy timeout, every write in ``BEGIN IMMEDIATE``; a file that
is not a database or fails ``PRAGMA quick_check`` is moved aside
(``results.damaged-<time>.db``, reported by ``recovered_from``) and a new one started, never
emptied in place; ``PRAGMA user_version`` marks the schema, and a file from a newer version
is refused and left alone. A row whose JSON cannot be read (written by hand, or by a bug)
is skipped and logged, never an exception that hides the other rows.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from llmos_desktop.core.lab.types import (
    BenchResult,
    Comparison,
    LabError,
    LabRecord,
    LabRecordKind,
    PerplexityResult,
    QuantizeResult,
    ScoreResult,
)

__all__ = ["SCHEMA_VERSION", "ResultStore", "default_results_path"]

_log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_KINDS = ("perplexity", "bench", "score", "quantize")
_MAX_NAME = 200
_SCHEMA = """
CREATE TABLE records (
    id INTEGER PRIMARY KEY,
    model_path TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    quant_type TEXT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX records_model ON records (model_path);
CREATE TABLE comparisons (
    name TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE comparison_models (
    name TEXT NOT NULL REFERENCES comparisons (name) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    model_path TEXT NOT NULL,
    PRIMARY KEY (name, model_path)
);
"""


def default_results_path(data_folder: Path) -> Path:
    """``<data folder>/lab/results.db`` (the data folder: ``core.paths.app_paths().data``)."""
    return data_folder / "lab" / "results.db"


class ResultStore:
    """The stored records and comparisons; safe to share between threads (one lock).

    Every method blocks on disk I/O: the window calls them off the GUI thread.
    """

    def __init__(self, path: Path, *, busy_timeout_s: float = 15.0) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self.recovered_from: Path | None = None
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = self._open()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- records --------------------------------------------------------------------------

    def add(self, record: LabRecord) -> LabRecord:
        """Store ``record``; the stored record, with its id."""
        if record.kind not in _KINDS:
            raise LabError("invalid_job", f"Unknown kind of record {record.kind!r}.")
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO records (model_path, size_bytes, quant_type, kind, label, result,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    _absolute(record.model_path),
                    record.size_bytes,
                    record.quant_type,
                    record.kind,
                    record.label,
                    json.dumps(record.result, ensure_ascii=False, allow_nan=False),
                    record.created_at.astimezone(UTC).isoformat(),
                ),
            )
            record_id = int(cursor.lastrowid or 0)
        return LabRecord(
            _absolute(record.model_path),
            record.size_bytes,
            record.quant_type,
            record.kind,
            record.result,
            record.created_at,
            record.label,
            record_id,
        )

    def add_quantize(self, result: QuantizeResult) -> LabRecord:
        """A quantization's provenance: source file, its SHA-256 and type, the new type."""
        return self.add(
            LabRecord(
                str(result.path),
                result.size_bytes,
                result.qtype.value,
                "quantize",
                result.to_json(),
                result.created_at,
                f"from {Path(result.source).name}",
            )
        )

    def add_perplexity(self, model: Path, result: PerplexityResult, label: str) -> LabRecord:
        """``label``: what text it was measured on (``"en sample"``, a file name)."""
        return self.add(
            _record_for(model, "perplexity", result.to_json(), f"{label} ctx {result.n_ctx}")
        )

    def add_bench(self, model: Path, result: BenchResult) -> LabRecord:
        label = (
            f"pp{result.pp}/tg{result.tg}, {result.threads} threads, {result.gpu_layers} GPU layers"
        )
        return self.add(_record_for(model, "bench", result.to_json(), label))

    def add_score(self, model: Path, result: ScoreResult, label: str) -> LabRecord:
        """``label``: the dataset scored on."""
        return self.add(
            _record_for(
                model, "score", result.to_json(), f"{result.app_id} {result.metric} {label}"
            )
        )

    def records(
        self, model_path: str | None = None, kind: LabRecordKind | None = None
    ) -> list[LabRecord]:
        """Stored records, oldest first; only ``model_path``'s / of ``kind`` when given."""
        query = "SELECT * FROM records"
        where: list[str] = []
        args: list[Any] = []
        if model_path is not None:
            where.append("model_path = ?")
            args.append(_absolute(model_path))
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if where:
            query += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY id", args).fetchall()
        return [record for row in rows if (record := _row_record(row)) is not None]

    def delete_record(self, record_id: int) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM records WHERE id = ?", (record_id,))

    # --- comparisons ----------------------------------------------------------------------

    def save_comparison(self, name: str, models: Sequence[str | Path]) -> Comparison:
        """Create or replace the comparison ``name`` with exactly ``models`` (in order)."""
        name = _check_name(name)
        now = datetime.now(UTC).isoformat()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO comparisons (name, created_at, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at",
                (name, now, now),
            )
            conn.execute("DELETE FROM comparison_models WHERE name = ?", (name,))
            _insert_models(conn, name, models, 0)
        return self.comparison(name)

    def extend_comparison(self, name: str, models: Sequence[str | Path]) -> Comparison:
        """Add ``models`` to the saved comparison ``name`` (those in it already stay once)."""
        name = _check_name(name)
        with self._write() as conn:
            row = conn.execute("SELECT 1 FROM comparisons WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise LabError("invalid_job", f"No saved comparison named {name!r}.")
            start = conn.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM comparison_models WHERE name = ?",
                (name,),
            ).fetchone()[0]
            _insert_models(conn, name, models, int(start))
            conn.execute(
                "UPDATE comparisons SET updated_at = ? WHERE name = ?",
                (datetime.now(UTC).isoformat(), name),
            )
        return self.comparison(name)

    def comparison(self, name: str) -> Comparison:
        """The saved comparison ``name`` with every record of its models (oldest first)."""
        with self._lock:
            found = self._conn.execute(
                "SELECT 1 FROM comparisons WHERE name = ?", (name,)
            ).fetchone()
            models = [
                str(row[0])
                for row in self._conn.execute(
                    "SELECT model_path FROM comparison_models WHERE name = ? ORDER BY position",
                    (name,),
                )
            ]
        if found is None:
            raise LabError("invalid_job", f"No saved comparison named {name!r}.")
        records = [r for model in models for r in self.records(model)]
        records.sort(key=lambda r: r.record_id)
        return Comparison(name, tuple(models), tuple(records))

    def comparisons(self) -> list[Comparison]:
        """Every saved comparison, most recently changed first, with its records."""
        with self._lock:
            names = [
                str(row[0])
                for row in self._conn.execute(
                    "SELECT name FROM comparisons ORDER BY updated_at DESC, name"
                )
            ]
        return [self.comparison(name) for name in names]

    def delete_comparison(self, name: str) -> None:
        """Forget the comparison (its models' records stay)."""
        with self._write() as conn:
            conn.execute("DELETE FROM comparisons WHERE name = ?", (name,))

    # --- the file -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect_checked()
        except _Damaged as damaged:
            aside = self._move_aside()
            _log.warning("lab results: %s was damaged (%s); moved to %s", self.path, damaged, aside)
            self.recovered_from = aside
            return self._connect_checked()

    def _connect_checked(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise _Damaged("quick_check failed")
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                conn.close()
                raise LabError(
                    "io",
                    f"{self.path} was written by a newer LLMOS (schema {version}); "
                    "it is left as it is.",
                )
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            if version == 0:
                conn.execute("BEGIN IMMEDIATE")
                if int(conn.execute("PRAGMA user_version").fetchone()[0]) == 0:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
            return conn
        except sqlite3.DatabaseError as exc:
            conn.close()
            code = getattr(exc, "sqlite_errorcode", None)
            if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
                raise _Damaged(str(exc)) from exc
            raise LabError("io", f"{self.path} cannot be opened: {exc}") from exc

    def _move_aside(self) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        n = 0
        while True:
            aside = self.path.with_name(
                f"{self.path.stem}.damaged-{stamp}{'' if n == 0 else f'-{n}'}{self.path.suffix}"
            )
            if not aside.exists():
                break
            n += 1
        os.replace(self.path, aside)
        for suffix in ("-wal", "-shm"):
            extra = self.path.with_name(self.path.name + suffix)
            if extra.exists():
                os.replace(extra, aside.with_name(aside.name + suffix))
        return aside


class _Damaged(Exception):
    pass


def _record_for(model: Path, kind: LabRecordKind, result: dict[str, Any], label: str) -> LabRecord:
    """A record of ``model`` as it is on disk now (size, type from its header)."""
    from llmos_desktop.core.models.gguf.reader import ModelFileError, read_gguf_info

    try:
        info = read_gguf_info(model)
        size, quant = info.file_size, info.file_type or ""
    except ModelFileError:
        size, quant = 0, ""
    return LabRecord(str(model), size, quant, kind, result, datetime.now(UTC), label)


def _absolute(path: str | Path) -> str:
    """Model files are stored by absolute path, so a relative path given by the CLI and
    the library's absolute one name the same file."""
    return str(Path(path).absolute())


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > _MAX_NAME or any(ord(c) < 32 for c in name):
        raise LabError("invalid_job", "A comparison needs a name of 1 to 200 printable characters.")
    return name


def _insert_models(
    conn: sqlite3.Connection, name: str, models: Sequence[str | Path], start: int
) -> None:
    position = start
    for model in models:
        cursor = conn.execute(
            "INSERT OR IGNORE INTO comparison_models (name, position, model_path) VALUES (?, ?, ?)",
            (name, position, _absolute(model)),
        )
        position += cursor.rowcount


def _row_record(row: tuple[Any, ...]) -> LabRecord | None:
    record_id, model_path, size, quant, kind, label, result, created = row
    try:
        data = json.loads(result)
        if not isinstance(data, dict) or kind not in _KINDS:
            raise ValueError("not a result object")
        when = datetime.fromisoformat(created)
    except (ValueError, TypeError) as exc:
        _log.warning("lab results: record %s skipped: %s", record_id, exc)
        return None
    return LabRecord(
        str(model_path),
        int(size),
        str(quant),
        cast(LabRecordKind, kind),
        data,
        when if when.tzinfo else when.replace(tzinfo=UTC),
        str(label),
        int(record_id),
    )
