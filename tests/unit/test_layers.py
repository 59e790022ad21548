"""The layer rules, checked on every test run.

core/ never imports Qt (so it stays testable and reusable), and the GUI process never
imports llama_cpp (a llama.cpp abort must only kill the engine process).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import llmos_desktop

PACKAGE = Path(llmos_desktop.__file__).parent
FORBIDDEN_IN_CORE = ("PySide6", "qasync", "shiboken6", "llmos_desktop.ui")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_source_never_imports_qt() -> None:
    offenders = []
    for path in (PACKAGE / "core").rglob("*.py"):
        for name in _imports(path):
            if name.startswith(FORBIDDEN_IN_CORE):
                offenders.append(f"{path.relative_to(PACKAGE)}: {name}")
    assert not offenders


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_importing_all_of_core_loads_no_qt() -> None:
    modules = sorted(
        "llmos_desktop." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts)
        for p in (PACKAGE / "core").rglob("*.py")
        if p.name != "__init__.py"
    )
    loaded = _modules_after(
        "\n".join(f"import {m}" for m in modules if not m.endswith(("runtime", "server")))
    )
    assert not {m for m in loaded if m.startswith(("PySide6", "qasync", "shiboken6"))}


def test_gui_side_never_imports_llama_cpp() -> None:
    loaded = _modules_after(
        "import llmos_desktop.core.engine.control.service, llmos_desktop.core.engine.control.supervisor, "
        "llmos_desktop.core.models.gguf, llmos_desktop.cli"
    )
    assert "llama_cpp" not in loaded
    assert "fastapi" not in loaded
