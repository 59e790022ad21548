"""Where the app's resource files (icons; later translations, the app catalogue, themes) are.

The files live in the repository's top-level ``resources/`` folder and are found in
the same way wherever the code runs:

- frozen (PyInstaller): ``build.spec`` copies them to ``<bundle>/_internal/resources``,
  i.e. ``sys._MEIPASS/resources``;
- installed wheel: setup.py maps them into the package as ``llmos_desktop/_resources``;
- source checkout or editable install: ``resources/`` next to the package.

Code names a file with ``resource_path("icons", "x.png")`` and literal parts, so
tests/packaging can check statically that each named file exists in resources/ and in
a built bundle. Files that only an installer build adds (the starter model, which is not
in the repository) are found under ``bundle_root()``. No Qt at import time: the engine
process and core/ may import this module.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtGui import QIcon

APP_ICON = "llmos-desktop"
"""Base name of the app icon; also the freedesktop icon name and the .desktop file's name."""

BUNDLE_FOLDER = "resources"
"""The folder under ``sys._MEIPASS`` that build.spec fills."""


def bundle_root() -> Path | None:
    """The frozen bundle's data folder (``sys._MEIPASS``, ``<bundle>/_internal``); None from source.

    build.spec puts data files there by relative path: ``resources/``, and with an
    installer build's starter model ``starter/`` (core/models/starter.py).
    """
    meipass = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and meipass:
        return Path(meipass)
    return None


def _candidates() -> list[Path]:
    package = Path(__file__).resolve().parent
    found: list[Path] = []
    bundle = bundle_root()
    if bundle is not None:
        found.append(bundle / BUNDLE_FOLDER)
    found.append(package / "_resources")  # a wheel install
    found.append(package.parent / "resources")  # a source checkout or editable install
    return found


@functools.cache
def resources_root() -> Path:
    """The folder that holds the resource files; FileNotFoundError if none is there."""
    candidates = _candidates()
    for folder in candidates:
        # The icon is always there; checking it avoids picking up some other "resources"
        # folder that happens to sit next to an installed package.
        if (folder / "icons" / f"{APP_ICON}.svg").is_file():
            return folder
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"LLMOS Desktop's resource folder is missing (looked in {tried})")


def resource_path(*parts: str) -> Path:
    """The path of a resource file, e.g. ``resource_path("icons", "llmos-desktop.svg")``.

    Raises FileNotFoundError when the file is missing, so a packaging mistake shows up
    where the file is used rather than as a silently blank icon.
    """
    path = resources_root().joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"resource {'/'.join(parts)} is missing from {resources_root()}")
    return path


def app_icon_files() -> list[tuple[int, Path]]:
    """(size, PNG path) for each pre-rendered app icon size, smallest first."""
    return [
        (16, resource_path("icons", "llmos-desktop-16.png")),
        (24, resource_path("icons", "llmos-desktop-24.png")),
        (32, resource_path("icons", "llmos-desktop-32.png")),
        (48, resource_path("icons", "llmos-desktop-48.png")),
        (64, resource_path("icons", "llmos-desktop-64.png")),
        (128, resource_path("icons", "llmos-desktop-128.png")),
        (256, resource_path("icons", "llmos-desktop-256.png")),
        (512, resource_path("icons", "llmos-desktop-512.png")),
    ]


def app_icon() -> QIcon:
    """The app icon for windows and dialogs (needs a QGuiApplication).

    Built from the pre-rendered PNGs rather than the SVG: small sizes are crisper and
    no image-format plugin is needed to show them.
    """
    from PySide6.QtGui import QIcon

    icon = QIcon()
    for _size, path in app_icon_files():
        icon.addFile(str(path))
    return icon
