"""Fixtures for the packaging tests: the packaging/ scripts, and a built bundle if any.

The bundle tests run when a bundle exists: ``LLMOS_BUNDLE_DIR`` (CI points it at the
unpacked .deb's usr/lib/llmos-desktop) or dist/llmos-desktop from ``python
packaging/build.py``; otherwise they are skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
if str(PACKAGING) not in sys.path:
    sys.path.insert(0, str(PACKAGING))


def find_bundle() -> Path | None:
    configured = os.environ.get("LLMOS_BUNDLE_DIR")
    folder = Path(configured) if configured else ROOT / "dist" / "llmos-desktop"
    return folder if (folder / "_internal").is_dir() else None


@pytest.fixture(scope="session")
def bundle_dir() -> Path:
    folder = find_bundle()
    if folder is None:
        pytest.skip(
            "no frozen bundle: build one with `python packaging/build.py` "
            "or set LLMOS_BUNDLE_DIR (CI runs these on the .deb's contents)"
        )
    return folder


def executable(folder: Path, name: str) -> Path:
    return folder / (name + ".exe" if sys.platform == "win32" else name)


def load_script(relative: str, name: str) -> ModuleType:
    """Import a packaging script by path, under a name that cannot clash (e.g. PyPA's build)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, PACKAGING / relative)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
