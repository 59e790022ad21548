"""What a GGUF file's name says: its quantization, whether it is one shard of a split
model, whether it is a vision projector.

One reading of names for the Hub browser (remote files) and the library (files on disk),
so a split model groups the same way in both. Names are only hints: the library prefers
the GGUF header's file type when it can read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["SplitName", "is_mmproj", "model_stem", "quant_of", "split_of"]

# llama.cpp's gguf-split names: "<stem>-00001-of-00003.gguf".
_SPLIT: Final = re.compile(
    r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$", re.I | re.ASCII
)

# Quantization names as llama.cpp's quantize tool writes them, longest first so that
# "Q4_K_M" wins over "Q4_K" and "IQ2_XXS" over "IQ2_XS".
_QUANTS: Final = (
    "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S",
    "IQ3_M", "IQ4_XS", "IQ4_NL", "TQ1_0", "TQ2_0", "Q2_K_S", "Q2_K_L", "Q2_K_XL", "Q2_K", "Q3_K_S",
    "Q3_K_M", "Q3_K_L", "Q3_K_XL", "Q3_K", "Q4_K_S", "Q4_K_M", "Q4_K_L", "Q4_K_XL", "Q4_K",
    "Q5_K_S", "Q5_K_M", "Q5_K_L", "Q5_K_XL", "Q5_K", "Q6_K_L", "Q6_K_XL", "Q6_K", "Q4_0_4_4",
    "Q4_0_4_8", "Q4_0_8_8", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q8_K_XL", "MXFP4",
    "BF16", "F16", "F32", "FP16", "FP32",
)  # fmt: skip
_QUANT: Final = re.compile(
    r"(?:^|[-_.])(?:UD-)?(?P<quant>"
    + "|".join(sorted(_QUANTS, key=len, reverse=True))
    + r")(?=$|[-_.])",
    re.I | re.ASCII,  # ASCII: the Kelvin sign is not a "K", an Arabic digit not a "1"
)
_MMPROJ: Final = re.compile(r"(?:^|[-_.])mmproj(?:$|[-_.])", re.I | re.ASCII)


@dataclass(frozen=True)
class SplitName:
    stem: str  # the name without the shard part and without ".gguf"
    index: int  # 1-based
    count: int


def split_of(filename: str) -> SplitName | None:
    """The shard part of ``filename`` (its last path component), or None if it is whole.

    A name with an index of 0 or above its count is not a shard of anything.
    """
    match = _SPLIT.match(filename.rsplit("/", 1)[-1])
    if match is None:
        return None
    index, count = int(match["index"]), int(match["count"])
    if not 1 <= index <= count:
        return None
    return SplitName(match["stem"], index, count)


def model_stem(filename: str) -> str:
    """The model's name: the file name without folders, ".gguf" and the shard part."""
    base = filename.rsplit("/", 1)[-1]
    split = split_of(base)
    if split is not None:
        return split.stem
    return base[:-5] if base.lower().endswith(".gguf") else base


def _last_quant(stem: str) -> re.Match[str] | None:
    """The last quantization ``stem`` names ("Q8_0-of-a-Q4_K_M-model" is rare)."""
    found = None
    for found in _QUANT.finditer(stem):  # noqa: B007  (the last one)
        pass
    return found


def quant_of(filename: str) -> str | None:
    """The quantization a file name names ("Q4_K_M"), upper case; None if none."""
    match = _last_quant(model_stem(filename))
    if match is None:
        return None
    found = match["quant"].upper()
    return {"FP16": "F16", "FP32": "F32"}.get(found, found)


def with_quant(stem: str, quant: str) -> str:
    """``stem`` (a name without ".gguf") naming ``quant`` instead of the quantization it
    names last ("model.Q4_1" -> "model.Q4_0", "m-UD-Q4_K_XL" -> "m-Q4_0"), or with
    ``-quant`` added when it names none."""
    found = _last_quant(stem)
    if found is None:
        return f"{stem}-{quant}"
    start = found.start("quant")
    if stem[max(0, start - 3) : start].upper() == "UD-":
        start -= 3
    return f"{stem[:start]}{quant}{stem[found.end('quant') :]}"


def is_mmproj(filename: str) -> bool:
    """True for a vision projector ("mmproj-model-f16.gguf"), which is not a chat model."""
    return _MMPROJ.search(model_stem(filename)) is not None
