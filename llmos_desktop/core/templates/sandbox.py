"""The template sandbox: render untrusted Jinja templates within time and size bounds.

Chat templates come from model files and app prompt templates come from apps, so
both are untrusted input. They render in Jinja's ImmutableSandboxedEnvironment
(no ``__class__``, ``__globals__`` and the like, no calls that change the lists and
dicts passed in) with three extra bounds:

- time: a trace function (``sys.settrace``, this thread only, only while a
  render or compile runs) checks a deadline on every Python call and on every
  line of the template's own code, so even a loop that prints nothing stops;
- output size: the text is collected chunk by chunk from ``generate()`` and
  the render stops once it passes ``max_output_chars``;
- value size: operations that could build a huge value in one step
  (``'x' * 10**10``, ``2 ** 10**8``, ``'a'|center(10**10)``, ``s.replace('', s)``,
  printing a list that holds the same long string many times) are refused
  before they run, and the characters a render produces in total, intermediate
  values included, are capped at a multiple of ``max_output_chars``.

The environment mirrors transformers' ``apply_chat_template`` (trim_blocks,
lstrip_blocks, loopcontrols, ``{% generation %}``, ``raise_exception``,
``strftime_now``, a non-escaping ``tojson``) so real model templates work.

Use ``render_template(source, context)``, or ``compile_template(source)`` once and
``.render(context)`` many times. Every failure, a bound included, raises
SandboxedTemplateError whose ``str()`` is one readable line that starts with the
``subject`` given ("template" unless the caller names it, e.g. "chat template").
"""

from __future__ import annotations

import abc
import json
import re
import string
import sys
import threading
import time
import types
from collections.abc import (
    Callable,
    Generator,
    ItemsView,
    KeysView,
    Mapping,
    Sequence,
    ValuesView,
)
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar, cast

import jinja2
import jinja2.compiler
import jinja2.environment
import jinja2.idtracking
import jinja2.lexer
import jinja2.nodes
import jinja2.optimizer
import jinja2.parser
import jinja2.sandbox
import jinja2.visitor
from jinja2 import nodes
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.ext import Extension, loopcontrols
from jinja2.filters import make_attrgetter, sync_do_join
from jinja2.nodes import EvalContext
from jinja2.parser import Parser
from jinja2.runtime import Context, Undefined, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace, pass_eval_context

from llmos_desktop.core.text import one_line

__all__ = [
    "DEFAULT_MAX_OUTPUT_CHARS",
    "DEFAULT_TIME_LIMIT_S",
    "MAX_TEMPLATE_CHARS",
    "SandboxedTemplate",
    "SandboxedTemplateError",
    "compile_template",
    "render_template",
]

_T = TypeVar("_T")

DEFAULT_TIME_LIMIT_S = 2.0
DEFAULT_MAX_OUTPUT_CHARS = 1_000_000
# Real chat templates are a few kB (the largest seen are tens of kB); compiling
# takes 25-40 ms per kB under the time bound, so megabytes would take minutes.
MAX_TEMPLATE_CHARS = 128 * 1024
# A render may produce this many times max_output_chars in total, counting
# intermediate strings and lists; real templates copy each message a few times.
_ALLOCATION_FACTOR = 100
# Integers in a template are counters and indexes; this keeps ** and * on
# ints from running for seconds in one C call.
_MAX_INT_BITS = 65_536
_MAX_JSON_INDENT = 32
_MAX_STRFTIME_FORMAT = 256
# Compiling gets 2 s plus 1 s per 10 kB (a 38 kB template compiles in 1-1.6 s here).
_COMPILE_TIME_BASE_S = 2.0
_COMPILE_CHARS_PER_S = 10_000


class SandboxedTemplateError(Exception):
    """A template failed to compile or render, or hit a bound; ``str()`` is one readable line."""


class _Refused(BaseException):
    """Aborts a render from inside Jinja or the trace function.

    A BaseException, so no ``except Exception`` in Jinja or in a filter can swallow it.
    The message says what the template did ("took longer than 2.0 s"); the error the
    caller sees puts the subject ("chat template") in front.
    """


