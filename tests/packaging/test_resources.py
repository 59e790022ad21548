"""Every resource the code names exists in resources/, in a wheel, and in a built bundle."""

from __future__ import annotations

import ast
import struct
import sys
from pathlib import Path
from typing import Any

import pytest

from llmos_desktop import resources
from tests.packaging.conftest import ROOT

ICONS = ROOT / "resources" / "icons"


def referenced_resources() -> set[tuple[str, ...]]:
    """The literal arguments of every ``resource_path(...)`` call in llmos_desktop/."""
    found: set[tuple[str, ...]] = set()
    for path in (ROOT / "llmos_desktop").rglob("*.py"):
        tree = ast.parse(path.read_text("utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name != "resource_path" or not node.args:
                continue
            parts = [
                a.value
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
            assert len(parts) == len(node.args), (
                f"{path}:{node.lineno}: resource_path() takes literal strings, so this test "
                "can check the file is shipped"
            )
            found.add(tuple(parts))
    return found


def test_the_code_names_resources_and_they_exist() -> None:
    referenced = referenced_resources()
    assert ("icons", "llmos-desktop-256.png") in referenced
    missing = [p for p in referenced if not ROOT.joinpath("resources", *p).is_file()]
    assert missing == []


def test_resources_are_found_from_the_source_tree() -> None:
    resources.resources_root.cache_clear()
    assert resources.resources_root() == ROOT / "resources"
    assert resources.resource_path("icons", "llmos-desktop.svg").is_file()
    with pytest.raises(FileNotFoundError, match="missing"):
        resources.resource_path("icons", "no-such-icon.png")


def test_frozen_lookup_uses_meipass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "resources" / "icons").mkdir(parents=True)
    (tmp_path / "resources" / "icons" / "llmos-desktop.svg").write_text("<svg/>")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    resources.resources_root.cache_clear()
    try:
        assert resources.resources_root() == tmp_path / "resources"
    finally:
        resources.resources_root.cache_clear()


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_icon_set_is_complete_and_small() -> None:
    for size, path in resources.app_icon_files():
        assert _png_size(path) == (size, size)
    assert (ICONS / "llmos-desktop.ico").read_bytes()[:4] == b"\x00\x00\x01\x00"
    assert (ICONS / "llmos-desktop.icns").read_bytes()[:4] == b"icns"
    total = sum(p.stat().st_size for p in ICONS.iterdir())
    assert total < 300_000, f"icons take {total:,} bytes; keep them small"


def test_a_wheel_maps_resources_into_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """setup.py lists every llmos_desktop package plus resources/ as llmos_desktop._resources."""
    import setuptools

    captured: dict[str, Any] = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: captured.update(kwargs))
    monkeypatch.chdir(ROOT)
    code = compile((ROOT / "setup.py").read_text("utf-8"), str(ROOT / "setup.py"), "exec")
    exec(code, {"__file__": str(ROOT / "setup.py"), "__name__": "__main__"})
    packages = set(captured["packages"])
    expected = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "llmos_desktop").rglob("__init__.py")
    }
    assert expected <= packages
    assert "llmos_desktop._resources" in packages
    assert "llmos_desktop._resources.icons" in packages
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    assert '"llmos_desktop._resources" = "resources"' in pyproject


def test_bundle_holds_every_resource(bundle_dir: Path) -> None:
    shipped = bundle_dir / "_internal" / "resources"
    missing = [p for p in referenced_resources() if not shipped.joinpath(*p).is_file()]
    assert missing == []
    source_files = {p.relative_to(ROOT / "resources") for p in (ROOT / "resources").rglob("*")}
    bundle_files = {p.relative_to(shipped) for p in shipped.rglob("*")}
    assert source_files - bundle_files == set()


def test_bundle_ships_licence_texts(bundle_dir: Path) -> None:
    licences = bundle_dir / "_internal" / "licenses"
    for name in ("LGPL-3.0.txt", "GPL-3.0.txt", "Qt-PySide6-NOTICE.txt", "llama.cpp-LICENSE.txt"):
        assert (licences / name).is_file(), name
    assert any((licences / "Python").iterdir())
    assert any(p.name.startswith("LICENSE") for p in (licences / "llama_cpp_python").iterdir())
