"""Task scores end to end (core/lab/score_run.py through LabService): a store app run
over a tiny dataset on the real engine process with the SmolLM2 instruct model, then
scored.

What a user checks: the score covers every pair and is the number sacrebleu and
rouge-score give for the outputs shown (the libraries are the judges here, called on
the outputs the result reports); the same run twice gives the same outputs (greedy);
progress goes pair by pair; the result is stored and still there after a restart;
Stop ends a run and stores nothing; a bad dataset or a failing app is one clear error,
before the engine is asked anything for the dataset.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import sacrebleu
from rouge_score.rouge_scorer import RougeScorer

from llmos_desktop.core.apps.manifest import AppError
from llmos_desktop.core.engine.contract import ModelLoad
from llmos_desktop.core.engine.control.service import Engine
from llmos_desktop.core.engine.control.supervisor import EngineSupervisor
from llmos_desktop.core.lab.scores import RougeTokenizer
from llmos_desktop.core.lab.service import LabService
from llmos_desktop.core.lab.types import LabError, LabProgress
from llmos_desktop.core.paths import app_paths
from llmos_desktop.core.settings import Settings
from tests.helpers.app_samples import app

CTX = 1024
THREADS = 1  # llama.cpp's spinning threads crawl on the shared, busy cores of a test machine
MAX_TOKENS = 24  # enough for a short sentence; keeps the runs to seconds

PAIRS: list[dict[str, Any]] = [
    {"id": "rain", "input": "今天下雨了。", "inputs": {"target": "English"},
     "reference": "It is raining today.", "lang": "en"},
    {"id": "cat", "input": "我有一只猫。", "inputs": {"target": "English"},
     "reference": "I have a cat.", "lang": "en"},
]  # fmt: skip


def _dataset(folder: Path, rows: Sequence[Mapping[str, Any]], name: str = "tiny.jsonl") -> Path:
    path = folder / name
    path.write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8"
    )
    return path


def _spec(path: Path) -> ModelLoad:
    return ModelLoad(path=str(path), n_ctx=CTX, n_threads=THREADS)


@pytest.mark.model
def test_scores_on_the_instruct_model(chat_model_path: Path, tmp_path: Path) -> None:
    paths = app_paths().ensure()
    data = _dataset(tmp_path, PAIRS)
    engine = Engine(EngineSupervisor(log_path=tmp_path / "engine.log"))
    service = LabService(paths, Settings(), engine=engine)
    spec = _spec(chat_model_path)
    seen: list[LabProgress] = []

    async def scenario() -> None:
        try:
            chrf = await service.score(
                "llmos.translator", data, "chrf", spec, seen.append, max_tokens=MAX_TOKENS
            )
            assert engine.loaded == spec
            assert (chrf.app_id, chrf.metric, chrf.n_pairs) == ("llmos.translator", "chrf", 2)
            assert chrf.model == str(chat_model_path)
            outputs = [item["output"] for item in chrf.details["outputs"]]
            assert [item["id"] for item in chrf.details["outputs"]] == ["rain", "cat"]
            assert all(text.strip() for text in outputs), "the model wrote something"
            references = [[row["reference"] for row in PAIRS]]
            expected = sacrebleu.corpus_chrf(outputs, references).score
            assert chrf.score == pytest.approx(expected, abs=1e-9)
            assert 0 <= chrf.score <= 100
            assert chrf.details["lang"] == "en"
            assert chrf.details["dataset"] == "tiny"
            assert chrf.details["max_tokens"] == MAX_TOKENS

            # Progress: pair by pair up to the end, then the scoring.
            running = [p.fraction for p in seen if p.stage == "running" and p.fraction is not None]
            assert running == sorted(running) and running[0] == 0 and running[-1] == 1.0
            assert seen[-1].stage == "scoring"

            # Greedy: the same model gives the same outputs; ROUGE as rouge-score gives it.
            rouge = await service.score(
                "llmos.translator", data, "rouge", spec, max_tokens=MAX_TOKENS
            )
            assert [item["output"] for item in rouge.details["outputs"]] == outputs
            scorer = RougeScorer(["rougeL"], tokenizer=RougeTokenizer())
            rouge_l = [
                scorer.score(row["reference"], out)["rougeL"].fmeasure
                for row, out in zip(PAIRS, outputs, strict=True)
            ]
            assert rouge.score == pytest.approx(100 * sum(rouge_l) / 2, abs=1e-9)
            # Stop: cancelling ends the run; nothing is stored; the engine serves the next.
            started = asyncio.Event()

            def on_progress(progress: LabProgress) -> None:
                if progress.stage == "running":
                    started.set()

            task = asyncio.create_task(
                service.score("llmos.translator", data, "bleu", spec, on_progress)
            )
            await asyncio.wait_for(started.wait(), 60)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            bleu = await service.score("llmos.translator", data, "bleu", spec, max_tokens=8)
            assert bleu.n_pairs == 2
            cut = [item["stopped_by"] for item in bleu.details["outputs"]]
            assert "max_tokens" in cut, "8 tokens cut at least one output"
        finally:
            await engine.close()

    try:
        asyncio.run(scenario())
        stored = service.results(kind="score")
        assert [r.result["metric"] for r in stored] == ["bleu", "rouge", "chrf"]
    finally:
        service.close()

    # The results are still there for a new service (a restart of the app, the CLI).
    with LabService(paths, Settings()) as again:
        records = again.results(model=chat_model_path, kind="score")
        assert len(records) == 3
        record = next(r for r in records if r.result["metric"] == "chrf")
        assert record.result["score"] == pytest.approx(chrf_score(record.result))
        assert record.model_path == str(chat_model_path)
        assert record.size_bytes == chat_model_path.stat().st_size
        assert record.quant_type == "Q4_1"
        assert "llmos.translator" in record.label and "tiny" in record.label
        # A comparison of the model shows its records, and still does after a restart.
        saved = again.save_comparison("smollm2", [chat_model_path])
        assert saved.models == (str(chat_model_path),)
        assert {r.record_id for r in saved.records} == {r.record_id for r in records}
    with LabService(paths, Settings()) as reopened:
        assert [c.name for c in reopened.comparisons()] == ["smollm2"]
        assert len(reopened.comparison("smollm2").records) == 3


def chrf_score(result: dict[str, object]) -> float:
    """chrF recomputed from a stored result's outputs, by sacrebleu."""
    details = result["details"]
    assert isinstance(details, dict)
    outputs = [item["output"] for item in details["outputs"]]
    return float(sacrebleu.corpus_chrf(outputs, [[row["reference"] for row in PAIRS]]).score)


