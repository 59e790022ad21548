"""Small text helpers shared across core."""

from __future__ import annotations

__all__ = ["one_line"]


def one_line(text: str, limit: int | None = 300) -> str:
    """``text`` made safe to show in a one-line message: for errors that quote untrusted text.

    Characters that do not print (newlines, tabs, escape sequences, bidi overrides,
    zero-width characters) are written as Python escapes (``\\n``, ``\\u202e``), so the
    message stays one line and a hostile file name stays recognisable. Text longer
    than ``limit`` (None: no limit) is cut to exactly ``limit`` characters, the last an
    ellipsis; only the first ``4 * limit`` characters are looked at, so a huge input
    costs little.
    """
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    head = text if limit is None else text[: limit * 4]
    flat = (
        head
        if head.isprintable()
        else "".join(c if c.isprintable() else ascii(c)[1:-1] for c in head)
    )
    if limit is None or (len(flat) <= limit and len(head) == len(text)):
        return flat
    return flat[: limit - 1] + "…"
