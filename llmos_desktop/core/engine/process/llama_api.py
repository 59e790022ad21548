"""Every use of llama-cpp-python's private or low-level API, in one module.

The runtime needs more than ``llama_cpp.Llama``'s public methods: load progress,
an abort callback, saving and restoring the KV state, detokenizing one token
without copies, llama.cpp's log. Those reach into ctypes bindings and private
attributes (``Llama._ctx``, ``Llama._model``, ``Llama.input_ids``, ``n_tokens``)
that a llama-cpp-python release may change, so they all live here: an upgrade is
this one file to check (pyproject.toml pins the tested range, and
tests/unit/core/engine/process/test_llama_api.py runs each function for real).

Runs in the engine process only; the GUI process never imports llama_cpp.
``python -m llmos_desktop.core.engine.process.llama_api NAME...`` prints which of the
architecture names the installed llama.cpp loads (known_architectures), as JSON.
``<python> -m llmos_desktop --engine-probe PATH`` runs ``probe_main``: the runtime's
throwaway test of a model file llama.cpp might abort or hang on.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import struct
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # pydantic stays out of the probe process (probe_main)
    from llmos_desktop.core.engine.contract import SamplingOptions

# ``Llama`` objects are typed Any: llama_cpp ships no type information.
Llama = Any


def install_log_callback(on_line: Callable[[str], None]) -> object:
    """Route llama.cpp's log (process-wide) to ``on_line``; keep the result alive."""
    import llama_cpp

    def _on_log(_level: int, text: bytes | None, _user: Any) -> None:
        if text:
            on_line(text.decode("utf-8", "replace"))

    callback = llama_cpp.llama_log_callback(_on_log)
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    return callback


def open_model(
    path: str,
    *,
    n_ctx: int,
    n_gpu_layers: int,
    n_threads: int,
    on_progress: Callable[[float], None],
    chatter: TextIO,
) -> Llama:
    """``llama_cpp.Llama`` for ``path``, reporting weight-loading progress (0..1).

    What llama-cpp-python itself prints while loading (the metadata, its chat-format
    guesses, which contradict our own template choice) goes to ``chatter``, the log.

    llama-cpp-python has no progress argument; its Llama() builds the model params
    from ``llama_model_default_params()``, so for the length of this call we hand it
    defaults that carry our callback. Call from one thread at a time (the runtime's
    worker): the patched function is module state.
    """
    import llama_cpp
    import llama_cpp.llama_cpp as low_level  # the module whose function Llama() calls

    original_defaults = getattr(low_level, "llama_model_default_params")  # noqa: B009

    def progress(value: float, _user: Any) -> bool:
        on_progress(float(value))
        return True

    progress_cb = llama_cpp.llama_progress_callback(progress)

    def defaults_with_progress() -> Any:
        model_params = original_defaults()
        model_params.progress_callback = progress_cb
        return model_params

    setattr(low_level, "llama_model_default_params", defaults_with_progress)  # noqa: B010
    try:
        with contextlib.redirect_stderr(chatter), contextlib.redirect_stdout(chatter):
            return llama_cpp.Llama(
                model_path=path,
                n_ctx=n_ctx,
                n_gpu_layers=n_gpu_layers,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                n_batch=512,
                # Keeps the whole sliding-window cache, so prefixes (and saved states) of
                # SWA models such as Gemma 3 can be reused instead of re-evaluated.
                swa_full=True,
                # verbose=False would redirect the whole process's stdout/stderr (file
                # descriptors) during the load; llama.cpp's log goes to
                # install_log_callback's target instead.
                verbose=True,
            )
    finally:
        setattr(low_level, "llama_model_default_params", original_defaults)  # noqa: B010


class AbortSwitch:
    """llama.cpp's abort callback for one model, armed only when it is worth its cost.

    ggml calls it for every graph node, and each call enters Python (taking the GIL
    from a compute thread): ~5% of generation speed. Between generated tokens the
    runtime checks its cancel event itself, so the callback is armed only during a
    prompt evaluation, where it lets Stop interrupt ``llama_decode``.
    """

    def __init__(self, llm: Llama, should_abort: Callable[[], bool]) -> None:
        import llama_cpp

        self._llm = llm
        self._set = llama_cpp.llama_set_abort_callback
        self._armed = llama_cpp.ggml_abort_callback(lambda _data: bool(should_abort()))
        self._off = llama_cpp.ggml_abort_callback()  # a NULL function pointer

    def arm(self, armed: bool) -> None:
        self._set(self._llm._ctx.ctx, self._armed if armed else self._off, None)


