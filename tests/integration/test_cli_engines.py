"""``llmos engines`` and ``llmos chat/apps run --engine``, run as a user runs them (a real
subprocess), against the fault server (tests/helpers/openai_faults.py: a real HTTP
server on a thread of the test process, the one server that fails on cue). The same
commands against real servers (a second ``llmos serve``, ``llama_cpp.server``) are in
test_remote_engines.py.

The test machine has no keyring, so keys land in the 0600 file under LLMOS_HOME (the
autouse fixture points LLMOS_HOME at a temporary folder; subprocesses inherit it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import assert_ok, assert_one_line_error
from tests.helpers.openai_faults import REPLY, FaultServer

KEY = "sk-fault-test"


def llmos(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmos_desktop.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def faults() -> Iterator[FaultServer]:
    with FaultServer(stall_s=10.0) as server:
        yield server


@pytest.fixture
def added(faults: FaultServer) -> FaultServer:
    result = assert_ok(
        llmos(
            "engines",
            "add",
            "faulty",
            faults.base_url(),
            "--api-key-env",
            "FAULT_KEY",
            "--timeout",
            "2",
            env={"FAULT_KEY": KEY},
        )
    )
    assert "added engine faulty" in result.stdout
    return faults


def home() -> Path:
    return Path(os.environ["LLMOS_HOME"])


def test_add_keeps_the_key_out_of_the_engines_file_and_checks(faults: FaultServer) -> None:
    result = assert_ok(
        llmos(
            "engines",
            "add",
            "faulty",
            faults.base_url(),
            "--api-key-env",
            "FAULT_KEY",
            env={"FAULT_KEY": KEY},
        )
    )
    assert "reachable:  yes" in result.stderr and "key:        accepted" in result.stderr
    engines = (home() / "data" / "engines.json").read_text()
    assert KEY not in engines and faults.base_url() in engines
    assert (home() / "config" / "engine-keys" / "faulty.key").read_text().strip() == KEY
    assert_one_line_error(llmos("engines", "add", "faulty", faults.base_url()), "exists", code=1)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["bad name", "http://h/v1"], ["NAME", "letters"]),
        (["x", "ftp://h/v1"], ["URL", "http://"]),
        (["x", "http://user:pw@h/v1"], ["URL", "not in the URL"]),
        (["x", "http://h/v1", "--timeout", "0"], ["--timeout"]),
        (
            ["x", "http://h/v1", "--api-key-env", "NOT_SET_ANYWHERE"],
            ["NOT_SET_ANYWHERE", "not set"],
        ),
        (["x", "https://h/v1", "--ca-file", "/nonexistent/ca.pem"], ["--ca-file"]),
    ],
)
def test_add_refuses_bad_input_in_one_line(args: list[str], needles: list[str]) -> None:
    assert_one_line_error(llmos("engines", "add", *args), *needles, code=2)
    assert not (home() / "data" / "engines.json").exists()


def test_list_json_has_name_url_reachable_models(added: FaultServer) -> None:
    assert_ok(llmos("engines", "add", "gone", "http://127.0.0.1:9/v1", "--no-check"))
    rows = json.loads(assert_ok(llmos("engines", "list", "--json")).stdout)
    assert [row["name"] for row in rows] == ["faulty", "gone"]
    faulty, gone = rows
    assert {"name", "url", "reachable", "models"} <= set(faulty)
    assert faulty["url"] == added.base_url() and faulty["reachable"] is True
    assert "one" in faulty["models"] and faulty["key"] == "file" and faulty["error"] is None
    assert gone["reachable"] is False and gone["models"] == []
    assert gone["error"]["kind"] == "unreachable"
    text = assert_ok(llmos("engines", "list")).stdout
    assert "faulty" in text and "ok," in text and "unreachable" in text


def test_check_and_key(added: FaultServer) -> None:
    assert "models:" in assert_ok(llmos("engines", "check", "faulty")).stdout
    assert_ok(llmos("engines", "key", "faulty", "--api-key-env", "K", env={"K": "sk-wrong"}))
    refused = llmos("engines", "check", "faulty", "--json")
    assert refused.returncode == 1
    report = json.loads(refused.stdout)
    assert report["authorised"] is False and report["error"]["kind"] == "unauthorized"
    assert "sk-wrong" not in refused.stdout + refused.stderr


def test_rm(added: FaultServer) -> None:
    assert "removed engine faulty" in assert_ok(llmos("engines", "rm", "faulty")).stdout
    assert not (home() / "config" / "engine-keys" / "faulty.key").exists()
    assert_one_line_error(llmos("engines", "rm", "faulty"), "no engine called 'faulty'", code=1)


def test_chat_on_a_remote_engine_and_continuing_it(added: FaultServer) -> None:
    result = assert_ok(llmos("chat", "--engine", "faulty", "--model", "one", "Hello"))
    assert result.stdout.strip() == REPLY
    chats = json.loads(assert_ok(llmos("chats", "list", "--json")).stdout)
    assert chats[0]["model"] == "one"
    again = assert_ok(llmos("chat", "--chat", "last", "And again"))  # stays on its engine
    assert again.stdout.strip() == REPLY
    sent = [r.body for r in added.requests if r.path == "/v1/chat/completions"]
    assert [m["content"] for m in sent[-1]["messages"]] == ["Hello", REPLY, "And again"]


def test_a_reply_that_breaks_is_kept_and_said_once(added: FaultServer) -> None:
    result = llmos("chat", "--engine", "faulty", "--model", "drop", "Hello")
    assert result.returncode == 1
    assert result.stdout.strip() == "Hello from the"
    line = assert_one_line_error(result, "the reply broke off", "(the part above is saved)")
    assert "faulty" in line
    export = json.loads(assert_ok(llmos("chats", "export", "last", "--format", "json")).stdout)
    messages = export["conversation"]["messages"]
    statuses = [m["status"] for m in messages if m["role"] == "assistant"]
    assert statuses == ["incomplete"]


@pytest.mark.parametrize(
    ("args", "needles", "code"),
    [
        (["--engine", "faulty"], ["serves several models", "--model", "one"], 2),
        (["--engine", "nope"], ["no engine called 'nope'"], 1),
        (["--engine", "faulty", "--model", "gpt-9"], ["does not serve the model 'gpt-9'"], 1),
        (["--engine", "faulty", "--model", "stall-first"], ["sent nothing for 2 s"], 1),
        (["--engine", "faulty", "--model", "500"], ["HTTP 500"], 1),
    ],
)
def test_chat_failures_are_one_line(
    added: FaultServer, args: list[str], needles: list[str], code: int
) -> None:
    assert_one_line_error(llmos("chat", *args, "Hello"), *needles, code=code)


def test_apps_run_on_a_remote_engine(added: FaultServer) -> None:
    result = assert_ok(
        llmos(
            "apps",
            "run",
            "llmos.poem",
            "--engine",
            "faulty",
            "--model",
            "many",
            "-i",
            "subject=sea",
        )
    )
    assert result.stdout.strip() == REPLY
    body = next(r.body for r in added.requests if r.path == "/v1/chat/completions")
    assert body["model"] == "many" and "sea" in body["messages"][-1]["content"]
    assert_one_line_error(
        llmos(
            "apps",
            "run",
            "llmos.poem",
            "--engine",
            "faulty",
            "--model",
            "drop",
            "-i",
            "subject=sea",
        ),
        "broke in the middle",
        code=1,
    )