@pytest.mark.model
def test_a_failing_app_names_the_pair(chat_model_path: Path, tmp_path: Path) -> None:
    paths = app_paths().ensure()
    contact = app("structured")
    rows = [
        {"id": "ok", "input": "Kim Lee is 27 and lives in Seoul.", "reference": "{}"},
        {"id": "second", "input": "Bob, 40, from Paris.", "reference": "{}"},
    ]
    data = _dataset(tmp_path, rows)
    engine = Engine(EngineSupervisor(log_path=tmp_path / "engine.log"))
    service = LabService(paths, Settings(), engine=engine)

    async def scenario() -> None:
        try:
            # Three tokens cannot hold the JSON: the app's own check fails the first pair.
            with pytest.raises(LabError) as failed:
                await service.score(contact, data, "chrf", _spec(chat_model_path), max_tokens=3)
            assert failed.value.kind == "app_failed"
            assert "pair ok" in failed.value.message
            assert "token limit" in failed.value.message
            assert isinstance(failed.value.__cause__, AppError)
        finally:
            await engine.close()

    try:
        asyncio.run(scenario())
        assert service.results(kind="score") == []
    finally:
        service.close()


def test_bad_requests_are_refused_before_the_engine(tmp_path: Path) -> None:
    paths = app_paths().ensure()
    engine = Engine(EngineSupervisor(log_path=tmp_path / "engine.log"))  # never started
    service = LabService(paths, Settings(), engine=engine)
    model = ModelLoad(path=str(tmp_path / "never-loaded.gguf"), n_ctx=CTX)
    bad_target = _dataset(
        tmp_path, [{"input": "Hi", "inputs": {"target": "Klingon"}, "reference": "x"}], "bad.jsonl"
    )
    not_json = tmp_path / "broken.jsonl"
    not_json.write_text('{"input": "a", "reference": "x"}\n{"input": \n', encoding="utf-8")

    async def scenario() -> None:
        with pytest.raises(LabError, match="line 1: target") as refused:
            await service.score("llmos.translator", bad_target, "bleu", model)
        assert refused.value.kind == "invalid_dataset"
        with pytest.raises(LabError, match="broken, line 2: not JSON"):
            await service.score("llmos.translator", not_json, "bleu", model)
        with pytest.raises(LabError, match="no such file"):
            await service.score("llmos.translator", tmp_path / "nope.jsonl", "bleu", model)
        with pytest.raises(AppError) as unknown:
            await service.score("org.example.none", bad_target, "bleu", model)
        assert unknown.value.kind == "not_found"
        with pytest.raises(LabError, match="No model is loaded"):
            await service.score("llmos.translator", _dataset(tmp_path, PAIRS), "bleu", None)
        assert not engine.running

    try:
        asyncio.run(scenario())
    finally:
        service.close()
    without = LabService(paths, Settings())
    try:
        with pytest.raises(LabError, match="No engine"):
            asyncio.run(without.score("llmos.translator", bad_target, "bleu", model))
    finally:
        without.close()
