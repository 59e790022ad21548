"""The hostile corpus: malformed and malicious manifests and .llmapp files are refused
with an AppError naming the field at fault, quickly, and nothing else happens.

Each case is what someone could put in a shared .llmapp: wrong types, missing and
unknown fields, huge strings, deep nesting, path traversal in every path-like field,
markup in names, template sandbox escapes, runaway templates, hostile icons and output
schemas. The file-level cases (size, depth, duplicate keys, encodings, an archive) go
through read_llmapp as bytes and as a file.
"""

from __future__ import annotations

import base64
import copy
import json
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

from llmos_desktop.core.apps import AppError, parse_manifest, read_llmapp
from tests.unit.core.apps.test_manifest import CONTACTS_SCHEMA, make_png, minimal_app

PNG_URI = "data:image/png;base64,"


def with_(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """minimal_app() with the value at a dotted path replaced (``inputs.0.name``);
    ``value`` DELETE removes the key."""
    data = copy.deepcopy(base if base is not None else minimal_app())
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    elif value is DELETE:
        del node[last]
    else:
        node[last] = value
    return data


DELETE = object()


def structured(schema: Any) -> dict[str, Any]:
    return minimal_app(
        mode="structured",
        inputs=[{"name": "text", "type": "multiline", "label": {"en": "Text"}}],
        prompt_template="Extract from: {{ text }}",
        examples=[],
        output_schema=schema,
    )


def nested(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def icon(png: bytes) -> str:
    return PNG_URI + base64.b64encode(png).decode()


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


BAD_CRC = bytearray(make_png())
BAD_CRC[29] ^= 0xFF  # inside the IHDR chunk's CRC
TEN_MB = "x" * (10 * 1024 * 1024)
RUNAWAY_LOOP = (
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{{ topic }}"
)
DEEP_LIST: Any = "x"
for _ in range(100_000):
    DEEP_LIST = [DEEP_LIST]

# (case, manifest, the field named, a fragment of the message)
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    # wrong types
    ("format-version-as-text", with_("format_version", "1"), "format_version", "valid integer"),
    ("format-version-from-the-future", with_("format_version", 2), "format_version", "newer LLMOS"),
    ("name-is-a-number", with_("name", 5), "name", "valid string"),
    ("name-is-deeply-nested", with_("name", DEEP_LIST), "name", "valid string"),
    ("required-as-text", with_("inputs.0.required", "yes"), "inputs.0.required", "valid boolean"),
    (
        "max-tokens-as-boolean",
        with_("sampling.max_tokens", True),
        "sampling.max_tokens",
        "valid integer",
    ),
    (
        "temperature-nan",
        with_("sampling.temperature", float("nan")),
        "sampling.temperature",
        "finite",
    ),
    (
        "temperature-out-of-bounds",
        with_("sampling.temperature", 99),
        "sampling.temperature",
        "less than or equal to 5",
    ),
    (
        "default-of-the-wrong-type",
        with_("inputs.2.default", "ten"),
        "inputs.2.default",
        "must be a number",
    ),
    (
        "default-not-a-choice",
        with_("inputs.1.default", "furious"),
        "inputs.1.default",
        "must be one of",
    ),
    ("example-of-the-wrong-type", with_("examples.0.topic", 5), "examples.0.topic", "must be text"),
    ("mode-unknown", with_("mode", "exec"), "mode", "'chat', 'form' or 'structured'"),
    ("category-unknown", with_("category", "malware"), "category", "'writing'"),
    ("input-type-file", with_("inputs.0.type", "file"), "inputs.0.type", "'text'"),
    ("whole-app-is-a-list", [], "", "JSON object"),  # type: ignore[list-item]
    # missing fields
    ("id-missing", with_("id", DELETE), "id", "is required"),
    ("licence-missing", with_("licence", DELETE), "licence", "is required"),
    ("chinese-missing", with_("localized.zh_CN", DELETE), "localized", "zh_CN"),
    (
        "english-label-missing",
        with_("inputs.0.label", {"zh_CN": "主题"}),
        "inputs.0.label",
        "English",
    ),
    (
        "structured-without-schema",
        with_("mode", "structured"),
        "output_schema",
        "needs an output schema",
    ),
    (
        "form-without-template",
        with_("prompt_template", "  "),
        "prompt_template",
        "needs a prompt template",
    ),
    (
        "choice-with-one-choice",
        with_("inputs.1.choices", [{"value": "calm"}]),
        "inputs.1.choices",
        "at least 2",
    ),
    # unknown fields
    (
        "unknown-top-level-field",
        with_("script", "rm -rf ~"),
        "script",
        "not a field of the app format",
    ),
    ("unknown-input-field", with_("inputs.0.onclick", "x"), "inputs.0.onclick", "not a field"),
    ("unknown-sampling-field", with_("sampling.mirostat", 2), "sampling.mirostat", "not a field"),
    (
        "example-of-an-unknown-input",
        with_("examples.0.colour", "red"),
        "examples.0.colour",
        "not an input",
    ),
    (
        "choice-for-a-text-input",
        with_("inputs.0.choices", [{"value": "a"}, {"value": "b"}]),
        "inputs.0.choices",
        "only a choice input",
    ),
    # sizes
    ("description-10-mb", with_("description", TEN_MB), "description", "at most 2000 characters"),
    ("localized-name-10-mb", with_("localized.en.name", TEN_MB), "localized.en.name", "at most 80"),
    ("system-prompt-10-mb", with_("system_prompt", TEN_MB), "system_prompt", "at most 16384"),
    (
        "template-too-long",
        with_("prompt_template", "{{ topic }}" + " " * 20_000),
        "prompt_template",
        "at most 16384",
    ),
    ("ten-thousand-tags", with_("tags", ["t"] * 10_000), "tags", "at most 12 items"),
    ("hundred-stop-strings", with_("stop", ["x"] * 100), "stop", "at most 8 items"),
    (
        "input-max-length-huge",
        with_("inputs.0.max_length", 10**9),
        "inputs.0.max_length",
        "less than or equal to 100000",
    ),
    # ids and names
    ("id-path-traversal", with_("id", "../../.config/autostart/x"), "id", "lowercase letters"),
    ("id-absolute-path", with_("id", "/etc/passwd"), "id", "lowercase letters"),
    ("id-backslashes", with_("id", "..\\..\\x"), "id", "lowercase letters"),
    ("id-uppercase", with_("id", "Org.Example.App"), "id", "lowercase letters"),
    ("id-windows-device", with_("id", "con.example"), "id", "Windows device"),
    ("id-empty-part", with_("id", "org..app"), "id", "lowercase letters"),
    ("duplicate-input-names", with_("inputs.2.name", "topic"), "inputs", "both named 'topic'"),
    (
        "input-name-dunder",
        with_("inputs.0.name", "__class__"),
        "inputs.0.name",
        "start with a lowercase letter",
    ),
    ("input-name-reserved", with_("inputs.0.name", "range"), "inputs.0.name", "reserved"),
    (
        "locale-path-traversal",
        with_(
            "localized", {**minimal_app()["localized"], "../fr": {"name": "x", "description": "y"}}
        ),
        "localized.../fr",
        "not a locale",
    ),
    # markup and hidden characters in names
    ("name-html", with_("name", "<b>Free</b> money"), "name", "plain text, not HTML"),
    (
        "localized-name-script",
        with_("localized.zh_CN.name", '<img src=x onerror="alert(1)">'),
        "localized.zh_CN.name",
        "not HTML",
    ),
    ("name-entity", with_("name", "Caf&eacute;"), "name", "not HTML"),
    (
        "label-html",
        with_("inputs.0.label.en", "<a href='file:///etc'>Topic</a>"),
        "inputs.0.label.en",
        "not HTML",
    ),
    ("tag-html", with_("tags", ["<script>"]), "tags.0", "not HTML"),
    ("author-html", with_("author", "<font color=red>Bank</font>"), "author", "not HTML"),
    ("name-newline", with_("name", "Haiku\nInstall me"), "name", "one line"),
    ("name-bidi-override", with_("name", "Haiku\u202egpj.exe"), "name", "direction"),
    ("name-outer-spaces", with_("name", " Haiku"), "name", "spaces"),
    ("description-nul", with_("description", "ok\x00hidden"), "description", "control"),
    (
        "system-prompt-escape-codes",
        with_("system_prompt", "\x1b]0;pwned\x07"),
        "system_prompt",
        "control",
    ),
    ("licence-html", with_("licence", "<a href=x>MIT</a>"), "licence", "licence identifier"),
    ("version-shell", with_("version", "1.0.0; rm -rf /"), "version", "version like"),
    ("note-newline", with_("works_well_with", ["ok\nfake line"]), "works_well_with.0", "one line"),
    # path traversal in the recommended model
    (
        "model-repo-traversal",
        with_("recommended_models.0.repo_id", "../../etc"),
        "recommended_models.0.repo_id",
        "owner/name",
    ),
    (
        "model-file-traversal",
        with_("recommended_models.0.file", "../../../.ssh/id_rsa.gguf"),
        "recommended_models.0.file",
        "no folders",
    ),
    (
        "model-file-absolute",
        with_("recommended_models.0.file", "/etc/passwd.gguf"),
        "recommended_models.0.file",
        "no folders",
    ),
    (
        "model-file-windows",
        with_("recommended_models.0.file", "C:\\Windows\\x.gguf"),
        "recommended_models.0.file",
        "no folders",
    ),
    (
        "model-file-not-gguf",
        with_("recommended_models.0.file", "payload.exe"),
        "recommended_models.0.file",
        ".gguf",
    ),
    (
        "model-context-tiny",
        with_("recommended_models.0.min_context", 1),
        "recommended_models.0.min_context",
        "greater than or equal to 128",
    ),
    # templates
    (
        "template-unknown-input",
        with_("prompt_template", "{{ topic }} {{ secret_file }}"),
        "prompt_template",
        "'secret_file', which is not an input",
    ),
    (
        "template-syntax-error",
        with_("prompt_template", "{{ topic "),
        "prompt_template",
        "not valid Jinja",
    ),
    (
        "template-dunder-attribute",
        with_("prompt_template", "{{ topic.__class__.__mro__[1].__subclasses__() }}"),
        "prompt_template",
        "private attribute '__",
    ),
    (
        "template-dunder-item",
        with_("prompt_template", "{{ topic['__class__'] }}"),
        "prompt_template",
        "private attribute",
    ),
    (
        "template-attr-filter-escape",
        with_("prompt_template", "{{ (topic|attr('__class__')) }}"),
        "prompt_template",
        "unsafe attribute",
    ),
    (
        "template-globals-escape",
        with_("prompt_template", "{{ range.__globals__ }}"),
        "prompt_template",
        "private attribute",
    ),
    (
        "template-cycler-escape",
        with_("prompt_template", "{{ cycler.__init__.__globals__.os }}"),
        "prompt_template",
        "private attribute",
    ),
    (
        "template-runaway-loop",
        with_("prompt_template", RUNAWAY_LOOP),
        "prompt_template",
        "took longer than 0.5 s",
    ),
    (
        "template-huge-string",
        with_("prompt_template", "{{ topic }}{{ 'x' * 100000000 }}"),
        "prompt_template",
        "larger than",
    ),
    (
        "template-huge-output",
        with_("prompt_template", "{% for i in range(90000) %}{{ topic * 50 }}{% endfor %}"),
        "prompt_template",
        "exceeded 400000",
    ),
    (
        "template-huge-power",
        with_("prompt_template", "{{ topic }}{{ 2 ** 100000000 }}"),
        "prompt_template",
        "larger than",
    ),
    (
        "template-constant-folding",
        with_("prompt_template", "{{ topic }}{{ 3 ** 100000000 }}"),
        "prompt_template",
        "larger than",
    ),
    (
        "template-recursive-macro",
        with_("prompt_template", "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(topic) }}"),
        "prompt_template",
        "the template",
    ),
    (
        "template-generation-tag",
        with_("prompt_template", "{% generation %}{{ topic }}{% endgeneration %}"),
        "prompt_template",
        "app templates cannot",
    ),
    (
        "template-renders-empty",
        with_("prompt_template", "{% if false %}{{ topic }}{% endif %}"),
        "prompt_template",
        "empty prompt",
    ),
    # icons
    ("icon-not-a-data-uri", with_("icon", "file:///etc/passwd"), "icon", "data:image/png;base64"),
    (
        "icon-remote-url",
        with_("icon", "https://example.com/tracker.png"),
        "icon",
        "data:image/png;base64",
    ),
    (
        "icon-svg",
        with_(
            "icon", "data:image/svg+xml;base64," + base64.b64encode(b"<svg onload='x'/>").decode()
        ),
        "icon",
        "only PNG",
    ),
    ("icon-gif-bytes", with_("icon", icon(b"GIF89a" + bytes(100))), "icon", "not a PNG"),
    ("icon-not-base64", with_("icon", PNG_URI + "!!!!"), "icon", "not valid base64"),
    (
        "icon-huge-dimensions",
        with_("icon", icon(make_png(ihdr=(100_000, 100_000)))),
        "icon",
        "100000x100000 pixels",
    ),
    ("icon-too-wide", with_("icon", icon(make_png(300, 10))), "icon", "300x10 pixels"),
    (
        "icon-too-many-bytes",
        with_("icon", icon(make_png(16, 16, extra_chunks=((b"tEXt", b"c\x00" + bytes(70_000)),)))),
        "icon",
        "larger than 64 KiB",
    ),
    (
        "icon-compressed-text",
        with_(
            "icon",
            icon(make_png(extra_chunks=((b"zTXt", b"k\x00\x00" + zlib.compress(bytes(10**6))),))),
        ),
        "icon",
        "zTXt",
    ),
    (
        "icon-animation",
        with_("icon", icon(make_png(extra_chunks=((b"acTL", bytes(8)),)))),
        "icon",
        "acTL",
    ),
    ("icon-bad-crc", with_("icon", icon(bytes(BAD_CRC))), "icon", "CRC"),
    ("icon-cut-off", with_("icon", icon(make_png()[:40])), "icon", "cut-off PNG"),
    (
        "icon-bad-depth",
        with_("icon", icon(make_png(colour_type=2, bit_depth=3))),
        "icon",
        "bit depth",
    ),
    (
        "icon-chunk-past-the-end",
        with_("icon", icon(make_png()[:33] + struct.pack(">I", 2**31) + b"IDAT" + bytes(8))),
        "icon",
        "runs past the end",
    ),
    (
        "icon-data-after-end",
        with_("icon", icon(make_png() + b"MZ\x90\x00")),
        "icon",
        "after the end",
    ),
    # output schemas
    (
        "schema-on-a-form-app",
        with_("output_schema", CONTACTS_SCHEMA),
        "output_schema",
        "only a structured app",
    ),
    (
        "schema-remote-ref",
        structured(
            {"type": "object", "properties": {"a": {"$ref": "https://evil.example/s.json"}}}
        ),
        "output_schema",
        "'$ref' is not supported",
    ),
    (
        "schema-redos-pattern",
        structured(
            {"type": "object", "properties": {"a": {"type": "string", "pattern": "^(a+)+$"}}}
        ),
        "output_schema",
        "'pattern' is not supported",
    ),
    ("schema-deeply-nested", structured(nested(100)), "output_schema", "nests deeper than 12"),
    (
        "schema-huge-count",
        structured({"type": "object", "properties": {"a": {"type": "array", "maxItems": 10**9}}}),
        "output_schema",
        "whole number up to 256",
    ),
    (
        "schema-root-array",
        structured({"type": "array"}),
        "output_schema",
        "must describe an object",
    ),
    (
        "schema-bad-type",
        structured({"type": "object", "properties": {"a": {"type": "strng"}}}),
        "output_schema",
        "unknown type",
    ),
    (
        "schema-invalid",
        structured({"type": "object", "required": "a"}),
        "output_schema",
        "not a valid JSON Schema",
    ),
    (
        "schema-too-large",
        structured({"type": "object", "description": "x" * 20_000}),
        "output_schema",
        "larger than 16 KiB",
    ),
    (
        "schema-unique-items",
        structured({"type": "object", "properties": {"a": {"type": "array", "uniqueItems": True}}}),
        "output_schema",
        "'uniqueItems' is not supported",
    ),
    (
        "schema-nested-combinators",
        structured(
            {
                "type": "object",
                "properties": {"a": {"anyOf": [{"oneOf": [{"allOf": [{"type": "string"}]}]}]}},
            }
        ),
        "output_schema",
        "nest at most 2 deep",
    ),
    ("id-windows-device-alone", with_("id", "nul"), "id", "Windows device"),
    (
        "schema-property-name-newline",
        structured({"type": "object", "properties": {"a\nb": {"type": "string"}}}),
        "output_schema",
        "property names",
    ),
]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [pytest.param(data, field, message, id=case) for case, data, field, message in CASES],
)
def test_a_hostile_manifest_is_refused_naming_the_field(
    data: dict[str, Any], field: str, message: str
) -> None:
    started = time.monotonic()
    with pytest.raises(AppError) as error:
        parse_manifest(data)
    elapsed = time.monotonic() - started
    assert error.value.kind == "invalid"
    assert error.value.field == field
    assert message in error.value.message, error.value.message
    assert str(error.value) == (f"{field}: {error.value.message}" if field else error.value.message)
    assert "\n" not in str(error.value) and len(str(error.value)) < 400
    # the bounds hold: a 10 MB string or a runaway template is refused in about a second
    assert elapsed < 4, f"took {elapsed:.1f} s"