def sampling_args(sampling: SamplingOptions) -> dict[str, Any]:
    """``Llama.generate``'s keyword arguments for the contract's sampling options."""
    return {
        "temp": sampling.temperature,
        "top_k": sampling.top_k,
        "top_p": sampling.top_p,
        "min_p": sampling.min_p,
        "repeat_penalty": sampling.repeat_penalty,
        "presence_penalty": sampling.presence_penalty,
        "frequency_penalty": sampling.frequency_penalty,
    }


def tokenize(llm: Llama, text: str) -> list[int]:
    """Tokens of ``text`` with special tokens parsed, and one BOS if the model wants it."""
    import llama_cpp

    tokens: list[int] = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    # Templates usually print the BOS token themselves; add it only when missing and
    # the model wants one (never twice).
    bos = llm.token_bos()
    wants_bos = bool(llama_cpp.llama_vocab_get_add_bos(llm._model.vocab))
    if wants_bos and bos >= 0 and (not tokens or tokens[0] != bos):
        tokens = [bos, *tokens]
    return tokens


class TokenText:
    """Per-token facts the generation loop asks for at every token, without copies."""

    def __init__(self, llm: Llama) -> None:
        import llama_cpp

        self._vocab = llm._model.vocab
        self._to_piece = llama_cpp.llama_token_to_piece
        self._is_eog = llama_cpp.llama_vocab_is_eog
        self._buf = ctypes.create_string_buffer(256)

    def is_end(self, token: int) -> bool:
        """End of generation (EOS, EOT and the like)."""
        return bool(self._is_eog(self._vocab, token))

    def piece(self, token: int) -> bytes:
        """The token's bytes (may be part of a UTF-8 character)."""
        buf = self._buf
        n = self._to_piece(self._vocab, token, buf, len(buf), 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._to_piece(self._vocab, token, buf, len(buf), 0, False)
        return buf.raw[:n]


def tokens_in_context(llm: Llama) -> list[int]:
    """The tokens whose KV state the context holds now."""
    return list(llm.input_ids[: llm.n_tokens].tolist())


def save_state(llm: Llama, max_bytes: int) -> bytearray | None:
    """The context's KV state (sequence 0), or None if empty or above ``max_bytes``.

    llama.cpp writes straight into the bytearray that is returned: no copy.
    """
    import llama_cpp

    ctx = llm._ctx.ctx
    size = int(llama_cpp.llama_state_seq_get_size(ctx, 0))
    if size <= 0 or size > max_bytes:
        return None
    state = bytearray(size)
    view = (ctypes.c_uint8 * size).from_buffer(state)
    written = int(llama_cpp.llama_state_seq_get_data(ctx, view, size, 0))
    del view  # releases the export, so the bytearray may be trimmed
    if written <= 0:
        return None
    del state[written:]
    return state


def restore_state(llm: Llama, tokens: Sequence[int], state: bytearray) -> bool:
    """Replace the context with a saved state of ``tokens``; False (context empty) on failure."""
    import llama_cpp

    ctx = llm._ctx.ctx
    memory = llama_cpp.llama_get_memory(ctx)
    llama_cpp.llama_memory_clear(memory, True)
    data = (ctypes.c_uint8 * len(state)).from_buffer(state)
    if int(llama_cpp.llama_state_seq_set_data(ctx, data, len(state), 0)) == 0:
        llama_cpp.llama_memory_clear(memory, True)
        llm.n_tokens = 0
        return False
    n = len(tokens)
    llm.input_ids[:n] = tokens
    llm.n_tokens = n
    llm._requires_eval = True
    return True


_BACKEND_CACHE: dict[str, Any] = {}


def backend_info() -> dict[str, Any]:
    """The compiled backend (CPU, CUDA, Metal, ...), GPU offload support and versions."""
    if _BACKEND_CACHE:
        return dict(_BACKEND_CACHE)
    import llama_cpp

    system = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    backend = "CPU"
    for name in ("CUDA", "Metal", "Vulkan", "ROCm", "HIP", "SYCL", "OpenCL"):
        if f"{name} :" in system or f"{name}:" in system or name.upper() in system.upper().split():
            backend = "ROCm" if name == "HIP" else name
            break
    _BACKEND_CACHE.update(
        {
            "backend": backend,
            "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
            "llama_cpp_python": getattr(llama_cpp, "__version__", "unknown"),
            "system_info": system.strip(),
        }
    )
    return dict(_BACKEND_CACHE)


# --- which architectures the installed llama.cpp loads ---------------------------------
# llama.cpp has no API that lists its architectures, so each candidate name is tried: a
# GGUF holding nothing but ``general.architecture`` is loaded with ``vocab_only``, and
# llama.cpp's log says how far it got. An unknown name fails at once ("unknown model
# architecture: 'NAME'"); a known one gets past model creation and fails on the
# vocabulary the file lacks. Names llama.cpp knows but will not load as a model
# ("clip") count as not loadable. A failed load could abort the process, so the test
# (tests/unit/core/models/test_architectures.py) runs this in a child process.

_UNKNOWN = ("unknown model architecture: '{}'", "unsupported model architecture: '{}'")
_NOT_A_MODEL = "cannot be used as main model"
_PAST_CREATION = "error loading model vocabulary"  # the first step after the architecture


def known_architectures(candidates: Iterable[str]) -> set[str]:
    """The candidate names that the installed llama.cpp loads as a model architecture.

    Raises RuntimeError for a name whose load ends in a way this probe does not
    recognise (a changed llama.cpp message), with llama.cpp's log for it.
    """
    import llama_cpp

    lines: list[str] = []

    def on_log(level: int, text: bytes | None, user_data: Any) -> None:
        if text:
            lines.append(text.decode("utf-8", "replace"))

    callback = llama_cpp.llama_log_callback(on_log)
    previous = llama_cpp.llama_log_callback()
    previous_data = ctypes.c_void_p()
    llama_cpp.llama_log_get(ctypes.byref(previous), ctypes.byref(previous_data))
    llama_cpp.llama_backend_init()
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    known: set[str] = set()
    try:
        with tempfile.TemporaryDirectory(prefix="llmos-arch-probe-") as folder:
            path = Path(folder) / "probe.gguf"
            for name in sorted(set(candidates)):
                path.write_bytes(_architecture_only_gguf(name))
                lines.clear()
                model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
                log = "".join(lines)
                if model:
                    llama_cpp.llama_model_free(model)
                    known.add(name)
                elif (
                    any(pattern.format(name) in log for pattern in _UNKNOWN) or _NOT_A_MODEL in log
                ):
                    pass
                elif _PAST_CREATION in log:
                    known.add(name)
                else:
                    raise RuntimeError(f"cannot tell whether llama.cpp knows {name!r}:\n{log}")
    finally:
        llama_cpp.llama_log_set(previous, previous_data)
    return known


def _architecture_only_gguf(architecture: str) -> bytes:
    """A GGUF v3 file: no tensors, one key/value pair (general.architecture, a string)."""
    key = b"general.architecture"
    value = architecture.encode("utf-8")
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, 1)
    kv = struct.pack("<Q", len(key)) + key + struct.pack("<IQ", 8, len(value)) + value
    return header + kv


