"""The curated first-run models: the shipped list is valid, strict, and fits the machines it
is offered to."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from llmos_desktop.core.models.fit import QUANT_BITS, advise
from llmos_desktop.core.models.hub import check_repo_id, safe_repo_path
from llmos_desktop.core.models.naming import quant_of
from llmos_desktop.core.models.recommended import load_recommendations, recommend
from llmos_desktop.core.models.types import MachineMemory, ModelsError, Recommendation
from llmos_desktop.resources import resource_path

GIB = 1024**3


def shipped() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resource_path("models", "recommended.json").read_text())
    return data


def machine(ram_gib: float) -> MachineMemory:
    """A CPU-only machine sold with ``ram_gib`` GiB: the OS reports about 93% of it."""
    total = int(ram_gib * GIB * 0.93)
    return MachineMemory(ram_total=total, ram_available=total // 2)


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "recommended.json"
    path.write_text(json.dumps(data))
    return path


def entry(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "repo_id": "Qwen/Qwen2.5-0.5B-Instruct-GGUF",
        "file": "qwen2.5-0.5b-instruct-q4_k_m.gguf",
        "title": "Qwen2.5 0.5B Instruct",
        "summary": "Tiny.",
        "min_ram_gb": 2,
        "licence": "apache-2.0",
    }
    base.update(changes)
    return base


# --- the shipped file --------------------------------------------------------------------


def test_the_shipped_list_loads_and_names_safe_hub_files() -> None:
    items = load_recommendations()
    assert 5 <= len(items) <= 12
    for item in items:
        assert check_repo_id(item.repo_id) == item.repo_id
        assert safe_repo_path(item.file) == item.file
        assert item.file.endswith(".gguf") and quant_of(item.file) in QUANT_BITS
        assert item.title and item.summary and item.licence
    # Offered for small and large machines alike: 0.5B-8B models.
    assert min(i.min_ram_gb for i in items) <= 2 and max(i.min_ram_gb for i in items) >= 8


def test_the_shipped_list_holds_no_sizes_or_hashes() -> None:
    """Sizes and SHA-256 come from the Hub at download time, never from this file."""
    text = resource_path("models", "recommended.json").read_text()
    assert not re.search(r"\b[0-9a-fA-F]{40,64}\b", text)  # no hash of any kind
    for model in shipped()["models"]:
        assert set(model) <= {"repo_id", "file", "title", "summary", "min_ram_gb", "licence"}
        assert not any(isinstance(v, int) and v > 1024 for v in model.values())


def _parameters(title: str) -> float:
    """Parameters from the title ("Qwen2.5 7B Instruct" -> 7e9); real models have up to
    10% more than their name says (Qwen2.5 7B: 7.6B), so that is added."""
    found = re.search(r"(\d+(?:\.\d+)?)B\b", title)
    assert found, title
    return float(found[1]) * 1e9 * 1.1


def test_each_model_runs_on_the_smallest_machine_it_is_offered_to() -> None:
    """min_ram_gb is a judgement; check it with the fit advice, from the size that the
    title and quantization imply (the file holds no size), without a header (so with the
    advice's high KV-cache fallback): at least 4,096 tokens on a CPU-only machine."""
    for item in load_recommendations():
        quant = quant_of(item.file)
        assert quant is not None
        size = int(_parameters(item.title) * QUANT_BITS[quant] / 8)
        advice = advise(size, machine(item.min_ram_gb))
        assert advice.kind == "cpu_only" and advice.context >= 4096, (item.title, advice)


# --- recommend -------------------------------------------------------------------------------


def test_recommend_offers_what_fits_the_machine_most_capable_first() -> None:
    items = load_recommendations()
    assert recommend(machine(1), items) == []
    tiny = recommend(machine(2), items)
    assert tiny and all(i.min_ram_gb <= 2 for i in tiny)
    eight = recommend(machine(8), items)
    assert {i.min_ram_gb for i in eight} <= {2, 4, 6}
    assert eight[0].min_ram_gb == 6 and eight == sorted(eight, key=lambda i: -i.min_ram_gb)
    big = recommend(machine(32), items, limit=3)
    assert len(big) == 3 and big[0].min_ram_gb == max(i.min_ram_gb for i in items)
    assert recommend(machine(32), items) == sorted(items, key=lambda i: -i.min_ram_gb)


def test_recommend_reads_installed_ram_generously_and_keeps_order() -> None:
    a = Recommendation("a/b", "a-Q4_K_M.gguf", "A", "s", min_ram_gb=8)
    b = Recommendation("c/d", "c-Q4_K_M.gguf", "C", "s", min_ram_gb=8)
    c = Recommendation("e/f", "e-Q4_K_M.gguf", "E", "s", min_ram_gb=16)
    # An "8 GB" machine that reports 7.4 GiB still gets the 8 GB models, in list order.
    laptop = MachineMemory(ram_total=int(7.4 * GIB), ram_available=4 * GIB)
    assert recommend(laptop, [a, c, b]) == [a, b]
    assert recommend(laptop, [a, c, b], limit=1) == [a]
    assert recommend(MachineMemory(ram_total=6 * GIB, ram_available=GIB), [a, b, c]) == []


# --- strict validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"size": 397807936}, "size"),  # unknown fields are refused: no sizes
        ({"sha256": "ab" * 32}, "sha256"),
        ({"repo_id": "no-owner"}, "repo_id"),
        ({"repo_id": "../etc/x"}, "repo_id"),
        ({"file": "../../evil.gguf"}, "file"),
        ({"file": "sub\\evil-Q4_K_M.gguf"}, "file"),
        ({"file": "model-Q4_K_M.bin"}, "file"),
        ({"file": "model-Q4_K_M-00001-of-00003.gguf"}, "split"),
        ({"file": "mmproj-model-f16.gguf"}, "projector"),
        ({"file": "model.gguf"}, "quantization"),
        ({"min_ram_gb": "8"}, "min_ram_gb"),  # strict: a string is not a number
        ({"min_ram_gb": 0}, "min_ram_gb"),
        ({"title": ""}, "title"),
        ({"summary": "two\nlines"}, "summary"),
    ],
)
def test_bad_entries_are_refused_with_a_reason(
    tmp_path: Path, change: dict[str, object], where: str
) -> None:
    path = write(tmp_path, {"schema_version": 1, "models": [entry(**change)]})
    with pytest.raises(ModelsError) as caught:
        load_recommendations(path)
    assert caught.value.kind == "invalid"
    assert "recommended.json" in str(caught.value) and where in str(caught.value)


