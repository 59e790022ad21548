"""App icons: a small PNG, checked from its bytes before anything decodes it.

An icon comes inside an untrusted manifest, as ``data:image/png;base64,...``. A PNG's
header says how large the image is, and a decoder allocates that much: a 60-byte file
can claim 100000 x 100000 pixels (40 GB of RGBA). So core reads the structure itself,
without decoding a pixel and without Qt (core/ never imports it):

- at most 64 KiB encoded, a real PNG signature, IHDR first with at most 256 x 256
  pixels and a valid bit depth and colour type;
- every chunk inside the file with a correct CRC, IEND last, nothing after it;
- only the chunks a still image needs (IHDR, PLTE, IDAT, IEND, tRNS and the colour and
  size hints). Compressed text and colour profiles (zTXt, iTXt, iCCP) are refused
  because decoders inflate them into buffers of their own, and APNG's animation chunks
  because an icon does not move.

The UI then decodes the checked bytes with Qt (QImage.fromData); the decoder's
allocation is bounded by the 256 x 256 checked here.
"""

from __future__ import annotations

import base64
import binascii
import struct
import zlib
from dataclasses import dataclass
from typing import Final

__all__ = [
    "MAX_ICON_BYTES",
    "MAX_ICON_SIDE",
    "IconError",
    "IconInfo",
    "check_png",
    "decode_icon_uri",
    "icon_data_uri",
]

MAX_ICON_BYTES: Final = 64 * 1024
MAX_ICON_SIDE: Final = 256
DATA_URI_PREFIX: Final = "data:image/png;base64,"

_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
# Bit depths allowed for each colour type (PNG spec, table 11.1).
_DEPTHS: Final[dict[int, frozenset[int]]] = {
    0: frozenset({1, 2, 4, 8, 16}),
    2: frozenset({8, 16}),
    3: frozenset({1, 2, 4, 8}),
    4: frozenset({8, 16}),
    6: frozenset({8, 16}),
}
_ALLOWED_CHUNKS: Final = frozenset(
    {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"pHYs",
     b"bKGD", b"tIME", b"tEXt"}
)  # fmt: skip


class IconError(ValueError):
    """An icon that is not a small, well-formed PNG; ``str()`` is one line."""


@dataclass(frozen=True)
class IconInfo:
    """A checked icon: its size in pixels and its PNG bytes."""

    width: int
    height: int
    png: bytes


def check_png(data: bytes) -> IconInfo:
    """Check ``data`` is a PNG an icon may be (see the module docstring); decodes nothing.

    Raises IconError saying what is wrong.
    """
    if len(data) > MAX_ICON_BYTES:
        raise IconError(f"is larger than {MAX_ICON_BYTES // 1024} KiB ({len(data)} bytes)")
    if not data.startswith(_SIGNATURE):
        raise IconError("is not a PNG image (only PNG icons are supported)")
    offset = len(_SIGNATURE)
    width = height = 0
    seen_idat = seen_plte = False
    colour_type = -1
    first = True
    while True:
        if offset + 12 > len(data):
            raise IconError("is a cut-off PNG (no IEND chunk)")
        (length,) = struct.unpack_from(">I", data, offset)
        kind = data[offset + 4 : offset + 8]
        end = offset + 12 + length
        if length > len(data) or end > len(data):
            raise IconError(f"is a damaged PNG (chunk {_name(kind)} runs past the end)")
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack_from(">I", data, offset + 8 + length)
        if zlib.crc32(kind + body) != crc:
            raise IconError(f"is a damaged PNG (chunk {_name(kind)} fails its CRC)")
        if first:
            if kind != b"IHDR" or length != 13:
                raise IconError("is a damaged PNG (IHDR is not the first chunk)")
            width, height, colour_type = _check_ihdr(body)
            first = False
        elif kind == b"IHDR":
            raise IconError("is a damaged PNG (two IHDR chunks)")
        elif kind not in _ALLOWED_CHUNKS:
            raise IconError(
                f"holds a {_name(kind)} chunk; an icon may hold only a still image"
                " (no animation, colour profile or compressed text)"
            )
        elif kind == b"PLTE":
            seen_plte = True
        elif kind == b"IDAT":
            seen_idat = True
        elif kind == b"IEND":
            if end != len(data):
                raise IconError("has data after the end of the PNG")
            break
        offset = end
    if not seen_idat:
        raise IconError("is a PNG without image data")
    if colour_type == 3 and not seen_plte:
        raise IconError("is a palette PNG without a palette")
    return IconInfo(width=width, height=height, png=bytes(data))


def _check_ihdr(body: bytes) -> tuple[int, int, int]:
    width, height, depth, colour_type, compression, filter_method, interlace = struct.unpack(
        ">IIBBBBB", body
    )
    if width == 0 or height == 0:
        raise IconError("is a damaged PNG (zero width or height)")
    if width > MAX_ICON_SIDE or height > MAX_ICON_SIDE:
        raise IconError(
            f"is {width}x{height} pixels; an icon may be at most {MAX_ICON_SIDE}x{MAX_ICON_SIDE}"
        )
    if depth not in _DEPTHS.get(colour_type, frozenset()):
        raise IconError(f"is a damaged PNG (bit depth {depth} with colour type {colour_type})")
    if compression != 0 or filter_method != 0 or interlace not in (0, 1):
        raise IconError("is a damaged PNG (unknown compression, filter or interlace method)")
    return width, height, colour_type


def _name(kind: bytes) -> str:
    return repr(kind.decode("latin-1"))


def decode_icon_uri(uri: str) -> IconInfo:
    """The checked PNG in a ``data:image/png;base64,...`` URI; raises IconError."""
    if not uri[: len(DATA_URI_PREFIX)].lower() == DATA_URI_PREFIX:
        raise IconError("must be a data:image/png;base64,... URI (only PNG icons are supported)")
    encoded = uri[len(DATA_URI_PREFIX) :]
    if len(encoded) > (MAX_ICON_BYTES * 4) // 3 + 4:
        raise IconError(f"is larger than {MAX_ICON_BYTES // 1024} KiB")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise IconError("is not valid base64") from None
    return check_png(data)


def icon_data_uri(png: bytes) -> str:
    """The manifest's ``icon`` value for a PNG file's bytes (the builder's "Choose icon").

    Raises AppError("invalid", "icon", ...) when the PNG is not a valid icon.
    """
    from llmos_desktop.core.apps.manifest import AppError

    try:
        check_png(png)
    except IconError as exc:
        raise AppError("invalid", "icon", str(exc)) from None
    return DATA_URI_PREFIX + base64.b64encode(png).decode("ascii")
