"""Chat templates: the built-in formats, choosing a template, and real model templates."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path

import pytest

from llmos_desktop.core.templates import (
    ChatTemplate,
    ChatTemplateError,
    builtin_template_names,
    choose_template,
)
from tests.helpers.templates import RUNAWAY, SANDBOX_PAYLOADS

CHAT: list[Mapping[str, object]] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
]
USER_FIRST: list[Mapping[str, object]] = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Name a colour."},
]


def untrusted(source: str) -> ChatTemplate:
    return ChatTemplate(name="model", source="model", template=source, bos_token="<s>")


def builtin(name: str) -> ChatTemplate:
    return choose_template(model_template=None, architecture=None, override=name)


# ---------------------------------------------------------------------------
# Built-in templates
# ---------------------------------------------------------------------------


def test_each_builtin_template_file_is_found_and_renders_a_two_turn_chat() -> None:
    folder = resources.files("llmos_desktop.core.templates").joinpath("builtin")
    files = {entry.name for entry in folder.iterdir() if entry.name.endswith(".jinja")}
    assert files == {f"{name}.jinja" for name in builtin_template_names()}
    two_turns: list[Mapping[str, object]] = [
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "It is 4."},
    ]
    for name in builtin_template_names():
        template = builtin(name)
        assert template.template == folder.joinpath(f"{name}.jinja").read_text("utf-8")
        text = template.render(two_turns, add_generation_prompt=False)
        question = text.find("What is 2 + 2?")
        assert 0 <= question < text.find("It is 4."), (name, text)


def test_builtin_names() -> None:
    assert builtin_template_names() == ("gemma", "chatml", "llama3", "phi3", "mistral", "generic")


def test_gemma_folds_system_into_first_user_turn_and_calls_assistant_model() -> None:
    template = builtin("gemma")
    assert template.stop == ("<end_of_turn>",)
    assert template.render(CHAT, add_generation_prompt=False) == (
        "<bos><start_of_turn>user\nYou are terse.\n\nHi<end_of_turn>\n"
        "<start_of_turn>model\nHello!<end_of_turn>\n"
    )
    assert template.render(USER_FIRST) == (
        "<bos><start_of_turn>user\nHi<end_of_turn>\n"
        "<start_of_turn>model\nHello!<end_of_turn>\n"
        "<start_of_turn>user\nName a colour.<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_gemma_uses_the_models_bos_text() -> None:
    template = choose_template(model_template=None, architecture="gemma3", bos_token="<BOS>")
    assert template.render(USER_FIRST[:1]).startswith("<BOS><start_of_turn>user\nHi")


def test_chatml() -> None:
    template = builtin("chatml")
    assert template.stop == ("<|im_end|>",)
    assert template.render(CHAT) == (
        "<|im_start|>system\nYou are terse.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_llama3() -> None:
    template = builtin("llama3")
    assert template.stop == ("<|eot_id|>",)
    assert template.render(CHAT) == (
        "<|begin_of_text|>"
        "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_phi3() -> None:
    template = builtin("phi3")
    assert template.stop == ("<|end|>",)
    assert template.render(CHAT) == (
        "<|system|>\nYou are terse.<|end|>\n<|user|>\nHi<|end|>\n"
        "<|assistant|>\nHello!<|end|>\n<|assistant|>\n"
    )


def test_mistral() -> None:
    template = builtin("mistral")
    assert template.stop == ("</s>",)
    assert template.render([*CHAT, {"role": "user", "content": "And?"}]) == (
        "<s>[INST] You are terse.\n\nHi [/INST]Hello!</s>[INST] And? [/INST]"
    )


def test_generic() -> None:
    template = builtin("generic")
    assert template.stop == ("\nUser:",)
    assert template.render(CHAT) == (
        "System: You are terse.\nUser: Hi\nAssistant: Hello!\nAssistant:"
    )
    assert template.render(CHAT, add_generation_prompt=False).endswith("Assistant: Hello!\n")


def test_openai_content_parts_are_joined_and_none_content_is_empty() -> None:
    messages: list[Mapping[str, object]] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "first"},
                {"type": "image_url", "image_url": {"url": "http://example.invalid/x.png"}},
                {"type": "text", "text": "second"},
            ],
        },
        {"role": "assistant", "content": None},
    ]
    assert builtin("chatml").render(messages, add_generation_prompt=False) == (
        "<|im_start|>user\nfirst\nsecond<|im_end|>\n<|im_start|>assistant\n<|im_end|>\n"
    )


# ---------------------------------------------------------------------------
# Choosing a template
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("architecture", "name"),
    [
        ("gemma", "gemma"),
        ("gemma2", "gemma"),
        ("gemma3", "gemma"),
        ("gemma3n", "gemma"),
        ("qwen2", "chatml"),
        ("qwen3moe", "chatml"),
        ("phi3", "phi3"),
    ],
)
def test_architecture_chooses_a_builtin(architecture: str, name: str) -> None:
    template = choose_template(model_template=None, architecture=architecture)
    assert (template.name, template.source) == (name, "architecture")


def test_gemma3_without_template_describes_why() -> None:
    template = choose_template(model_template="", architecture="gemma3")
    assert template.name == "gemma"
    assert template.source == "architecture"
    assert template.describe() == (
        "gemma (chosen for architecture gemma3; the model has no chat template)"
    )


@pytest.mark.parametrize("architecture", ["llama", "rwkv7", None])
def test_unknown_or_formatless_architecture_gets_generic(architecture: str | None) -> None:
    template = choose_template(model_template=None, architecture=architecture)
    assert template.name == "generic"
    assert template.source in ("generic", "architecture")
    assert "the model has no chat template" in template.describe()


def test_model_template_beats_architecture() -> None:
    own = "{% for m in messages %}<<{{ m.role }}:{{ m.content }}>>{% endfor %}"
    template = choose_template(model_template=own, architecture="gemma3", bos_token="<bos>")
    assert (template.name, template.source) == ("model", "model")
    assert template.describe() == "model's own chat template"
    assert template.render(USER_FIRST[:1]) == "<<user:Hi>>"


def test_override_beats_model_template() -> None:
    own = "{% for m in messages %}{{ m.content }}{% endfor %}"
    by_name = choose_template(model_template=own, architecture="gemma3", override="chatml")
    assert (by_name.name, by_name.source) == ("chatml", "override")
    assert by_name.describe() == "chatml (override)"

    jinja = "{% for m in messages %}[{{ m.content }}]{% endfor %}<|im_end|>"
    by_text = choose_template(model_template=own, architecture="gemma3", override=jinja)
    assert (by_text.name, by_text.source) == ("override", "override")
    assert by_text.describe() == "chat template override"
    assert by_text.stop == ("<|im_end|>",)
    assert by_text.render(USER_FIRST[:1]) == "[Hi]<|im_end|>"


def test_broken_model_template_falls_back_and_says_so() -> None:
    template = choose_template(model_template="{% if %}", architecture="gemma3")
    assert (template.name, template.source) == ("gemma", "architecture")
    description = template.describe()
    assert description.startswith("gemma (chosen for architecture gemma3; ")
    assert "the model's chat template is unusable: chat template is not valid Jinja" in description


def test_model_template_that_fails_at_render_falls_back() -> None:
    raising = "{{ raise_exception('nope') }}"
    template = choose_template(model_template=raising, architecture="mystery")
    assert (template.name, template.source) == ("generic", "generic")
    assert "chat template raised an error: nope" in template.describe()
    assert "architecture mystery has no known chat format" in template.describe()


def test_overlong_model_template_falls_back() -> None:
    template = choose_template(model_template="{{ 'x' }}" * 20_000, architecture=None)
    assert template.name == "generic"
    assert "chat template is too long (180000 characters" in template.describe()


def test_model_template_that_drops_the_message_falls_back() -> None:
    template = choose_template(model_template="nothing here", architecture="qwen3")
    assert template.name == "chatml"
    assert "left the message out" in template.describe()


# ---------------------------------------------------------------------------
# Errors: ChatTemplateError, one line that starts with "chat template"
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{% if %}", r"chat template is not valid Jinja: .+ \(line 1\)"),
        ("{{ ''.__class__ }}",
         r"chat template tried to use an unsafe attribute: str\.__class__ is not allowed"),
        ("{{ x.y }}", r"chat template used an undefined value: 'x' is undefined"),
        ("{{ raise_exception('no\\nway') }}", r"chat template raised an error: no\\nway"),
        ("{{ 1 / 0 }}", r"chat template failed: ZeroDivisionError: .+"),
        (RUNAWAY[0], r"chat template took longer than 0\.5 s"),
        ("{{ 'x' * 10**10 }}", r"chat template tried to build a value larger than 1000 characters"),
        ("{{ 'x' * 600 }}{{ 'y' * 600 }}", r"chat template output exceeded 1000 characters"),
        ("{{ 'x' }}" * 20_000,
         r"chat template is too long \(180000 characters, at most 131072\)"),
    ],
)  # fmt: skip
def test_render_errors_are_chat_template_errors(source: str, message: str) -> None:
    with pytest.raises(ChatTemplateError) as caught:
        untrusted(source).render(USER_FIRST, time_limit_s=0.5, max_output_chars=1000)
    assert re.fullmatch(message, str(caught.value))


def test_a_message_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(ChatTemplateError, match="each chat message must be a mapping"):
        builtin("chatml").render(["Hi"])  # type: ignore[list-item]


def test_broken_override_raises() -> None:
    with pytest.raises(ChatTemplateError, match=r"^chat template is not valid Jinja: .*line 1"):
        choose_template(model_template=None, architecture=None, override="{% for m in messages %}")


@pytest.mark.parametrize("payload", SANDBOX_PAYLOADS[:12])
def test_sandbox_payload_as_model_template_falls_back(payload: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    source = "{{ messages[0].content }}" + payload.replace("MARKER", str(marker))
    template = choose_template(model_template=source, architecture="gemma3")
    assert template.name == "gemma"
    assert "the model's chat template is unusable" in template.describe()
    assert not marker.exists()


def test_runaway_model_template_is_rejected_when_chosen() -> None:
    started = time.monotonic()
    template = choose_template(model_template=RUNAWAY[0], architecture="qwen3")
    # The test chat gets 1 s, not the 2 s a real render gets; the margin is for a busy machine.
    assert time.monotonic() - started < 5.0
    assert template.name == "chatml"
    assert "chat template took longer than 1.0 s" in template.describe()


# ---------------------------------------------------------------------------
# Realistic model templates (written in the spirit of Llama 3.1's and Qwen 2.5's)
# ---------------------------------------------------------------------------

LLAMA31_STYLE = """\
{{- bos_token }}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- set ns = namespace(system='', tool_turns=0) %}
{%- if messages[0]['role'] == 'system' %}
    {%- set ns.system = messages[0]['content'] | trim %}
    {%- set messages = messages[1:] %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\\n" }}
{%- endif %}
{{- "Today Date: " + date_string + "\\n\\n" }}
{{- ns.system }}
{%- if tools is not none %}
    {{- "\\n\\nYou may call these functions:\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n" }}
    {%- endfor %}
{%- endif %}
{{- "<|eot_id|>" }}
{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}
        {{- message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls | length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set call = message.tool_calls[0].function %}
        {%- set ns.tool_turns = ns.tool_turns + 1 %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
        {{- '{"name": "' + call.name + '", "parameters": ' + call.arguments | tojson + '}' }}
        {{- "<|eom_id|>" }}
    {%- else %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}
        {%- if message.content is mapping %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""

QWEN_STYLE = """\
{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools><|im_end|>\\n" }}
{%- elif messages[0]['role'] == 'system' %}
    {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
{%- else %}
    {{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}
{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if message.role == "user" and message.content is string
          and not message.content.startswith('<tool_response>') %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
        {%- break %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if message.role == "user" or (message.role == "system" and not loop.first)
          or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' + tool_call.name + '", "arguments": ' }}
            {{- tool_call.arguments | tojson + '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.index0 == 0 or messages[loop.index0 - 1].role != "tool" %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' + message.content + '\\n</tool_response>' }}
        {%- if loop.last or messages[loop.index0 + 1].role != "tool" %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- elif message.role != "system" %}
        {{- raise_exception('Unexpected message role: ' + message.role) }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\\n\\n</think>\\n\\n' }}
    {%- endif %}
{%- endif %}
{%- if ns.last_query_index < 0 %}{{ raise_exception('no user query') }}{% endif %}
"""

TOOL_CHAT: list[Mapping[str, object]] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Paris <today>?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "type": "function",
                "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
            }
        ],
    },
    {"role": "tool", "content": "18 °C, sunny"},
]
TOOLS: list[Mapping[str, object]] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def test_llama31_style_template_renders() -> None:
    template = choose_template(
        model_template=LLAMA31_STYLE, architecture="llama", bos_token="<|begin_of_text|>"
    )
    assert template.source == "model"
    assert "<|eot_id|>" in template.stop
    text = template.render(TOOL_CHAT[:2])
    assert text.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nToday")
    assert "Be brief.<|eot_id|>" in text
    assert "Weather in Paris <today>?<|eot_id|>" in text
    assert text.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert "Environment: ipython" not in text

    with_tools = template.render(TOOL_CHAT, tools=TOOLS)
    assert "Environment: ipython" in with_tools
    assert '    "type": "function",' in with_tools  # tojson(indent=4)
    assert '{"name": "get_weather", "parameters": {"city": "Paris"}}<|eom_id|>' in with_tools
    assert "ipython<|end_header_id|>\n\n18 °C, sunny<|eot_id|>" in with_tools


