"""Chat templates: turn a list of chat messages into the prompt text a model expects.

A GGUF file may carry ``tokenizer.chat_template``, a Hugging Face style Jinja
template. It is untrusted input, so it renders in the sandbox (``sandbox.py``),
which bounds time and size and mirrors transformers' ``apply_chat_template``.

Models without a usable template get a built-in one chosen by architecture, or a
generic one; the built-ins are the Jinja files in ``builtin/``, and the stop
strings and default bos/eos text that go with each are in ``_BUILTINS`` below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from llmos_desktop.core.templates.sandbox import (
    DEFAULT_MAX_OUTPUT_CHARS,
    DEFAULT_TIME_LIMIT_S,
    SandboxedTemplateError,
    compile_template,
)

__all__ = [
    "ChatTemplate",
    "ChatTemplateError",
    "builtin_template_names",
    "choose_template",
]

# Errors say "chat template took longer than 2.0 s", "chat template is not valid Jinja: ...".
_SUBJECT = "chat template"
_PROBE_TIME_LIMIT_S = 1.0
_PROBE_MESSAGES: tuple[Mapping[str, object], ...] = ({"role": "user", "content": "Hello"},)


class ChatTemplateError(SandboxedTemplateError):
    """A chat template could not be compiled or rendered; ``str()`` is one readable line."""


# ---------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------


def _text_content(content: object) -> object:
    """OpenAI content parts -> one string (text parts joined by newlines); others unchanged."""
    if isinstance(content, (list, tuple)):
        texts: list[str] = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, Mapping) and part.get("type", "text") == "text":
                text = part.get("text")
                if isinstance(text, str):
                    texts.append(text)
        return "\n".join(texts)
    return content


def _prepare_messages(messages: Sequence[Mapping[str, object]]) -> list[dict[str, object]]:
    prepared: list[dict[str, object]] = []
    for message in messages:
        if not isinstance(message, Mapping):
            raise ChatTemplateError("each chat message must be a mapping with role and content")
        item = dict(message)
        if "content" in item:
            item["content"] = _text_content(item["content"])
        prepared.append(item)
    return prepared


# ---------------------------------------------------------------------------
# The template object
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatTemplate:
    """A chat template and what the engine needs to use it."""

    name: str
    source: str
    template: str
    bos_token: str = ""
    eos_token: str = ""
    stop: tuple[str, ...] = ()
    # Why this template was chosen, for describe() (e.g. "chosen for architecture gemma3; ...").
    note: str = ""

    def render(
        self,
        messages: Sequence[Mapping[str, object]],
        *,
        add_generation_prompt: bool = True,
        time_limit_s: float = DEFAULT_TIME_LIMIT_S,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
        tools: Sequence[Mapping[str, object]] | None = None,
    ) -> str:
        """Render ``messages`` to prompt text; raises ChatTemplateError on any failure or bound."""
        try:
            compiled = compile_template(self.template, subject=_SUBJECT)
            context = {
                "messages": _prepare_messages(messages),
                "add_generation_prompt": add_generation_prompt,
                "bos_token": self.bos_token,
                "eos_token": self.eos_token,
                "tools": [dict(tool) for tool in tools] if tools is not None else None,
            }
            return compiled.render(
                context, time_limit_s=time_limit_s, max_output_chars=max_output_chars
            )
        except ChatTemplateError:
            raise
        except SandboxedTemplateError as exc:
            raise ChatTemplateError(str(exc)) from None

    def describe(self) -> str:
        """One line for the UI and logs: which template and why."""
        if self.source == "model":
            return "model's own chat template"
        if self.source == "override":
            return (
                "chat template override" if self.name == "override" else f"{self.name} (override)"
            )
        return f"{self.name} ({self.note})" if self.note else self.name


# ---------------------------------------------------------------------------
# Built-in templates
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Builtin:
    """What goes with a built-in template file: stop strings and default bos/eos text."""

    stop: tuple[str, ...]
    bos_token: str
    eos_token: str


# Each name has a template file builtin/<name>.jinja; the order is the order
# builtin_template_names() lists them in.
_BUILTINS: dict[str, _Builtin] = {
    "gemma": _Builtin(("<end_of_turn>",), "<bos>", "<eos>"),
    "chatml": _Builtin(("<|im_end|>",), "", "<|im_end|>"),
    "llama3": _Builtin(("<|eot_id|>",), "<|begin_of_text|>", "<|end_of_text|>"),
    "phi3": _Builtin(("<|end|>",), "<s>", "<|endoftext|>"),
    "mistral": _Builtin(("</s>",), "<s>", "</s>"),
    "generic": _Builtin(("\nUser:",), "", ""),
}

_BY_ARCHITECTURE: dict[str, str] = {
    "gemma": "gemma",
    "gemma2": "gemma",
    "gemma3": "gemma",
    "gemma3n": "gemma",
    "qwen2": "chatml",
    "qwen2moe": "chatml",
    "qwen3": "chatml",
    "qwen3moe": "chatml",
    "phi3": "phi3",
    # A plain llama model has no chat format of its own (Llama 3 instruct models
    # carry their template), so it gets the generic transcript.
    "llama": "generic",
}

# End-of-turn markers that, when a model's own template prints them, the engine
# should also stop on (some GGUFs list only <eos> as the end-of-generation token).
_TURN_END_MARKERS = (
    "<end_of_turn>",
    "<|im_end|>",
    "<|eot_id|>",
    "<|end|>",
    "<|END_OF_TURN_TOKEN|>",
)


def builtin_template_names() -> tuple[str, ...]:
    """Names accepted as an override, besides a Jinja template."""
    return tuple(_BUILTINS)


@cache
def _builtin_source(name: str) -> str:
    """The text of builtin/<name>.jinja, found through importlib.resources (wheel or bundle)."""
    files = resources.files("llmos_desktop.core.templates").joinpath("builtin")
    return files.joinpath(f"{name}.jinja").read_text(encoding="utf-8")


def _builtin(
    name: str, *, source: str, note: str, bos_token: str | None, eos_token: str | None
) -> ChatTemplate:
    builtin = _BUILTINS[name]
    return ChatTemplate(
        name=name,
        source=source,
        template=_builtin_source(name),
        bos_token=builtin.bos_token if bos_token is None else bos_token,
        eos_token=builtin.eos_token if eos_token is None else eos_token,
        stop=builtin.stop,
        note=note,
    )


def _check_usable(template: ChatTemplate) -> None:
    """Compile and render a one-message chat, so a template that cannot work fails now."""
    text = template.render(
        _PROBE_MESSAGES, time_limit_s=_PROBE_TIME_LIMIT_S, max_output_chars=100_000
    )
    if "Hello" not in text:
        raise ChatTemplateError("chat template left the message out of a test chat")


def choose_template(
    *,
    model_template: str | None,
    architecture: str | None,
    override: str | None = None,
    bos_token: str | None = None,
    eos_token: str | None = None,
) -> ChatTemplate:
    """Pick the template for a model: override > the model's own > by architecture > generic.

    An override that does not compile or render raises ChatTemplateError (the user
    asked for it); a model template that does not falls back, and describe() says why.
    """
    if override is not None and override.strip():
        key = override.strip().lower()
        if key in _BUILTINS:
            return _builtin(
                key, source="override", note="override", bos_token=bos_token, eos_token=eos_token
            )
        chosen = ChatTemplate(
            name="override",
            source="override",
            template=override,
            bos_token=bos_token or "",
            eos_token=eos_token or "",
            stop=tuple(m for m in _TURN_END_MARKERS if m in override),
        )
        _check_usable(chosen)
        return chosen

    problem: str | None = None
    if model_template is not None and model_template.strip():
        candidate = ChatTemplate(
            name="model",
            source="model",
            template=model_template,
            bos_token=bos_token or "",
            eos_token=eos_token or "",
            stop=tuple(m for m in _TURN_END_MARKERS if m in model_template),
        )
        try:
            _check_usable(candidate)
        except ChatTemplateError as exc:
            problem = str(exc)
        else:
            return candidate

    why = (
        "the model has no chat template"
        if problem is None
        else f"the model's chat template is unusable: {problem}"
    )
    arch = (architecture or "").strip().lower()
    name = _BY_ARCHITECTURE.get(arch)
    if name is not None:
        return _builtin(
            name,
            source="architecture",
            note=f"chosen for architecture {arch}; {why}",
            bos_token=bos_token,
            eos_token=eos_token,
        )
    known = f"architecture {arch} has no known chat format" if arch else "architecture unknown"
    return _builtin(
        "generic",
        source="generic",
        note=f"{why}; {known}",
        bos_token=bos_token,
        eos_token=eos_token,
    )
