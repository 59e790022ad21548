"""The template sandbox: what untrusted templates may not do, and the time and size bounds."""

from __future__ import annotations

import sys
import time
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from llmos_desktop.core.templates.sandbox import (
    DEFAULT_MAX_OUTPUT_CHARS,
    DEFAULT_TIME_LIMIT_S,
    MAX_TEMPLATE_CHARS,
    SandboxedTemplateError,
    compile_template,
    render_template,
)
from tests.helpers.templates import RUNAWAY, SANDBOX_PAYLOADS

USER_FIRST: list[Mapping[str, object]] = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Name a colour."},
]

Tracer = Callable[[types.FrameType, str, Any], None]


def render(
    source: str,
    messages: Sequence[Mapping[str, object]] = USER_FIRST,
    *,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
) -> str:
    """Render ``source`` with the variables a chat template gets."""
    context = {
        "messages": [dict(m) for m in messages],
        "add_generation_prompt": True,
        "bos_token": "<s>",
        "eos_token": "",
        "tools": None,
    }
    return render_template(
        source, context, time_limit_s=time_limit_s, max_output_chars=max_output_chars
    )


# ---------------------------------------------------------------------------
# The entry points
# ---------------------------------------------------------------------------


def test_render_template_renders_any_context() -> None:
    source = "{% for item in items %}{{ greeting }}, {{ item.name }}!{% endfor %}"
    context = {"greeting": "Hello", "items": [{"name": "Ada"}, {"name": "Bob"}]}
    assert render_template(source, context) == "Hello, Ada!Hello, Bob!"


def test_compiled_template_renders_many_contexts() -> None:
    template = compile_template("Summarise: {{ text | trim }}", subject="app prompt")
    assert template.subject == "app prompt"
    assert template.render({"text": "  one  "}) == "Summarise: one"
    assert template.render({"text": "two"}, max_output_chars=14) == "Summarise: two"


def test_subject_names_the_template_in_errors() -> None:
    with pytest.raises(SandboxedTemplateError) as caught:
        render_template("{{ x.__class__ }}", {"x": 1}, subject="app prompt")
    assert str(caught.value) == (
        "app prompt tried to use an unsafe attribute: int.__class__ is not allowed"
    )
    with pytest.raises(SandboxedTemplateError) as caught:
        render_template("{% for %}", {})
    assert str(caught.value).startswith("template is not valid Jinja: ")


def test_compile_errors_come_from_compile_template() -> None:
    with pytest.raises(SandboxedTemplateError, match=r"^template is not valid Jinja: .*line 1"):
        compile_template("{% if %}")
    too_long = "x" * (MAX_TEMPLATE_CHARS + 1)
    with pytest.raises(SandboxedTemplateError) as caught:
        compile_template(too_long, subject="app prompt")
    assert str(caught.value) == (
        f"app prompt is too long ({MAX_TEMPLATE_CHARS + 1} characters, "
        f"at most {MAX_TEMPLATE_CHARS})"
    )


def test_the_values_passed_in_are_not_changed() -> None:
    items = [1, 2]
    with pytest.raises(SandboxedTemplateError, match="unsafe attribute"):
        render_template("{% set _ = items.append(3) %}", {"items": items})
    assert items == [1, 2]


def test_bad_limits_are_rejected() -> None:
    with pytest.raises(ValueError, match="time_limit_s"):
        render_template("x", {}, time_limit_s=0)
    with pytest.raises(ValueError, match="max_output_chars"):
        render_template("x", {}, max_output_chars=0)