def test_llama31_style_raise_exception_carries_the_templates_message() -> None:
    template = choose_template(model_template=LLAMA31_STYLE, architecture="llama")
    call = {"function": {"name": "f", "arguments": {}}}
    messages: list[Mapping[str, object]] = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": None, "tool_calls": [call, call]},
    ]
    with pytest.raises(ChatTemplateError) as caught:
        template.render(messages)
    assert str(caught.value) == (
        "chat template raised an error: This model only supports single tool-calls at once!"
    )


def test_qwen_style_template_renders() -> None:
    template = choose_template(model_template=QWEN_STYLE, architecture="qwen2")
    assert template.source == "model"
    assert template.stop == ("<|im_end|>",)
    assert template.render(USER_FIRST) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n"
        "<|im_start|>user\nName a colour.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    text = template.render(TOOL_CHAT, tools=TOOLS)
    assert text.startswith("<|im_start|>system\nBe brief.\n\n# Tools\n\n<tools>\n{")
    assert '"name": "get_weather"' in text
    # tojson does not HTML-escape (transformers' behaviour) and keeps non-ASCII.
    assert '{"name": "get_weather", "arguments": {"city": "Paris"}}' in text
    assert "<|im_start|>user\n<tool_response>\n18 °C, sunny\n</tool_response><|im_end|>\n" in text
    with pytest.raises(ChatTemplateError, match="Unexpected message role: narrator"):
        template.render([{"role": "user", "content": "x"}, {"role": "narrator", "content": "y"}])


