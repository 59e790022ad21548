"""Templates: chat templates for models, rendered in a bounded Jinja sandbox.

- ``sandbox``: renders any untrusted Jinja template source with a context, within
  time and size bounds (chat templates from model files; app prompt templates too).
- ``chat``: ChatTemplate, the built-in chat formats and ``choose_template``, which
  picks a model's template (override > the model's own > by architecture > generic).
- ``builtin/*.jinja``: the built-in chat formats, as template files.
"""

from __future__ import annotations

from llmos_desktop.core.templates.chat import (
    ChatTemplate,
    ChatTemplateError,
    builtin_template_names,
    choose_template,
)
from llmos_desktop.core.templates.sandbox import (
    DEFAULT_MAX_OUTPUT_CHARS,
    DEFAULT_TIME_LIMIT_S,
    MAX_TEMPLATE_CHARS,
    SandboxedTemplate,
    SandboxedTemplateError,
    compile_template,
    render_template,
)

__all__ = [
    "DEFAULT_MAX_OUTPUT_CHARS",
    "DEFAULT_TIME_LIMIT_S",
    "MAX_TEMPLATE_CHARS",
    "ChatTemplate",
    "ChatTemplateError",
    "SandboxedTemplate",
    "SandboxedTemplateError",
    "builtin_template_names",
    "choose_template",
    "compile_template",
    "render_template",
]
