"""Apps: declarative LLM apps that anyone can share and no one can use to run code.

An app is a manifest (``manifest.py``: the pydantic models and the checks), shared as
one JSON file (``package.py``: ``.llmapp``, catalogue indexes, the built-in
catalogue), with a prompt template rendered in the template sandbox (``render.py``)
and an optional small PNG icon checked without decoding it (``icon.py``). The format
is documented in docs/apps.md; its JSON Schema, generated from the models by
packaging/apps_schema.py, is resources/apps/manifest.schema.json.

This package imports pydantic only; Jinja2 and jsonschema are imported when a template
is checked or a reply validated.
"""

from llmos_desktop.core.apps.icon import (
    MAX_ICON_BYTES,
    MAX_ICON_SIDE,
    IconError,
    IconInfo,
    check_png,
    decode_icon_uri,
    icon_data_uri,
)
from llmos_desktop.core.apps.manifest import (
    APP_FORMAT_VERSION,
    CATEGORIES,
    INPUT_TYPES,
    MODES,
    REQUIRED_LOCALES,
    AppError,
    AppErrorKind,
    AppManifest,
    AppSampling,
    Category,
    Choice,
    InputField,
    InputType,
    InputValue,
    LocalizedText,
    Mode,
    RecommendedModel,
    inputs_from_strings,
    is_newer_version,
    parse_manifest,
    response_format,
    validate_inputs,
    validate_output,
    version_key,
)
from llmos_desktop.core.apps.package import (
    LLMAPP_SUFFIX,
    MAX_LLMAPP_BYTES,
    CatalogueIndex,
    IndexEntry,
    builtin_catalogue,
    builtin_catalogue_folder,
    llmapp_bytes,
    llmapp_sha256,
    load_json,
    parse_catalogue_index,
    read_catalogue_folder,
    read_llmapp,
    write_llmapp,
)
from llmos_desktop.core.apps.render import render_prompt, render_source, template_variables

__all__ = [
    "APP_FORMAT_VERSION",
    "CATEGORIES",
    "INPUT_TYPES",
    "LLMAPP_SUFFIX",
    "MAX_ICON_BYTES",
    "MAX_ICON_SIDE",
    "MAX_LLMAPP_BYTES",
    "MODES",
    "REQUIRED_LOCALES",
    "AppError",
    "AppErrorKind",
    "AppManifest",
    "AppSampling",
    "CatalogueIndex",
    "Category",
    "Choice",
    "IconError",
    "IconInfo",
    "IndexEntry",
    "InputField",
    "InputType",
    "InputValue",
    "LocalizedText",
    "Mode",
    "RecommendedModel",
    "builtin_catalogue",
    "builtin_catalogue_folder",
    "check_png",
    "decode_icon_uri",
    "icon_data_uri",
    "inputs_from_strings",
    "is_newer_version",
    "llmapp_bytes",
    "llmapp_sha256",
    "load_json",
    "parse_catalogue_index",
    "parse_manifest",
    "read_catalogue_folder",
    "read_llmapp",
    "render_prompt",
    "render_source",
    "response_format",
    "template_variables",
    "validate_inputs",
    "validate_output",
    "version_key",
    "write_llmapp",
]
