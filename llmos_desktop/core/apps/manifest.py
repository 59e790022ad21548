"""App manifests: what an app is, read strictly, because every app is untrusted data.

An app in the store is a declarative manifest (docs/apps.md documents each field):
its names and descriptions in English and Simplified Chinese at least, its inputs,
a Jinja prompt template over those inputs, a system prompt, sampling options, and
for structured apps a JSON Schema the reply must follow. Apps come from anyone (a
remote catalogue, a file someone sent), so the manifest is read like the engine reads
a request body:

- pydantic, strict (``"5"`` is not a number, ``1`` is not a boolean), unknown fields
  refused, every string, list and dict bounded;
- names, labels and tags are one line of plain text: markup (``<b>``, ``&lt;``) is
  refused outright, because some Qt widgets guess that text starting with a tag is
  rich text; descriptions may contain ``<`` (``x < y``) and the UI shows them as plain
  text;
- control characters and bidi overrides are refused (they hide or reorder text);
- the prompt template compiles in the chat templates' sandbox
  (core/templates/sandbox.py), may use only the app's inputs, no private attributes,
  and is test-rendered with each example under a time and size bound, so a template
  that loops forever or builds a huge string is refused when the app is read, not when
  it is run;
- the output schema is a bounded subset of JSON Schema (no ``$ref``, no regular
  expressions: a hostile ``pattern`` could backtrack for minutes on model output),
  checked with jsonschema;
- the icon is a small PNG whose header is read before anything decodes it (icon.py).

Every refusal is an ``AppError`` whose ``field`` is the dotted path of the field at
fault (``inputs.2.name``) and whose ``problems`` lists every field at fault, for a
builder that shows each error next to its field.

The ``.llmapp`` file (one JSON document) is read and written by package.py; prompts
are rendered by render.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from llmos_desktop.core.engine.contract import (
    MAX_STOP_LENGTH,
    MAX_STOP_STRINGS,
    Finite,
    Int,
    JsonNumbers,
    SamplingOptions,
)
from llmos_desktop.core.text import one_line

__all__ = [
    "APP_FORMAT_VERSION",
    "CATEGORIES",
    "INPUT_TYPES",
    "MODES",
    "REQUIRED_LOCALES",
    "AppError",
    "AppErrorKind",
    "AppManifest",
    "AppSampling",
    "Category",
    "Choice",
    "InputField",
    "InputType",
    "InputValue",
    "LocalizedText",
    "Mode",
    "RecommendedModel",
    "inputs_from_strings",
    "is_newer_version",
    "parse_manifest",
    "response_format",
    "validate_inputs",
    "validate_output",
    "version_key",
]

APP_FORMAT_VERSION: Final = 1

# --- bounds (docs/apps.md lists them) --------------------------------------------------
MAX_ID_CHARS: Final = 100
MAX_NAME_CHARS: Final = 80
MAX_DESCRIPTION_CHARS: Final = 2000
MAX_AUTHOR_CHARS: Final = 80
MAX_VERSION_CHARS: Final = 40
MAX_TAGS: Final = 12
MAX_TAG_CHARS: Final = 32
MAX_LOCALES: Final = 16
MAX_INPUTS: Final = 16
MAX_LABEL_CHARS: Final = 80
MAX_HELP_CHARS: Final = 300
MAX_CHOICES: Final = 50
MAX_CHOICE_CHARS: Final = 100
# What one text input may hold at most (an app chooses its own max_length up to this).
MAX_INPUT_CHARS: Final = 100_000
DEFAULT_TEXT_LENGTH: Final = 1_000
DEFAULT_MULTILINE_LENGTH: Final = 20_000
MAX_PROMPT_TEMPLATE_CHARS: Final = 16_384
MAX_SYSTEM_PROMPT_CHARS: Final = 16_384
MAX_EXAMPLES: Final = 8
MAX_RECOMMENDED_MODELS: Final = 8
MAX_NOTES: Final = 16
MAX_NOTE_CHARS: Final = 300
MAX_LICENCE_CHARS: Final = 64
# The output schema: its JSON text, how deep it nests, and the largest count it may
# ask for (llama.cpp's grammar spells out {m,n} repetitions one copy at a time).
MAX_SCHEMA_BYTES: Final = 16_384
MAX_SCHEMA_DEPTH: Final = 12
MAX_SCHEMA_COUNT: Final = 256
MAX_PROPERTY_NAME_CHARS: Final = 64
MAX_SCHEMA_COMBINATORS: Final = 2
# A model's structured reply that is parsed (a reply is far shorter; this bounds a
# runaway one).
MAX_OUTPUT_BYTES: Final = 1024 * 1024
MAX_OUTPUT_DEPTH: Final = 64
# The icon: a data: URI of a PNG of at most 64 KiB (base64 is 4/3 of that).
MAX_ICON_URI_CHARS: Final = 22 + (64 * 1024 * 4) // 3 + 4

Mode = Literal["chat", "form", "structured"]
InputType = Literal["text", "multiline", "choice", "number", "toggle"]
Category = Literal[
    "writing",
    "translation",
    "questions",
    "summaries",
    "code",
    "data",
    "productivity",
    "learning",
    "other",
]
MODES: Final[tuple[str, ...]] = get_args(Mode)
INPUT_TYPES: Final[tuple[str, ...]] = get_args(InputType)
CATEGORIES: Final[tuple[str, ...]] = get_args(Category)
REQUIRED_LOCALES: Final = ("en", "zh_CN")

AppErrorKind = Literal[
    "invalid",  # a manifest or .llmapp file that is not a valid app (names the field)
    "input",  # a value given for an input (names the input)
    "template",  # the prompt failed to render with these inputs (time, size, an error)
    "output",  # a structured reply that is not JSON or does not follow the schema
    "io",  # the disk failed (cannot read or write a file)
    "not_found",  # no such app (installed or in a catalogue)
    "checksum",  # a downloaded .llmapp whose SHA-256 is not the catalogue's
    "network",  # a remote catalogue that cannot be reached
    "auth",  # a remote catalogue or publish that needs (another) token
    "engine",  # the engine failed while running the app
]


class AppError(Exception):
    """An app that cannot be read, installed or run; one line for the user.

    ``kind``: what went wrong (AppErrorKind). ``field``: the dotted path of the field
    or the name of the input at fault (``inputs.2.name``, ``topic``), "" when none.
    ``message``: the reason, without the field. ``str()`` is ``"field: message"``.
    ``problems``: every (field, message) found, the first being this one; a builder
    shows each next to its field.
    """

    def __init__(
        self,
        kind: AppErrorKind,
        field: str,
        message: str,
        *,
        problems: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        self.kind: AppErrorKind = kind
        self.field = field
        self.message = message
        self.problems: list[tuple[str, str]] = list(problems) if problems else [(field, message)]
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_error, (self.kind, self.field, self.message, self.problems))


def _rebuild_error(
    kind: AppErrorKind, field: str, message: str, problems: list[tuple[str, str]]
) -> AppError:
    return AppError(kind, field, message, problems=problems)


# --- text checks ---------------------------------------------------------------------

# Characters that end a line, do not print, or reorder what is shown (bidi embeddings,
# overrides and isolates, which can make "gpj.exe" read "exe.jpg"). Joiners (U+200C,
# U+200D) stay: emoji sequences and several scripts need them.
_NOT_IN_ONE_LINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff]"
)
_NOT_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")
# In input values (the user's own text, sent to the model, not shown as a name): control
# characters only; bidi marks are fine (Arabic, Hebrew). A text input is one line.
_NOT_IN_VALUE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAK = re.compile("[\n\r\u2028\u2029]")
# A tag or an entity: what makes Qt (or a browser) treat text as markup.
_MARKUP = re.compile(r"<\s*/?\s*[A-Za-z!?]|&(?:#[0-9]+|#[xX][0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);")

_ID_PATTERN: Final = r"^[a-z0-9]+(?:[-_][a-z0-9]+)*(?:\.[a-z0-9]+(?:[-_][a-z0-9]+)*)*$"
_ID = re.compile(_ID_PATTERN)
# Windows refuses these as a file name's first part ("con.llmapp"), and installed apps
# are stored as <id>.llmapp.
_WINDOWS_DEVICES: Final = frozenset(
    {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(10)} | {f"lpt{i}" for i in range(10)}
)
_LOCALE_PATTERN: Final = r"^[a-z]{2,3}(?:_[A-Z]{2}|_[A-Z][a-z]{3})?$"
_LOCALE = re.compile(_LOCALE_PATTERN)
_INPUT_NAME_PATTERN: Final = r"^[a-z][a-z0-9_]{0,31}$"
_INPUT_NAME = re.compile(_INPUT_NAME_PATTERN)
# Words an input cannot be called: Jinja's keywords and the sandbox's globals (an input
# named "range" would hide the function), and Python's keywords.
_RESERVED_NAMES: Final = frozenset(
    {
        "and", "as", "assert", "async", "await", "block", "break", "call", "caller", "class",
        "continue", "cycler", "def", "del", "dict", "elif", "else", "endblock", "endcall",
        "endfilter", "endfor", "endif", "endmacro", "endraw", "endset", "endwith", "except",
        "extends", "false", "filter", "finally", "for", "from", "generation", "global", "if",
        "import", "in", "include", "is", "joiner", "kwargs", "lambda", "lipsum", "loop",
        "macro", "namespace", "none", "nonlocal", "not", "or", "pass", "raise",
        "raise_exception", "range", "raw", "return", "self", "set", "strftime_now", "super",
        "true", "try", "varargs", "while", "with", "yield",
    }
)  # fmt: skip
_VERSION_PATTERN: Final = (
    r"^(0|[1-9][0-9]{0,5})(?:\.(0|[1-9][0-9]{0,5}))?(?:\.(0|[1-9][0-9]{0,5}))?"
    r"(?:-([0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*))?$"
)
_VERSION = re.compile(_VERSION_PATTERN)
_REPO_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$"
_REPO = re.compile(_REPO_PATTERN)
_MODEL_FILE_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}\.gguf$"
_MODEL_FILE = re.compile(_MODEL_FILE_PATTERN)
_LICENCE_PATTERN: Final = (
    r"^[A-Za-z0-9][A-Za-z0-9.+-]*(?: (?:AND|OR|WITH) [A-Za-z0-9][A-Za-z0-9.+-]*)*$"
)
_LICENCE = re.compile(_LICENCE_PATTERN)


def _problem(message: str) -> PydanticCustomError:
    """A validation error with our message as it is (no "Value error, " in front).

    The message goes in the context, not the template: it may quote text with braces.
    """
    return PydanticCustomError("app_field", "{message}", {"message": message})


def _quote(text: str, limit: int = 40) -> str:
    return repr(one_line(text, limit))


def _check_one_line(value: str) -> str:
    found = _NOT_IN_ONE_LINE.search(value)
    if found:
        raise _problem(
            f"must be one line without control or direction characters (found {found.group()!a})"
        )
    if value != value.strip():
        raise _problem("must not start or end with spaces")
    return value


def _check_plain(value: str) -> str:
    """One line of plain text: names, labels, tags, the author."""
    _check_one_line(value)
    found = _MARKUP.search(value)
    if found:
        raise _problem(f"must be plain text, not HTML or markup (found {_quote(found.group())})")
    return value


def _check_text(value: str) -> str:
    """Text that may span lines: descriptions, prompts."""
    found = _NOT_IN_TEXT.search(value)
    if found:
        raise _problem(
            f"must not contain control or direction characters (found {found.group()!a})"
        )
    return value


def _check_id(value: str) -> str:
    if not _ID.match(value):
        raise _problem(
            "must be lowercase letters and digits, with '-' or '_' inside a part and"
            " '.' between parts, like org.example.translator or translator"
            f" (got {_quote(value)})"
        )
    if value.split(".", 1)[0] in _WINDOWS_DEVICES:
        raise _problem(f"cannot start with {_quote(value.split('.', 1)[0])}, a Windows device name")
    return value


def _check_locale(value: str) -> str:
    if not _LOCALE.match(value):
        raise _problem(f"is not a locale like en or zh_CN (got {_quote(value)})")
    return value


def _check_input_name(value: str) -> str:
    if not _INPUT_NAME.match(value):
        raise _problem(
            "must start with a lowercase letter and hold only lowercase letters, digits"
            f" and '_', at most 32 (got {_quote(value)})"
        )
    if value in _RESERVED_NAMES:
        raise _problem(f"{value!r} is reserved in templates; choose another name")
    return value


def _check_version(value: str) -> str:
    if not _VERSION.match(value):
        raise _problem(f"must be a version like 1.0.0 or 2.1.0-beta.1 (got {_quote(value)})")
    return value


def _check_repo(value: str) -> str:
    if ".." in value or not _REPO.match(value):
        raise _problem(f"must be a Hugging Face repository like owner/name (got {_quote(value)})")
    return value


def _check_model_file(value: str) -> str:
    if ".." in value or not _MODEL_FILE.match(value):
        raise _problem(
            "must be the name of a .gguf file at the top of the repository, no folders"
            f" (got {_quote(value)})"
        )
    return value


def _check_licence(value: str) -> str:
    if not _LICENCE.match(value):
        raise _problem(f"must be a licence identifier like MIT or Apache-2.0 (got {_quote(value)})")
    return value


def _check_icon(value: str) -> str:
    from llmos_desktop.core.apps.icon import IconError, decode_icon_uri

    try:
        decode_icon_uri(value)
    except IconError as exc:
        raise _problem(str(exc)) from None
    return value


def _field(pattern: str | None = None, **kwargs: Any) -> Any:
    """Field() with a pattern shown in the JSON schema only (our validators check it with
    a message people can read)."""
    extra: dict[str, Any] | None = {"pattern": pattern} if pattern else None
    return Field(json_schema_extra=extra, **kwargs)


PlainName = Annotated[
    str, Field(min_length=1, max_length=MAX_NAME_CHARS), AfterValidator(_check_plain)
]
Description = Annotated[
    str, Field(min_length=1, max_length=MAX_DESCRIPTION_CHARS), AfterValidator(_check_text)
]
Locale = Annotated[str, _field(_LOCALE_PATTERN, max_length=16), AfterValidator(_check_locale)]
Label = Annotated[
    str, Field(min_length=1, max_length=MAX_LABEL_CHARS), AfterValidator(_check_plain)
]
HelpText = Annotated[
    str, Field(min_length=1, max_length=MAX_HELP_CHARS), AfterValidator(_check_plain)
]
InputName = Annotated[
    str, _field(_INPUT_NAME_PATTERN, min_length=1, max_length=32), AfterValidator(_check_input_name)
]
InputValue = StrictStr | StrictBool | StrictInt | Finite
"""A value an input takes: text (text, multiline, choice), a number, or a toggle."""


def _labels(value: Mapping[str, str]) -> Mapping[str, str]:
    if "en" not in value:
        raise _problem("needs an English ('en') text at least")
    return value


Labels = Annotated[
    dict[Locale, Label], Field(min_length=1, max_length=MAX_LOCALES), AfterValidator(_labels)
]


def _localized(value: Mapping[str, object], fallback: str, locale: str) -> str:
    """The text for ``locale`` (``zh_CN``, then ``zh``), else English, else ``fallback``."""
    for key in (locale, locale.split("_", 1)[0], "en"):
        text = value.get(key)
        if isinstance(text, str):
            return text
        if isinstance(text, LocalizedText):
            return text.name
    return fallback


# --- the models ----------------------------------------------------------------------


class _Strict(JsonNumbers):
    """Our models: strict, frozen, unknown fields refused; an integer may be written 5.0
    (the engine contract's rule, JsonNumbers)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class LocalizedText(_Strict):
    """An app's name and description in one language."""

    name: PlainName
    description: Description


class Choice(_Strict):
    """One option of a ``choice`` input: the value the prompt gets, and what people see."""

    value: Annotated[
        str, Field(min_length=1, max_length=MAX_CHOICE_CHARS), AfterValidator(_check_one_line)
    ]
    label: Annotated[dict[Locale, Label], Field(max_length=MAX_LOCALES)] = Field(
        default_factory=dict, description="shown instead of the value, by locale"
    )

    def display(self, locale: str) -> str:
        return _localized(self.label, self.value, locale)


class InputField(_Strict):
    """One input of an app: a template variable with a form control."""

    name: InputName = Field(description="the template variable ({{ name }})")
    type: InputType
    label: Labels = Field(
        description="the form's label, by locale; 'en' required",
        json_schema_extra={"required": ["en"]},
    )
    help: Annotated[dict[Locale, HelpText], Field(max_length=MAX_LOCALES)] = Field(
        default_factory=dict, description="a hint under the control, by locale"
    )
    required: StrictBool = Field(True, description="a value must be given (text: not only spaces)")
    choices: Annotated[list[Choice], Field(max_length=MAX_CHOICES)] = Field(
        default_factory=list, validate_default=True, description="choice: 2 or more options"
    )
    min: Finite | None = Field(None, description="number: the smallest value")
    max: Finite | None = Field(None, description="number: the largest value")
    integer: StrictBool = Field(False, description="number: whole numbers only")
    max_length: Annotated[Int, Field(ge=1, le=MAX_INPUT_CHARS)] | None = Field(
        None,
        description=(
            f"text, multiline: the most characters (default {DEFAULT_TEXT_LENGTH} for text,"
            f" {DEFAULT_MULTILINE_LENGTH} for multiline)"
        ),
    )
    default: InputValue | None = Field(None, description="the value the form starts with")

    @field_validator("choices")
    @classmethod
    def _choices_for_choice(cls, value: list[Choice], info: ValidationInfo) -> list[Choice]:
        kind = info.data.get("type")
        if kind == "choice":
            if len(value) < 2:
                raise _problem("a choice input needs at least 2 choices")
            seen: set[str] = set()
            for choice in value:
                if choice.value in seen:
                    raise _problem(f"{_quote(choice.value)} is listed twice")
                seen.add(choice.value)
        elif value and kind is not None:
            raise _problem(f"only a choice input has choices (this one is {kind})")
        return value

    @field_validator("min", "max", "integer")
    @classmethod
    def _number_only(cls, value: object, info: ValidationInfo) -> object:
        kind = info.data.get("type")
        if kind is not None and kind != "number" and value is not None and value is not False:
            raise _problem(f"only a number input has {info.field_name} (this one is {kind})")
        if info.field_name == "max" and value is not None:
            low = info.data.get("min")
            if isinstance(low, float) and isinstance(value, float) and value < low:
                raise _problem(f"is smaller than min ({_num(low)})")
        return value

    @field_validator("max_length")
    @classmethod
    def _text_only(cls, value: int | None, info: ValidationInfo) -> int | None:
        kind = info.data.get("type")
        if value is not None and kind is not None and kind not in ("text", "multiline"):
            raise _problem(f"only a text or multiline input has max_length (this one is {kind})")
        return value

    @field_validator("default")
    @classmethod
    def _default_fits(cls, value: object, info: ValidationInfo) -> object:
        if value is None or "type" not in info.data:
            return value
        partial = _InputView(
            name=str(info.data.get("name", "")),
            type=info.data["type"],
            choices=info.data.get("choices", []),
            min=info.data.get("min"),
            max=info.data.get("max"),
            integer=bool(info.data.get("integer", False)),
            max_length=info.data.get("max_length"),
        )
        problem = _value_problem(partial, value)
        if problem is not None:
            raise _problem(problem)
        return value

    @property
    def length_limit(self) -> int:
        """The most characters a text or multiline value may have."""
        if self.max_length is not None:
            return self.max_length
        return DEFAULT_MULTILINE_LENGTH if self.type == "multiline" else DEFAULT_TEXT_LENGTH

    def display_label(self, locale: str) -> str:
        return _localized(self.label, self.name, locale)

    def display_help(self, locale: str) -> str:
        return _localized(self.help, "", locale)

    def choice_values(self) -> list[str]:
        return [choice.value for choice in self.choices]


class AppSampling(_Strict):
    """The sampling options an app sets; unset ones keep the user's (or engine's) defaults.

    The same names and bounds as the engine contract's SamplingOptions (a test compares
    them); ``stop`` is the manifest's top-level ``stop``.
    """

    temperature: Annotated[Finite, Field(ge=0.0, le=5.0)] | None = None
    top_p: Annotated[Finite, Field(ge=0.0, le=1.0)] | None = None
    top_k: Annotated[Int, Field(ge=0, le=100_000)] | None = None
    min_p: Annotated[Finite, Field(ge=0.0, le=1.0)] | None = None
    repeat_penalty: Annotated[Finite, Field(gt=0.0, le=10.0)] | None = None
    presence_penalty: Annotated[Finite, Field(ge=-2.0, le=2.0)] | None = None
    frequency_penalty: Annotated[Finite, Field(ge=-2.0, le=2.0)] | None = None
    max_tokens: Annotated[Int, Field(ge=1, le=1_000_000)] | None = None
    seed: Annotated[Int, Field(ge=-1, le=2**32 - 1)] | None = None


class RecommendedModel(_Strict):
    """A model the app was written for: a file in a Hugging Face repository."""

    repo_id: Annotated[str, _field(_REPO_PATTERN, max_length=193), AfterValidator(_check_repo)]
    file: Annotated[
        str, _field(_MODEL_FILE_PATTERN, max_length=205), AfterValidator(_check_model_file)
    ]
    min_context: Annotated[Int, Field(ge=128, le=1_048_576)] = Field(
        2048, description="the context (tokens) the app needs with this model"
    )


def _num(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


class _InputView:
    """What checking a value needs of an input; the validator has it before the model."""

    __slots__ = ("choices", "integer", "max", "max_length", "min", "name", "type")

    def __init__(
        self,
        *,
        name: str,
        type: str,
        choices: Sequence[Choice],
        min: float | None,
        max: float | None,
        integer: bool,
        max_length: int | None,
    ) -> None:
        self.name = name
        self.type = type
        self.choices = choices
        self.min = min
        self.max = max
        self.integer = integer
        self.max_length = max_length

    @property
    def length_limit(self) -> int:
        if self.max_length is not None:
            return self.max_length
        return DEFAULT_MULTILINE_LENGTH if self.type == "multiline" else DEFAULT_TEXT_LENGTH


def _value_problem(field: InputField | _InputView, value: object) -> str | None:
    """Why ``value`` does not fit the input (None: it fits). Not about ``required``."""
    kind = field.type
    if kind in ("text", "multiline", "choice"):
        if not isinstance(value, str):
            return f"must be text, not {_json_type(value)}"
        if kind == "choice":
            values = [choice.value for choice in field.choices]
            if value not in values:
                shown = ", ".join(repr(v) for v in values[:10])
                return f"must be one of {shown} (got {_quote(value)})"
            return None
        if len(value) > field.length_limit:
            return f"is too long ({len(value)} characters, at most {field.length_limit})"
        if kind == "text" and _LINE_BREAK.search(value):
            return "must be one line (a multiline input takes more)"
        found = _NOT_IN_VALUE.search(value)
        if found is not None:
            return f"must not contain control characters (found {found.group()!a})"
        return None
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number, not {_json_type(value)}"
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number"
        if field.integer and not float(value).is_integer():
            return f"must be a whole number (got {value!r})"
        if field.min is not None and value < field.min:
            return f"must be at least {_num(field.min)} (got {value!r})"
        if field.max is not None and value > field.max:
            return f"must be at most {_num(field.max)} (got {value!r})"
        return None
    if kind == "toggle":
        if not isinstance(value, bool):
            return f"must be true or false, not {_json_type(value)}"
        return None
    return f"has an unknown type {kind!r}"


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


class AppManifest(_Strict):
    """One app, as its ``.llmapp`` file holds it. Build with ``parse_manifest``.

    Frozen: to change a field, ``app.changed(field=value)`` validates the result again
    (pydantic's ``model_copy(update=...)`` would not).
    """

    format_version: Annotated[Int, Field(ge=1)] = Field(
        description=f"the app format's version; this LLMOS reads {APP_FORMAT_VERSION}"
    )
    id: Annotated[
        str, _field(_ID_PATTERN, min_length=1, max_length=MAX_ID_CHARS), AfterValidator(_check_id)
    ] = Field(description="reverse-DNS (org.example.translator) or a slug (translator)")
    name: PlainName = Field(description="the name in the app's own language; plain text")
    version: Annotated[
        str, _field(_VERSION_PATTERN, max_length=MAX_VERSION_CHARS), AfterValidator(_check_version)
    ] = Field(description="MAJOR[.MINOR[.PATCH]][-PRERELEASE]; a higher version is an update")
    author: Annotated[
        str, Field(min_length=1, max_length=MAX_AUTHOR_CHARS), AfterValidator(_check_plain)
    ]
    description: Description = Field(description="what the app does; shown as plain text")
    category: Category
    tags: Annotated[
        list[
            Annotated[
                str, Field(min_length=1, max_length=MAX_TAG_CHARS), AfterValidator(_check_plain)
            ]
        ],
        Field(max_length=MAX_TAGS),
    ] = Field(default_factory=list)
    # The length is checked by _check_icon, with a message that says "64 KiB".
    icon: (
        Annotated[
            str,
            Field(json_schema_extra={"maxLength": MAX_ICON_URI_CHARS}),
            AfterValidator(_check_icon),
        ]
        | None
    ) = Field(
        None,
        description="data:image/png;base64,... of a PNG at most 256x256 pixels and 64 KiB",
    )
    localized: Annotated[dict[Locale, LocalizedText], Field(max_length=MAX_LOCALES)] = Field(
        description="name and description by locale; 'en' and 'zh_CN' required",
        json_schema_extra={"required": list(REQUIRED_LOCALES)},
    )
    mode: Mode = Field(
        description=(
            "chat: a preset conversation; form: inputs -> one streamed reply;"
            " structured: inputs -> JSON following output_schema"
        )
    )
    inputs: Annotated[list[InputField], Field(max_length=MAX_INPUTS)] = Field(default_factory=list)
    system_prompt: Annotated[
        str, Field(max_length=MAX_SYSTEM_PROMPT_CHARS), AfterValidator(_check_text)
    ] = Field("", description="plain text (not a template); empty: none")
    prompt_template: Annotated[
        str, Field(max_length=MAX_PROMPT_TEMPLATE_CHARS), AfterValidator(_check_text)
    ] = Field(
        "",
        description=("Jinja over the inputs: the user message (chat: the first one, may be empty)"),
    )
    sampling: AppSampling = Field(default_factory=AppSampling)
    stop: Annotated[
        list[
            Annotated[
                str, Field(min_length=1, max_length=MAX_STOP_LENGTH), AfterValidator(_check_text)
            ]
        ],
        Field(max_length=MAX_STOP_STRINGS),
    ] = Field(default_factory=list)
    output_schema: dict[str, object] | None = Field(
        None,
        description=(
            "structured only: the JSON Schema of the reply (an object; a bounded subset,"
            " see docs/apps.md)"
        ),
    )
    examples: Annotated[
        list[Annotated[dict[InputName, InputValue], Field(max_length=MAX_INPUTS)]],
        Field(max_length=MAX_EXAMPLES),
    ] = Field(default_factory=list, description="example inputs, each a map of input name to value")
    recommended_models: Annotated[
        list[RecommendedModel], Field(max_length=MAX_RECOMMENDED_MODELS)
    ] = Field(default_factory=list)
    licence: Annotated[
        str,
        _field(_LICENCE_PATTERN, min_length=1, max_length=MAX_LICENCE_CHARS),
        AfterValidator(_check_licence),
    ] = Field(description="the app's licence, an SPDX identifier (MIT, Apache-2.0, CC-BY-4.0)")
    works_well_with: Annotated[
        list[
            Annotated[
                str, Field(min_length=1, max_length=MAX_NOTE_CHARS), AfterValidator(_check_plain)
            ]
        ],
        Field(max_length=MAX_NOTES),
    ] = Field(default_factory=list, description="notes on the models the app was tried with")

    @field_validator("format_version")
    @classmethod
    def _known_format(cls, value: int) -> int:
        if value > APP_FORMAT_VERSION:
            raise _problem(
                f"this app needs a newer LLMOS Desktop (app format {value};"
                f" this version reads format {APP_FORMAT_VERSION})"
            )
        return value

    @field_validator("localized")
    @classmethod
    def _required_locales(cls, value: dict[str, LocalizedText]) -> dict[str, LocalizedText]:
        missing = [locale for locale in REQUIRED_LOCALES if locale not in value]
        if missing:
            raise _problem(f"needs a name and description for {' and '.join(missing)}")
        return value

    @field_validator("inputs")
    @classmethod
    def _unique_inputs(cls, value: list[InputField]) -> list[InputField]:
        seen: dict[str, int] = {}
        for index, field in enumerate(value):
            if field.name in seen:
                raise _problem(
                    f"inputs {seen[field.name]} and {index} are both named {field.name!r}"
                )
            seen[field.name] = index
        return value

    @field_validator("output_schema")
    @classmethod
    def _bounded_schema(cls, value: dict[str, object] | None) -> dict[str, object] | None:
        if value is not None:
            _check_output_schema(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AppManifest:
        if self.mode == "structured" and self.output_schema is None:
            _raise_at("output_schema", "a structured app needs an output schema")
        if self.mode != "structured" and self.output_schema is not None:
            _raise_at("output_schema", f"only a structured app has one (this one is {self.mode})")
        if self.mode != "chat" and not self.prompt_template.strip():
            _raise_at("prompt_template", f"a {self.mode} app needs a prompt template")
        samples: list[dict[str, object]] = []
        for index, example in enumerate(self.examples):
            try:
                samples.append(validate_inputs(self, example))
            except AppError as exc:
                _raise_at(f"examples.{index}.{exc.field}", exc.message)
        if self.prompt_template:
            from llmos_desktop.core.apps.render import check_prompt_template

            try:
                check_prompt_template(
                    self.prompt_template,
                    [field.name for field in self.inputs],
                    [*samples, _sample_values(self)],
                    needs_text=self.mode != "chat",
                )
            except AppError as exc:
                _raise_at("prompt_template", exc.message)
        return self

    # --- reading it ------------------------------------------------------------------

    def display_name(self, locale: str = "en") -> str:
        """The name to show for ``locale`` (zh_CN, then zh, then en, then ``name``)."""
        return _localized(self.localized, self.name, locale)

    def display_description(self, locale: str = "en") -> str:
        for key in (locale, locale.split("_", 1)[0], "en"):
            text = self.localized.get(key)
            if text is not None:
                return text.description
        return self.description

    def input(self, name: str) -> InputField:
        """The input called ``name``; AppError("input") when there is none."""
        for field in self.inputs:
            if field.name == name:
                return field
        raise AppError("input", name, f"{self.id} has no input called {_quote(name)}")

    def sampling_options(self, base: SamplingOptions | None = None) -> SamplingOptions:
        """``base`` (default: the contract's defaults) with the app's sampling and stop."""
        changes: dict[str, Any] = self.sampling.model_dump(exclude_none=True)
        if self.stop:
            changes["stop"] = list(self.stop)
        return (base or SamplingOptions()).sampling(**changes)

    def icon_png(self) -> bytes | None:
        """The icon's PNG bytes (checked: at most 256x256 and 64 KiB), or None."""
        if self.icon is None:
            return None
        from llmos_desktop.core.apps.icon import decode_icon_uri

        return decode_icon_uri(self.icon).png

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON values, fields at their defaults left out."""
        data = self.model_dump(mode="json", exclude_defaults=True)
        data["format_version"] = self.format_version
        return data

    def changed(self, **changes: Any) -> AppManifest:
        """A copy with ``changes``, validated again (AppError("invalid") if it is not valid)."""
        data = self.model_dump(mode="python")
        data.update(changes)
        return parse_manifest(data)


def _raise_at(field: str, message: str) -> None:
    """Raise from a model validator with the field it is about in the error's context."""
    raise PydanticCustomError("app_field", "{message}", {"message": message, "field": field})


def _sample_values(app: AppManifest) -> dict[str, object]:
    """Plausible values for every input, for the trial render of the template."""
    values: dict[str, object] = {}
    for field in app.inputs:
        if field.default is not None:
            values[field.name] = field.default
        elif field.type == "choice":
            values[field.name] = field.choices[0].value
        elif field.type == "toggle":
            values[field.name] = False
        elif field.type == "number":
            values[field.name] = field.min if field.min is not None else (field.max or 0)
        else:
            values[field.name] = "text"
    return values


# --- the output schema ---------------------------------------------------------------

# JSON Schema keywords an output schema may use: what a structured reply needs and
# llama.cpp's grammar builder understands. No $ref/$defs (nothing to resolve, no
# recursion), no pattern/patternProperties (Python regular expressions can backtrack for
# minutes on hostile patterns), no uniqueItems (quadratic on a long reply), no
# if/then/else or not (no grammar for them). anyOf/oneOf/allOf nest at most
# MAX_SCHEMA_COMBINATORS deep: each level can multiply the work of validating a reply.
_SCHEMA_KEYWORDS: Final = frozenset(
    {
        "type", "properties", "required", "items", "prefixItems", "additionalProperties",
        "enum", "const", "anyOf", "oneOf", "allOf", "title", "description", "default",
        "examples", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
        "minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties",
        "format", "$schema", "$comment",
    }
)  # fmt: skip
_COUNT_KEYWORDS: Final = frozenset(
    {"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"}
)
_SCHEMA_TYPES: Final = frozenset(
    {"object", "array", "string", "number", "integer", "boolean", "null"}
)


def _check_output_schema(schema: dict[str, object]) -> None:
    """Bounded, JSON-only, our keyword subset, an object at the root, valid JSON Schema."""
    size = _json_size(schema, MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH)
    if size is None:
        raise _problem(f"nests deeper than {MAX_SCHEMA_DEPTH} levels")
    if size > MAX_SCHEMA_BYTES:
        raise _problem(f"is larger than {MAX_SCHEMA_BYTES // 1024} KiB")
    if schema.get("type") != "object":
        raise _problem('must describe an object ("type": "object" at the top)')
    _check_schema_node(schema, "")
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(part) for part in exc.path)
        raise _problem(
            one_line(f"is not a valid JSON Schema{' at ' + where if where else ''}: {exc.message}")
        ) from None


def _check_schema_node(node: object, where: str) -> None:
    """Walk the subschemas (iteratively), checking keywords and counts."""
    todo: list[tuple[object, str, int]] = [(node, where, 0)]
    while todo:
        item, path, combinators = todo.pop()
        if isinstance(item, bool):
            continue  # true / false schemas
        if not isinstance(item, dict):
            raise _problem(f"{path or 'the schema'}: a schema must be an object or a boolean")
        for key, value in item.items():
            here = f"{path}/{key}" if path else str(key)
            if key not in _SCHEMA_KEYWORDS:
                raise _problem(f"{here}: the keyword {_quote(str(key))} is not supported")
            if key in _COUNT_KEYWORDS and (
                not isinstance(value, int) or isinstance(value, bool) or value > MAX_SCHEMA_COUNT
            ):
                raise _problem(f"{here}: must be a whole number up to {MAX_SCHEMA_COUNT}")
            if key == "type":
                types = value if isinstance(value, list) else [value]
                if not types or any(t not in _SCHEMA_TYPES for t in types):
                    raise _problem(f"{here}: unknown type {_quote(str(value))}")
            elif key == "properties":
                if not isinstance(value, dict):
                    raise _problem(f"{here}: must be an object")
                for name, sub in value.items():
                    if (
                        not name
                        or len(name) > MAX_PROPERTY_NAME_CHARS
                        or _NOT_IN_ONE_LINE.search(name)
                    ):
                        raise _problem(
                            f"{here}: property names must be 1 to {MAX_PROPERTY_NAME_CHARS}"
                            f" printable characters (got {_quote(name)})"
                        )
                    todo.append((sub, f"{here}/{name}", combinators))
            elif key in ("items", "additionalProperties"):
                todo.append((value, here, combinators))
            elif key in ("prefixItems", "anyOf", "oneOf", "allOf"):
                if not isinstance(value, list) or not value:
                    raise _problem(f"{here}: must be a non-empty list of schemas")
                level = combinators + (key != "prefixItems")
                if level > MAX_SCHEMA_COMBINATORS:
                    raise _problem(
                        f"{here}: anyOf, oneOf and allOf may nest at most"
                        f" {MAX_SCHEMA_COMBINATORS} deep"
                    )
                todo.extend((sub, f"{here}/{i}", level) for i, sub in enumerate(value))


def _json_size(value: object, limit: int, max_depth: int) -> int | None:
    """About how many bytes ``value`` is as JSON (stops past ``limit``); None if it nests
    deeper than ``max_depth`` or holds something that is not JSON. Iterative: a deeply
    nested value cannot exhaust the stack."""
    total = 0
    todo: list[tuple[object, int]] = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict):
            if depth > max_depth:
                return None
            total += 2
            for key, child in item.items():
                if not isinstance(key, str):
                    return None
                total += len(key.encode("utf-8", "surrogatepass")) + 4
                todo.append((child, depth + 1))
        elif isinstance(item, list):
            if depth > max_depth:
                return None
            total += 2 + len(item)
            todo.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            total += len(item.encode("utf-8", "surrogatepass")) + 2
        elif item is None or isinstance(item, bool):
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, float):
            if not math.isfinite(item):
                return None
            total += 24
        else:
            return None
        if total > limit:
            return total
    return total


