"""``llmos lab``, run as a user runs it: real processes, the lab worker process, the
real engine with the SmolLM2 instruct model for ``score``, a tiny F32 GGUF written by the
test for ``quantize``.

What a user checks: each command's ``--json`` has the fields its ``--help`` documents,
with values that make sense (a quantized file that exists, is smaller and is listed by
``llmos models list``; a perplexity with its uncertainty; tokens per second for the
sizes asked; a score equal to what sacrebleu gives for the outputs it shows); every
result is stored, so another process sees it; a mistake is one ``llmos: error:`` line
and exit status 2, before a worker or an engine starts.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import gguf
import pytest
import sacrebleu

from llmos_desktop.core.lab.service import LabService
from llmos_desktop.core.paths import app_paths
from llmos_desktop.core.settings import Settings
from tests.helpers.cli import assert_ok, assert_one_line_error, llmos, one_thread_home
from tests.helpers.tiny_gguf import write_tiny_llama


@pytest.fixture
def home(llmos_home: Path) -> Path:
    return one_thread_home(llmos_home, n_ctx=1024)


def _llmos(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return llmos("lab", *args, timeout=timeout)


def _json(*args: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(assert_ok(_llmos(*args, "--json")).stdout)
    return value


def _stored(kind: str) -> list[dict[str, Any]]:
    with LabService(app_paths(), Settings()) as service:
        return [record.result for record in service.results(kind=kind)]  # type: ignore[arg-type]


def test_help_documents_every_command_and_its_json_fields() -> None:
    for action, fields in {
        "quantize": ("--allow-requantize", "source_sha256", "verified_reply", "Q4_K_M"),
        "perplexity": ("--ctx", "ppl_stderr", "n_tokens_scored", "default 512"),
        "bench": ("pp_tps_median", "tg_tps_spread", "gpu_layers"),
        "score": ("--metric", "{bleu,chrf,rouge}", "signature", "translate-en-zh"),
    }.items():
        text = assert_ok(_llmos(action, "--help")).stdout
        for field in fields:
            assert field in text, (action, field)
    listing = _llmos()
    assert listing.returncode == 2
    assert "quantize" in listing.stderr and "score" in listing.stderr


def test_quantize_into_the_library_with_provenance(home: Path, tmp_path: Path) -> None:
    source = write_tiny_llama(tmp_path / "tiny-F32.gguf")
    result = _json("quantize", str(source), "--type", "q8_0")
    out = Path(result["path"])
    assert out == home / "data" / "models" / "quantized" / "tiny-Q8_0.gguf"
    assert out.is_file() and out.stat().st_size == result["size_bytes"]
    assert result["size_bytes"] < source.stat().st_size / 3
    assert result["qtype"] == "Q8_0" and result["source_type"] == "F32"
    assert result["source"] == str(source)
    assert len(result["source_sha256"]) == 64
    assert result["created_at"].endswith("+00:00")
    assert not list(out.parent.glob(".*")), "no partial file is left"
    assert gguf.GGUFReader(out).fields["general.file_type"].parts[-1][0] == int(
        gguf.LlamaFileType.MOSTLY_Q8_0
    )

    # In the library, as the Models page and 'llmos models list' see it.
    models = json.loads(
        assert_ok(
            subprocess.run(
                [sys.executable, "-m", "llmos_desktop.cli", "models", "list", "--json"],
                capture_output=True,
                text=True,
                timeout=120,
            )
        ).stdout
    )
    (listed,) = [m for m in models if Path(m["path"]) == out]
    assert listed["origin"]["source"] == str(source) and listed["origin"]["qtype"] == "Q8_0"
    # With its provenance, for another process.
    with LabService(app_paths(), Settings()) as service:
        made = service.provenance(out)
        assert made is not None
        assert made.source == source and made.qtype.value == "Q8_0"
        assert made.source_sha256 == result["source_sha256"]

    # --out elsewhere (and the human form): the file is added to the library in place.
    elsewhere = tmp_path / "out" / "tiny-q4.gguf"
    elsewhere.parent.mkdir()
    human = assert_ok(
        _llmos("quantize", str(source), "--type", "Q4_K_M", "--out", str(elsewhere))
    ).stdout.splitlines()
    assert human[0].startswith(f"wrote {elsewhere} (Q4_K_M, ")
    assert human[1].startswith("it loads and generates: ")
    assert elsewhere.is_file()
    with LabService(app_paths(), Settings()) as service:
        assert service.models().model_at(elsewhere) is not None
    assert len(_stored("quantize")) == 2

    # Mistakes: one line, status 2, nothing written.
    assert_one_line_error(
        _llmos("quantize", str(source), "--type", "Q8_0"), "already exists", code=2
    )
    assert_one_line_error(
        _llmos("quantize", str(out), "--type", "Q4_0", "--out", str(tmp_path / "twice.gguf")),
        "already quantized",
        "--allow-requantize",
        code=2,
    )
    assert not (tmp_path / "twice.gguf").exists()
    assert_one_line_error(_llmos("quantize", str(source), "--type", "Q3_K"), "Q4_K_M", code=2)
    assert_one_line_error(
        _llmos("quantize", str(tmp_path / "missing.gguf"), "--type", "Q8_0"), "No model", code=2
    )
    # With the confirmation, requantizing works.
    again = _json(
        "quantize", str(out), "--type", "Q4_0", "--allow-requantize",
        "--out", str(tmp_path / "twice.gguf"),
    )  # fmt: skip
    assert again["source_type"] == "Q8_0"


@pytest.mark.model
def test_perplexity_and_bench(home: Path, chat_model_path: Path, tmp_path: Path) -> None:
    text = tmp_path / "story.txt"
    text.write_text(
        "Once upon a time there was a small village by the sea. " * 40, encoding="utf-8"
    )
    ppl = _json(
        "perplexity", str(chat_model_path), "--text", str(text), "--ctx", "128",
        "--chunks", "2", "--threads", "1",
    )  # fmt: skip
    assert ppl["n_ctx"] == 128 and ppl["n_chunks"] == 2
    assert ppl["n_tokens_scored"] == 2 * 63  # the second half of each chunk, minus one
    assert 1 < ppl["ppl"] < 1000 and math.isfinite(ppl["ppl"])
    assert 0 < ppl["ppl_stderr"] < ppl["ppl"]
    assert ppl["model"] == str(chat_model_path) and ppl["text"] == str(text)
    # A repeated sentence is easy to predict: far below a random text's perplexity.
    assert ppl["ppl"] < 20

    bench = _json(
        "bench", str(chat_model_path), "--pp", "32", "--tg", "8", "--reps", "2",
        "--threads", "1",
    )  # fmt: skip
    assert (bench["pp"], bench["tg"], bench["reps"], bench["threads"]) == (32, 8, 2, 1)
    assert len(bench["pp_tps_samples"]) == 2 and len(bench["tg_tps_samples"]) == 2
    assert bench["pp_tps_median"] > 0 and bench["tg_tps_median"] > 0
    assert bench["pp_tps_spread"] >= 0

    assert len(_stored("perplexity")) == 1 and len(_stored("bench")) == 1

    assert_one_line_error(
        _llmos("perplexity", str(chat_model_path), "--text", str(tmp_path / "none.txt")),
        "no such text file",
        code=2,
    )
    assert_one_line_error(_llmos("bench", str(tmp_path / "none.gguf")), "no such model", code=2)
    assert_one_line_error(
        _llmos("bench", str(chat_model_path), "--pp", "0", "--tg", "0"), "nothing to measure"
    )


@pytest.mark.model
def test_score(home: Path, chat_model_path: Path, tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [
        {"input": "早上好。", "inputs": {"target": "English"}, "reference": "Good morning."},
        {"input": "谢谢你。", "inputs": {"target": "English"}, "reference": "Thank you."},
    ]
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    result = _json(
        "score", "llmos.translator", "--data", str(data), "--metric", "bleu",
        "--model", str(chat_model_path), "--max-tokens", "16",
    )  # fmt: skip
    assert set(result) >= {"app_id", "metric", "score", "n_pairs", "model", "details"}
    assert (result["app_id"], result["metric"], result["n_pairs"]) == (
        "llmos.translator",
        "bleu",
        2,
    )
    assert result["model"] == str(chat_model_path)
    outputs = [item["output"] for item in result["details"]["outputs"]]
    assert len(outputs) == 2 and all(o.strip() for o in outputs)
    expected = sacrebleu.corpus_bleu(outputs, [[r["reference"] for r in rows]])
    assert result["score"] == pytest.approx(expected.score, abs=1e-9)
    assert "tok:13a" in result["details"]["signature"]
    assert result["details"]["lang"] is None  # English references: sacrebleu's default
    assert _stored("score")[0]["score"] == result["score"]

    # The human form: the score line first, the same score (greedy: the same outputs).
    human = assert_ok(
        _llmos(
            "score", "llmos.translator", "--data", str(data), "--metric", "bleu",
            "--model", str(chat_model_path), "--max-tokens", "16",
        )
    ).stdout.splitlines()  # fmt: skip
    assert human[0].startswith(f"BLEU = {result['score']:.2f}  (llmos.translator on pairs, 2 pairs")
    assert human[1].strip().startswith("sacrebleu nrefs:1|")


def test_score_mistakes_are_refused_before_an_engine_starts(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "Hi", "refrence": "x"}\n', encoding="utf-8")
    assert_one_line_error(
        _llmos("score", "llmos.translator", "--data", str(bad), "--metric", "bleu"),
        "bad, line 1: unknown key 'refrence'",
        code=2,
    )
    assert_one_line_error(
        _llmos("score", "org.example.none", "--data", "translate-en-zh", "--metric", "bleu"),
        "org.example.none",
        code=2,
    )
    assert_one_line_error(
        _llmos("score", "llmos.summarise", "--data", "translate-en-zh", "--metric", "rouge"),
        "target",
        code=2,
    )
    missing = _llmos("score", "llmos.translator", "--data", "x.jsonl", "--metric", "meteor")
    assert missing.returncode == 2 and "invalid choice" in missing.stderr
    assert not (home / "logs" / "chat.log").exists(), "no engine was started"
