"""The curated models of the first-run panel: which small instruct models suit this machine.

The list is data, ``resources/models/recommended.json``: exact repositories and file
names on the Hub, a title, a one-line summary, a licence and ``min_ram_gb``, the RAM
below which the model is not worth offering (a judgement: the file, a 4,096-token
context and the system's share of memory; the test checks it against ``fit.advise``).
It holds no sizes and no hashes: those come from the Hub's metadata when the file is
downloaded, so the list cannot go stale or lie about them.

The file ships with the app, but it is still read strictly: unknown fields (a ``size``
or ``sha256`` someone added) are refused, names are checked like names from the Hub,
and a broken file is a ``ModelsError`` for the panel to report, not a crash.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from llmos_desktop.core.models.naming import is_mmproj, quant_of, split_of
from llmos_desktop.core.models.types import MachineMemory, ModelsError, Recommendation
from llmos_desktop.core.text import one_line

__all__ = ["load_recommendations", "recommend"]

_GIB: Final = 1024**3
_MAX_FILE_BYTES: Final = 256 * 1024
# Installed RAM is sold in GiB but the OS reports less (firmware, an integrated GPU's
# share): an "8 GB" laptop shows 7.4-7.8 GiB. So a model for 8 GB is offered from 90%.
_RAM_SLACK: Final = 0.9
# Hub names: "owner/name" of letters, digits, "-", "_", "."; a file at the repository's
# top level. Stricter than hub.safe_repo_path, which the download checks again.
_REPO_ID: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$"
_FILE: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}\.gguf$"
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    repo_id: Annotated[str, Field(pattern=_REPO_ID)]
    file: Annotated[str, Field(pattern=_FILE)]
    title: Annotated[str, Field(min_length=1, max_length=80)]
    summary: Annotated[str, Field(min_length=1, max_length=300)]
    min_ram_gb: Annotated[float, Field(gt=0, le=1024)]
    licence: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    @field_validator("repo_id", "file")
    @classmethod
    def _no_dot_parts(cls, value: str) -> str:
        if ".." in value:
            raise ValueError("must not contain '..'")
        return value

    @field_validator("file")
    @classmethod
    def _one_chat_model(cls, value: str) -> str:
        if split_of(value) is not None:
            raise ValueError("a shard of a split model cannot be recommended on its own")
        if is_mmproj(value):
            raise ValueError("a vision projector is not a chat model")
        if quant_of(value) is None:
            raise ValueError("the name must say its quantization (Q4_K_M...)")
        return value

    @field_validator("title", "summary", "licence")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and (_CONTROL.search(value) or value != value.strip()):
            raise ValueError("must be one line without control characters or outer spaces")
        return value


class _RecommendedFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    schema_version: Literal[1]
    note: str | None = None
    models: Annotated[list[_Entry], Field(min_length=1, max_length=50)]

    @field_validator("models")
    @classmethod
    def _unique(cls, models: list[_Entry]) -> list[_Entry]:
        seen: set[tuple[str, str]] = set()
        for entry in models:
            key = (entry.repo_id.lower(), entry.file)
            if key in seen:
                raise ValueError(f"{entry.repo_id}/{entry.file} is listed twice")
            seen.add(key)
        return models


def load_recommendations(path: Path | None = None) -> list[Recommendation]:
    """The curated models, in the file's order (smallest first). Blocking (a small read).

    ``path``: the file to read (tests); default ``resources/models/recommended.json``.
    Raises ModelsError: "io" when it cannot be read, "invalid" when it is not a valid list.
    """
    if path is None:
        from llmos_desktop.resources import resource_path

        try:
            path = resource_path("models", "recommended.json")
        except FileNotFoundError as exc:
            raise ModelsError("io", f"the list of recommended models is missing: {exc}") from exc
    name = path.name
    try:
        with path.open("rb") as file:
            data = file.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ModelsError("io", f"cannot read {name}: {exc.strerror or exc}") from exc
    if len(data) > _MAX_FILE_BYTES:
        raise ModelsError("invalid", f"{name} is larger than {_MAX_FILE_BYTES // 1024} KiB")
    try:
        parsed = _RecommendedFile.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        raise ModelsError(
            "invalid", f"{name} is not a valid list of models: {where}: {first['msg']}"
        ) from exc
    except (ValueError, json.JSONDecodeError) as exc:
        raise ModelsError("invalid", f"{name} is not valid JSON: {one_line(str(exc))}") from exc
    return [
        Recommendation(
            repo_id=entry.repo_id,
            file=entry.file,
            title=entry.title,
            summary=entry.summary,
            min_ram_gb=float(entry.min_ram_gb),
            licence=entry.licence,
        )
        for entry in parsed.models
    ]


def recommend(
    machine: MachineMemory, items: Sequence[Recommendation], *, limit: int | None = None
) -> list[Recommendation]:
    """The models this machine has the RAM for, the most capable first.

    A model fits when the RAM is at least 90% of its ``min_ram_gb`` in GiB (installed
    RAM reads a little low). "Most capable" is the largest ``min_ram_gb``; ties keep the
    list's order. RAM decides, not GPU memory: a model that does not fit in the GPU
    still runs from RAM, and one that fits the GPU is still read through RAM.
    """
    fitting = [item for item in items if machine.ram_total >= item.min_ram_gb * _GIB * _RAM_SLACK]
    fitting.sort(key=lambda item: -item.min_ram_gb)  # stable: ties keep the list's order
    return fitting if limit is None else fitting[: max(0, limit)]