# --- the probe: a model file tried in a throwaway process ------------------------------
# llama.cpp aborts (GGML_ASSERT, an uncaught C++ exception) or hangs on some files that
# no check before it foresees, and an abort takes the whole process with it. So before
# the engine loads a file for the first time, probe_main runs in a process of its own
# (``<python> -m llmos_desktop --engine-probe PATH``; a frozen app's executable takes
# the same flag): it loads the file's vocabulary the way the engine will (no weights,
# no GPU, mmap), tokenizes PROBE_TEXT and turns each token back into text. The engine
# (runtime.py) reads how it ended: exit status 0; PROBE_REFUSED (llama.cpp refused the
# file; its reason is on stderr); a signal or another status (it crashed); or no end in
# time (it hangs). Two lines on stdout mark its progress: PROBE_STARTED once llama_cpp
# is imported (without it, the probe itself could not run), PROBE_LOADED once the
# vocabulary is loaded (so that a hang while tokenizing is told apart from a slow
# load). It imports llama-cpp-python's ctypes bindings and nothing of the server, and
# exits when its stdin closes, i.e. when the engine is gone.

PROBE_STARTED = "LLMOS-PROBE-STARTED"
PROBE_LOADED = "LLMOS-PROBE-LOADED"
PROBE_REFUSED = 10  # exit status: llama.cpp refused the file (its log on stderr says why)
# Every printable ASCII character and some plain text: a vocabulary that llama.cpp cannot
# tokenize this with would abort the engine at a user's first message.
PROBE_TEXT = (
    "".join(chr(c) for c in range(32, 127))
    + "\nHello, world! The quick brown fox jumps over the lazy dog.\n\t0123456789\n"
)
# llama.cpp warnings passed on to stderr, at most (some files cause one per token).
_PROBE_WARNINGS = 50
_GGML_LOG_WARN, _GGML_LOG_ERROR, _GGML_LOG_CONT = 3, 4, 5


