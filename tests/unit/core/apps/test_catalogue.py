"""The built-in catalogue: at least 12 useful apps that all validate, cover what the
issue lists, speak English and Chinese, recommend models from the curated list, and
render their examples; the generated schema and index are current, and the docs
describe every field."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from llmos_desktop.core.apps import (
    AppManifest,
    builtin_catalogue,
    builtin_catalogue_folder,
    llmapp_sha256,
    parse_catalogue_index,
    read_llmapp,
    render_prompt,
    validate_inputs,
)
from llmos_desktop.core.apps.manifest import (
    AppSampling,
    Choice,
    InputField,
    LocalizedText,
    RecommendedModel,
)
from llmos_desktop.resources import resource_path

ROOT = Path(__file__).resolve().parents[4]
CJK = re.compile(r"[\u4e00-\u9fff]")


def apps_schema_tool() -> ModuleType:
    name = "llmos_apps_schema_tool"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "packaging" / "apps_schema.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def apps() -> list[AppManifest]:
    return builtin_catalogue()


def test_there_are_at_least_12_apps_with_unique_ids(apps: list[AppManifest]) -> None:
    assert len(apps) >= 12
    ids = [app.id for app in apps]
    assert len(set(ids)) == len(ids)
    assert all(app.id.startswith("llmos.") for app in apps)


def test_the_catalogue_covers_what_the_issue_lists(apps: list[AppManifest]) -> None:
    ids = {app.id.removeprefix("llmos.") for app in apps}
    wanted = {
        "news-brief", "story", "poem", "ad-copy",  # content creation
        "translator", "ask", "summarise",
        "code-writer", "code-complete", "code-translate", "code-explain",
    }  # fmt: skip
    assert wanted <= ids
    structured = [app for app in apps if app.mode == "structured"]
    assert len(structured) >= 2
    assert {app.mode for app in apps} == {"chat", "form", "structured"}
    categories = {app.category for app in apps}
    assert {"writing", "translation", "questions", "summaries", "code", "data"} <= categories


def test_every_app_speaks_english_and_chinese(apps: list[AppManifest]) -> None:
    for app in apps:
        english, chinese = app.localized["en"], app.localized["zh_CN"]
        assert english.name == app.name and english.description == app.description, app.id
        assert CJK.search(chinese.name) and CJK.search(chinese.description), app.id
        for field in app.inputs:
            assert CJK.search(field.display_label("zh_CN")), (app.id, field.name)
            for choice in field.choices:
                if choice.label:
                    assert "zh_CN" in choice.label, (app.id, field.name, choice.value)


def test_every_app_has_examples_that_render(apps: list[AppManifest]) -> None:
    for app in apps:
        assert app.examples, app.id
        for example in app.examples:
            prompt = render_prompt(app, example)
            values = validate_inputs(app, example)
            assert prompt.strip(), app.id
            for name, value in values.items():  # every given text reaches the prompt
                if isinstance(value, str) and value and name in example:
                    assert value in prompt or app.input(name).type == "choice", (app.id, name)


def test_every_app_is_honest_about_the_models_it_was_tried_on(apps: list[AppManifest]) -> None:
    for app in apps:
        notes = " ".join(app.works_well_with)
        assert "SmolLM2-135M" in notes and "Gemma 3 270M" in notes, app.id


def test_recommended_models_come_from_the_curated_list(apps: list[AppManifest]) -> None:
    curated = json.loads(resource_path("models", "recommended.json").read_text("utf-8"))
    known = {(model["repo_id"], model["file"]) for model in curated["models"]}
    for app in apps:
        assert app.recommended_models, app.id
        for model in app.recommended_models:
            assert (model.repo_id, model.file) in known, (app.id, model.repo_id)


_TO_GRAMMAR = """
import json, sys
from llama_cpp.llama_grammar import json_schema_to_gbnf
print(json.dumps([len(json_schema_to_gbnf(json.dumps(s))) for s in json.load(sys.stdin)]))
"""


def test_structured_apps_have_schemas_llama_cpp_turns_into_a_grammar(
    apps: list[AppManifest],
) -> None:
    """The engine builds its grammar with llama-cpp-python; in a child process, because
    importing llama_cpp here would load llama.cpp into the test process."""
    schemas = [app.output_schema for app in apps if app.mode == "structured"]
    assert len(schemas) >= 2
    for schema in schemas:
        assert schema is not None and schema["type"] == "object"
        properties = schema["properties"]
        assert isinstance(properties, dict) and properties
    done = subprocess.run(
        [sys.executable, "-c", _TO_GRAMMAR],
        input=json.dumps(schemas),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    sizes = json.loads(done.stdout)
    assert len(sizes) == len(schemas)
    assert all(0 < size < 20_000 for size in sizes), sizes


def test_each_file_matches_the_index_and_reads_alone() -> None:
    folder = builtin_catalogue_folder()
    index = parse_catalogue_index((folder / "index.json").read_bytes())
    files = sorted(path.name for path in folder.glob("*.llmapp"))
    assert sorted(entry.file for entry in index.apps) == files
    for entry in index.apps:
        data = (folder / entry.file).read_bytes()
        assert llmapp_sha256(data) == entry.sha256
        app = read_llmapp(folder / entry.file)
        assert (app.id, app.version) == (entry.id, entry.version)
        assert entry.file == app.id.removeprefix("llmos.") + ".llmapp"


def test_the_schema_file_and_the_index_are_current() -> None:
    assert apps_schema_tool().main(["--check"]) == 0, "run python packaging/apps_schema.py"


def test_every_builtin_app_validates_against_the_published_schema(
    apps: list[AppManifest],
) -> None:
    schema = json.loads(resource_path("apps", "manifest.schema.json").read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    for path in builtin_catalogue_folder().glob("*.llmapp"):
        errors = list(validator.iter_errors(json.loads(path.read_text("utf-8"))))
        assert errors == [], (path.name, errors[:1])


def test_the_published_schema_refuses_what_the_models_refuse() -> None:
    schema = json.loads(resource_path("apps", "manifest.schema.json").read_text("utf-8"))
    validator = Draft202012Validator(schema)
    good: dict[str, Any] = json.loads(
        (builtin_catalogue_folder() / "poem.llmapp").read_text("utf-8")
    )
    for bad in (
        {**good, "unknown": 1},
        {**good, "id": "../x"},
        {**good, "mode": "exec"},
        {**good, "localized": {"en": good["localized"]["en"]}},
        {**good, "format_version": "1"},
    ):
        assert list(validator.iter_errors(bad)), bad


def test_the_docs_describe_every_field() -> None:
    text = (ROOT / "docs" / "apps.md").read_text("utf-8")
    for model in (AppManifest, InputField, Choice, LocalizedText, AppSampling, RecommendedModel):
        for name in model.model_fields:
            assert f"`{name}`" in text, f"docs/apps.md does not describe {model.__name__}.{name}"
    for app in builtin_catalogue():
        assert app.id in text, f"docs/apps.md does not list {app.id}"
