"""Score datasets: JSONL files of app inputs and the reference outputs they should give.

A dataset is a file the user picks (or one the lab ships), so it is untrusted input: it is
read with bounds (size, lines, line length, text lengths, references per pair), every
line is checked before anything runs, and a problem is one ``LabError("invalid_dataset")``
that names the line. A dataset that passes here is then checked against the app it is
run with (``Dataset.inputs_for``): every pair's inputs go through the app's own input
validation before the engine starts, so a mistake in line 17 costs a moment, not
sixteen model runs.

The format, one JSON object per line (blank lines are skipped)::

    {"input": "The text", "inputs": {"target": "Simplified Chinese"},
     "reference": "参考译文", "lang": "zh", "id": "greeting-1"}

- ``input``: the text for the app's first text input (``text`` or ``multiline``), and/or
  ``inputs``: an object of input name -> value (a string, a number or true/false) for
  the others (or for all of them). At least one of the two.
- ``reference`` (a string) or ``references`` (a list of 1-16 strings): what a good
  output looks like. BLEU and chrF use every reference; ROUGE the best-matching one.
- ``lang`` (optional): the references' language (``zh``, ``en``...); it picks
  sacrebleu's tokenizer. Lines that give it must agree. Without it the language is
  detected from the references' script (scores.detect_language).
- ``id`` (optional): a name for the pair, shown with its output.

Other keys are refused, so a misspelt ``refrence`` is an error, not a pair without a
reference. The datasets the lab ships (``builtin_datasets``) are in
``resources/lab/datasets``; their README says who wrote them and their licence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from llmos_desktop.core.lab.types import LabError
from llmos_desktop.core.text import one_line

if TYPE_CHECKING:
    from llmos_desktop.core.apps.manifest import AppManifest

__all__ = [
    "BUILTIN_DATASETS",
    "BUILTIN_DATASET_APPS",
    "MAX_DATASET_BYTES",
    "MAX_PAIRS",
    "Dataset",
    "DatasetPair",
    "builtin_dataset_path",
    "builtin_datasets",
    "parse_dataset",
    "read_dataset",
]

MAX_DATASET_BYTES: Final = 8 * 1024 * 1024
MAX_PAIRS: Final = 2000
"""More pairs than a desktop run should take: each is one model reply."""
MAX_LINE_BYTES: Final = 256 * 1024
MAX_TEXT_CHARS: Final = 100_000  # an app input's own limit (manifest.MAX_INPUT_CHARS)
MAX_REFERENCE_CHARS: Final = 100_000
MAX_REFERENCES: Final = 16
MAX_INPUTS: Final = 32
MAX_ID_CHARS: Final = 200

BUILTIN_DATASETS: Final = ("translate-en-zh", "translate-zh-en", "summaries-en")
"""The datasets the lab ships, by name (``resources/lab/datasets/<name>.jsonl``)."""
BUILTIN_DATASET_APPS: Final = {
    "translate-en-zh": "llmos.translator",
    "translate-zh-en": "llmos.translator",
    "summaries-en": "llmos.summarise",
}
"""The store app each shipped dataset is written for (what the Lab page offers with it)."""

_KEYS: Final = frozenset({"input", "inputs", "reference", "references", "lang", "id"})
_LANG: Final = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8}){0,3}$")
_TEXT_TYPES: Final = ("text", "multiline")


@dataclass(frozen=True)
class DatasetPair:
    """One line of a dataset: what goes into the app and what should come out."""

    line: int  # 1-based line number in the file
    text: str | None  # ``input``: the app's first text input
    inputs: Mapping[str, object]  # ``inputs``: named input values
    references: tuple[str, ...]
    lang: str | None = None
    id: str | None = None

    @property
    def label(self) -> str:
        """How a message names the pair: its id, else its line."""
        return f"pair {one_line(self.id, 60)}" if self.id else f"line {self.line}"


@dataclass(frozen=True)
class Dataset:
    """A checked dataset. ``lang``: the references' language, given or detected (None:
    a language written with spaces, scored with sacrebleu's default tokenizer)."""

    name: str
    pairs: tuple[DatasetPair, ...]
    lang: str | None
    path: Path | None = None

    @property
    def references(self) -> list[tuple[str, ...]]:
        return [pair.references for pair in self.pairs]

    def inputs_for(self, app: AppManifest) -> list[dict[str, object]]:
        """Each pair's input values for ``app``, checked by the app's own validation
        (defaults filled in). LabError("invalid_dataset") naming the pair and the input
        when one does not fit the app."""
        from llmos_desktop.core.apps.manifest import AppError, validate_inputs

        text_field = next((f.name for f in app.inputs if f.type in _TEXT_TYPES), None)
        result: list[dict[str, object]] = []
        for pair in self.pairs:
            values = dict(pair.inputs)
            if pair.text is not None:
                if text_field is None:
                    raise LabError(
                        "invalid_dataset",
                        f"{self.name}, {pair.label}: 'input' needs a text input, and "
                        f"{app.id} has none; give 'inputs' by name",
                    )
                if text_field in values:
                    raise LabError(
                        "invalid_dataset",
                        f"{self.name}, {pair.label}: the input {text_field!r} is given twice "
                        "('input' and 'inputs')",
                    )
                values[text_field] = pair.text
            try:
                result.append(validate_inputs(app, values))
            except AppError as exc:
                raise LabError(
                    "invalid_dataset",
                    f"{self.name}, {pair.label}: {one_line(str(exc), 300)} (app {app.id})",
                ) from exc
        return result


