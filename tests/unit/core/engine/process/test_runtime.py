"""The runtime: stop strings found across tokens; loads that fail keep a model; bounds."""

from __future__ import annotations

import io
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from llmos_desktop.core.engine.contract import ErrorKind, ModelLoad, SamplingOptions
from llmos_desktop.core.engine.process.runtime import (
    EngineRuntime,
    EngineRuntimeError,
    LogTap,
    _release,
    _stop_prefix_len,
)

T = TypeVar("T")


@pytest.mark.parametrize(
    ("text", "stops", "held"),
    [
        ("Hello", ("<end_of_turn>",), 0),
        ("Hello <", ("<end_of_turn>",), 1),
        ("Hello <end_of", ("<end_of_turn>",), 7),
        ("Hello <end_of_turn", ("<end_of_turn>",), 12),
        ("ab", ("abc", "bx"), 2),
        ("xb", ("abc", "bx"), 1),
        ("", ("abc",), 0),
        ("abc", (), 0),
        # A stop of one character is found whole, never held.
        ("a.", (".",), 0),
    ],
)
def test_only_text_that_can_start_a_stop_is_held(
    text: str, stops: tuple[str, ...], held: int
) -> None:
    assert _stop_prefix_len(text, stops) == held


def test_held_text_is_enough_to_find_a_stop_split_across_tokens() -> None:
    stops = ("</s>", "\nUser:")
    pieces = ["Sure", ", here", " it is.\n", "Us", "er", ": next"]
    pending = ""
    sent = ""
    for piece in pieces:
        ready, pending, stopped = _release(pending + piece, stops)
        sent += ready
        if stopped:
            break
    assert sent == "Sure, here it is."


# --- loading, on the real model ---------------------------------------------------------


@pytest.fixture
def runtime() -> Iterator[EngineRuntime]:
    engine = EngineRuntime(log=LogTap(io.StringIO()))
    try:
        yield engine
    finally:
        engine.close()


def _on_worker(runtime: EngineRuntime, func: Callable[..., T], *args: Any) -> T:
    return runtime.executor.submit(func, *args).result(timeout=120)


def _wrong_architecture(model_path: Path, tmp_path: Path) -> Path:
    """The real model, its architecture renamed gemma3 -> gemma2: it passes the file check
    (gemma2 is known) and llama.cpp then refuses it, missing gemma2's keys."""
    copy = tmp_path / "renamed.gguf"
    shutil.copyfile(model_path, copy)
    with copy.open("r+b") as file:
        head = file.read(1 << 20)
        at = head.index(b"general.architecture") + len(b"general.architecture") + 12
        assert head[at : at + 6] == b"gemma3"
        file.seek(at)
        file.write(b"gemma2")
    return copy


@pytest.mark.model
def test_a_load_llama_cpp_refuses_says_why_and_keeps_the_model_that_was_loaded(
    runtime: EngineRuntime, model_path: Path, tmp_path: Path
) -> None:
    good = ModelLoad(path=str(model_path), n_ctx=1024, n_threads=2)
    _on_worker(runtime, runtime.load, good)
    # More llama.cpp log lines than the tap keeps: the failing load's own lines count.
    runtime.log.lines.extend(["filler\n"] * 1000)
    with pytest.raises(EngineRuntimeError) as caught:
        _on_worker(
            runtime, runtime.load, ModelLoad(path=str(_wrong_architecture(model_path, tmp_path)))
        )
    assert "key not found in model: gemma2" in caught.value.message
    assert f"{model_path.name} is still loaded" in caught.value.message
    assert runtime.status()["model_path"] == str(model_path)
    tokens = _on_worker(runtime, runtime.text_prompt, "Once upon a time")
    result = _on_worker(
        runtime, runtime.generate, tokens, SamplingOptions(max_tokens=4), threading.Event()
    )
    assert result.completion_tokens > 0


@pytest.mark.model
def test_when_both_do_not_fit_the_previous_model_is_loaded_again(
    runtime: EngineRuntime, model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psutil

    from llmos_desktop.core.models.gguf import estimate_memory_bytes, read_gguf_info

    good = ModelLoad(path=str(model_path), n_ctx=1024, n_threads=2)
    _on_worker(runtime, runtime.load, good)
    bad = _wrong_architecture(model_path, tmp_path)
    # Memory for one model, not two: the current one must be closed first.
    needed = estimate_memory_bytes(read_gguf_info(bad), 4096)
    real = psutil.virtual_memory()
    monkeypatch.setattr(psutil, "virtual_memory", lambda: real._replace(available=needed - 1))
    with pytest.raises(EngineRuntimeError) as caught:
        _on_worker(runtime, runtime.load, ModelLoad(path=str(bad)))
    assert f"{model_path.name} was loaded again" in caught.value.message
    assert runtime.status()["model_path"] == str(model_path)


@pytest.mark.model
def test_context_and_threads_are_capped_with_a_warning(
    runtime: EngineRuntime, model_path: Path
) -> None:
    cores = os.cpu_count() or 1
    status = _on_worker(
        runtime, runtime.load, ModelLoad(path=str(model_path), n_ctx=1_048_576, n_threads=1024)
    )
    trained = status["model_info"]["context_length_trained"]
    assert status["n_ctx"] == trained < 1_048_576
    assert status["n_threads"] == cores
    assert len(status["warnings"]) == 2
    assert f"using {trained}" in status["warnings"][0]


@pytest.mark.model
def test_a_huge_prompt_is_refused_before_it_is_tokenized(
    runtime: EngineRuntime, model_path: Path
) -> None:
    _on_worker(runtime, runtime.load, ModelLoad(path=str(model_path), n_ctx=1024, n_threads=2))
    started = time.monotonic()
    with pytest.raises(EngineRuntimeError) as caught:
        _on_worker(runtime, runtime.text_prompt, "word " * 1_600_000)  # 8 MB
    assert caught.value.kind == ErrorKind.CONTEXT_LENGTH_EXCEEDED
    assert time.monotonic() - started < 2.0  # tokenizing it took ~10 s
    with pytest.raises(EngineRuntimeError):
        _on_worker(runtime, runtime.chat_prompt, [{"role": "user", "content": "x" * 8_000_000}])


@pytest.mark.model
def test_status_is_safe_while_models_load_and_unload(
    runtime: EngineRuntime, model_path: Path
) -> None:
    spec = ModelLoad(path=str(model_path), n_ctx=512, n_threads=2)
    stop = threading.Event()
    seen: list[bool] = []
    errors: list[BaseException] = []

    def hammer() -> None:
        while not stop.is_set():
            try:
                seen.append(bool(runtime.status()["loaded"]))
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(4):
            _on_worker(runtime, runtime.load, spec)
            _on_worker(runtime, runtime.unload)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert not errors
    assert True in seen and False in seen
