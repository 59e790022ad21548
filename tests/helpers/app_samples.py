"""Small apps for the store, runner, remote catalogue and ``llmos apps`` tests.

One app per mode, with prompts that the test models (SmolLM2-135M-Instruct and the
Gemma 3 270M base model) answer within a few dozen tokens. The structured app's schema
bounds every string (``maxLength``), so the grammar ends the JSON within the token
limit whatever the model writes. ``manifest(...)`` returns the JSON mapping (change any
field with keyword arguments); ``llmapp(...)`` the ``.llmapp`` file's bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmos_desktop.core.apps.manifest import AppManifest, parse_manifest

__all__ = ["CONTACT_SCHEMA", "app", "llmapp", "manifest", "write_llmapp_file"]

CONTACT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 24},
        "city": {"type": "string", "minLength": 1, "maxLength": 24},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
    },
    "required": ["name", "city", "age"],
    "additionalProperties": False,
}


def _base(app_id: str, mode: str, name: str) -> dict[str, Any]:
    return {
        "format_version": 1,
        "id": app_id,
        "name": name,
        "version": "1.0.0",
        "author": "LLMOS tests",
        "description": f"{name}, an app for the tests.",
        "category": "other",
        "localized": {
            "en": {"name": name, "description": f"{name}, an app for the tests."},
            "zh_CN": {"name": f"{name}（测试）", "description": "测试用的应用。"},
        },
        "mode": mode,
        "licence": "MIT",
    }


def manifest(mode: str = "form", **changes: Any) -> dict[str, Any]:
    """A valid manifest of ``mode`` ("form", "structured" or "chat"), as JSON values."""
    if mode == "form":
        data = _base("org.llmos.test.poem", "form", "Tiny poem")
        data.update(
            inputs=[
                {"name": "topic", "type": "text", "label": {"en": "Topic", "zh_CN": "主题"}},
                {
                    "name": "lines",
                    "type": "number",
                    "label": {"en": "Lines"},
                    "required": False,
                    "integer": True,
                    "min": 1,
                    "max": 8,
                    "default": 2,
                },
            ],
            system_prompt="You are a poet. Answer with the poem only.",
            prompt_template="Write a poem of {{ lines }} lines about {{ topic }}.",
            sampling={"temperature": 0.0, "max_tokens": 48},
            examples=[{"topic": "the sea"}],
        )
    elif mode == "structured":
        data = _base("org.llmos.test.contact", "structured", "Contact card")
        data.update(
            category="data",
            inputs=[
                {"name": "text", "type": "multiline", "label": {"en": "Text", "zh_CN": "文本"}}
            ],
            system_prompt="You extract facts from text and answer in JSON.",
            prompt_template=(
                "Read this text and give the person's name, city and age as JSON "
                'like {"name": "...", "city": "...", "age": 0}.\n\nText: {{ text }}'
            ),
            sampling={"temperature": 0.0, "max_tokens": 96},
            output_schema=CONTACT_SCHEMA,
            examples=[{"text": "Anna Berg is 34 and lives in Oslo."}],
        )
    elif mode == "chat":
        data = _base("org.llmos.test.pirate", "chat", "Pirate chat")
        data.update(
            inputs=[
                {
                    "name": "name",
                    "type": "text",
                    "label": {"en": "Your name"},
                    "required": False,
                    "default": "Sam",
                }
            ],
            system_prompt="You are a friendly pirate. Answer in one short sentence.",
            prompt_template="Hello! My name is {{ name }}. Greet me.",
            sampling={"temperature": 0.0, "max_tokens": 32},
        )
    else:
        raise ValueError(mode)
    data.update(changes)
    return data


def llmapp(mode: str = "form", **changes: Any) -> bytes:
    """The ``.llmapp`` file's bytes of ``manifest(mode, **changes)``."""
    return (json.dumps(manifest(mode, **changes), ensure_ascii=False, indent=2) + "\n").encode()


def app(mode: str = "form", **changes: Any) -> AppManifest:
    return parse_manifest(manifest(mode, **changes))


def write_llmapp_file(folder: Path, mode: str = "form", **changes: Any) -> Path:
    """``llmapp(mode, **changes)`` written to ``folder/<id>-<version>.llmapp``."""
    data = manifest(mode, **changes)
    path = folder / f"{data['id']}-{data['version']}.llmapp"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(llmapp(mode, **changes))
    return path
