"""The app format: a valid manifest reads, writes and reads back the same; the helpers
the store, the runner and the pane use (localized text, sampling, versions, inputs from
the command line, structured replies, catalogue indexes) do what they say."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import pickle
import struct
import sys
import threading
import zlib
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from llmos_desktop.core.apps import (
    APP_FORMAT_VERSION,
    AppError,
    AppManifest,
    AppSampling,
    builtin_catalogue,
    decode_icon_uri,
    icon_data_uri,
    inputs_from_strings,
    is_newer_version,
    llmapp_bytes,
    llmapp_sha256,
    parse_catalogue_index,
    parse_manifest,
    read_catalogue_folder,
    read_llmapp,
    response_format,
    validate_inputs,
    validate_output,
    version_key,
    write_llmapp,
)
from llmos_desktop.core.engine.contract import SamplingOptions


def make_png(
    width: int = 16,
    height: int = 16,
    *,
    ihdr: tuple[int, int] | None = None,
    extra_chunks: tuple[tuple[bytes, bytes], ...] = (),
    colour_type: int = 6,
    bit_depth: int = 8,
) -> bytes:
    """A real PNG of ``width`` x ``height`` RGBA pixels (a red square); ``ihdr`` makes the
    header claim another size (the pixel data stays the real size)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    claimed_w, claimed_h = ihdr or (width, height)
    header = struct.pack(">IIBBBBB", claimed_w, claimed_h, bit_depth, colour_type, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x00\x00\xff" * width for _ in range(height))
    chunks = [chunk(b"IHDR", header)]
    chunks += [chunk(kind, body) for kind, body in extra_chunks]
    chunks += [chunk(b"IDAT", zlib.compress(rows)), chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def minimal_app(**changes: Any) -> dict[str, Any]:
    """A small valid form app as the JSON of a .llmapp holds it."""
    app: dict[str, Any] = {
        "format_version": 1,
        "id": "org.example.haiku",
        "name": "Haiku",
        "version": "1.0.0",
        "author": "Example Author",
        "description": "Writes a haiku about a topic.",
        "category": "writing",
        "tags": ["poem"],
        "localized": {
            "en": {"name": "Haiku", "description": "Writes a haiku about a topic."},
            "zh_CN": {"name": "俳句", "description": "就一个主题写一首俳句。"},
        },
        "mode": "form",
        "inputs": [
            {"name": "topic", "type": "text", "label": {"en": "Topic", "zh_CN": "主题"}},
            {
                "name": "mood",
                "type": "choice",
                "label": {"en": "Mood"},
                "choices": [
                    {"value": "calm", "label": {"en": "Calm", "zh_CN": "平静"}},
                    {"value": "joyful"},
                ],
                "default": "calm",
            },
            {
                "name": "lines",
                "type": "number",
                "label": {"en": "Lines"},
                "min": 1,
                "max": 10,
                "integer": True,
                "required": False,
            },
            {"name": "title", "type": "toggle", "label": {"en": "Add a title"}, "required": False},
        ],
        "system_prompt": "You are a poet.",
        "prompt_template": "Write a {{ mood }} haiku about {{ topic }}.{% if title %} Add a title.{% endif %}",
        "sampling": {"temperature": 0.7, "max_tokens": 120},
        "stop": ["\n\n\n"],
        "examples": [{"topic": "the sea"}, {"topic": "autumn", "mood": "joyful", "title": True}],
        "recommended_models": [
            {
                "repo_id": "Qwen/Qwen2.5-0.5B-Instruct-GGUF",
                "file": "qwen2.5-0.5b-instruct-q4_k_m.gguf",
                "min_context": 2048,
            }
        ],
        "licence": "MIT",
        "works_well_with": ["Qwen2.5 0.5B Instruct: good"],
    }
    app.update(changes)
    return app


CONTACTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "contacts": {
            "type": "array",
            "maxItems": 20,
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "email": {"type": "string"}},
                "required": ["name", "email"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["contacts"],
    "additionalProperties": False,
}


def structured_app() -> AppManifest:
    return parse_manifest(
        minimal_app(
            id="org.example.contacts",
            mode="structured",
            category="data",
            inputs=[{"name": "text", "type": "multiline", "label": {"en": "Text"}}],
            prompt_template="List the people in: {{ text }}",
            examples=[{"text": "Ann, ann@example.com"}],
            output_schema=CONTACTS_SCHEMA,
        )
    )


# --- reading and writing -----------------------------------------------------------------


def test_a_valid_manifest_reads_with_every_field() -> None:
    app = parse_manifest(minimal_app())
    assert app.id == "org.example.haiku"
    assert app.format_version == APP_FORMAT_VERSION
    assert [field.name for field in app.inputs] == ["topic", "mood", "lines", "title"]
    assert app.input("mood").choice_values() == ["calm", "joyful"]
    assert app.input("topic").length_limit == 1000  # a text input's default
    assert app.sampling.temperature == 0.7
    assert app.recommended_models[0].min_context == 2048


def test_json_text_and_bytes_read_like_the_mapping() -> None:
    data = minimal_app()
    text = json.dumps(data, ensure_ascii=False)
    assert parse_manifest(text) == parse_manifest(data)
    assert parse_manifest(text.encode("utf-8")) == parse_manifest(data)
    # an editor's byte order mark is fine
    assert read_llmapp(b"\xef\xbb\xbf" + text.encode("utf-8")) == parse_manifest(data)


def test_write_then_read_gives_the_same_app(tmp_path: Path) -> None:
    app = parse_manifest(minimal_app(icon=icon_data_uri(make_png())))
    target = tmp_path / "sub" / "haiku.llmapp"
    written = write_llmapp(app, target)
    assert target.read_bytes() == written == llmapp_bytes(app)
    assert read_llmapp(target) == app
    assert read_llmapp(written) == app
    assert llmapp_sha256(written) == hashlib.sha256(written).hexdigest()
    # one JSON document, UTF-8, Chinese kept readable; no temporary file left behind
    assert json.loads(written.decode("utf-8"))["localized"]["zh_CN"]["name"] == "俳句"
    assert "俳句".encode() in written
    assert sorted(p.name for p in target.parent.iterdir()) == ["haiku.llmapp"]


def test_a_second_write_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "haiku.llmapp"
    write_llmapp(parse_manifest(minimal_app()), target)
    newer = parse_manifest(minimal_app(version="1.1.0"))
    write_llmapp(newer, target)
    assert read_llmapp(target).version == "1.1.0"


def test_the_file_leaves_out_defaults_and_keeps_what_was_set() -> None:
    app = parse_manifest(minimal_app(tags=[], stop=[]))
    written = json.loads(llmapp_bytes(app))
    assert "tags" not in written and "stop" not in written and "icon" not in written
    assert written["format_version"] == 1
    assert written["sampling"] == {"temperature": 0.7, "max_tokens": 120}
    assert parse_manifest(written) == app


def test_reading_a_missing_file_or_a_folder_is_an_error_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(AppError) as missing:
        read_llmapp(tmp_path / "nope.llmapp")
    assert missing.value.kind == "io"
    assert "nope.llmapp" in str(missing.value)
    with pytest.raises(AppError) as folder:
        read_llmapp(tmp_path)
    assert folder.value.kind == "invalid"
    assert "not a regular file" in str(folder.value)


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs are POSIX")
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "app.llmapp"
    os.mkfifo(fifo)
    result: list[BaseException] = []
    worker = threading.Thread(target=lambda: _capture(result, fifo), daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "reading a FIFO blocked"
    assert isinstance(result[0], AppError)
    assert "not a regular file" in str(result[0])


def _capture(result: list[BaseException], path: Path) -> None:
    try:
        read_llmapp(path)
    except BaseException as exc:
        result.append(exc)


def test_ids_that_only_start_like_a_device_name_are_fine() -> None:
    for app_id in ("contacts", "con-tacts", "console.app", "org.con", "auxiliary", "com10"):
        assert parse_manifest(minimal_app(id=app_id)).id == app_id


def test_input_values_may_hold_tabs_and_direction_marks() -> None:
    app = parse_manifest(minimal_app())
    text = "\u200fمرحبا\tworld"
    assert validate_inputs(app, {"topic": text})["topic"] == text


def test_changed_validates_again() -> None:
    app = parse_manifest(minimal_app())
    assert app.changed(version="2.0.0").version == "2.0.0"
    with pytest.raises(AppError) as error:
        app.changed(name="<b>x</b>")
    assert error.value.field == "name"


def test_app_error_pickles_and_lists_every_problem() -> None:
    data = minimal_app(name="<i>x</i>", version="one")
    with pytest.raises(AppError) as error:
        parse_manifest(data)
    fields = [field for field, _ in error.value.problems]
    assert fields == ["name", "version"]
    again = pickle.loads(pickle.dumps(error.value))
    assert (again.kind, again.field, again.message, again.problems) == (
        error.value.kind,
        error.value.field,
        error.value.message,
        error.value.problems,
    )
    assert str(again) == str(error.value)


# --- what the pane and the runner read -----------------------------------------------------


def test_localized_names_fall_back_to_english_then_the_name() -> None:
    app = parse_manifest(minimal_app())
    assert app.display_name("zh_CN") == "俳句"
    assert app.display_name("zh") == "Haiku"  # no plain "zh" entry: English
    assert app.display_name("fr_FR") == "Haiku"
    assert app.display_description("zh_CN") == "就一个主题写一首俳句。"
    mood = app.input("mood")
    assert mood.display_label("zh_CN") == "Mood"  # only English given
    assert mood.choices[0].display("zh_CN") == "平静"
    assert mood.choices[1].display("zh_CN") == "joyful"  # no label: the value
    assert app.input("topic").display_label("zh_CN") == "主题"


def test_sampling_options_layer_the_app_over_the_base() -> None:
    app = parse_manifest(minimal_app())
    base = SamplingOptions(temperature=0.1, top_k=7, max_tokens=999)
    merged = app.sampling_options(base)
    assert merged.temperature == 0.7 and merged.max_tokens == 120  # the app's
    assert merged.top_k == 7  # the base's, the app does not set it
    assert merged.stop_list() == ["\n\n\n"]
    assert app.sampling_options().top_k == SamplingOptions().top_k


def test_app_sampling_has_the_contracts_names_and_bounds() -> None:
    contract = SamplingOptions.model_json_schema()["properties"]
    ours = AppSampling.model_json_schema()["properties"]
    assert set(ours) == set(contract) - {"stop"}
    for name, schema in ours.items():
        bounded = next(option for option in schema["anyOf"] if option.get("type") != "null")
        theirs = contract[name]
        theirs = next((o for o in theirs.get("anyOf", [theirs]) if o.get("type") != "null"), theirs)
        for key in ("minimum", "maximum", "exclusiveMinimum", "type"):
            assert bounded.get(key) == theirs.get(key), (name, key)


def test_versions_order_like_semver() -> None:
    ordered = [
        "0.9",
        "1.0.0-alpha",
        "1.0.0-alpha.2",
        "1.0.0-alpha.10",
        "1.0.0-beta",
        "1.0",
        "1.0.1",
        "1.10.0",
        "2",
    ]
    assert sorted(ordered, key=version_key) == ordered
    assert version_key("1.2") == version_key("1.2.0")
    assert is_newer_version("1.0.1", "1.0.0")
    assert not is_newer_version("1.0.0", "1.0")
    assert not is_newer_version("1.0.0-rc.1", "1.0.0")
    with pytest.raises(ValueError):
        version_key("1.0.0; rm -rf /")


def test_inputs_from_strings_parses_numbers_and_toggles() -> None:
    app = parse_manifest(minimal_app())
    values = inputs_from_strings(app, {"topic": "rain", "lines": "3", "title": "yes"})
    assert values == {"topic": "rain", "mood": "calm", "lines": 3, "title": True}
    assert inputs_from_strings(app, {"topic": "x", "title": "off"})["title"] is False
    for name, text, message in [
        ("lines", "three", "must be a number"),
        ("lines", "2.5", "must be a whole number"),
        ("lines", "inf", "finite"),
        ("lines", "11", "at most 10"),
        ("title", "maybe", "true or false"),
        ("colour", "red", "not an input"),
    ]:
        with pytest.raises(AppError) as error:
            inputs_from_strings(app, {"topic": "x", name: text})
        assert error.value.kind == "input"
        assert error.value.field == name
        assert message in error.value.message


def test_icon_round_trip_and_its_size() -> None:
    png = make_png(32, 24)
    app = parse_manifest(minimal_app(icon=icon_data_uri(png)))
    assert app.icon_png() == png
    info = decode_icon_uri(app.icon or "")
    assert (info.width, info.height) == (32, 24)
    assert parse_manifest(minimal_app()).icon_png() is None
    with pytest.raises(AppError) as error:
        icon_data_uri(b"GIF89a" + bytes(20))
    assert (error.value.kind, error.value.field) == ("invalid", "icon")


# --- structured apps -----------------------------------------------------------------------


def test_response_format_is_openais_json_schema() -> None:
    app = structured_app()
    assert response_format(app) == {
        "type": "json_schema",
        "json_schema": {"name": "org_example_contacts", "schema": CONTACTS_SCHEMA, "strict": True},
    }
    assert response_format(parse_manifest(minimal_app())) is None


def test_a_reply_that_follows_the_schema_is_returned_parsed() -> None:
    reply = '{"contacts": [{"name": "Ann", "email": "ann@example.com"}]}'
    assert validate_output(structured_app(), reply) == {
        "contacts": [{"name": "Ann", "email": "ann@example.com"}]
    }


@pytest.mark.parametrize(
    ("reply", "field", "message"),
    [
        ('{"contacts": [{"name": "Ann"}]}', "contacts.0", "'email' is a required property"),
        ('{"contacts": [{"name": "Ann", "email": 5}]}', "contacts.0.email", "is not of type"),
        ('{"people": []}', "", "the schema"),
        ("Sure! Here are the contacts:", "", "not valid JSON"),
        ('{"contacts": []', "", "not valid JSON"),
        ("[" * 10_000 + "]" * 10_000, "", "nests deeper"),
        ('{"contacts": [], "contacts": [1]}', "", "appears twice"),
    ],
)
def test_a_reply_that_breaks_the_schema_is_an_output_error(
    reply: str, field: str, message: str
) -> None:
    with pytest.raises(AppError) as error:
        validate_output(structured_app(), reply)
    assert error.value.kind == "output"
    assert error.value.field == field
    assert message in error.value.message


# --- catalogue indexes ---------------------------------------------------------------------


def _catalogue(folder: Path, apps: list[AppManifest]) -> None:
    entries = []
    for app in apps:
        name = app.id.rsplit(".", 1)[-1] + ".llmapp"
        data = write_llmapp(app, folder / name)
        entries.append(
            {"id": app.id, "version": app.version, "file": name, "sha256": llmapp_sha256(data)}
        )
    (folder / "index.json").write_text(json.dumps({"format_version": 1, "apps": entries}))


def test_a_catalogue_folder_reads_every_app(tmp_path: Path) -> None:
    apps = [parse_manifest(minimal_app()), structured_app()]
    _catalogue(tmp_path, apps)
    assert read_catalogue_folder(tmp_path) == apps


def test_a_tampered_file_in_a_catalogue_is_refused(tmp_path: Path) -> None:
    _catalogue(tmp_path, [parse_manifest(minimal_app())])
    path = tmp_path / "haiku.llmapp"
    path.write_bytes(path.read_bytes().replace(b"You are a poet.", b"You are a pirate"))
    with pytest.raises(AppError) as error:
        read_catalogue_folder(tmp_path)
    assert (error.value.kind, error.value.field) == ("checksum", "haiku.llmapp")


def test_an_index_that_lies_about_the_version_is_refused(tmp_path: Path) -> None:
    _catalogue(tmp_path, [parse_manifest(minimal_app())])
    index = json.loads((tmp_path / "index.json").read_text())
    index["apps"][0]["version"] = "9.0.0"
    (tmp_path / "index.json").write_text(json.dumps(index))
    with pytest.raises(AppError) as error:
        read_catalogue_folder(tmp_path)
    assert "the index lists org.example.haiku 9.0.0" in str(error.value)


ENTRY = {"id": "org.example.a", "version": "1.0", "file": "a.llmapp", "sha256": "0" * 64}


@pytest.mark.parametrize(
    ("entries", "field"),
    [
        ([{**ENTRY, "file": "../a.llmapp"}], "apps.0.file"),
        ([{**ENTRY, "file": "sub/a.llmapp"}], "apps.0.file"),
        ([{**ENTRY, "file": "a.exe"}], "apps.0.file"),
        ([{**ENTRY, "sha256": "XYZ"}], "apps.0.sha256"),
        ([{**ENTRY, "id": "Bad Id"}], "apps.0.id"),
        ([{**ENTRY, "size": 5}], "apps.0.size"),
        ([ENTRY, {**ENTRY, "file": "b.llmapp"}], "apps"),
        ([ENTRY, {**ENTRY, "id": "org.example.b", "file": "A.llmapp"}], "apps"),
    ],
)
def test_a_bad_index_names_the_entry(entries: list[dict[str, Any]], field: str) -> None:
    with pytest.raises(AppError) as error:
        parse_catalogue_index({"format_version": 1, "apps": entries})
    assert error.value.field == field


def test_an_index_is_valid_with_good_entries() -> None:
    index = parse_catalogue_index(json.dumps({"format_version": 1, "apps": [ENTRY]}))
    assert index.apps[0].file == "a.llmapp"


def test_the_builtin_catalogue_is_read_once_and_not_shared_mutably() -> None:
    first = builtin_catalogue()
    first.clear()
    assert builtin_catalogue()  # a caller's list is a copy
    with pytest.raises(ValidationError):
        builtin_catalogue()[0].name = "changed"  # type: ignore[misc]


def test_a_manifest_mapping_is_not_changed_by_reading_it() -> None:
    data = minimal_app()
    before = copy.deepcopy(data)
    parse_manifest(data)
    assert data == before