def read_dataset(path: Path, *, name: str | None = None) -> Dataset:
    """The dataset in the file ``path``; LabError("invalid_dataset") when it is missing,
    too large or not the format above."""
    path = Path(path).expanduser()
    shown = one_line(str(path), 200)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_DATASET_BYTES + 1)
    except FileNotFoundError:
        raise LabError("invalid_dataset", f"{shown}: no such file") from None
    except IsADirectoryError:
        raise LabError("invalid_dataset", f"{shown} is a folder, not a JSONL file") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise LabError("invalid_dataset", f"{shown} cannot be read: {reason}") from exc
    dataset = parse_dataset(data, name=name or path.stem)
    return Dataset(dataset.name, dataset.pairs, dataset.lang, path)


def parse_dataset(data: bytes, *, name: str = "dataset") -> Dataset:
    """The dataset in ``data`` (the bytes of a JSONL file); see ``read_dataset``."""
    from llmos_desktop.core.lab.scores import detect_language

    label = one_line(name, 80)
    if len(data) > MAX_DATASET_BYTES:
        raise LabError(
            "invalid_dataset",
            f"{label} is larger than {MAX_DATASET_BYTES // (1024 * 1024)} MiB; a score "
            "dataset is a few hundred pairs at most",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LabError("invalid_dataset", f"{label}, line {line}: not UTF-8 text") from None
    pairs: list[DatasetPair] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        if len(pairs) >= MAX_PAIRS:
            raise LabError("invalid_dataset", f"{label} has more than {MAX_PAIRS} pairs; split it")
        pairs.append(_pair(raw, number, label))
    if not pairs:
        raise LabError("invalid_dataset", f"{label} holds no pairs (one JSON object per line)")
    given = {pair.lang for pair in pairs if pair.lang is not None}
    if len(given) > 1:
        first = next(pair for pair in pairs if pair.lang is not None)
        other = next(pair for pair in pairs if pair.lang not in (None, first.lang))
        raise LabError(
            "invalid_dataset",
            f"{label}, line {other.line}: lang {other.lang!r} differs from line "
            f"{first.line}'s {first.lang!r}; one dataset is scored in one language",
        )
    lang = given.pop() if given else detect_language([r for p in pairs for r in p.references])
    return Dataset(name=name, pairs=tuple(pairs), lang=lang)


def builtin_datasets() -> dict[str, Path]:
    """The shipped datasets by name (``translate-en-zh``, ``translate-zh-en``,
    ``summaries-en``); FileNotFoundError when the installation lacks one."""
    return {name: builtin_dataset_path(name) for name in BUILTIN_DATASETS}


def builtin_dataset_path(name: str) -> Path:
    """The shipped dataset ``name``'s file (FileNotFoundError when it is missing)."""
    from llmos_desktop.resources import resource_path

    # Literal parts, so tests/packaging can check each shipped file statically.
    if name == "translate-en-zh":
        return resource_path("lab", "datasets", "translate-en-zh.jsonl")
    if name == "translate-zh-en":
        return resource_path("lab", "datasets", "translate-zh-en.jsonl")
    if name == "summaries-en":
        return resource_path("lab", "datasets", "summaries-en.jsonl")
    raise FileNotFoundError(f"no built-in dataset {name!r} (one of {', '.join(BUILTIN_DATASETS)})")


# --- one line ----------------------------------------------------------------------------


def _pair(raw: str, number: int, label: str) -> DatasetPair:
    where = f"{label}, line {number}"
    if len(raw.encode("utf-8")) > MAX_LINE_BYTES:
        raise LabError("invalid_dataset", f"{where} is longer than {MAX_LINE_BYTES // 1024} KiB")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LabError("invalid_dataset", f"{where}: not JSON ({exc.msg})") from None
    except RecursionError:
        raise LabError("invalid_dataset", f"{where}: nested too deeply") from None
    if not isinstance(value, dict):
        raise LabError("invalid_dataset", f"{where}: each line must be a JSON object")
    unknown = sorted(set(value) - _KEYS)
    if unknown:
        raise LabError(
            "invalid_dataset",
            f"{where}: unknown key {one_line(unknown[0], 40)!r} "
            f"(known: {', '.join(sorted(_KEYS))})",
        )
    text = value.get("input")
    if text is not None and not isinstance(text, str):
        raise LabError("invalid_dataset", f"{where}: 'input' must be a string")
    if text is not None:
        _check_text(text, "input", MAX_TEXT_CHARS, where)
    inputs = _inputs(value.get("inputs"), where)
    if text is None and not inputs:
        raise LabError("invalid_dataset", f"{where}: give 'input' (a text) or 'inputs' (an object)")
    references = _references(value, where)
    lang = value.get("lang")
    if lang is not None and (not isinstance(lang, str) or not _LANG.match(lang)):
        raise LabError(
            "invalid_dataset", f"{where}: 'lang' must be a language code such as 'zh' or 'en'"
        )
    pair_id = value.get("id")
    if pair_id is not None:
        if not isinstance(pair_id, str) or not pair_id.strip():
            raise LabError("invalid_dataset", f"{where}: 'id' must be a non-empty string")
        _check_text(pair_id, "id", MAX_ID_CHARS, where)
    return DatasetPair(
        line=number,
        text=text,
        inputs=inputs,
        references=references,
        lang=lang.lower().replace("_", "-") if isinstance(lang, str) else None,
        id=pair_id,
    )


def _inputs(value: object, where: str) -> dict[str, object]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LabError("invalid_dataset", f"{where}: 'inputs' must be an object")
    if len(value) > MAX_INPUTS:
        raise LabError("invalid_dataset", f"{where}: more than {MAX_INPUTS} inputs")
    inputs: dict[str, object] = {}
    for key, item in value.items():
        if not key or len(key) > 64:
            raise LabError("invalid_dataset", f"{where}: an input name must be 1-64 characters")
        if isinstance(item, str):
            _check_text(item, f"inputs.{one_line(key, 40)}", MAX_TEXT_CHARS, where)
        elif not isinstance(item, bool | int | float):
            raise LabError(
                "invalid_dataset",
                f"{where}: inputs.{one_line(key, 40)} must be a string, a number or true/false",
            )
        inputs[key] = item
    return inputs


def _references(value: Mapping[str, Any], where: str) -> tuple[str, ...]:
    single, many = value.get("reference"), value.get("references")
    if single is not None and many is not None:
        raise LabError("invalid_dataset", f"{where}: give 'reference' or 'references', not both")
    if single is not None:
        many = [single]
    if many is None:
        raise LabError("invalid_dataset", f"{where}: no 'reference' (what the output should be)")
    if not isinstance(many, list) or not 1 <= len(many) <= MAX_REFERENCES:
        raise LabError(
            "invalid_dataset",
            f"{where}: 'references' must be a list of 1 to {MAX_REFERENCES} strings",
        )
    for item in many:
        if not isinstance(item, str) or not item.strip():
            raise LabError("invalid_dataset", f"{where}: a reference must be a non-empty string")
        _check_text(item, "reference", MAX_REFERENCE_CHARS, where)
    return tuple(many)


def _check_text(text: str, field: str, limit: int, where: str) -> None:
    if len(text) > limit:
        raise LabError("invalid_dataset", f"{where}: '{field}' is longer than {limit} characters")
    if "\x00" in text:
        raise LabError("invalid_dataset", f"{where}: '{field}' holds a NUL character")
