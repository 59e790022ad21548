"""The probe: llama.cpp tries a model file in a throwaway process before the engine loads it.

Every test runs the real probe (``python -m llmos_desktop --engine-probe PATH``) with the
bundled llama.cpp, on tiny GGUF files written here or on the real model. The tiny files
pass the pre-flight check (or are used where it is not run) and make llama.cpp abort,
hang or refuse: the probe turns each into one line, and the engine (the runtime in this
test process) lives on. Without the probe, the runtime tests below kill pytest itself.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import gguf
import psutil
import pytest

from llmos_desktop.core.engine.contract import ErrorKind, ModelLoad, SamplingOptions
from llmos_desktop.core.engine.process import llama_api
from llmos_desktop.core.engine.process import runtime as runtime_module
from llmos_desktop.core.engine.process.runtime import (
    EngineRuntime,
    EngineRuntimeError,
    LogTap,
    ProbeResult,
    _probe_error,
    probe_command,
    run_probe,
)
from llmos_desktop.core.models.gguf import check_model_file
from tests.helpers.gguf_factory import TINY_VOCAB, write_gguf

PLENTY = 1 << 40


def _token_types(*types: int) -> gguf.GGUFValue:
    return gguf.GGUFValue(list(types), gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.INT32)


def hollow(tmp_path: Path) -> Path:
    """Every token empty but <unk>: nothing spells text, and there are no byte tokens to
    fall back on. The check lets it through (not all empty); llama.cpp loads it, then
    aborts at the first text it tokenizes (an uncaught std::out_of_range)."""
    path = write_gguf(tmp_path / "hollow.gguf", vocab=("<unk>", "", "", "", "", ""))
    check_model_file(path, available_memory=PLENTY)
    return path


def endless(tmp_path: Path) -> Path:
    """A SentencePiece vocabulary under the tokenizer "rwkv", without byte tokens: the
    check lets it through, and llama.cpp's RWKV tokenizer never ends on "<"."""
    path = write_gguf(tmp_path / "endless.gguf", extra_kv={"tokenizer.ggml.model": "rwkv"})
    check_model_file(path, available_memory=PLENTY)
    return path


def wordpiece_with_bytes(tmp_path: Path) -> Path:
    """The tokenizer "bert" with a byte token: llama.cpp aborts while loading the
    vocabulary (the check refuses this one; the probe is tried on it directly)."""
    return write_gguf(
        tmp_path / "wordpiece.gguf",
        vocab=(*TINY_VOCAB, "<0x0A>"),
        extra_kv={
            "tokenizer.ggml.model": "bert",
            "tokenizer.ggml.token_type": _token_types(2, 3, 3, 1, 1, 1, 6),
        },
    )


def _error(path: Path, result: ProbeResult) -> EngineRuntimeError:
    error = _probe_error(path.name, result)
    assert error is not None, result
    assert error.message.startswith(f"{path.name}: ") and "\n" not in error.message
    return error


def _no_probe_left() -> None:
    children = psutil.Process().children(recursive=True)
    assert not [c for c in children if "--engine-probe" in " ".join(c.cmdline())]


# --- the probe process ------------------------------------------------------------------


def test_a_crash_while_tokenizing_is_one_line(tmp_path: Path) -> None:
    path = hollow(tmp_path)
    result = run_probe(str(path))
    assert result.started and result.loaded
    assert result.returncode not in (None, 0, llama_api.PROBE_REFUSED)
    error = _error(path, result)
    assert error.kind == ErrorKind.LOAD_FAILED
    assert "llama.cpp crashed (" in error.message
    assert "while tokenizing text with it; the model was not loaded" in error.message
    if sys.platform.startswith("linux"):
        assert "(SIGABRT)" in error.message
        assert "(llama.cpp: uncaught std::out_of_range: unordered_map::at)" in error.message


def test_a_crash_while_reading_the_vocabulary_is_told_apart(tmp_path: Path) -> None:
    path = wordpiece_with_bytes(tmp_path)
    result = run_probe(str(path))
    assert result.started and not result.loaded
    error = _error(path, result)
    assert "while reading its vocabulary; the model was not loaded" in error.message
    assert "fatal error" in error.message, error.message  # llama.cpp's GGML_ABORT line
    assert "/" not in error.message.split("(llama.cpp: ")[1], "no build paths"


def test_a_hang_while_tokenizing_is_killed_after_its_time(tmp_path: Path) -> None:
    path = endless(tmp_path)
    result = run_probe(str(path), tokenize_timeout=1.0)
    assert result.returncode is None and result.loaded
    assert result.seconds < 30
    error = _error(path, result)
    assert error.message == (
        f"{path.name}: llama.cpp hung while tokenizing text with it (no answer in 1 s); "
        "the model was not loaded."
    )
    _no_probe_left()


def test_a_load_that_takes_too_long_is_killed(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "slow.gguf")
    result = run_probe(str(path), load_timeout=0.0)
    assert result.returncode is None and not result.loaded
    assert "hung while reading its vocabulary (no answer in 0 s)" in _error(path, result).message
    _no_probe_left()


def test_a_file_llama_cpp_refuses_gets_llama_cpps_reason(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "bogus.gguf", extra_kv={"tokenizer.ggml.model": "bogus"})
    result = run_probe(str(path))
    assert result.returncode == llama_api.PROBE_REFUSED and not result.loaded
    error = _error(path, result)
    assert error.kind == ErrorKind.CORRUPT_FILE
    assert error.message.endswith("(llama.cpp: unknown tokenizer: 'bogus').")