def test_bad_files_are_refused(tmp_path: Path) -> None:
    def kind(data: object) -> str:
        with pytest.raises(ModelsError) as caught:
            load_recommendations(write(tmp_path, data))
        return caught.value.kind

    assert kind({"schema_version": 2, "models": [entry()]}) == "invalid"
    assert kind({"schema_version": 1, "models": []}) == "invalid"
    assert kind({"schema_version": 1, "models": [entry(), entry()]}) == "invalid"  # twice
    assert kind({"schema_version": 1, "models": [entry()], "extra": 1}) == "invalid"
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ModelsError) as caught:
        load_recommendations(tmp_path / "broken.json")
    assert caught.value.kind == "invalid"
    with pytest.raises(ModelsError) as caught:
        load_recommendations(tmp_path / "missing.json")
    assert caught.value.kind == "io"
    (tmp_path / "huge.json").write_text(" " * (300 * 1024))
    with pytest.raises(ModelsError) as caught:
        load_recommendations(tmp_path / "huge.json")
    assert caught.value.kind == "invalid" and "larger than" in str(caught.value)


def test_a_valid_file_loads_as_written(tmp_path: Path) -> None:
    path = write(tmp_path, {"schema_version": 1, "models": [entry(licence=None)]})
    assert load_recommendations(path) == [
        Recommendation(
            repo_id="Qwen/Qwen2.5-0.5B-Instruct-GGUF",
            file="qwen2.5-0.5b-instruct-q4_k_m.gguf",
            title="Qwen2.5 0.5B Instruct",
            summary="Tiny.",
            min_ram_gb=2.0,
            licence=None,
        )
    ]