def test_the_corpus_is_large_and_every_case_is_named_once() -> None:
    names = [case for case, *_ in CASES]
    assert len(names) >= 30
    assert len(set(names)) == len(names)


def test_the_same_corpus_is_refused_from_a_file(tmp_path: Path) -> None:
    """Everything JSON can carry is refused the same way when read from an .llmapp file."""
    checked = 0
    for case, data, field, message in CASES:
        try:
            text = json.dumps(data, allow_nan=False)
        except (ValueError, RecursionError):
            continue  # NaN and 100,000 nested lists: JSON cannot hold them (see below)
        if len(text) > 1024 * 1024 or case == "schema-deeply-nested":
            continue  # the file is refused by its size or depth first (see below)
        path = tmp_path / f"{case}.llmapp"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(AppError) as error:
            read_llmapp(path)
        assert (error.value.field, case) == (field, case)
        assert message in error.value.message
        checked += 1
    assert checked >= 80


# --- the file itself -------------------------------------------------------------------------

VALID = json.dumps(minimal_app()).encode()

FILE_CASES: list[tuple[str, bytes, str]] = [
    ("ten-megabytes", json.dumps(minimal_app(description=TEN_MB)).encode(), "larger than 1 MiB"),
    (
        "deeply-nested-arrays",
        b'{"format_version": 1, "tags": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "nests deeper than 32",
    ),
    ("deeply-nested-objects", b'{"a":' * 50 + b"1" + b"}" * 50, "nests deeper than 32"),
    (
        "nesting-hidden-in-a-string-is-fine-but-json-still-checked",
        b'{"name": "' + b"[" * 100 + b'"',
        "not valid JSON",
    ),
    ("unclosed-string-of-escaped-quotes", b'{"name": "' + b'\\"' * 500_000, "not valid JSON"),
    ("many-unclosed-strings", b'"' * 1_000_000, "not valid JSON"),
    ("a-megabyte-of-brackets", b"[" * (1024 * 1024 - 1), "nests deeper than 32"),
    ("duplicate-key", VALID[:-1] + b', "name": "<b>Second name</b>"}', "'name' appears twice"),
    (
        "nan",
        VALID.replace(b'"temperature": 0.7', b'"temperature": NaN'),
        "NaN is not a JSON number",
    ),
    (
        "infinity",
        VALID.replace(b'"temperature": 0.7', b'"temperature": -Infinity'),
        "-Infinity is not a JSON number",
    ),
    (
        "huge-integer",
        VALID.replace(b'"temperature": 0.7', b'"temperature": ' + b"9" * 5000),
        "not valid",
    ),
    ("not-utf8", VALID.replace(b"Haiku", b"Ha\xffku", 1), "not UTF-8"),
    ("utf16", json.dumps(minimal_app()).encode("utf-16"), "not UTF-8"),
    (
        "zip-archive",
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"../../evil.sh" + bytes(50),
        "not valid JSON",
    ),
    ("truncated", VALID[: len(VALID) // 2], "not valid JSON"),
    ("empty", b"", "not valid JSON"),
    ("a-json-string", b'"just text"', "JSON object"),
]


@pytest.mark.parametrize(
    ("data", "message"), [pytest.param(d, m, id=case) for case, d, m in FILE_CASES]
)
def test_a_hostile_file_is_refused_before_it_is_parsed(
    data: bytes, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "app.llmapp"
    path.write_bytes(data)
    for source in (data, path):
        started = time.monotonic()
        with pytest.raises(AppError) as error:
            read_llmapp(source)
        assert time.monotonic() - started < 2
        assert error.value.kind == "invalid"
        assert message in error.value.message, error.value.message
        assert "\n" not in str(error.value)
        assert str(error.value).startswith(("the app file", "an app", "the app"))


def test_a_file_over_the_limit_is_not_read_whole(tmp_path: Path) -> None:
    """A sparse 4 GiB file is refused from its size, without reading it."""
    path = tmp_path / "big.llmapp"
    with path.open("wb") as handle:
        handle.truncate(4 * 1024**3)
    started = time.monotonic()
    with pytest.raises(AppError) as error:
        read_llmapp(path)
    assert time.monotonic() - started < 1
    assert "larger than 1 MiB" in str(error.value)


def test_every_problem_is_listed_for_the_builder() -> None:
    data = with_("name", "<b>x</b>", with_("inputs.0.name", "Bad Name", with_("licence", "")))
    with pytest.raises(AppError) as error:
        parse_manifest(data)
    assert [field for field, _ in error.value.problems] == ["name", "inputs.0.name", "licence"]