# --- public functions ----------------------------------------------------------------


def _as_mapping(value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise AppError("invalid", "", f"an app must be a JSON object, not {_json_type(value)}")
    return value


def parse_manifest(data: bytes | str | Mapping[str, object]) -> AppManifest:
    """Validate a manifest: JSON text (bytes or str, as in a ``.llmapp`` file) or the
    decoded mapping. Raises AppError("invalid", field, message) naming the first field
    at fault (``problems`` lists all of them).
    """
    if isinstance(data, (bytes, bytearray, str)):
        from llmos_desktop.core.apps.package import load_json

        data = _as_mapping(load_json(data, what="the app"))
    if not isinstance(data, Mapping):
        raise AppError("invalid", "", f"an app must be a JSON object, not {_json_type(data)}")
    try:
        return AppManifest.model_validate(dict(data))
    except ValidationError as exc:
        raise _as_app_error(exc) from None
    except RecursionError:
        raise AppError("invalid", "", "the app nests too deeply") from None


_TYPE_TAGS: Final = frozenset(
    {"str", "bool", "int", "float", "none", "list", "dict", "constrained-str", "constrained-int"}
)


def _as_app_error(exc: ValidationError) -> AppError:
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for error in exc.errors(include_url=False, include_input=False):
        parts = [
            str(part)
            for part in error["loc"]
            if not (
                isinstance(part, str)
                and (part in _TYPE_TAGS or "[" in part or part.startswith("function-"))
            )
        ]
        context = error.get("ctx") or {}
        extra_field = context.get("field")
        if isinstance(extra_field, str):
            parts.append(extra_field)
        field = ".".join(parts)
        kind = error["type"]
        if kind == "extra_forbidden":
            message = "is not a field of the app format"
        elif kind == "missing":
            message = "is required"
        elif kind == "app_field":
            message = str(context.get("message", error["msg"]))
        else:
            message = error["msg"]
        if field in seen:  # one line per field (a union reports each member)
            continue
        seen.add(field)
        problems.append((field, one_line(message)))
    field, message = problems[0] if problems else ("", "is not a valid app")
    return AppError("invalid", field, message, problems=problems)


def validate_inputs(app: AppManifest, values: Mapping[str, object]) -> dict[str, object]:
    """The values for every input of ``app``: checked, with defaults filled in.

    Raises AppError("input", input_name, message) for an unknown input, a missing
    required one, or a value of the wrong type or outside the input's limits. A missing
    optional input gets its default, else "" (text, choice), False (toggle) or None
    (number). Numbers of ``integer`` inputs come back as int.
    """
    known = {field.name for field in app.inputs}
    for name in values:
        if name not in known:
            if not known:
                raise AppError("input", str(name), f"{app.id} takes no inputs")
            listed = ", ".join(sorted(known))
            raise AppError(
                "input", one_line(str(name), 40), f"is not an input of {app.id} (inputs: {listed})"
            )
    result: dict[str, object] = {}
    for field in app.inputs:
        value = values.get(field.name)
        if value is None:
            value = field.default
        if value is None or (isinstance(value, str) and not value.strip()):
            if field.required:
                raise AppError("input", field.name, "is required")
            result[field.name] = (
                False if field.type == "toggle" else None if field.type == "number" else ""
            )
            continue
        problem = _value_problem(field, value)
        if problem is not None:
            raise AppError("input", field.name, problem)
        if field.type == "number" and field.integer:
            assert isinstance(value, (int, float))
            value = int(value)
        result[field.name] = value
    return result


_TRUE: Final = frozenset({"true", "yes", "on", "1", "y"})
_FALSE: Final = frozenset({"false", "no", "off", "0", "n", ""})


def inputs_from_strings(app: AppManifest, texts: Mapping[str, str]) -> dict[str, object]:
    """``validate_inputs`` for values typed as text (``llmos apps run --input NAME=VALUE``):
    numbers parsed, toggles from true/false/yes/no/on/off/1/0. Raises AppError("input")."""
    typed: dict[str, object] = {}
    by_name = {field.name: field for field in app.inputs}
    for name, text in texts.items():
        field = by_name.get(name)
        if field is None or field.type in ("text", "multiline", "choice"):
            typed[name] = text  # validate_inputs names an unknown input
        elif field.type == "toggle":
            word = text.strip().lower()
            if word not in _TRUE | _FALSE:
                raise AppError("input", name, f"must be true or false (got {_quote(text)})")
            typed[name] = word in _TRUE
        else:
            try:
                number = float(text.strip()) if text.strip() else None
            except ValueError:
                raise AppError("input", name, f"must be a number (got {_quote(text)})") from None
            if number is not None and not math.isfinite(number):
                raise AppError("input", name, "must be a finite number")
            typed[name] = int(number) if number is not None and number.is_integer() else number
    return validate_inputs(app, typed)


def response_format(app: AppManifest) -> dict[str, object] | None:
    """OpenAI's ``response_format`` for a structured app (json_schema, strict); else None."""
    if app.output_schema is None:
        return None
    name = re.sub(r"[^A-Za-z0-9_-]", "_", app.id)[:64]
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": app.output_schema, "strict": True},
    }


