"""What the window needs before its first paint, read without pydantic.

Start-up paints the window's frame (navigation, status bar) before anything heavy is
imported; the full Settings (core/settings.py: pydantic and the engine contract, ~0.2 s)
are validated on the next turn of the event loop, when the pages are built. The frame
needs three values from the settings file: the language (translators are installed
before any widget is made), the theme and the window geometry. ``peek_appearance``
reads just those with the json module and checks each the way Settings would; anything
else, or a file it cannot read, gives the default, and Settings then has the last word
(it also keeps a bad file aside: this reader never writes).
"""

from __future__ import annotations

import base64
import binascii
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["LANGUAGES", "THEMES", "Appearance", "Language", "Theme", "peek_appearance"]

Language = Literal["en", "zh_CN"]
"""The translations the app ships (resources/i18n); None in Settings: follow the system."""
LANGUAGES: tuple[Language, ...] = typing.get_args(Language)

Theme = Literal["system", "light", "dark"]
THEMES: tuple[Theme, ...] = typing.get_args(Theme)

# QMainWindow.saveGeometry() is about 66 bytes; anything near this bound is not one.
MAX_WINDOW_GEOMETRY_CHARS = 4096
_MAX_FILE_BYTES = 1 << 20  # a settings file is a few kilobytes


@dataclass(frozen=True)
class Appearance:
    language: Language | None = None  # None: follow the system
    theme: Theme = "system"
    window_geometry: bytes | None = None


def decode_geometry(value: object) -> bytes | None:
    """A saved geometry (base64 text) as bytes; None for anything that is not one."""
    if not isinstance(value, str) or not value or len(value) > MAX_WINDOW_GEOMETRY_CHARS:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def peek_appearance(settings_file: Path) -> Appearance:
    """The language, theme and geometry saved in ``settings_file``; defaults where absent
    or invalid (a missing or damaged file gives all defaults)."""
    try:
        with settings_file.open("rb") as file:
            raw = json.loads(file.read(_MAX_FILE_BYTES + 1)[:_MAX_FILE_BYTES])
    except (OSError, ValueError, RecursionError):
        return Appearance()
    if not isinstance(raw, dict):
        return Appearance()
    language = raw.get("language")
    theme = raw.get("theme")
    return Appearance(
        language=language if language in LANGUAGES else None,
        theme=theme if theme in THEMES else "system",
        window_geometry=decode_geometry(raw.get("window_geometry")),
    )
