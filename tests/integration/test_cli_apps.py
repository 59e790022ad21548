"""``llmos apps``, run as a user runs it: real processes, the real apps folder under
LLMOS_HOME, the real engine with the SmolLM2 instruct model for ``run``.

What a user checks: ``list --json`` has the documented fields; install, update, remove,
export and import work across separate processes (each one a restart of the store);
``run`` streams a form app's result, prints a structured app's result as JSON that
follows its schema, answers a chat app's first message; a missing or invalid input is
one ``llmos: error:`` line and a non-zero exit, before any engine starts.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from llmos_desktop.core.apps.package import builtin_catalogue, llmapp_sha256, read_llmapp
from tests.helpers.app_samples import CONTACT_SCHEMA, llmapp, write_llmapp_file
from tests.helpers.cli import assert_ok, assert_one_line_error, llmos, one_thread_home
from tests.helpers.hub_upload import UploadingFakeHub


@pytest.fixture
def home(llmos_home: Path) -> Path:
    return one_thread_home(llmos_home, n_ctx=2048)


def _llmos(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return llmos("apps", *args, timeout=timeout)


def _listed() -> dict[str, dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(assert_ok(_llmos("list", "--json")).stdout)
    return {row["id"]: row for row in rows}


def _no_engine_started(home: Path) -> bool:
    return not (home / "logs" / "chat.log").exists()


def test_list_install_update_remove_export_and_import(home: Path, tmp_path: Path) -> None:
    shipped = {app.id for app in builtin_catalogue()}
    listed = _listed()
    assert shipped <= set(listed)
    for row in listed.values():
        assert {"id", "name", "mode", "category", "installed", "inputs", "examples"} <= set(row)
        assert row["installed"] is False
        for field in row["inputs"]:
            assert {"name", "type", "required", "default"} <= set(field)
        assert all(isinstance(example, dict) for example in row["examples"])

    source = write_llmapp_file(tmp_path / "downloads", "form")
    assert assert_ok(_llmos("install", str(source))).stdout.startswith(
        "installed org.llmos.test.poem 1.0.0"
    )
    row = _listed()["org.llmos.test.poem"]
    assert row["installed"] is True and row["source"] == "installed"
    assert row["inputs"][0] == {
        "name": "topic",
        "type": "text",
        "required": True,
        "default": None,
        "choices": [],
    }
    assert row["examples"] == [{"topic": "the sea"}]
    assert "is already installed" in assert_ok(_llmos("install", str(source))).stdout

    older = write_llmapp_file(tmp_path / "downloads", "form", version="0.9.0")
    assert_one_line_error(_llmos("install", str(older)), "0.9.0", "1.0.0", code=1)
    newer = write_llmapp_file(tmp_path / "downloads", "form", version="1.1.0")
    assert (
        "updated org.llmos.test.poem 1.0.0 -> 1.1.0"
        in assert_ok(_llmos("install", str(newer))).stdout
    )
    assert _listed()["org.llmos.test.poem"]["installed_version"] == "1.1.0"

    exported = tmp_path / "shared" / "poem.llmapp"
    exported.parent.mkdir()
    assert_ok(_llmos("export", "org.llmos.test.poem", str(exported)))
    assert exported.read_bytes() == newer.read_bytes()
    assert (
        assert_ok(_llmos("remove", "org.llmos.test.poem")).stdout.strip()
        == "removed org.llmos.test.poem"
    )
    assert "org.llmos.test.poem" not in _listed()
    assert_one_line_error(_llmos("remove", "org.llmos.test.poem"), "not installed", code=1)
    assert_one_line_error(
        _llmos("export", "org.llmos.test.poem", str(tmp_path / "x.llmapp")), code=1
    )
    assert assert_ok(_llmos("install", str(exported))).stdout.startswith("installed")
    assert read_llmapp(exported).version == _listed()["org.llmos.test.poem"]["installed_version"]

    if shipped:
        first = sorted(shipped)[0]
        assert_ok(_llmos("install", first))
        assert _listed()[first]["installed"] is True

    plain = assert_ok(_llmos("list")).stdout.splitlines()
    assert plain[0].split()[:5] == ["ID", "VERSION", "MODE", "CATEGORY", "STATUS"]
    assert any(line.startswith("org.llmos.test.poem ") for line in plain)

    garbage = tmp_path / "garbage.llmapp"
    garbage.write_bytes(b"\x00\x01 not an app")
    assert_one_line_error(_llmos("install", str(garbage)), "not valid JSON", code=1)
    hostile = tmp_path / "hostile.llmapp"
    hostile.write_bytes(llmapp("form", name="<img src=x>"))
    assert_one_line_error(_llmos("install", str(hostile)), "name", code=1)
    assert_one_line_error(_llmos("install", str(tmp_path / "missing.llmapp")), code=1)
    assert_one_line_error(_llmos("install", "org.example.nothing"), "no app", code=1)


def test_run_refuses_bad_input_in_one_line_before_an_engine_starts(
    home: Path, tmp_path: Path
) -> None:
    assert_ok(_llmos("install", str(write_llmapp_file(tmp_path, "form"))))
    cases = [
        (["org.llmos.test.poem"], "topic", "required"),
        (["org.llmos.test.poem", "--input", "topic=  "], "topic", "required"),
        (["org.llmos.test.poem", "-i", "topic=sea", "-i", "lines=many"], "lines", "number"),
        (["org.llmos.test.poem", "-i", "topic=sea", "-i", "lines=40"], "lines", "at most 8"),
        (["org.llmos.test.poem", "-i", "topic=sea", "-i", "colour=red"], "colour", "not an input"),
        (["org.llmos.test.poem", "-i", "topic"], "NAME=VALUE", ""),
        (["org.llmos.test.poem", "-i", "topic=a", "-i", "topic=b"], "twice", ""),
        (["org.llmos.test.poem", "-i", "topic=sea", "--max-tokens", "0"], "max_tokens", ""),
    ]
    for args, *needles in cases:
        assert_one_line_error(_llmos("run", *args), *[n for n in needles if n], code=2)
    assert_one_line_error(_llmos("run", "org.example.nothing", "-i", "a=b"), "no app", code=1)
    assert_one_line_error(
        _llmos(
            "run", "org.llmos.test.poem", "-i", "topic=sea", "--model", str(tmp_path / "no.gguf")
        ),
        "no.gguf",
        code=1,
    )
    assert _no_engine_started(home)


@pytest.mark.model
def test_run_form_structured_and_chat_apps(
    home: Path, tmp_path: Path, chat_model_path: Path
) -> None:
    for mode in ("form", "structured", "chat"):
        assert_ok(_llmos("install", str(write_llmapp_file(tmp_path, mode))))
    model = str(chat_model_path)

    form = assert_ok(_llmos("run", "org.llmos.test.poem", "--model", model, "-i", "topic=the moon"))
    assert form.stdout.strip(), "the poem streamed to stdout"

    structured = assert_ok(
        _llmos(
            "run",
            "org.llmos.test.contact",
            "--model",
            model,
            "--input",
            "text=Anna Berg is 34 years old and lives in Oslo.",
        )
    )
    value = json.loads(structured.stdout)  # stdout is the JSON and nothing else
    jsonschema.validate(value, CONTACT_SCHEMA)

    chat = assert_ok(_llmos("run", "org.llmos.test.pirate", "--model", model, "-i", "name=Lee"))
    assert chat.stdout.strip()

    cut = _llmos(
        "run",
        "org.llmos.test.contact",
        "--model",
        model,
        "-i",
        "text=Bob, 40.",
        "--max-tokens",
        "3",
    )
    assert_one_line_error(cut, "token limit", code=1)
    assert cut.stdout == ""

    # A structured app of the shipped catalogue, with its own example, not installed.
    shipped = [app for app in builtin_catalogue() if app.mode == "structured" and app.examples]
    if shipped:
        app = shipped[0]
        inputs = [f"{name}={value}" for name, value in app.examples[0].items()]
        args = [arg for pair in inputs for arg in ("--input", pair)]
        result = assert_ok(_llmos("run", app.id, "--model", model, *args))
        assert app.output_schema is not None
        jsonschema.validate(json.loads(result.stdout), app.output_schema)


def test_the_remote_catalogue_of_the_settings(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with UploadingFakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.delenv(name, raising=False)
        data = llmapp("structured")
        index = {
            "format_version": 1,
            "apps": [
                {
                    "id": "org.llmos.test.contact",
                    "version": "1.0.0",
                    "file": "contact.llmapp",
                    "sha256": llmapp_sha256(data),
                }
            ],
        }
        hub.add_repo(
            "someone/apps", {"index.json": json.dumps(index).encode(), "contact.llmapp": data}
        )
        settings = home / "config" / "settings.json"
        values = json.loads(settings.read_text(encoding="utf-8"))
        settings.write_text(
            json.dumps({**values, "apps_catalogue_repo": "someone/apps"}), encoding="utf-8"
        )
        assert "org.llmos.test.contact" not in _listed(), "not read before a refresh"
        rows = json.loads(assert_ok(_llmos("list", "--json", "--refresh")).stdout)
        remote = next(row for row in rows if row["id"] == "org.llmos.test.contact")
        assert remote["source"] == "remote" and remote["installed"] is False
        assert_ok(_llmos("install", "org.llmos.test.contact"))
        assert _listed()["org.llmos.test.contact"]["installed"] is True

    # The server is gone: a note, and the built-in catalogue is still listed.
    gone = _llmos("list", "--json", "--refresh")
    assert_ok(gone)
    assert "remote catalogue was not read" in gone.stderr
    ids = {row["id"] for row in json.loads(gone.stdout)}
    assert {app.id for app in builtin_catalogue()} <= ids
    assert "org.llmos.test.contact" in ids, "the app read before is still listed"
