"""The llama-cpp-python boundary, run for real on the test model.

Each function of llama_api reaches into llama-cpp-python's private or low-level API;
these tests are what a llama-cpp-python upgrade is checked with (see pyproject.toml).
"""

from __future__ import annotations

import io
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmos_desktop.core.engine.process import llama_api


@pytest.fixture(scope="module")
def loaded(model_path: Path) -> Iterator[tuple[Any, list[float], str, list[str]]]:
    log_lines: list[str] = []
    keep_alive = llama_api.install_log_callback(log_lines.append)
    progress: list[float] = []
    chatter = io.StringIO()
    llm = llama_api.open_model(
        str(model_path),
        n_ctx=512,
        n_gpu_layers=0,
        n_threads=2,
        on_progress=progress.append,
        chatter=chatter,
    )
    try:
        yield llm, progress, chatter.getvalue(), log_lines
    finally:
        llm.close()
        del keep_alive


@pytest.mark.model
def test_open_model_reports_progress_and_keeps_python_chatter_off_the_terminal(
    loaded: tuple[Any, list[float], str, list[str]],
) -> None:
    llm, progress, chatter, log_lines = loaded
    assert llm.n_ctx() == 512
    assert progress and progress[-1] == pytest.approx(1.0)
    assert progress == sorted(progress)
    # llama-cpp-python's own prints (metadata, chat-format guesses) went to ``chatter``,
    # llama.cpp's log to the callback.
    assert "general.architecture" in chatter or "Model metadata" in chatter
    assert any("llama_model_loader" in line for line in log_lines)


@pytest.mark.model
def test_tokenize_adds_exactly_one_bos(loaded: tuple[Any, list[float], str, list[str]]) -> None:
    llm = loaded[0]
    bos = llm.token_bos()
    plain = llama_api.tokenize(llm, "Hello there")
    assert plain[0] == bos and plain.count(bos) == 1
    # A template that prints the BOS itself does not get a second one.
    assert llama_api.tokenize(llm, "<bos>Hello there") == plain


@pytest.mark.model
def test_token_text_pieces_and_end_of_generation(
    loaded: tuple[Any, list[float], str, list[str]],
) -> None:
    llm = loaded[0]
    text = llama_api.TokenText(llm)
    tokens = llama_api.tokenize(llm, "naïve café 🙂")[1:]
    assert b"".join(text.piece(t) for t in tokens).decode() == "naïve café 🙂"
    assert text.is_end(llm.token_eos())
    assert not any(text.is_end(t) for t in tokens)


@pytest.mark.model
def test_state_saved_and_restored_gives_the_same_next_token(
    loaded: tuple[Any, list[float], str, list[str]],
) -> None:
    llm = loaded[0]
    prompt = llama_api.tokenize(llm, "The capital of France is")
    llm.reset()
    llm.eval(prompt)
    assert llama_api.tokens_in_context(llm) == prompt
    state = llama_api.save_state(llm, max_bytes=1 << 30)
    assert state is not None and len(state) > 0
    assert llama_api.save_state(llm, max_bytes=16) is None, "a state above the cap is not kept"
    expected = _greedy_next(llm, prompt)

    llm.reset()
    llm.eval(llama_api.tokenize(llm, "Something else entirely"))
    assert llama_api.restore_state(llm, prompt, state)
    assert llama_api.tokens_in_context(llm) == prompt
    assert _greedy_next(llm, prompt) == expected


def _greedy_next(llm: Any, prompt: list[int]) -> int:
    generator = llm.generate(prompt, top_k=1, temp=0.0)
    try:
        return int(next(generator))
    finally:
        generator.close()


@pytest.mark.model
def test_armed_abort_switch_interrupts_prompt_evaluation(
    loaded: tuple[Any, list[float], str, list[str]],
) -> None:
    llm = loaded[0]
    abort = threading.Event()
    switch = llama_api.AbortSwitch(llm, abort.is_set)
    prompt = llama_api.tokenize(llm, "word " * 300)
    abort.set()
    switch.arm(True)
    llm.reset()
    try:
        with pytest.raises(RuntimeError):
            llm.eval(prompt)
    finally:
        switch.arm(False)
    # Disarmed, the same evaluation runs although the event is still set.
    llm.reset()
    llm.eval(prompt)
    assert llama_api.tokens_in_context(llm) == prompt


def test_backend_info_names_a_backend() -> None:
    info = llama_api.backend_info()
    assert info["backend"] in {"CPU", "CUDA", "Metal", "Vulkan", "ROCm", "SYCL", "OpenCL"}
    assert isinstance(info["gpu_offload"], bool)
    assert info["llama_cpp_python"].startswith("0.")


def _log_callback() -> int | None:
    import ctypes

    import llama_cpp

    callback = llama_cpp.llama_log_callback()
    data = ctypes.c_void_p()
    llama_cpp.llama_log_get(ctypes.byref(callback), ctypes.byref(data))
    return ctypes.cast(callback, ctypes.c_void_p).value


@pytest.mark.model
def test_probe_model_reads_the_vocabulary_tokenizes_and_puts_the_log_back(
    loaded: tuple[Any, list[float], str, list[str]], model_path: Path
) -> None:
    """In this process only because the file is good; the engine runs it in its own."""
    before = _log_callback()
    out = io.StringIO()
    assert llama_api.probe_model(str(model_path), out) == 0
    assert out.getvalue().splitlines() == [llama_api.PROBE_STARTED, llama_api.PROBE_LOADED]
    assert _log_callback() == before
    out = io.StringIO()
    assert llama_api.probe_model(str(model_path) + ".missing", out) == llama_api.PROBE_REFUSED
    assert out.getvalue().splitlines() == [llama_api.PROBE_STARTED]
    assert _log_callback() == before


def test_llama_api_imports_no_pydantic() -> None:
    """The probe process imports llama_api; the contract's pydantic is for type checks only."""
    code = (
        "import sys, llmos_desktop.core.engine.process.llama_api; "
        "print(sorted(m for m in ('pydantic', 'fastapi', 'llama_cpp') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]", "nothing heavy until a function needs it"
