"""What kind of build this is: read from the bundle's ``build-info.json``.

An installer can be built three ways that a user must be able to tell apart (issue 15):
portable (the default: llama.cpp compiled for a documented CPU baseline, not for the
build machine), tuned to the build machine's CPU (``packaging/build.py --native``: it
may die with "illegal instruction" elsewhere), and with or without the starter model.
``packaging/build.py`` writes what it built into ``<bundle>/_internal/build-info.json``
(``BUILD_INFO_FILE``); the About dialog shows it, the start-up CPU check
(``core/cpu.py``) reads which instruction-set features the bundled engine needs, and the
installers' file names carry ``file_name_tag``.

A source checkout or a pip install has no such file: it is "development", and pip
compiled llama.cpp for this very machine, so there is nothing to check.

Qt-free and cheap (one small JSON file); the file is input from disk, so every field is
checked and a damaged file reads as "unknown" rather than raising.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from llmos_desktop.resources import bundle_root

log = logging.getLogger(__name__)

BUILD_INFO_FILE = "build-info.json"
"""In the bundle's data folder (``sys._MEIPASS``, ``<bundle>/_internal``)."""
FORMAT = 1

Variant = Literal["portable", "native", "development", "unknown"]
PORTABLE: Variant = "portable"
NATIVE: Variant = "native"
DEVELOPMENT: Variant = "development"
UNKNOWN: Variant = "unknown"

NATIVE_TAG = "native"
NO_STARTER_TAG = "nostarter"

_FEATURE = re.compile(r"^[a-z0-9_.]{1,32}$")
_MAX_FEATURES = 64
_MAX_TEXT = 2000


@dataclass(frozen=True)
class BuildInfo:
    """One build's facts. ``cpu_required``: Linux /proc/cpuinfo flag names (``avx2``)."""

    variant: Variant
    starter: bool = False
    version: str = ""
    cpu_arch: str = ""
    cpu_baseline: str = ""
    cpu_required: tuple[str, ...] = ()
    llama_cpp_python: str = ""
    cmake_args: str = ""

    @property
    def is_portable(self) -> bool:
        return self.variant == PORTABLE

    @property
    def is_native(self) -> bool:
        return self.variant == NATIVE

    @property
    def is_development(self) -> bool:
        return self.variant == DEVELOPMENT

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "variant": self.variant,
            "starter": self.starter,
            "version": self.version,
            "cpu": {
                "arch": self.cpu_arch,
                "baseline": self.cpu_baseline,
                "required": list(self.cpu_required),
            },
            "llama_cpp_python": self.llama_cpp_python,
            "cmake_args": self.cmake_args,
        }


def file_name_tag(*, portable: bool, starter: bool) -> str:
    """What an installer's file name and package version carry for this variant.

    Empty for the build a user downloads (portable, with the starter); otherwise
    ``native``, ``nostarter`` or ``native-nostarter``, so the variants never share a name.
    """
    parts = ([] if portable else [NATIVE_TAG]) + ([] if starter else [NO_STARTER_TAG])
    return "-".join(parts)


def parse_build_info(data: object) -> BuildInfo:
    """A BuildInfo from the file's JSON; ValueError naming the field when it is not valid."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if data.get("format") != FORMAT:
        raise ValueError(f"unknown format {data.get('format')!r}")
    variant = data.get("variant")
    if variant not in (PORTABLE, NATIVE):
        raise ValueError(f"variant: {variant!r}")
    starter = data.get("starter")
    if not isinstance(starter, bool):
        raise ValueError("starter: not true or false")
    cpu = data.get("cpu")
    if not isinstance(cpu, dict):
        raise ValueError("cpu: not an object")
    required = cpu.get("required")
    if (
        not isinstance(required, list)
        or len(required) > _MAX_FEATURES
        or not all(isinstance(f, str) and _FEATURE.match(f) for f in required)
    ):
        raise ValueError("cpu.required: not a list of feature names")
    return BuildInfo(
        variant=PORTABLE if variant == PORTABLE else NATIVE,
        starter=starter,
        version=_text(data, "version"),
        cpu_arch=_text(cpu, "arch"),
        cpu_baseline=_text(cpu, "baseline"),
        cpu_required=tuple(sorted(set(required))),
        llama_cpp_python=_text(data, "llama_cpp_python"),
        cmake_args=_text(data, "cmake_args"),
    )


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or len(value) > _MAX_TEXT:
        raise ValueError(f"{key}: not a short text")
    return value


def read_build_info(root: Path | None = None) -> BuildInfo:
    """This installation's build: ``root`` is the bundle's data folder (default: this
    process's bundle). From source: "development". A bundle without a readable file
    (an older build, a damaged file): "unknown", and nothing is assumed about its CPU."""
    folder = bundle_root() if root is None else root
    if folder is None:
        return BuildInfo(variant=DEVELOPMENT)
    path = folder / BUILD_INFO_FILE
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        log.warning("no build information in %s: %s", path, exc.strerror or exc)
        return BuildInfo(variant=UNKNOWN)
    try:
        return parse_build_info(json.loads(text))
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        log.warning("build information in %s is not valid: %s", path, exc)
        return BuildInfo(variant=UNKNOWN)