# ---------------------------------------------------------------------------
# What a template may not do
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("payload", SANDBOX_PAYLOADS)
def test_sandbox_payload_is_refused_loudly(payload: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    source = payload.replace("MARKER", str(marker))
    with pytest.raises(SandboxedTemplateError) as caught:
        render(source)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("template ")
    assert not marker.exists()


def test_error_messages_from_templates_are_one_clean_line() -> None:
    source = "{{ raise_exception('bad\\n\\x1b[31mthing\\t' ~ 'y' * 1000) }}"
    with pytest.raises(SandboxedTemplateError) as caught:
        render(source)
    message = str(caught.value)
    assert message.startswith("template raised an error: bad\\n\\x1b[31mthing\\ty")
    assert message.isprintable()
    assert len(message) <= 300


def test_unsafe_attribute_message() -> None:
    with pytest.raises(SandboxedTemplateError, match=r"^template tried to use an unsafe attribute"):
        render("{{ cycler.__init__.__globals__ }}")


def test_undefined_values_still_render_empty_for_real_templates() -> None:
    # transformers' default Undefined: a missing key or variable prints as "" and is
    # falsy; only reaching *through* an undefined value fails.
    source = "[{{ nothing }}][{{ messages[0].nothing }}][{{ 'yes' if not tools else 'no' }}]"
    assert render(source) == "[][][yes]"


def test_hf_environment_features() -> None:
    source = (
        "{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}"
        "{% generation %}{{ m.content }}{% endgeneration %}{% endfor %}|"
        "{{ {'b': 1, 'a': '<é>'} | tojson(sort_keys=True, separators=(',', ':')) }}|"
        "{{ {'a': 'é'} | tojson(ensure_ascii=True) }}|"
        "{{ messages[0].get('missing', 'dflt') }}|{{ messages[0].missing is defined }}|"
        "{{ strftime_now('%Y') | length }}"
    )
    assert render(source) == 'Hi|{"a":"<é>","b":1}|{"a": "\\u00e9"}|dflt|False|4'


# ---------------------------------------------------------------------------
# Time, size and value bounds
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("source", RUNAWAY)
def test_runaway_template_stops_at_the_time_limit(source: str) -> None:
    started = time.monotonic()
    with pytest.raises(SandboxedTemplateError) as caught:
        render(source, time_limit_s=0.5)
    elapsed = time.monotonic() - started
    assert str(caught.value) == "template took longer than 0.5 s"
    # Unbounded, each of these runs for hours; the margin is for a busy machine.
    assert 0.5 <= elapsed < 3.0


def test_output_size_bound() -> None:
    source = "{% for i in range(100000) %}{{ 'xxxxxxxxxx' }}{% endfor %}"
    with pytest.raises(SandboxedTemplateError) as caught:
        render(source, max_output_chars=1000)
    assert str(caught.value) == "template output exceeded 1000 characters"
    # The default bound stops 2,000,000 characters at 1,000,000 (a generous time limit,
    # so a slow machine cannot hit the time bound first).
    with pytest.raises(SandboxedTemplateError, match=r"^template output exceeded 1000000 char"):
        render(source + source, time_limit_s=10.0)
    assert render("{{ 'x' * 1000 }}", max_output_chars=1000) == "x" * 1000


HUGE = [
    "{{ 'x' * 10**10 }}",
    "{{ 10**10 * 'x' }}",
    "{{ [0] * 10**9 }}",
    "{{ 2 ** (10 ** 8) }}",
    "{{ (7 ** 30000) * (7 ** 30000) }}",
    "{{ 'a'|center(10**10) }}",
    "{{ 'a'|center(9999999999) }}",
    "{{ 'a'.center(10**10) }}",
    "{{ 'a'.ljust(10**9) }}",
    "{{ 'a\tb'.expandtabs(10**9) }}",
    "{{ (1).to_bytes(10**9, 'big') }}",
    "{{ 'a'|indent(10**9, true) }}",
    "{{ '{:>9999999999}'.format(1) }}",
    "{{ '{:>{w}}'.format(1, w=10**9) }}",
    "{{ '%9999999999d' % 1 }}",
    "{{ '%*d' % (10**9, 1) }}",
    "{{ '%s'|format([S] * 1000) }}",
    "{{ S.replace('', S) }}",
    "{{ S|replace('x', S) }}",
    "{{ S.translate({120: S}) }}",
    "{{ range(100000)|join(S) }}",
    "{{ S.join(range(100000)|map('string')) }}",
    "{{ [S] * 1000 }}",
    "{{ ([S] * 1000)|tojson }}",
    "{{ ([S] * 1000)|string }}",
    "{{ '' ~ ([S] * 1000) }}",
    "{{ '%s' % ([S] * 1000,) }}",
    "{{ '{}'.format([S] * 1000) }}",
    "{{ {'a': 1}|tojson(indent=10**9) }}",
    "{{ [1]|batch(10**10, 'x') }}",
    "{{ raise_exception([S] * 1000) }}",
    "{{ dict(a=[S] * 1000).values() }}",
    "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s|length }}",
    "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
    "{% endfor %}{{ ns.s|length }}",
    "{% set ns = namespace(l=[S]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}"
    "{% endfor %}{{ ns.l|length }}",
    "{{ (range(100000)|map('center', 900000)|list)|length }}",
]
# Each is refused by a size check before the value is built: not by the time limit
# (generous below, so a busy machine does not hit it) and not by a MemoryError.
REFUSED_FOR_SIZE = (
    r"^template (tried to build a value larger than 1000000 characters"
    r"|built more than 100000000 characters of values"
    r"|asked for a JSON indent over 32)$"
)


@pytest.mark.parametrize("source", HUGE)
def test_huge_values_are_refused_before_they_are_built(source: str) -> None:
    source = "{% set S = 'x' * 900000 %}" + source
    with pytest.raises(SandboxedTemplateError, match=REFUSED_FOR_SIZE):
        render(source, time_limit_s=10.0)


def test_huge_value_message() -> None:
    with pytest.raises(SandboxedTemplateError) as caught:
        render("{{ 'x' * 10**10 }}")
    assert str(caught.value) == "template tried to build a value larger than 1000000 characters"


def test_many_allowed_values_hit_the_allocation_budget() -> None:
    source = "{% set s = 'x' * 9000 %}{% for i in range(100000) %}{% set t = s ~ i %}{% endfor %}"
    started = time.monotonic()
    with pytest.raises(SandboxedTemplateError, match=r"^template built more than 1000000 char"):
        render(source, max_output_chars=10_000)
    # Typically under 0.01 s: the budget stops the loop long before the 2 s time limit.
    assert time.monotonic() - started < 1.0


def test_ordinary_arithmetic_and_strings_still_work() -> None:
    source = (
        "{{ 3 * 4 }} {{ 2 ** 10 }} {{ 'ab' * 3 }} {{ [1, 2] + [3] }} {{ '%05.1f' % 3.14159 }} "
        "{{ '{:>4}'.format('x') }} {{ 'a-b'.replace('-', '+') }} {{ ', '.join(['p', 'q']) }} "
        "{{ 'x'|center(5) }}|{{ 'l1\nl2'|indent(2) }} {{ 'v=%s'|format(7) }}"
    )
    assert render(source) == ("12 1024 ababab [1, 2, 3] 003.1    x a+b p, q   x  |l1\n  l2 v=7")


# ---------------------------------------------------------------------------
# The trace function
# ---------------------------------------------------------------------------


@pytest.fixture
def outer_tracer() -> Iterator[Tracer]:
    previous = sys.gettrace()

    def tracer(frame: types.FrameType, event: str, arg: Any) -> None:
        return None

    sys.settrace(tracer)
    try:
        yield tracer
    finally:
        sys.settrace(previous)


def test_previous_trace_function_is_restored(outer_tracer: Tracer) -> None:
    assert render("{% for m in messages %}{{ m.content }}|{% endfor %}") == (
        "Hi|Hello!|Name a colour.|"
    )
    assert sys.gettrace() is outer_tracer
    for source in [RUNAWAY[0], "{{ 'x' * 10**10 }}", "{{ ''.__class__ }}", "{% if %}"]:
        with pytest.raises(SandboxedTemplateError):
            render(source, time_limit_s=0.2)
        assert sys.gettrace() is outer_tracer


def test_trace_is_per_render_and_per_thread() -> None:
    before = sys.gettrace()
    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = pool.submit(render, RUNAWAY[0], time_limit_s=0.5)
        fast = pool.submit(render, "{% for m in messages %}{{ m.content }}|{% endfor %}")
        assert fast.result() == "Hi|Hello!|Name a colour.|"
        with pytest.raises(SandboxedTemplateError, match=r"took longer than 0\.5 s"):
            slow.result()
    assert sys.gettrace() is before