@pytest.mark.model
def test_the_real_model_passes(model_path: Path) -> None:
    result = run_probe(str(model_path))
    assert (result.returncode, result.started, result.loaded) == (0, True, True), result.log
    assert _probe_error(model_path.name, result) is None


def test_the_flag_is_read_by_position(tmp_path: Path) -> None:
    """``--engine-probe`` comes first, so a model path is never read as another flag."""
    command = probe_command("--engine-child")
    assert command[-2:] == ["--engine-probe", "--engine-child"]
    result = run_probe("--engine-child")  # no such file: llama.cpp refuses, no engine starts
    assert result.returncode == llama_api.PROBE_REFUSED, result
    usage = subprocess.run(
        [*probe_command("x")[:-1]], stdin=subprocess.PIPE, capture_output=True, timeout=60
    )
    assert usage.returncode == 2 and b"usage: --engine-probe PATH" in usage.stderr


def test_a_frozen_app_runs_its_own_executable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert probe_command("m.gguf") == [sys.executable, "--engine-probe", "m.gguf"]


def test_the_probe_loads_llama_cpp_and_nothing_of_the_server(tmp_path: Path) -> None:
    """What the probe process imports, as Python itself reports it (-X importtime)."""
    path = write_gguf(tmp_path / "bogus.gguf", extra_kv={"tokenizer.ggml.model": "bogus"})
    stdin, held = os.pipe()  # ``held`` open: the probe exits when its stdin closes
    try:
        result = subprocess.run(
            probe_command(str(path)),
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"},
        )
    finally:
        os.close(stdin)
        os.close(held)
    assert result.returncode == llama_api.PROBE_REFUSED
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "llama_cpp.llama_cpp" in imported  # the bindings; not the high-level Llama
    heavy = {"pydantic", "fastapi", "uvicorn", "httpx", "PySide6", "psutil", "numpy", "jinja2"}
    assert not heavy & imported


# --- the runtime: probed once per file, and the engine lives on --------------------------


@pytest.fixture
def runtime() -> Iterator[EngineRuntime]:
    engine = EngineRuntime(log=LogTap(io.StringIO()))
    try:
        yield engine
    finally:
        engine.close()


def _load(runtime: EngineRuntime, path: Path) -> dict[str, object]:
    spec = ModelLoad(path=str(path), n_ctx=512, n_threads=2)
    status: dict[str, object] = runtime.executor.submit(runtime.load, spec).result(timeout=300)
    return status


def _probes(runtime: EngineRuntime) -> list[str]:
    log = runtime.log.stream
    assert isinstance(log, io.StringIO)
    return [line for line in log.getvalue().splitlines() if line.startswith("engine: probe of")]


@pytest.mark.model
def test_a_file_that_would_crash_the_engine_is_refused_and_the_model_stays(
    runtime: EngineRuntime, model_path: Path, tmp_path: Path
) -> None:
    _load(runtime, model_path)
    for path in (hollow(tmp_path), endless(tmp_path)):
        with pytest.raises(EngineRuntimeError) as caught:
            _load(runtime, path)
        assert caught.value.kind == ErrorKind.LOAD_FAILED and caught.value.status == 400
        assert caught.value.message.startswith(f"{path.name}: llama.cpp ")
        assert caught.value.message.endswith(f"{model_path.name} is still loaded.")
        assert runtime.status()["model_path"] == str(model_path)
    tokens = runtime.executor.submit(runtime.text_prompt, "Once upon a time").result(60)
    result = runtime.executor.submit(
        runtime.generate, tokens, SamplingOptions(max_tokens=4), threading.Event()
    ).result(60)
    assert result.completion_tokens > 0
    probes = _probes(runtime)
    assert probes[1].startswith("engine: probe of hollow.gguf: exit status")
    assert probes[2] == "engine: probe of endless.gguf: no answer in 10 s, killed"


@pytest.mark.model
def test_each_version_of_a_file_is_probed_once(
    runtime: EngineRuntime, model_path: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "model.gguf"
    shutil.copyfile(model_path, copy)  # its own mtime, to change below
    _load(runtime, copy)
    _load(runtime, copy)
    assert len(_probes(runtime)) == 1, _probes(runtime)
    st = copy.stat()
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    _load(runtime, copy)
    assert len(_probes(runtime)) == 2, _probes(runtime)


@pytest.mark.model
def test_a_probe_that_cannot_run_does_not_stop_a_load(
    runtime: EngineRuntime, model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A launcher that does not know the flag, or no executable at all: logged, and the
    file loads as it did before there was a probe (and is not taken as proven)."""
    monkeypatch.setattr(
        runtime_module, "probe_command", lambda path: [sys.executable, "-c", "raise SystemExit(2)"]
    )
    assert _load(runtime, model_path)["model_path"] == str(model_path)
    monkeypatch.setattr(
        runtime_module, "probe_command", lambda path: [str(Path(sys.executable).parent / "nope")]
    )
    assert _load(runtime, model_path)["model_path"] == str(model_path)
    first, second = _probes(runtime)
    assert first.startswith(f"engine: probe of {model_path.name}: exit status 2 after ")
    assert second.startswith(f"engine: probe of {model_path.name} could not start: ")