# ---------------------------------------------------------------------------
# Speed and limits
# ---------------------------------------------------------------------------


def _long_chat(turns: int) -> list[Mapping[str, object]]:
    chat: list[Mapping[str, object]] = [{"role": "system", "content": "You are helpful."}]
    for i in range(turns):
        role = "user" if i % 2 == 0 else "assistant"
        chat.append({"role": role, "content": f"Message {i}: " + "lorem ipsum dolor " * 20})
    return chat


@pytest.mark.parametrize("source", [LLAMA31_STYLE, QWEN_STYLE, "gemma"])
def test_rendering_a_normal_chat_is_fast(source: str) -> None:
    if source == "gemma":
        template = builtin("gemma")
    else:
        template = choose_template(model_template=source, architecture=None)
    chat = _long_chat(20)
    template.render(chat)  # compile once
    # Typically about 1 ms, with the trace function on; the best of 5 rides out a busy machine.
    best = min(_timed(lambda: template.render(chat)) for _ in range(5))
    assert best < 0.25  # far above ~1 ms, so a busy CI core passes; a per-render compile fails


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def test_bad_limits_are_rejected() -> None:
    with pytest.raises(ValueError, match="time_limit_s"):
        builtin("chatml").render(CHAT, time_limit_s=0)
    with pytest.raises(ValueError, match="max_output_chars"):
        builtin("chatml").render(CHAT, max_output_chars=0)
