"""App icons on screen: the app's own PNG, decoded by Qt only after core accepted it.

An icon comes from an untrusted manifest. core/apps/icon.py reads the PNG's structure
(at most 256 x 256 pixels and 64 KiB, no chunk a decoder would inflate on its own)
without decoding a pixel; only then does Qt decode it, through a ``QImageReader`` with
an allocation limit as a second bound. An app without an icon (or with one that fails)
gets the first letter of its name on its category's colour.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRect, Qt
from PySide6.QtGui import QColor, QFont, QImageReader, QPainter, QPixmap

from llmos_desktop.core.apps.icon import IconError, decode_icon_uri

log = logging.getLogger(__name__)

ICON_ALLOCATION_MB = 4  # a checked icon is at most 256x256 (256 KiB as RGBA)
# Backgrounds by category: distinct, readable with white text in both themes.
CATEGORY_COLOURS = {
    "writing": "#7b5ea7",
    "translation": "#2f7d6d",
    "questions": "#c2693b",
    "summaries": "#4f6fb3",
    "code": "#37474f",
    "data": "#2e7d32",
    "productivity": "#b0893a",
    "learning": "#ad4f7a",
    "other": "#5d6d7e",
}


def decode_icon(uri: str | None, size: int) -> QPixmap | None:
    """The icon in the manifest's ``icon`` value at ``size`` pixels; None when there is
    none, or core refuses it, or Qt cannot decode it."""
    if uri is None:
        return None
    try:
        png = decode_icon_uri(uri).png  # structure and size checked, nothing decoded
    except IconError as exc:
        log.info("an app icon was refused: %s", exc)
        return None
    data = QByteArray(png)
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    reader = QImageReader(buffer, QByteArray(b"png"))
    reader.setAllocationLimit(ICON_ALLOCATION_MB)
    image = reader.read()
    if image.isNull():
        log.info("an app icon was not decoded: %s", reader.errorString())
        return None
    return QPixmap.fromImage(
        image.scaled(
            size,
            size,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
    )


def letter_icon(name: str, category: str, size: int, font: QFont, ratio: float = 1.0) -> QPixmap:
    """The first letter of ``name`` on ``category``'s colour, in a rounded square."""
    pixmap = QPixmap(int(size * ratio), int(size * ratio))
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(CATEGORY_COLOURS.get(category, "#5d6d7e")))
    painter.drawRoundedRect(QRect(0, 0, size, size), size * 0.22, size * 0.22)
    letter = name.strip()[:1].upper() or "?"
    big = QFont(font)
    big.setPixelSize(max(8, int(size * 0.5)))
    big.setBold(True)
    painter.setFont(big)
    painter.setPen(QColor("#ffffff"))
    painter.drawText(QRect(0, 0, size, size), Qt.AlignmentFlag.AlignCenter, letter)
    painter.end()
    return pixmap
