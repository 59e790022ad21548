"""Score datasets (core/lab/datasets.py): the shipped ones, and files that must be refused.

A dataset is a file the user picks, so each bad file must come back as one
``invalid_dataset`` error that names the line, before any model runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmos_desktop.core.apps.manifest import AppManifest
from llmos_desktop.core.apps.package import builtin_catalogue
from llmos_desktop.core.lab import datasets
from llmos_desktop.core.lab.datasets import (
    BUILTIN_DATASET_APPS,
    BUILTIN_DATASETS,
    Dataset,
    builtin_datasets,
    parse_dataset,
    read_dataset,
)
from llmos_desktop.core.lab.types import LabError


@pytest.fixture(scope="module")
def apps() -> dict[str, AppManifest]:
    return {app.id: app for app in builtin_catalogue()}


def _jsonl(*rows: object) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


def _refused(data: bytes, match: str) -> LabError:
    with pytest.raises(LabError, match=match) as caught:
        parse_dataset(data, name="mine")
    assert caught.value.kind == "invalid_dataset"
    assert "\n" not in caught.value.message
    return caught.value


@pytest.mark.parametrize("name", BUILTIN_DATASETS)
def test_shipped_datasets_fit_their_apps(name: str, apps: dict[str, AppManifest]) -> None:
    path = builtin_datasets()[name]
    dataset = read_dataset(path)
    assert dataset.name == name
    assert dataset.path == path
    assert 20 <= len(dataset.pairs) <= 30
    assert dataset.lang == ("zh" if name.endswith("-zh") else "en")
    values = dataset.inputs_for(apps[BUILTIN_DATASET_APPS[name]])
    assert len(values) == len(dataset.pairs)
    for pair, inputs in zip(dataset.pairs, values, strict=True):
        assert inputs["text"] == pair.text
        assert pair.references and all(ref.strip() for ref in pair.references)
    ids = [pair.id for pair in dataset.pairs]
    assert len(set(ids)) == len(ids)
    if name == "translate-en-zh":
        assert {v["target"] for v in values} == {"Simplified Chinese"}
    if name == "translate-zh-en":
        assert {v["target"] for v in values} == {"English"}


def test_a_small_file_with_bom_crlf_blank_lines_and_several_references(tmp_path: Path) -> None:
    rows = [
        {"input": "Hello", "inputs": {"target": "Simplified Chinese"}, "reference": "你好"},
        {"inputs": {"text": "Good night", "target": "Simplified Chinese"},
         "references": ["晚安", "晚上好"], "id": "night"},
    ]  # fmt: skip
    text = "\ufeff" + json.dumps(rows[0], ensure_ascii=False) + "\r\n\r\n"
    text += json.dumps(rows[1], ensure_ascii=False) + "\r\n"
    file = tmp_path / "greetings.jsonl"
    file.write_bytes(text.encode("utf-8"))
    dataset = read_dataset(file)
    assert dataset.name == "greetings"
    assert [p.line for p in dataset.pairs] == [1, 3]
    assert dataset.references == [("你好",), ("晚安", "晚上好")]
    assert dataset.lang == "zh"  # detected: no line says
    assert dataset.pairs[1].label == "pair night"
    assert dataset.pairs[0].label == "line 1"


def test_inputs_are_checked_against_the_app(apps: dict[str, AppManifest]) -> None:
    translator = apps["llmos.translator"]
    dataset = parse_dataset(
        _jsonl(
            {"input": "Hi", "inputs": {"target": "English"}, "reference": "Hi"},
            {"input": "Hi", "inputs": {"target": "Klingon"}, "reference": "Hi", "id": "k"},
        ),
        name="mine",
    )
    with pytest.raises(LabError, match=r"mine, pair k: target: .*llmos\.translator") as caught:
        dataset.inputs_for(translator)
    assert caught.value.kind == "invalid_dataset"

    twice = parse_dataset(_jsonl({"input": "a", "inputs": {"text": "b"}, "reference": "x"}))
    with pytest.raises(LabError, match="'text' is given twice"):
        twice.inputs_for(translator)

    unknown = parse_dataset(_jsonl({"input": "a", "inputs": {"colour": "red"}, "reference": "x"}))
    with pytest.raises(LabError, match="colour"):
        unknown.inputs_for(translator)

    # Defaults fill what a line leaves out: the translator's target is English.
    assert parse_dataset(_jsonl({"input": "a", "reference": "x"})).inputs_for(translator) == [
        {"text": "a", "target": "English"}
    ]


def test_input_needs_a_text_input_in_the_app(apps: dict[str, AppManifest]) -> None:
    translator = apps["llmos.translator"]
    # The translator without its text input: only the choice is left.
    app = translator.model_copy(update={"inputs": [translator.input("target")]})
    dataset = parse_dataset(_jsonl({"input": "a", "reference": "x"}))
    with pytest.raises(LabError, match="has none"):
        dataset.inputs_for(app)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "holds no pairs"),
        (b"\n  \n", "holds no pairs"),
        (
            b'{"input": "a", "reference": "x"}\n{"input": "b", "reference": "y"\n',
            "line 2: not JSON",
        ),
        (b'{"input": "a", "reference": "x"}\n\xff\xfe\n', "line 2: not UTF-8"),
        (b'["a", "x"]\n', "line 1: each line must be a JSON object"),
        (b'{"input": "a", "refrence": "x"}\n', "unknown key 'refrence'"),
        (b'{"input": "a"}\n', "no 'reference'"),
        (b'{"reference": "x"}\n', "give 'input'"),
        (b'{"inputs": {}, "reference": "x"}\n', "give 'input'"),
        (b'{"input": 5, "reference": "x"}\n', "'input' must be a string"),
        (b'{"inputs": ["a"], "reference": "x"}\n', "'inputs' must be an object"),
        (b'{"inputs": {"text": null}, "reference": "x"}\n', "inputs.text must be"),
        (b'{"inputs": {"text": {"a": 1}}, "reference": "x"}\n', "inputs.text must be"),
        (b'{"input": "a", "reference": "x", "references": ["y"]}\n', "not both"),
        (b'{"input": "a", "references": []}\n', "list of 1 to 16"),
        (b'{"input": "a", "references": "x"}\n', "list of 1 to 16"),
        (b'{"input": "a", "reference": "   "}\n', "non-empty string"),
        (b'{"input": "a", "reference": 3}\n', "non-empty string"),
        (b'{"input": "a", "reference": "x", "lang": "Chinese!"}\n', "language code"),
        (b'{"input": "a", "reference": "x", "id": ""}\n', "'id' must be"),
        (b'{"input": "a\\u0000b", "reference": "x"}\n', "NUL"),
        (
            b'{"input": "a", "reference": "x", "lang": "en"}\n'
            b'{"input": "b", "reference": "y"}\n'
            b'{"input": "c", "reference": "z", "lang": "zh"}\n',
            "line 3: lang 'zh' differs from line 1's 'en'",
        ),
        (b"[" * 100_000 + b"\n", "line 1: (nested too deeply|not JSON)"),
    ],
)
def test_bad_files_are_refused_with_the_line(data: bytes, match: str) -> None:
    _refused(data, match)


def test_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    line = b'{"input": "a", "reference": "x"}\n'
    monkeypatch.setattr(datasets, "MAX_PAIRS", 3)
    assert len(parse_dataset(line * 3).pairs) == 3
    _refused(line * 4, "more than 3 pairs")
    monkeypatch.setattr(datasets, "MAX_DATASET_BYTES", 100)
    _refused(line * 4, "larger than")
    long_line = json.dumps({"input": "a" * (300 * 1024), "reference": "x"}).encode()
    monkeypatch.setattr(datasets, "MAX_DATASET_BYTES", 8 * 1024 * 1024)
    _refused(long_line, "line 1 is longer than 256 KiB")
    too_many = json.dumps({"input": "a", "references": ["x"] * 17}).encode()
    _refused(too_many, "list of 1 to 16")


def test_files_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="no such file") as caught:
        read_dataset(tmp_path / "missing.jsonl")
    assert caught.value.kind == "invalid_dataset"
    with pytest.raises(LabError, match="is a folder"):
        read_dataset(tmp_path)


def test_a_hostile_name_stays_one_line() -> None:
    with pytest.raises(LabError) as caught:
        parse_dataset(b"{", name="evil\nname\x1b[31m")
    assert "\n" not in str(caught.value)
    assert "\x1b" not in str(caught.value)


def test_dataset_type_is_frozen() -> None:
    dataset = parse_dataset(_jsonl({"input": "a", "reference": "x"}))
    assert isinstance(dataset, Dataset)
    with pytest.raises(AttributeError):
        dataset.lang = "zh"  # type: ignore[misc]