class _Raised(Exception):
    """The template called ``raise_exception(message)``; ``str()`` is its message.

    An Exception like any other a template may cause; only its message is special.
    """


# ---------------------------------------------------------------------------
# Per-render bounds
# ---------------------------------------------------------------------------


class _Budget:
    """The limits of the render running on this thread, and what it has used."""

    __slots__ = ("_last", "allocated", "deadline", "max_allocated", "max_chars", "time_limit_s")

    def __init__(self, time_limit_s: float, max_chars: int) -> None:
        self.time_limit_s = time_limit_s
        self.deadline = time.monotonic() + time_limit_s
        self.max_chars = max_chars
        self.max_allocated = max_chars * _ALLOCATION_FACTOR
        self.allocated = 0
        self._last: object = None

    def charge(self, value: str | bytes | list[object] | tuple[object, ...]) -> None:
        # Nested Python calls often return the same object (filter -> wrapper -> call);
        # count it once.
        if value is self._last:
            return
        self._last = value
        self.allocated += len(value)
        if self.allocated > self.max_allocated:
            raise _Refused(f"built more than {self.max_allocated} characters of values")


class _ThreadState(threading.local):
    """The size limit of the render running on this thread, read by the sandbox hooks."""

    max_chars: int = DEFAULT_MAX_OUTPUT_CHARS


_local = _ThreadState()


def _refuse_size(limit: int) -> _Refused:
    return _Refused(f"tried to build a value larger than {limit} characters")


_JOIN_CODES = frozenset({str_join.__code__, markup_join.__code__})
# Modules whose loops are short or call Python functions (each a 'call' event,
# which checks the deadline): the sandbox hooks, Jinja's runtime helpers and this
# module. They run for every attribute access and operator, so skipping their
# line events halves the cost of the bound. Everything else, the template's own
# code and filters included, keeps line events.
_LINE_EVENTS_NOT_NEEDED = frozenset(
    code.co_filename  # as compiled, which in a frozen app need not be __file__
    for code in (
        (lambda: None).__code__,
        jinja2.sandbox.safe_range.__code__,
        str_join.__code__,
        abc.ABCMeta.__instancecheck__.__code__,
        # Compiling: the lexer yields token by token, the parser and code
        # generator recurse; Python's own compile() is one C call either way.
        jinja2.lexer.Lexer.tokeniter.__code__,
        jinja2.parser.Parser.parse.__code__,
        jinja2.compiler.CodeGenerator.visit_Template.__code__,
        jinja2.nodes.Node.iter_child_nodes.__code__,
        jinja2.visitor.NodeVisitor.visit.__code__,
        jinja2.idtracking.symbols_for_node.__code__,
        jinja2.optimizer.optimize.__code__,
        jinja2.environment.Environment.from_string.__code__,
    )
)
_SIZED = (str, bytes, list, tuple)


