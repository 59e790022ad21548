"""Stored lab results (core/lab/results.py) in a real SQLite file: written, reopened by
another store (as the window and the CLI do), extended, and never lost to a bad file."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from llmos_desktop.core.lab.results import SCHEMA_VERSION, ResultStore, default_results_path
from llmos_desktop.core.lab.types import (
    BenchResult,
    LabError,
    LabRecord,
    PerplexityResult,
    QuantizeResult,
    QuantType,
)
from tests.helpers.tiny_gguf import write_tiny_llama


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return default_results_path(tmp_path / "data")


def _ppl(value: float) -> PerplexityResult:
    return PerplexityResult(value, value / 50, 4, 252, 128, 3.0, 9000, (value,))


def test_records_are_kept_across_stores_with_the_models_size_and_type(
    db: Path, tmp_path: Path
) -> None:
    model = write_tiny_llama(tmp_path / "tiny-F32.gguf")
    store = ResultStore(db)
    ppl = store.add_perplexity(model, _ppl(12.5), "en sample")
    bench = store.add_bench(model, BenchResult(800.0, 9.0, 60.0, 1.0, 2, 512, 0, 5))
    store.close()

    again = ResultStore(db)  # another process would see the same
    records = again.records(str(model))
    assert [r.record_id for r in records] == [ppl.record_id, bench.record_id]
    assert [r.kind for r in records] == ["perplexity", "bench"]
    assert records[0].size_bytes == model.stat().st_size and records[0].quant_type == "F32"
    assert PerplexityResult.from_json(records[0].result) == _ppl(12.5)
    assert records[0].label == "en sample ctx 128"
    assert records[1].label.startswith("pp512/tg128")
    assert again.records(kind="bench") == [records[1]]
    assert db.parent.name == "lab" and db.name == "results.db"


def test_a_quantization_is_stored_with_its_provenance(db: Path) -> None:
    result = QuantizeResult(
        Path("/m/a-Q4_K_M.gguf"),
        QuantType.Q4_K_M,
        1000,
        Path("/m/a-F16.gguf"),
        "cd" * 32,
        5.0,
        "Paris",
        source_type="F16",
        verified_tokens=8,
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    store = ResultStore(db)
    [record] = [store.add_quantize(result)]
    [read] = ResultStore(db).records(kind="quantize")
    assert read == record
    assert read.created_at == result.created_at and read.quant_type == "Q4_K_M"
    assert QuantizeResult.from_json(read.result) == result


def test_a_comparison_is_reopened_and_extended_and_sees_new_measurements(
    db: Path, tmp_path: Path
) -> None:
    a = write_tiny_llama(tmp_path / "a.gguf")
    b = write_tiny_llama(tmp_path / "b.gguf", seed=1)
    store = ResultStore(db)
    store.add_perplexity(a, _ppl(10.0), "en")
    saved = store.save_comparison("tiny quants", [a])
    assert saved.models == (str(a),) and len(saved.records) == 1

    other = ResultStore(db)
    other.add_perplexity(b, _ppl(11.0), "en")
    extended = other.extend_comparison("tiny quants", [b, a])  # a is in it already
    assert extended.models == (str(a), str(b))
    store.add_perplexity(a, _ppl(9.5), "zh")  # measured after the comparison was saved

    reopened = ResultStore(db).comparison("tiny quants")
    assert [r.result["ppl"] for r in reopened.records] == [10.0, 11.0, 9.5]
    assert [c.name for c in ResultStore(db).comparisons()] == ["tiny quants"]

    replaced = store.save_comparison("tiny quants", [b])
    assert replaced.models == (str(b),)
    store.delete_comparison("tiny quants")
    assert store.comparisons() == []
    assert len(store.records()) == 3  # forgetting a comparison keeps the measurements


def test_bad_names_and_unknown_comparisons_are_clear_errors(db: Path) -> None:
    store = ResultStore(db)
    for name in ("", "   ", "x" * 201, "line\nbreak"):
        with pytest.raises(LabError) as caught:
            store.save_comparison(name, [])
        assert caught.value.kind == "invalid_job"
    with pytest.raises(LabError, match="No saved comparison"):
        store.comparison("never saved")
    with pytest.raises(LabError, match="No saved comparison"):
        store.extend_comparison("never saved", ["/m.gguf"])


def test_a_damaged_file_is_moved_aside_not_emptied(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a database, but someone's bytes")
    store = ResultStore(db)
    assert store.recovered_from is not None
    assert store.recovered_from.read_bytes() == b"this is not a database, but someone's bytes"
    assert store.recovered_from.name.startswith("results.damaged-")
    store.add(LabRecord("/m.gguf", 1, "Q8_0", "bench", {"x": 1}, datetime.now(UTC)))
    assert len(ResultStore(db).records()) == 1


def test_a_file_from_a_newer_version_is_refused_and_left_alone(db: Path) -> None:
    ResultStore(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = db.read_bytes()
    with pytest.raises(LabError, match="newer"):
        ResultStore(db)
    assert db.read_bytes() == before


def test_an_unreadable_row_is_skipped_not_fatal(db: Path) -> None:
    store = ResultStore(db)
    store.add(LabRecord("/m.gguf", 1, "Q8_0", "bench", {"ok": True}, datetime.now(UTC)))
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO records (model_path, size_bytes, quant_type, kind, label, result,"
            " created_at) VALUES ('/m.gguf', 1, '', 'bench', '', '{not json', 'x')"
        )
    assert [r.result for r in ResultStore(db).records()] == [{"ok": True}]
