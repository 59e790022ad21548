"""The runtime's text release: stop strings found across tokens, only what may start one held."""

from __future__ import annotations

import pytest

from llmos_desktop.core.engine.process.runtime import _release, _stop_prefix_len


@pytest.mark.parametrize(
    ("text", "stops", "held"),
    [
        ("Hello", ("<end_of_turn>",), 0),
        ("Hello <", ("<end_of_turn>",), 1),
        ("Hello <end_of", ("<end_of_turn>",), 7),
        ("Hello <end_of_turn", ("<end_of_turn>",), 12),
        ("ab", ("abc", "bx"), 2),
        ("xb", ("abc", "bx"), 1),
        ("", ("abc",), 0),
        ("abc", (), 0),
        # A stop of one character is found whole, never held.
        ("a.", (".",), 0),
    ],
)
def test_only_text_that_can_start_a_stop_is_held(
    text: str, stops: tuple[str, ...], held: int
) -> None:
    assert _stop_prefix_len(text, stops) == held


def test_held_text_is_enough_to_find_a_stop_split_across_tokens() -> None:
    stops = ("</s>", "\nUser:")
    pieces = ["Sure", ", here", " it is.\n", "Us", "er", ": next"]
    pending = ""
    sent = ""
    for piece in pieces:
        ready, pending, stopped = _release(pending + piece, stops)
        sent += ready
        if stopped:
            break
    assert sent == "Sure, here it is."