def _make_tracer(budget: _Budget) -> Callable[[types.FrameType, str, Any], Any]:
    """A trace function that enforces the deadline and counts values built.

    'call' and 'line' events check the deadline, so even a loop that prints
    nothing stops; 'return' events charge returned strings and lists to the
    allocation budget. ``~`` compiles to a call of ``str_join``/``markup_join``,
    which stringify their operands in C, so their operands are sized first.
    """
    now = time.monotonic
    deadline = budget.deadline
    charge = budget.charge

    def timed_out() -> _Refused:
        return _Refused(f"took longer than {budget.time_limit_s} s")

    def local(frame: types.FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            if now() > deadline:
                raise timed_out()
        elif event == "return" and isinstance(arg, _SIZED):
            charge(arg)
        return local

    def global_(frame: types.FrameType, event: str, arg: Any) -> Any:
        if now() > deadline:
            raise timed_out()
        code = frame.f_code
        if code.co_filename in _LINE_EVENTS_NOT_NEEDED:
            frame.f_trace_lines = False
            if code in _JOIN_CODES:
                limit = budget.max_chars
                if _printed_size(frame.f_locals.get("seq"), limit) > limit:
                    raise _refuse_size(limit)
        return local

    return global_


def _run_bounded(work: Callable[[], _T], time_limit_s: float, max_chars: int, subject: str) -> _T:
    """Run ``work`` under a deadline and size budget; turn any failure into SandboxedTemplateError.

    ``subject`` names the template in the error messages.

    The trace function is per thread; the previous one (a debugger's, coverage's)
    is put back before anything else runs, on success and on error.
    """
    if not time_limit_s > 0:
        raise ValueError("time_limit_s must be positive")
    if max_chars < 1:
        raise ValueError("max_output_chars must be at least 1")
    budget = _Budget(time_limit_s, max_chars)
    tracer = _make_tracer(budget)
    previous_trace = sys.gettrace()
    previous_max_chars = _local.max_chars
    _local.max_chars = max_chars
    sys.settrace(tracer)
    try:
        result = work()
    except BaseException as exc:
        # First statement: calling any Python function while our tracer is
        # installed and the deadline has passed would raise again.
        sys.settrace(previous_trace)
        _local.max_chars = previous_max_chars
        error = _as_sandboxed_template_error(exc, subject)
        if error is None:
            raise
        raise error from None
    sys.settrace(previous_trace)
    _local.max_chars = previous_max_chars
    return result


def _as_sandboxed_template_error(exc: BaseException, subject: str) -> SandboxedTemplateError | None:
    """The one-line error for a failure; messages may quote the template, so one_line them."""
    if isinstance(exc, _Refused):
        return SandboxedTemplateError(one_line(f"{subject} {exc}"))
    if isinstance(exc, _Raised):
        return SandboxedTemplateError(one_line(f"{subject} raised an error: {exc}"))
    if isinstance(exc, TemplateSyntaxError):
        where = f" (line {exc.lineno})" if exc.lineno else ""
        return SandboxedTemplateError(
            one_line(f"{subject} is not valid Jinja: {exc.message or exc}{where}")
        )
    if isinstance(exc, SecurityError):
        return SandboxedTemplateError(
            one_line(f"{subject} tried to use an unsafe attribute: {exc}")
        )
    if isinstance(exc, UndefinedError):
        return SandboxedTemplateError(one_line(f"{subject} used an undefined value: {exc}"))
    if isinstance(exc, RecursionError):
        return SandboxedTemplateError(f"{subject} nested or recursed too deeply")
    if isinstance(exc, MemoryError):
        return SandboxedTemplateError(f"{subject} ran out of memory")
    if isinstance(exc, TemplateError):
        return SandboxedTemplateError(one_line(f"{subject} failed: {exc}"))
    if isinstance(exc, Exception):
        return SandboxedTemplateError(one_line(f"{subject} failed: {type(exc).__name__}: {exc}"))
    return None  # KeyboardInterrupt, SystemExit and the like are not ours to convert


# ---------------------------------------------------------------------------
# Size estimates and checks
# ---------------------------------------------------------------------------


def _printed_size(value: object, limit: int, *, separator: int = 2, indent: int = 0) -> int:
    """Roughly how long ``str(value)`` or its JSON would be; stops counting past ``limit``.

    Shared references count each time they would be printed: ``[s] * 1000`` is
    small in memory but not once printed, and printing happens in one C call.
    """
    total = 0
    todo: list[tuple[object, int]] = [(value, 0)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, (str, bytes)):
            total += len(item) + 3
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, float):
            total += 24
        else:
            if isinstance(item, Namespace):
                item = object.__getattribute__(item, "_Namespace__attrs")
            if isinstance(item, Mapping):
                total += 2 + len(item) * (2 * separator + 2 + indent * (depth + 1))
                if total > limit:
                    return total
                for key, child in item.items():
                    todo.append((key, depth + 1))
                    todo.append((child, depth + 1))
            elif isinstance(item, (list, tuple, set, frozenset, KeysView, ValuesView, ItemsView)):
                total += 12 + len(item) * (separator + 1 + indent * (depth + 1))
                if total > limit:
                    return total
                todo.extend((child, depth + 1) for child in item)
            else:
                total += 64  # reprs of other objects are short
        if total > limit:
            return total
    return total