def probe_main(args: Sequence[str]) -> int:
    """``--engine-probe PATH``: probe_model on PATH; the exit status says how it went.

    The caller must hold the probe's stdin open (a pipe): when it closes, the probe exits.
    It ends with os._exit: the thread that watches stdin is still reading, and nothing
    needs the interpreter's clean-up.
    """
    if len(args) != 1:
        print("usage: --engine-probe PATH", file=sys.stderr)
        return 2
    _exit_when_stdin_closes()
    status = probe_model(args[0], sys.stdout)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def probe_model(path: str, out: TextIO) -> int:
    """Load ``path``'s vocabulary as the engine would, tokenize PROBE_TEXT and turn the
    tokens back into text; 0, or PROBE_REFUSED if llama.cpp refused the file.

    May abort or hang the process: run it in one of its own (probe_main), except on a
    file known to be good (a test). Writes PROBE_STARTED and PROBE_LOADED to ``out`` as
    it gets there, and llama.cpp's warnings and errors (not its chatter) to stderr; the
    log callback that was set before is set again at the end.
    """
    llama_cpp = _bindings()
    out.write(PROBE_STARTED + "\n")
    out.flush()

    warnings = 0
    passing = False

    def on_log(level: int, text: bytes | None, _user: Any) -> None:
        nonlocal warnings, passing
        if level != _GGML_LOG_CONT:  # a continued line goes where its start went
            warning = level == _GGML_LOG_WARN
            passing = level == _GGML_LOG_ERROR or (warning and warnings < _PROBE_WARNINGS)
            warnings += warning
        if text and passing:
            sys.stderr.write(text.decode("utf-8", "replace"))

    callback = llama_cpp.llama_log_callback(on_log)
    previous = llama_cpp.llama_log_callback()
    previous_data = ctypes.c_void_p()
    llama_cpp.llama_log_get(ctypes.byref(previous), ctypes.byref(previous_data))
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    try:
        llama_cpp.llama_backend_init()
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        params.n_gpu_layers = 0
        params.use_mmap = True
        model = llama_cpp.llama_model_load_from_file(os.fsencode(path), params)
        if not model:
            return PROBE_REFUSED
        out.write(PROBE_LOADED + "\n")
        out.flush()
        vocab = llama_cpp.llama_model_get_vocab(model)
        text = PROBE_TEXT.encode("utf-8")
        tokens = (llama_cpp.llama_token * (len(text) + 8))()
        # As the engine tokenizes (tokenize above): special tokens parsed, BOS as it wants.
        llama_cpp.llama_vocab_get_add_bos(vocab)
        n = llama_cpp.llama_tokenize(vocab, text, len(text), tokens, len(tokens), True, True)
        piece = ctypes.create_string_buffer(256)
        for token in tokens[: max(0, n)]:
            llama_cpp.llama_token_to_piece(vocab, token, piece, len(piece), 0, False)
            llama_cpp.llama_vocab_is_eog(vocab, token)
        llama_cpp.llama_model_free(model)
        return 0
    finally:
        llama_cpp.llama_log_set(previous, previous_data)


def _bindings() -> Any:
    """llama-cpp-python's ctypes bindings (``llama_cpp.llama_cpp``), all the probe uses.

    In a process that has not imported llama_cpp yet, its ``__init__`` is skipped: it
    imports the high-level ``Llama`` with numpy and Jinja2, 0.2 s of the probe's 1 s.
    """
    if "llama_cpp" not in sys.modules:
        import importlib.util
        import types

        spec = importlib.util.find_spec("llama_cpp")
        if spec is not None and spec.submodule_search_locations:
            package = types.ModuleType("llama_cpp")
            package.__path__ = list(spec.submodule_search_locations)
            package.__spec__ = spec
            sys.modules["llama_cpp"] = package
    import llama_cpp.llama_cpp as bindings

    return bindings


def _exit_when_stdin_closes() -> None:
    import threading

    def watch() -> None:
        with contextlib.suppress(Exception):
            while sys.stdin.buffer.read(1024):
                pass
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


if __name__ == "__main__":
    print(json.dumps(sorted(known_architectures(sys.argv[1:]))))
