"""SUPPORTED_ARCHITECTURES: well-formed, and the same set the installed llama.cpp loads."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from collections.abc import Iterable

import gguf
import pytest

from llmos_desktop.core.models.architectures import SUPPORTED_ARCHITECTURES

_PROBE = "llmos_desktop.core.engine.process.llama_api"
_NOT_AN_ARCHITECTURE = "llmos-no-such-architecture"


def test_supported_architectures() -> None:
    assert {"llama", "gemma3", "qwen2", "phi3", "mistral3"} <= SUPPORTED_ARCHITECTURES
    assert "clip" not in SUPPORTED_ARCHITECTURES
    assert all(name == name.strip() and name.isascii() for name in SUPPORTED_ARCHITECTURES)


def test_list_matches_the_installed_llama_cpp() -> None:
    # Candidates: our list and gguf-py's (llama.cpp's own Python package), so a name that
    # a new llama-cpp-python adds shows up here once either of them has it.
    candidates = SUPPORTED_ARCHITECTURES | set(gguf.MODEL_ARCH_NAMES.values())
    known = _probe([*candidates, _NOT_AN_ARCHITECTURE])
    assert "llama" in known and _NOT_AN_ARCHITECTURE not in known  # the probe itself works
    version = importlib.metadata.version("llama-cpp-python")
    to_add = sorted(known - SUPPORTED_ARCHITECTURES)
    to_remove = sorted(SUPPORTED_ARCHITECTURES - known)
    assert not to_add and not to_remove, (
        f"llama-cpp-python {version}: in architectures.py add {to_add}, remove {to_remove}"
    )


def _probe(names: Iterable[str]) -> set[str]:
    """Run the probe in a child process; if llama.cpp aborts on a name, name the culprits."""
    names = sorted(names)
    result = _run_probe(names)
    if result.returncode == 0:
        found: list[str] = json.loads(result.stdout.splitlines()[-1])
        return set(found)
    crashing = [name for name in names if _run_probe([name]).returncode != 0]
    pytest.fail(
        f"the probe failed (exit status {result.returncode}); names that fail alone: "
        f"{crashing}\n{result.stderr[-4000:]}"
    )


def _run_probe(names: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", _PROBE, *names],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