def _check_printable(value: object, *_args: object, **_kwargs: object) -> None:
    """Refuse to stringify a container whose text would exceed the limit."""
    if isinstance(value, (str, int, float)) or value is None:
        return
    limit = _local.max_chars
    if _printed_size(value, limit) > limit:
        raise _refuse_size(limit)


def _check_int_args(values: Sequence[object], limit: int) -> None:
    for value in values:
        if isinstance(value, int) and abs(value) > limit:
            raise _refuse_size(limit)


def _too_big_number(digits: str, limit: int) -> bool:
    return len(digits) > 12 or int(digits) > limit


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0+\- ]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.S)
_FORMAT_DIGITS = re.compile(r"\d+")


def _check_percent(fmt: str | bytes, values: object, limit: int) -> None:
    """``fmt % values``: widths and precisions, and copies of the values, stay under the limit."""
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    fields = 0
    for match in _PERCENT_SPEC.finditer(text):
        if match.group(3) == "%":
            continue
        fields += 1
        for digits in (match.group(1), match.group(2)):
            if digits and digits != "*" and _too_big_number(digits, limit):
                raise _refuse_size(limit)
    if isinstance(values, Mapping):
        _check_int_args(list(values.values()), limit)
    elif isinstance(values, tuple):
        _check_int_args(values, limit)
    else:
        _check_int_args((values,), limit)
    if fields and fields * _printed_size(values, limit) + len(text) > limit:
        raise _refuse_size(limit)


def _check_str_format(fmt: str, args: Sequence[object], kwargs: Mapping[str, object]) -> None:
    """``fmt.format(...)``: the same rules as ``%`` formatting."""
    limit = _local.max_chars
    fields = 0
    for _literal, field, spec, _conversion in string.Formatter().parse(fmt):
        if field is None:
            continue
        fields += 1
        for digits in _FORMAT_DIGITS.findall(spec or ""):
            if _too_big_number(digits, limit):
                raise _refuse_size(limit)
    _check_int_args([*args, *kwargs.values()], limit)
    if fields and fields * _printed_size((args, kwargs), limit) + len(fmt) > limit:
        raise _refuse_size(limit)


def _check_binop(operator: str, left: object, right: object) -> None:
    """Refuse ``*``, ``**``, ``+`` and ``%`` whose result would be huge, before computing it."""
    limit = _local.max_chars
    ints = isinstance(left, int) and isinstance(right, int)
    if operator == "*":
        if ints:
            assert isinstance(left, int) and isinstance(right, int)
            if abs(left).bit_length() + abs(right).bit_length() > _MAX_INT_BITS:
                raise _refuse_size(limit)
            return
        if isinstance(left, _SIZED) and isinstance(right, int):
            seq, count = left, right
        elif isinstance(right, _SIZED) and isinstance(left, int):
            seq, count = right, left
        else:
            return
        if count > 0 and len(seq) * count > limit:
            raise _refuse_size(limit)
    elif operator == "**":
        if ints:
            assert isinstance(left, int) and isinstance(right, int)
            if right > 0 and abs(left) > 1 and abs(left).bit_length() * right > _MAX_INT_BITS:
                raise _refuse_size(limit)
    elif operator == "+":
        sized = isinstance(left, _SIZED) and isinstance(right, _SIZED)
        if sized and len(left) + len(right) > limit:  # type: ignore[arg-type]
            raise _refuse_size(limit)
    elif operator == "%" and isinstance(left, (str, bytes)):
        _check_percent(left, right, limit)


_BUILTIN_OWNERS = (str, bytes, int, float, list, tuple, dict)
_FORMAT_METHODS = frozenset({"format", "format_map"})


