"""Render the app icon's PNG, ICO and ICNS files from resources/icons/llmos-desktop.svg.

Run it after editing the SVG and commit what it writes (``python packaging/make_icons.py``);
builds never regenerate icons, so a build machine needs neither Pillow nor a display.
Qt's SVG renderer (QtSvg, part of PySide6-Essentials) rasterises; Pillow writes the
Windows .ico and the macOS .icns, both on any OS.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ICONS = ROOT / "resources" / "icons"
SOURCE = ICONS / "llmos-desktop.svg"
NAME = "llmos-desktop"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)


def render_png(size: int) -> bytes:
    """The SVG drawn at ``size`` x ``size`` pixels, as PNG bytes."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(SOURCE))
    if not renderer.isValid():
        raise SystemExit(f"{SOURCE} is not a valid SVG for Qt")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return bytes(data.data())


def _optimised(png: bytes) -> bytes:
    """Re-encode through Pillow with maximum compression: a third smaller than Qt's PNGs."""
    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(png)).save(out, "PNG", optimize=True)
    return min(png, out.getvalue(), key=len)


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image
    from PySide6.QtGui import QGuiApplication

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    rendered = {size: _optimised(render_png(size)) for size in {*PNG_SIZES, *ICNS_SIZES}}
    for size in PNG_SIZES:
        (ICONS / f"{NAME}-{size}.png").write_bytes(rendered[size])
    images = {size: Image.open(io.BytesIO(png)) for size, png in rendered.items()}
    # ICO: each size drawn from the vector source rather than downscaled from one bitmap.
    largest = images[max(ICO_SIZES)]
    largest.save(
        ICONS / f"{NAME}.ico",
        format="ICO",
        sizes=[(s, s) for s in ICO_SIZES],
        append_images=[images[s] for s in ICO_SIZES if s != max(ICO_SIZES)],
    )
    images[max(ICNS_SIZES)].save(
        ICONS / f"{NAME}.icns",
        format="ICNS",
        append_images=[images[s] for s in ICNS_SIZES if s != max(ICNS_SIZES)],
    )
    for path in sorted(ICONS.iterdir()):
        print(f"{path.relative_to(ROOT)}  {path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