def validate_output(app: AppManifest, text: str) -> object:
    """A structured app's reply: parsed (bounded) and validated against its output schema.

    Returns the JSON value. Raises AppError("output", path, message): the reply is not
    JSON, or breaks the schema at ``path`` (``contacts.0.email``; "" for the whole reply).
    """
    if app.output_schema is None:
        raise AppError("output", "", f"{app.id} is not a structured app")
    from llmos_desktop.core.apps.package import load_json

    try:
        value = load_json(
            text, what="the reply", max_bytes=MAX_OUTPUT_BYTES, max_depth=MAX_OUTPUT_DEPTH
        )
    except AppError as exc:
        raise AppError("output", "", exc.message) from None
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(app.output_schema).iter_errors(value))
    if error is not None:
        where = ".".join(str(part) for part in error.absolute_path)
        raise AppError(
            "output", where, one_line(f"the reply does not follow the schema: {error.message}")
        )
    return value


def version_key(version: str) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
    """A sort key for app versions: 1.2 == 1.2.0 < 1.2.1; 2.0.0-beta < 2.0.0.

    Pre-release parts compare as semver does (numbers below words, numbers by value).
    Raises ValueError for a string that is not a version.
    """
    match = _VERSION.match(version)
    if not match:
        raise ValueError(f"not a version: {one_line(version, 40)!r}")
    major, minor, patch, pre = match.groups()
    pre_key = tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in (pre.split(".") if pre else ())
    )
    return (int(major), int(minor or 0), int(patch or 0), 0 if pre else 1, pre_key)


def is_newer_version(candidate: str, current: str) -> bool:
    """Whether ``candidate`` is a later version than ``current`` (an update)."""
    return version_key(candidate) > version_key(current)
