"""Rendering an app's prompt: the inputs are checked and become the template's only
variables, and the template runs in the sandbox under a time and size bound, so a
template that is slow or huge for some inputs fails with an error naming it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from llmos_desktop.core.apps import (
    AppError,
    AppManifest,
    parse_manifest,
    render_prompt,
    render_source,
    template_variables,
    validate_inputs,
)
from tests.unit.core.apps.test_manifest import minimal_app


def app_with(inputs: list[dict[str, Any]], template: str, **changes: Any) -> AppManifest:
    return parse_manifest(
        minimal_app(inputs=inputs, prompt_template=template, examples=[], **changes)
    )


TEXT = {"name": "topic", "type": "text", "label": {"en": "Topic"}}
NOTES = {"name": "notes", "type": "multiline", "label": {"en": "Notes"}, "max_length": 50}


def test_the_prompt_is_the_template_over_the_inputs() -> None:
    app = parse_manifest(minimal_app())
    assert render_prompt(app, {"topic": "rain"}) == "Write a calm haiku about rain."
    assert (
        render_prompt(app, {"topic": "rain", "mood": "joyful", "title": True})
        == "Write a joyful haiku about rain. Add a title."
    )


def test_block_tags_leave_no_blank_lines_and_outer_space_is_trimmed() -> None:
    app = app_with(
        [TEXT, {**NOTES, "required": False}],
        "\n  Topic: {{ topic }}\n{% if notes %}\nNotes: {{ notes }}\n{% endif %}\nGo.\n\n",
    )
    assert render_prompt(app, {"topic": "x"}) == "Topic: x\nGo."
    assert render_prompt(app, {"topic": "x", "notes": "n"}) == "Topic: x\nNotes: n\nGo."


def test_input_text_is_never_run_as_a_template_or_escaped() -> None:
    app = app_with([TEXT], "About: {{ topic }}")
    hostile = "{{ 7 * 7 }} {% for x in range(3) %}x{% endfor %} <b>&amp;</b>"
    assert render_prompt(app, {"topic": hostile}) == f"About: {hostile}"


def test_a_template_cannot_change_or_escape_through_its_inputs() -> None:
    app = app_with([TEXT], "{{ topic.upper() }}")
    assert render_prompt(app, {"topic": "ok"}) == "OK"
    # ``attr`` hides the name from the static check, and only a "go" value takes the
    # branch, so the manifest reads; running it is refused by the sandbox
    app = app_with([TEXT], "{% if topic == 'go' %}{{ topic|attr('__class__') }}{% endif %}x")
    with pytest.raises(AppError) as error:
        render_prompt(app, {"topic": "go"})
    assert (error.value.kind, error.value.field) == ("template", "prompt_template")
    assert "unsafe attribute" in error.value.message


def test_a_template_slow_only_for_some_inputs_is_stopped_at_run_time() -> None:
    app = app_with(
        [TEXT],
        "{% if topic == 'slow' %}{% for i in range(100000) %}{% for j in range(100000) %}"
        "{% endfor %}{% endfor %}{% endif %}ok",
    )
    assert render_prompt(app, {"topic": "fast"}) == "ok"
    started = time.monotonic()
    with pytest.raises(AppError) as error:
        render_prompt(app, {"topic": "slow"})
    assert time.monotonic() - started < 5
    assert (error.value.kind, error.value.field) == ("template", "prompt_template")
    assert "took longer than 1.0 s" in error.value.message


def test_a_template_huge_only_for_some_inputs_is_stopped_at_run_time() -> None:
    app = app_with(
        [TEXT],
        "{% if topic == 'big' %}{% for i in range(100000) %}{{ topic * 10 }}{% endfor %}"
        "{% endif %}ok",
    )
    with pytest.raises(AppError) as error:
        render_prompt(app, {"topic": "big"})
    assert error.value.field == "prompt_template"
    assert "exceeded 400000 characters" in error.value.message


def test_render_source_is_the_builders_preview() -> None:
    assert render_source("Hi {{ name }}!", {"name": "Ann"}) == "Hi Ann!"
    with pytest.raises(AppError) as error:
        render_source("Hi {{ name ", {"name": "Ann"})
    assert (error.value.kind, error.value.field) == ("template", "prompt_template")
    assert "not valid Jinja" in error.value.message


def test_template_variables_lists_what_a_template_reads() -> None:
    source = "{% set n = 3 %}{{ a }}{% for x in items %}{{ x }}{{ loop.index }}{% endfor %}{{ n }}"
    assert template_variables(source) == {"a", "items"}


# --- validate_inputs -----------------------------------------------------------------------

ALL_TYPES: list[dict[str, Any]] = [
    {"name": "title", "type": "text", "label": {"en": "Title"}, "max_length": 20},
    {"name": "body", "type": "multiline", "label": {"en": "Body"}, "required": False},
    {
        "name": "tone",
        "type": "choice",
        "label": {"en": "Tone"},
        "choices": [{"value": "warm"}, {"value": "cool"}],
        "required": False,
    },
    {
        "name": "count",
        "type": "number",
        "label": {"en": "Count"},
        "min": 1,
        "max": 5,
        "required": False,
    },
    {
        "name": "whole",
        "type": "number",
        "label": {"en": "Whole"},
        "integer": True,
        "required": False,
    },
    {"name": "loud", "type": "toggle", "label": {"en": "Loud"}, "required": False},
]


def typed_app() -> AppManifest:
    return app_with(ALL_TYPES, "{{ title }}")


def test_missing_optional_inputs_are_filled_with_their_empty_value() -> None:
    assert validate_inputs(typed_app(), {"title": "Hi"}) == {
        "title": "Hi",
        "body": "",
        "tone": "",
        "count": None,
        "whole": None,
        "loud": False,
    }


def test_good_values_come_back_and_whole_numbers_as_int() -> None:
    values = validate_inputs(
        typed_app(),
        {"title": "Hi", "body": "a\nb", "tone": "cool", "count": 2.5, "whole": 4.0, "loud": True},
    )
    assert values == {
        "title": "Hi",
        "body": "a\nb",
        "tone": "cool",
        "count": 2.5,
        "whole": 4,
        "loud": True,
    }
    assert type(values["whole"]) is int


def test_a_default_is_used_when_no_value_is_given() -> None:
    app = parse_manifest(minimal_app())
    assert validate_inputs(app, {"topic": "x"})["mood"] == "calm"


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({}, "title", "is required"),
        ({"title": "   "}, "title", "is required"),
        ({"title": None}, "title", "is required"),
        ({"title": "x" * 21}, "title", "too long (21 characters, at most 20)"),
        ({"title": "two\nlines"}, "title", "must be one line"),
        ({"title": "bell\x07"}, "title", "control"),
        ({"title": 5}, "title", "must be text, not a number"),
        ({"title": "ok", "body": ["a"]}, "body", "must be text, not a list"),
        ({"title": "ok", "body": "\x1b[31mred"}, "body", "control"),
        ({"title": "ok", "tone": "hot"}, "tone", "must be one of 'warm', 'cool'"),
        ({"title": "ok", "count": 0}, "count", "at least 1"),
        ({"title": "ok", "count": 6}, "count", "at most 5"),
        ({"title": "ok", "count": "3"}, "count", "must be a number, not text"),
        ({"title": "ok", "count": True}, "count", "must be a number, not a boolean"),
        ({"title": "ok", "count": float("nan")}, "count", "finite"),
        ({"title": "ok", "whole": 1.5}, "whole", "whole number"),
        ({"title": "ok", "loud": 1}, "loud", "true or false"),
        ({"title": "ok", "loud": "yes"}, "loud", "true or false"),
        ({"title": "ok", "colour": "red"}, "colour", "is not an input"),
    ],
)
def test_a_bad_value_names_its_input(values: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(AppError) as error:
        validate_inputs(typed_app(), values)
    assert error.value.kind == "input"
    assert error.value.field == field
    assert message in error.value.message
    assert str(error.value).startswith(f"{field}: ")


def test_render_prompt_checks_the_inputs_first() -> None:
    with pytest.raises(AppError) as error:
        render_prompt(typed_app(), {"title": "x" * 500})
    assert (error.value.kind, error.value.field) == ("input", "title")


def test_the_largest_inputs_render_within_the_bound() -> None:
    big = {"name": "text", "type": "multiline", "label": {"en": "Text"}, "max_length": 100_000}
    app = app_with([big, {**big, "name": "more"}], "{{ text }}\n{{ more }}")
    text = render_prompt(app, {"text": "a" * 100_000, "more": "b" * 100_000})
    assert len(text) == 200_001


def test_a_chat_app_may_have_no_first_message() -> None:
    app = parse_manifest(minimal_app(mode="chat", inputs=[], prompt_template="", examples=[]))
    assert render_prompt(app, {}) == ""
