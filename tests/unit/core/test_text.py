"""one_line: untrusted text made safe to quote in a one-line message."""

from __future__ import annotations

import pytest

from llmos_desktop.core.text import one_line


def test_short_plain_text_is_unchanged() -> None:
    assert one_line("model 'gemma3' loaded") == "model 'gemma3' loaded"
    assert one_line("") == ""


def test_line_breaks_and_invisible_characters_are_escaped() -> None:
    assert one_line("first\nsecond\r\n\tthird") == "first\\nsecond\\r\\n\\tthird"
    assert one_line("red \x1b[31mtext\x00 and a\u200bzero-width space") == (
        "red \\x1b[31mtext\\x00 and a\\u200bzero-width space"
    )
    # A bidi override cannot turn a name around on screen.
    assert one_line("evil\u202egguf.exe") == "evil\\u202egguf.exe"
    assert one_line("two  spaces stay") == "two  spaces stay"


def test_long_text_is_cut_to_the_limit_with_an_ellipsis() -> None:
    assert one_line("x" * 300) == "x" * 300
    assert one_line("x" * 301) == "x" * 299 + "…"
    assert one_line("abcdef", limit=4) == "abc…"
    huge = one_line("y" * 10_000_000)
    assert huge == "y" * 299 + "…"


def test_text_beyond_what_is_looked_at_still_shows_the_ellipsis() -> None:
    # Only the first 4 * limit characters are looked at; what follows is not lost silently.
    assert one_line("start" + " " * 2000 + "end", limit=100) == "start" + " " * 94 + "…"


def test_no_limit_keeps_everything() -> None:
    assert one_line("z" * 5000, limit=None) == "z" * 5000


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="limit"):
        one_line("x", limit=0)
