"""The ``llmos`` command, run as a user runs it: a real subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import psutil
import pytest

from llmos_desktop import __version__
from tests.helpers.cli import assert_one_line_error, llmos
from tests.helpers.engine import counted_stream
from tests.helpers.gguf_factory import write_gguf


def _llmos(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return llmos(*args, timeout=timeout)


def test_version() -> None:
    result = _llmos("--version")
    assert result.returncode == 0
    assert __version__ in result.stdout


def test_serve_refuses_unusable_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    noise = tmp_path / "noise.gguf"
    noise.write_bytes(os.urandom(2048))
    whole = write_gguf(tmp_path / "whole.gguf", tensors=4).read_bytes()
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(whole[: len(whole) - 100])
    alien = write_gguf(tmp_path / "alien.gguf", architecture="totally-not-a-model")
    for path, words in [
        (tmp_path / "missing.gguf", ("missing.gguf",)),
        (empty, ("empty.gguf",)),
        (noise, ("noise.gguf",)),
        (truncated, ("truncated.gguf", "incomplete")),
        (alien, ("alien.gguf", "architecture")),
    ]:
        assert_one_line_error(_llmos("serve", "--model", str(path)), *words)


def test_serve_requires_api_key_off_loopback(tmp_path: Path) -> None:
    model = write_gguf(tmp_path / "m.gguf")
    assert_one_line_error(_llmos("serve", "--model", str(model), "--host", "0.0.0.0"), "--api-key")


def test_serve_rejects_bad_numbers_naming_the_option(tmp_path: Path) -> None:
    model = str(write_gguf(tmp_path / "m.gguf"))
    assert_one_line_error(_llmos("serve", "--model", model, "--ctx", "-5"), "--ctx", "128")
    assert_one_line_error(_llmos("serve", "--model", model, "--threads", "0"), "--threads")
    assert_one_line_error(
        _llmos("serve", "--model", model, "--stream-interval-ms", "-1"), "--stream-interval-ms"
    )


def test_serve_says_a_busy_port_before_loading_anything(tmp_path: Path) -> None:
    model = str(write_gguf(tmp_path / "m.gguf", tensors=4))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        started = time.monotonic()
        result = _llmos("serve", "--model", model, "--port", port)
    assert_one_line_error(result, f"127.0.0.1:{port}")
    assert "loading" not in result.stderr
    assert time.monotonic() - started < 30


def test_serve_help_lists_the_contract_options() -> None:
    result = _llmos("serve", "--help")
    assert result.returncode == 0
    for option in ("--model", "--ctx", "--gpu-layers", "--threads", "--chat-template"):
        assert option in result.stdout
    assert "(default 4096)" in result.stdout


@pytest.mark.model
def test_serve_answers_the_openai_client(model_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "llmos_desktop.cli",
        "serve",
        "--model",
        str(model_path),
        "--port",
        "0",
        "--api-key",
        "secret-key",
        "--control-key",
        "control-key",
        "--threads",
        "2",
        "--stream-interval-ms",
        "0",
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        _check_served(proc)


def _check_served(proc: subprocess.Popen[str]) -> None:
    engines: list[psutil.Process] = []
    try:
        assert proc.stdout is not None
        url = None
        summary = ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("Serving"):
                url = line.split(" at ", 1)[1].strip()
                summary = proc.stdout.readline()
                break
        assert url, proc.stderr.read() if proc.stderr else ""
        client = openai.OpenAI(base_url=url, api_key="secret-key", max_retries=0)
        reply = client.chat.completions.create(
            model="gemma-3-270m-q4_k_m", messages=[{"role": "user", "content": "Hi"}], max_tokens=5
        )
        assert reply.choices[0].message.content is not None
        # --stream-interval-ms 0: one chunk per token, as clients that count chunks expect.
        counts = [
            tokens
            for _text, tokens in counted_stream(
                client, "Count to twenty.", max_tokens=16, temperature=0
            )
        ]
        assert counts and counts == list(range(counts[0], counts[0] + len(counts)))
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url, api_key="wrong", max_retries=0).models.list()
        # The key for programs does not control the engine.
        root = url.removesuffix("/v1")
        load = httpx.post(
            f"{root}/control/load",
            json={"path": "/etc/passwd"},
            headers={"Authorization": "Bearer secret-key"},
        )
        assert load.status_code in (401, 403, 404), load.text
        assert "passwd" not in load.text
        # The control key loads only the models folder and the file serve was given.
        control = {"Authorization": "Bearer control-key"}
        status = httpx.get(f"{root}/control/status", headers=control)
        assert status.status_code == 200 and status.json()["loaded"]
        for outside in ("/etc/passwd", "/proc/self/environ", "/nonexistent/x.gguf", "/tmp"):
            refused = httpx.post(f"{root}/control/load", json={"path": outside}, headers=control)
            assert refused.status_code == 403, refused.text
            assert "GGUF" not in refused.text and "does not exist" not in refused.text

        # The engine is a supervised child: killed, it comes back with its model.
        engines = [
            child
            for child in psutil.Process(proc.pid).children(recursive=True)
            if "--engine-child" in child.cmdline()
        ]
        assert len(engines) == 1
        engines[0].kill()
        deadline = time.monotonic() + 60
        answered = False
        while time.monotonic() < deadline and not answered:
            time.sleep(0.5)
            try:
                again = client.chat.completions.create(
                    model="x", messages=[{"role": "user", "content": "Hi"}], max_tokens=3
                )
                answered = again.choices[0].message.content is not None
            except openai.APIError:
                continue
        assert answered, "the server did not come back after its engine was killed"
        engines = [
            child
            for child in psutil.Process(proc.pid).children(recursive=True)
            if "--engine-child" in child.cmdline()
        ]
    finally:
        proc.terminate()  # SIGTERM: serve stops its engine child before it exits
        proc.wait(20)
    assert proc.returncode == 0, proc.returncode
    for child in engines:
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    # One clear summary on the terminal; llama.cpp's chatter stays in the log file.
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    assert "chat template: gemma" in summary + out, summary + out
    for chatter in ("llama_model_loader", "fallback chat format", "Model metadata"):
        assert chatter not in err, err[-2000:]
    assert "the engine stopped" in err and "serving again" in err, err[-2000:]
