"""An app's prompt: its Jinja template rendered over the inputs, in the sandbox.

App templates are untrusted, like the chat templates in model files, so they render in
the same sandbox (core/templates/sandbox.py: Jinja's immutable sandbox with a deadline,
an output bound and a cap on every value built). Nothing here writes another sandbox.

Checks happen twice:

- when a manifest is read (``check_prompt_template``, called by manifest.py): the
  source compiles; it names only the app's inputs (a typo would otherwise render as
  nothing); it reaches no private attribute (``x.__class__``: the sandbox would refuse
  it at render time, but a manifest that tries is refused at once); and it renders with
  every example, and with plausible values, within a short bound. A template that loops
  forever or builds a huge string is therefore refused before it can be installed.
- when the app runs (``render_prompt``): the inputs are checked (``validate_inputs``)
  and the template renders under the full bound. A template that is slow only for some
  inputs fails here, as AppError("template", "prompt_template", ...).

The inputs are the template's only variables. The result is the user message (for a
chat app, the first one), its outer whitespace removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Final

from llmos_desktop.core.apps.manifest import (
    MAX_PROMPT_TEMPLATE_CHARS,
    AppError,
    validate_inputs,
)

if TYPE_CHECKING:
    import jinja2.nodes

    from llmos_desktop.core.apps.manifest import AppManifest

__all__ = [
    "CHECK_TIME_LIMIT_S",
    "MAX_PROMPT_CHARS",
    "PROMPT_TIME_LIMIT_S",
    "check_prompt_template",
    "render_prompt",
    "render_source",
    "template_variables",
]

# A prompt renders in well under a millisecond; the bound is for hostile templates.
PROMPT_TIME_LIMIT_S: Final = 1.0
# The trial renders when a manifest is read: several per app, so shorter.
CHECK_TIME_LIMIT_S: Final = 0.5
# 16 inputs of up to 100,000 characters fit; a prompt larger than any context does not.
MAX_PROMPT_CHARS: Final = 400_000
# What a template may name besides the inputs: the sandbox's functions.
_GLOBALS: Final = frozenset(
    {"range", "dict", "cycler", "joiner", "namespace", "raise_exception", "strftime_now"}
)
_FIELD: Final = "prompt_template"
# Error messages start with this (the sandbox's "subject"): "the template took longer...".
_SUBJECT: Final = "the template"


def template_variables(source: str) -> frozenset[str]:
    """The variables ``source`` reads that it does not set itself; AppError("invalid")
    when it is not valid Jinja for an app template."""
    return _read_names(_parse(source))


def _read_names(ast: jinja2.nodes.Template) -> frozenset[str]:
    """Names the template reads and never assigns (a loop variable, a ``set``, a macro's
    name or parameter count as assigned wherever they are).

    A walk over the syntax tree, deliberately not ``jinja2.meta.find_undeclared_variables``:
    that runs Jinja's code generator, which folds constant expressions outside the
    sandbox, so ``{{ 3 ** 100000000 }}`` would be computed, unbounded, while checking.
    """
    from jinja2 import nodes

    loaded: set[str] = set()
    assigned: set[str] = {"loop", "caller", "varargs", "kwargs"}
    for node in ast.find_all((nodes.Name, nodes.Macro)):
        if isinstance(node, nodes.Macro):
            assigned.add(node.name)
        elif not isinstance(node, nodes.Name):
            continue
        elif node.ctx == "load":
            loaded.add(node.name)
        else:
            assigned.add(node.name)
    return frozenset(loaded - assigned)


def _parse(source: str) -> jinja2.nodes.Template:
    """The template's syntax tree, for the static checks (parsing runs no template code;
    the compile in the sandbox, bounded, comes first)."""
    import jinja2
    from jinja2.ext import loopcontrols

    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    try:
        return env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise AppError(
            "invalid",
            _FIELD,
            f"uses something app templates cannot: {exc.message} (line {exc.lineno})",
        ) from None


def _check_private(ast: jinja2.nodes.Template) -> None:
    from jinja2 import nodes

    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        name: object = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value
        if isinstance(name, str) and name.startswith("_"):
            raise AppError(
                "invalid",
                _FIELD,
                f"reaches the private attribute {name[:40]!r}, which app templates may not use",
            )


def check_prompt_template(
    source: str,
    input_names: Sequence[str],
    samples: Iterable[Mapping[str, object]],
    *,
    needs_text: bool = True,
) -> None:
    """Check an app's template (see the module docstring); raises AppError("invalid",
    "prompt_template", message).

    ``samples``: input values to trial-render with (the examples and plausible values).
    ``needs_text``: each trial render must produce more than whitespace (form and
    structured apps: their prompt is the whole request).
    """
    from llmos_desktop.core.templates.sandbox import SandboxedTemplateError, compile_template

    if len(source) > MAX_PROMPT_TEMPLATE_CHARS:
        raise AppError("invalid", _FIELD, f"is longer than {MAX_PROMPT_TEMPLATE_CHARS} characters")
    try:
        compiled = compile_template(source, subject=_SUBJECT)
    except SandboxedTemplateError as exc:
        raise AppError("invalid", _FIELD, str(exc)) from None
    ast = _parse(source)
    _check_private(ast)
    known = set(input_names)
    unknown = sorted(_read_names(ast) - known - _GLOBALS)
    if unknown:
        listed = ", ".join(sorted(known)) or "none"
        raise AppError(
            "invalid",
            _FIELD,
            f"uses {', '.join(repr(name[:40]) for name in unknown[:5])}, which is not an input"
            f" (inputs: {listed})",
        )
    for index, values in enumerate(samples):
        try:
            text = compiled.render(
                values, time_limit_s=CHECK_TIME_LIMIT_S, max_output_chars=MAX_PROMPT_CHARS
            )
        except SandboxedTemplateError as exc:
            raise AppError("invalid", _FIELD, f"{exc} (trial render {index + 1})") from None
        if needs_text and not text.strip():
            raise AppError("invalid", _FIELD, f"renders an empty prompt (trial render {index + 1})")


def render_source(
    source: str,
    variables: Mapping[str, object],
    *,
    time_limit_s: float = PROMPT_TIME_LIMIT_S,
    max_chars: int = MAX_PROMPT_CHARS,
) -> str:
    """Render a template source with ``variables`` in the sandbox (the builder's live
    preview uses it on a template being edited). Raises AppError("template",
    "prompt_template", message) on any failure or bound."""
    from llmos_desktop.core.templates.sandbox import SandboxedTemplateError, compile_template

    if len(source) > MAX_PROMPT_TEMPLATE_CHARS:
        raise AppError("template", _FIELD, f"is longer than {MAX_PROMPT_TEMPLATE_CHARS} characters")
    try:
        text = compile_template(source, subject=_SUBJECT).render(
            variables, time_limit_s=time_limit_s, max_output_chars=max_chars
        )
    except SandboxedTemplateError as exc:
        raise AppError("template", _FIELD, str(exc)) from None
    return text.strip()


def render_prompt(app: AppManifest, values: Mapping[str, object]) -> str:
    """The user message for ``app`` with these input values (checked first).

    Raises AppError("input", name, ...) for a value that does not fit its input, and
    AppError("template", "prompt_template", ...) when the render fails or hits a bound.
    Blocking (well under a millisecond for a real template; at most PROMPT_TIME_LIMIT_S).
    """
    checked = validate_inputs(app, values)
    if not app.prompt_template:
        return ""
    return render_source(app.prompt_template, checked)