def _check_call(obj: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Size checks for methods of built-in types that can grow a value in one C call.

    Returns the positional arguments to use (``join`` gets its iterable as a list,
    so it can be measured first).
    """
    if not isinstance(obj, types.BuiltinMethodType):
        return args
    owner = getattr(obj, "__self__", None)
    if not isinstance(owner, _BUILTIN_OWNERS):
        return args
    limit = _local.max_chars
    # Widths and counts (center, ljust, zfill, expandtabs, int.to_bytes, ...).
    _check_int_args([*args, *kwargs.values()], limit)
    if not isinstance(owner, (str, bytes)):
        return args
    name = obj.__name__
    if name == "join" and len(args) == 1:
        items: list[object] = []
        total = -len(owner)
        for item in args[0]:  # measured while collected, so a long generator stops early
            total += len(owner) + (len(item) if isinstance(item, (str, bytes)) else 0)
            if total > limit:
                raise _refuse_size(limit)
            items.append(item)
        return (items,)
    if name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(old, type(owner)) and isinstance(new, type(owner)):
            found = owner.count(old) if old else len(owner) + 1  # type: ignore[arg-type]
            count = args[2] if len(args) > 2 else kwargs.get("count", -1)
            if isinstance(count, int) and count >= 0:
                found = min(found, count)
            if len(owner) + found * max(0, len(new) - len(old)) > limit:
                raise _refuse_size(limit)
    elif name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((len(v) for v in args[0].values() if isinstance(v, (str, bytes))), default=1)
        if len(owner) * max(1, longest) > limit:
            raise _refuse_size(limit)
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        tabs = owner.count("\t" if isinstance(owner, str) else b"\t")  # type: ignore[arg-type]
        if isinstance(size, int) and len(owner) + tabs * max(0, size) > limit:
            raise _refuse_size(limit)
    return args


# ---------------------------------------------------------------------------
# Filters and globals
# ---------------------------------------------------------------------------


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | str | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    """transformers' ``tojson``: plain ``json.dumps`` (no HTML escaping), keyword args allowed."""
    limit = _local.max_chars
    indent_width = 0
    if isinstance(indent, int) and not isinstance(indent, bool):
        indent_width = indent
    elif isinstance(indent, str):
        indent_width = len(indent)
    if indent_width > _MAX_JSON_INDENT:
        raise _Refused(f"asked for a JSON indent over {_MAX_JSON_INDENT}")
    separator = 2
    if separators is not None:
        if len(separators) != 2 or not all(isinstance(s, str) for s in separators):
            raise TypeError("tojson separators must be two strings")
        separator = max(len(separators[0]), len(separators[1]))
        if separator > _MAX_JSON_INDENT:
            raise _Refused(f"asked for JSON separators over {_MAX_JSON_INDENT}")
    if _printed_size(value, limit, separator=separator + 1, indent=indent_width + 1) > limit:
        raise _refuse_size(limit)
    return json.dumps(
        value,
        ensure_ascii=ensure_ascii,
        indent=indent,
        separators=separators,
        sort_keys=sort_keys,
    )


@pass_eval_context
def _join(
    eval_ctx: EvalContext, value: Any, d: str = "", attribute: str | int | None = None
) -> str:
    """``join``, measured first: ``range(10**5)|join(long_string)`` is one C call."""
    limit = _local.max_chars
    _check_printable(d)
    separator = len(d) if isinstance(d, str) else _printed_size(d, limit)
    getter = make_attrgetter(eval_ctx.environment, attribute) if attribute is not None else None
    items: list[object] = []
    total = 0
    for item in value:  # measured while collected, so a long generator stops early
        if getter is not None:
            item = getter(item)
        total += separator + (len(item) if type(item) is str else _printed_size(item, limit))
        if total > limit:
            raise _refuse_size(limit)
        items.append(item)
    return sync_do_join(eval_ctx, items, d)


def _check_center(value: object, width: object = 80) -> None:
    _check_printable(value)
    if isinstance(width, int) and width > _local.max_chars:
        raise _refuse_size(_local.max_chars)


def _check_indent(
    s: object, width: object = 4, first: object = False, blank: object = False
) -> None:
    _check_printable(s)
    limit = _local.max_chars
    text = s if isinstance(s, str) else ""
    pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    if len(text) + (text.count("\n") + 1) * max(0, pad) > limit:
        raise _refuse_size(limit)


def _check_replace(s: object, old: object, new: object, count: object = None) -> None:
    _check_printable(s)
    text = s if isinstance(s, str) else ""
    if isinstance(old, str) and isinstance(new, str):
        found = text.count(old) if old else len(text) + 1
        if isinstance(count, int) and count >= 0:
            found = min(found, count)
        if len(text) + found * max(0, len(new) - len(old)) > _local.max_chars:
            raise _refuse_size(_local.max_chars)


def _check_format_filter(value: object, *args: object, **kwargs: object) -> None:
    _check_printable(value)
    _check_percent(str(value), kwargs or args, _local.max_chars)


def _check_count_arg(value: object, count: object = 1, fill_with: object = None) -> None:
    if isinstance(count, int) and count > _local.max_chars:
        raise _refuse_size(_local.max_chars)


# Filters that never stringify a container (so need no size check).
_NON_STRING_FILTERS = frozenset(
    {
        "abs", "attr", "count", "d", "default", "dictsort", "first", "float", "groupby",
        "int", "items", "last", "length", "list", "map", "max", "min", "random", "reject",
        "rejectattr", "reverse", "round", "select", "selectattr", "sort", "sum", "unique",
        "join", "tojson",  # these two measure their own output
    }
)  # fmt: skip
_FILTER_CHECKS: dict[str, Callable[..., None]] = {
    "center": _check_center,
    "indent": _check_indent,
    "replace": _check_replace,
    "format": _check_format_filter,
    "batch": _check_count_arg,
    "slice": _check_count_arg,
}
# Unused by chat templates and hard to bound (pprint's layout, urlize's and
# wordwrap's regex work); lipsum below likewise.
_REMOVED_FILTERS = ("pprint", "urlize", "wordwrap")


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0
    check = _FILTER_CHECKS.get(name)
    if check is not None:

        @wraps(func)
        def checked(*args: Any, **kwargs: Any) -> Any:
            check(*args[skip:], **kwargs)
            return func(*args, **kwargs)

        return checked
    if name in _NON_STRING_FILTERS:
        return func

    @wraps(func)
    def printable(*args: Any, **kwargs: Any) -> Any:
        if len(args) > skip and type(args[skip]) is not str:
            _check_printable(args[skip])
        return func(*args, **kwargs)

    return printable


def _finalize(value: Any) -> Any:
    """Runs on every ``{{ ... }}``: refuse to print a container whose text would be huge."""
    if type(value) is not str:
        _check_printable(value)
    return value


def _raise_exception(message: object) -> None:
    _check_printable(message)
    raise _Raised(f"{message}")


def _strftime_now(fmt: object) -> str:
    if not isinstance(fmt, str):
        raise TypeError("strftime_now() needs a format string")
    if len(fmt) > _MAX_STRFTIME_FORMAT:
        raise _Refused("passed an overly long strftime format")
    return datetime.now().strftime(fmt)


class _GenerationTag(Extension):
    """transformers' ``{% generation %}...{% endgeneration %}`` marks assistant text; here it
    just renders its body."""

    tags = {"generation"}  # noqa: RUF012 - Extension declares it as a class attribute

    def parse(self, parser: Parser) -> list[nodes.Node]:
        next(parser.stream)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


class _SandboxedEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox plus bounds on time, size and unsafe attributes."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self) -> None:
        super().__init__(
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=[loopcontrols, _GenerationTag],
            finalize=_finalize,
            autoescape=False,
        )
        self.globals.pop("lipsum", None)
        self.globals["raise_exception"] = _raise_exception
        self.globals["strftime_now"] = _strftime_now
        for name in _REMOVED_FILTERS:
            self.filters.pop(name, None)
        self.filters["join"] = _join
        self.filters["tojson"] = _tojson
        for name, func in list(self.filters.items()):
            self.filters[name] = _guard_filter(name, func)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        # The stock sandbox returns an Undefined here, which prints as "" and lets a
        # payload fail quietly; an attempt should fail loudly instead.
        raise SecurityError(f"{type(obj).__name__}.{attribute} is not allowed")

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        # Fast path for the common case, string concatenation (this runs per `+`).
        if type(left) is str and type(right) is str and operator == "+":
            if len(left) + len(right) > _local.max_chars:
                raise _refuse_size(_local.max_chars)
            return left + right
        _check_binop(operator, left, right)
        return self.binop_table[operator](left, right)

    def call(
        __self,  # the odd names mirror SandboxedEnvironment.call
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        args = _check_call(__obj, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # Runs on every attribute access; decide the common "not str.format" case here.
        if not isinstance(value, types.BuiltinMethodType) or value.__name__ not in _FORMAT_METHODS:
            return None
        sandboxed = super().wrap_str_format(value)
        if sandboxed is None:
            return None
        fmt = cast(str, value.__self__)  # the sandbox only wraps str methods
        is_format_map = value.__name__ == "format_map"

        @wraps(sandboxed)
        def bounded(*args: Any, **kwargs: Any) -> str:
            if is_format_map and len(args) == 1 and isinstance(args[0], Mapping):
                _check_str_format(fmt, (), args[0])
            else:
                _check_str_format(fmt, args, kwargs)
            return sandboxed(*args, **kwargs)

        return bounded


_ENV = _SandboxedEnvironment()
_compiled: dict[str, jinja2.Template] = {}
_compiled_lock = threading.Lock()
_MAX_COMPILED = 32


def _compile(source: str, subject: str) -> jinja2.Template:
    """Compile (and cache) a template; compiling is bounded too, as it folds constants."""
    cached = _compiled.get(source)
    if cached is not None:
        return cached
    if len(source) > MAX_TEMPLATE_CHARS:
        raise SandboxedTemplateError(
            f"{subject} is too long ({len(source)} characters, at most {MAX_TEMPLATE_CHARS})"
        )
    time_limit_s = _COMPILE_TIME_BASE_S + len(source) / _COMPILE_CHARS_PER_S
    template = _run_bounded(
        lambda: _ENV.from_string(source), time_limit_s, DEFAULT_MAX_OUTPUT_CHARS, subject
    )
    with _compiled_lock:
        if len(_compiled) >= _MAX_COMPILED:
            _compiled.pop(next(iter(_compiled)))
        _compiled[source] = template
    return template


# ---------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------


class SandboxedTemplate:
    """A template compiled in the sandbox; ``render()`` runs it under the bounds.

    Made by ``compile_template()``. ``subject`` names the template in error messages.
    """

    __slots__ = ("_template", "subject")

    def __init__(self, template: jinja2.Template, subject: str) -> None:
        self._template = template
        self.subject = subject

    def render(
        self,
        context: Mapping[str, object],
        *,
        time_limit_s: float = DEFAULT_TIME_LIMIT_S,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    ) -> str:
        """Render with ``context`` as the template's variables.

        Raises SandboxedTemplateError on any failure or bound (ValueError for a
        ``time_limit_s`` that is not positive or a ``max_output_chars`` under 1). The
        template cannot change the lists and dicts in ``context``.
        """
        # Template.generate is typed as an Iterator but is a generator; it is closed below.
        chunks = cast("Generator[str, None, None]", self._template.generate(context))

        def collect() -> str:
            parts: list[str] = []
            total = 0
            for chunk in chunks:
                total += len(chunk)
                if total > max_output_chars:
                    raise _Refused(f"output exceeded {max_output_chars} characters")
                parts.append(chunk)
            return "".join(parts)

        try:
            return _run_bounded(collect, time_limit_s, max_output_chars, self.subject)
        finally:
            # Outside the bounded run, so the trace function cannot interrupt the close.
            chunks.close()


def compile_template(source: str, *, subject: str = "template") -> SandboxedTemplate:
    """Compile ``source`` in the sandbox (cached by source text).

    Raises SandboxedTemplateError, its message starting with ``subject``, when the
    source is longer than MAX_TEMPLATE_CHARS, is not valid Jinja, or takes too long
    to compile.
    """
    return SandboxedTemplate(_compile(source, subject), subject)


def render_template(
    source: str,
    context: Mapping[str, object],
    *,
    subject: str = "template",
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
) -> str:
    """Compile (cached) and render ``source`` with ``context``, within the bounds.

    Raises SandboxedTemplateError, its message starting with ``subject``, on any failure.
    """
    return compile_template(source, subject=subject).render(
        context, time_limit_s=time_limit_s, max_output_chars=max_output_chars
    )
