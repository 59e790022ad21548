"""llama.cpp inside the engine process: loading, generation, cancellation, prompt cache.

Everything that touches llama.cpp runs on one dedicated worker thread (``executor``),
so requests are served one at a time, in the order they were submitted. This module
is imported only in the engine process; the GUI process never imports llama_cpp.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import ctypes
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos_desktop.core.engine.errors import classify_log

ProgressCallback = Callable[[float, str], None]
# (new text, completion tokens generated so far)
TextCallback = Callable[[str, int], None]

# Below this many tokens a cached state is not worth the copy.
_MIN_CACHED_TOKENS = 32


class EngineRuntimeError(Exception):
    """A failure with a machine-readable kind and a one-line human message."""

    def __init__(self, kind: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status


@dataclass(frozen=True)
class LoadParams:
    path: str
    n_ctx: int = 4096
    n_gpu_layers: int = 0
    n_threads: int | None = None
    chat_template: str | None = None
    alias: str | None = None


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass
class GenerationResult:
    text: str
    finish_reason: str  # "stop", "length" or "cancelled"
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    ttft_s: float | None
    prompt_tokens_per_s: float | None
    tokens_per_s: float | None


@dataclass
class Metrics:
    ttft_s: float | None = None
    prompt_tokens_per_s: float | None = None
    tokens_per_s: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    requests: int = 0


@dataclass
class _CacheEntry:
    tokens: list[int]
    state: bytearray  # written by llama.cpp in place; never modified afterwards


@dataclass
class PromptCache:
    """Saved KV states of recent conversations, found by longest token prefix (LRU, bounded)."""

    capacity_bytes: int
    entries: collections.OrderedDict[int, _CacheEntry] = field(
        default_factory=collections.OrderedDict
    )
    _next_id: int = 0

    @property
    def size_bytes(self) -> int:
        return sum(len(entry.state) for entry in self.entries.values())

    def lookup(self, tokens: Sequence[int]) -> tuple[_CacheEntry | None, int]:
        best: _CacheEntry | None = None
        best_len = 0
        best_key = -1
        for key, entry in self.entries.items():
            n = common_prefix(entry.tokens, tokens)
            if n > best_len:
                best, best_len, best_key = entry, n, key
        if best is not None:
            self.entries.move_to_end(best_key)
        return best, best_len

    def store(self, tokens: list[int], state: bytearray) -> None:
        if len(state) > self.capacity_bytes:
            return
        # An entry that is a prefix of the new one is superseded by it.
        for key in [
            k for k, e in self.entries.items() if common_prefix(e.tokens, tokens) == len(e.tokens)
        ]:
            del self.entries[key]
        self.entries[self._next_id] = _CacheEntry(tokens, state)
        self._next_id += 1
        while self.size_bytes > self.capacity_bytes and self.entries:
            self.entries.popitem(last=False)

    def clear(self) -> None:
        self.entries.clear()


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class LogTap:
    """Routes llama.cpp's log lines to our log stream and keeps the last ones for diagnosis."""

    def __init__(self, stream: Any = None, keep: int = 400) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self.lines: collections.deque[str] = collections.deque(maxlen=keep)
        self._callback: Any = None

    def install(self) -> None:
        import llama_cpp

        def _on_log(level: int, text: bytes | None, _user: Any) -> None:
            if not text:
                return
            line = text.decode("utf-8", "replace")
            self.lines.append(line)
            with contextlib.suppress(Exception):  # a log line must never take the engine down
                self._stream.write(line)

        self._callback = llama_cpp.llama_log_callback(_on_log)
        llama_cpp.llama_log_set(self._callback, ctypes.c_void_p(0))

    def tail(self, n: int = 60) -> str:
        return "".join(list(self.lines)[-n:])


class EngineRuntime:
    """One loaded model and the single worker thread that owns it."""

    def __init__(self, *, cache_bytes: int = 1 << 30, log: LogTap | None = None) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")
        self.log = log or LogTap()
        self.cache = PromptCache(capacity_bytes=max(0, cache_bytes))
        self.metrics = Metrics()
        self._llm: Any = None
        self._params: LoadParams | None = None
        self._template: Any = None
        self._model_info: dict[str, Any] = {}
        self._cancel: threading.Event = _NEVER
        self._abort_cb: Any = None
        self._piece_buf = ctypes.create_string_buffer(256)
        self._load_started: float | None = None
        self.log_installed = False

    # --- information (safe from any thread) ---------------------------------------

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    @property
    def model_id(self) -> str | None:
        if self._params is None or self._llm is None:
            return None
        return self._params.alias or Path(self._params.path).stem

    def status(self) -> dict[str, Any]:
        import psutil

        llm = self._llm
        params = self._params
        status: dict[str, Any] = {
            "loaded": llm is not None,
            "model": self.model_id,
            "model_path": params.path if (params and llm is not None) else None,
            "n_ctx": llm.n_ctx() if llm is not None else None,
            "n_gpu_layers": params.n_gpu_layers if (params and llm is not None) else None,
            "n_threads": llm.n_threads if llm is not None else None,
            "tokens_in_context": int(llm.n_tokens) if llm is not None else 0,
            "chat_template": self._template.describe() if self._template is not None else None,
            "chat_template_name": self._template.name if self._template is not None else None,
            "memory_rss_bytes": psutil.Process().memory_info().rss,
            "prompt_cache": {
                "entries": len(self.cache.entries),
                "bytes": self.cache.size_bytes,
                "capacity_bytes": self.cache.capacity_bytes,
            },
            "last_request": {
                "ttft_s": self.metrics.ttft_s,
                "prompt_tokens_per_s": self.metrics.prompt_tokens_per_s,
                "tokens_per_s": self.metrics.tokens_per_s,
                "prompt_tokens": self.metrics.prompt_tokens,
                "completion_tokens": self.metrics.completion_tokens,
                "cached_tokens": self.metrics.cached_tokens,
            },
            "requests_served": self.metrics.requests,
        }
        status.update(backend_info())
        status["model_info"] = dict(self._model_info)
        return status

    # --- loading (worker thread) ----------------------------------------------------

    def load(self, params: LoadParams, progress: ProgressCallback | None = None) -> dict[str, Any]:
        from llmos_desktop.core.templates import ChatTemplateError, choose_template
        from llmos_desktop.core.models.gguf import ModelFileError, check_model_file

        report = progress or (lambda _p, _s: None)
        report(0.0, "checking file")
        try:
            info = check_model_file(params.path, n_ctx=params.n_ctx)
        except ModelFileError as exc:
            raise EngineRuntimeError(
                exc.kind, exc.message, status=404 if exc.kind == "missing" else 400
            ) from exc
        try:
            template = choose_template(
                model_template=info.chat_template,
                architecture=info.architecture,
                override=params.chat_template,
                bos_token=info.bos_token,
                eos_token=info.eos_token,
            )
        except ChatTemplateError as exc:
            raise EngineRuntimeError(
                "invalid_chat_template", f"chat template override: {exc}"
            ) from exc

        self.unload()
        self._ensure_log()
        llm = self._construct(params, report)
        self._llm = llm
        self._params = params
        self._template = template
        self._model_info = {
            "architecture": info.architecture,
            "name": info.name,
            "file_size": info.file_size,
            "file_type": info.file_type,
            "context_length_trained": info.context_length,
        }
        self._install_abort(llm)
        report(1.0, "ready")
        return self.status()

    def _ensure_log(self) -> None:
        if not self.log_installed:
            self.log.install()
            self.log_installed = True

    def _construct(self, params: LoadParams, report: ProgressCallback) -> Any:
        import llama_cpp
        import llama_cpp.llama as llama_module

        low_level = llama_module.llama_cpp
        original_defaults = low_level.llama_model_default_params

        def on_progress(value: float, _user: Any) -> bool:
            report(0.05 + 0.85 * float(value), "loading weights")
            return True

        progress_cb = llama_cpp.llama_progress_callback(on_progress)

        def defaults_with_progress() -> Any:
            model_params = original_defaults()
            model_params.progress_callback = progress_cb
            return model_params

        threads = params.n_threads or default_threads()
        report(0.05, "loading weights")
        before = len(self.log.lines)
        # llama-cpp-python has no progress argument; its Llama() builds model params from
        # llama_model_default_params(), so we hand it defaults that carry our callback. Loads
        # happen only on this worker thread, and the original is restored right after.
        low_level.llama_model_default_params = defaults_with_progress
        try:
            llm = llama_cpp.Llama(
                model_path=params.path,
                n_ctx=params.n_ctx,
                n_gpu_layers=params.n_gpu_layers,
                n_threads=threads,
                n_threads_batch=threads,
                n_batch=512,
                # Keeps the whole sliding-window cache, so prefixes (and saved states) of
                # SWA models such as Gemma 3 can be reused instead of re-evaluated.
                swa_full=True,
                # verbose=False would redirect the whole process's stdout/stderr during load.
                verbose=True,
            )
        except Exception as exc:
            log_tail = "".join(list(self.log.lines)[before:])
            kind, message = classify_log(log_tail)
            name = Path(params.path).name
            if kind is None:
                kind, message = "load_failed", f"llama.cpp could not load the model: {exc}"
            raise EngineRuntimeError(kind, f"{name}: {message}") from exc
        finally:
            low_level.llama_model_default_params = original_defaults
        report(0.95, "creating context")
        return llm

    def _install_abort(self, llm: Any) -> None:
        import llama_cpp

        def should_abort(_data: Any) -> bool:
            return self._cancel.is_set()

        self._abort_cb = llama_cpp.ggml_abort_callback(should_abort)
        self._no_abort_cb = llama_cpp.ggml_abort_callback()  # a NULL function pointer

    def _set_abort(self, llm: Any, armed: bool) -> None:
        """Arm llama.cpp's abort callback only while the prompt is evaluated.

        ggml calls it for every graph node, and each call enters Python (taking the GIL
        from a compute thread): ~5% of generation speed. Between generated tokens the
        loop checks the cancel event itself, so the callback is only worth its cost
        during a long prompt evaluation, where it lets Stop interrupt llama_decode.
        """
        import llama_cpp

        callback = self._abort_cb if armed else self._no_abort_cb
        llama_cpp.llama_set_abort_callback(llm._ctx.ctx, callback, None)

    def unload(self) -> None:
        llm = self._llm
        self._llm = None
        self._template = None
        self._model_info = {}
        self.cache.clear()
        if llm is not None:
            llm.close()

    # --- prompts (worker thread) ------------------------------------------------------

    def _require_model(self) -> Any:
        if self._llm is None:
            raise EngineRuntimeError("model_not_loaded", "No model is loaded.", status=409)
        return self._llm

    def chat_prompt(self, messages: Sequence[dict[str, Any]]) -> tuple[list[int], tuple[str, ...]]:
        from llmos_desktop.core.templates import ChatTemplateError

        llm = self._require_model()
        try:
            text = self._template.render(messages, add_generation_prompt=True)
        except ChatTemplateError as exc:
            raise EngineRuntimeError("chat_template_error", str(exc), status=422) from exc
        return self.tokenize(llm, text), tuple(self._template.stop)

    def text_prompt(self, prompt: str | list[int]) -> list[int]:
        llm = self._require_model()
        if isinstance(prompt, list):
            n_vocab = llm.n_vocab()
            if any(not 0 <= t < n_vocab for t in prompt):
                raise EngineRuntimeError(
                    "invalid_prompt", "prompt has token ids outside the vocabulary"
                )
            return list(prompt)
        return self.tokenize(llm, prompt)

    @staticmethod
    def tokenize(llm: Any, text: str) -> list[int]:
        import llama_cpp

        tokens: list[int] = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        # Templates usually print the BOS token themselves; add it only when missing and
        # the model wants one (never twice).
        bos = llm.token_bos()
        wants_bos = bool(llama_cpp.llama_vocab_get_add_bos(llm._model.vocab))
        if wants_bos and bos >= 0 and (not tokens or tokens[0] != bos):
            tokens = [bos, *tokens]
        return tokens

    # --- generation (worker thread) ---------------------------------------------------

    def generate(
        self,
        tokens: list[int],
        sampling: Sampling,
        cancel: threading.Event,
        on_text: TextCallback | None = None,
    ) -> GenerationResult:
        import llama_cpp

        llm = self._require_model()
        n_ctx = llm.n_ctx()
        if not tokens:
            raise EngineRuntimeError("invalid_prompt", "the prompt is empty")
        if len(tokens) >= n_ctx:
            raise EngineRuntimeError(
                "context_length_exceeded",
                f"the prompt has {len(tokens)} tokens but the context holds {n_ctx}",
            )
        room = n_ctx - len(tokens)
        limit = min(sampling.max_tokens or room, room)
        if cancel.is_set():
            return GenerationResult("", "cancelled", len(tokens), 0, 0, None, None, None)

        self._restore_cached_prefix(llm, tokens)
        cached = common_prefix(llm.input_ids[: llm.n_tokens].tolist(), tokens)
        cached = min(cached, len(tokens) - 1)
        seed = (
            sampling.seed
            if sampling.seed is not None and sampling.seed >= 0
            else random.getrandbits(31)
        )
        llm.set_seed(seed)

        stops = tuple(s for s in sampling.stop if s)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        vocab = llm._model.vocab
        pending = ""
        parts: list[str] = []
        n_gen = 0
        finish = "length"
        t0 = time.perf_counter()
        t_first: float | None = None
        t_last = t0

        def emit(text: str) -> None:
            if text:
                parts.append(text)
                if on_text is not None:
                    on_text(text, n_gen)

        # llama.cpp's abort callback reads this request's cancel event, so a Stop
        # interrupts even a long prompt evaluation inside llama_decode.
        self._cancel = cancel
        self._set_abort(llm, True)
        generator = llm.generate(
            tokens,
            top_k=sampling.top_k,
            top_p=sampling.top_p,
            min_p=sampling.min_p,
            temp=sampling.temperature,
            repeat_penalty=sampling.repeat_penalty,
            presence_penalty=sampling.presence_penalty,
            frequency_penalty=sampling.frequency_penalty,
        )
        try:
            for token in generator:
                now = time.perf_counter()
                if t_first is None:
                    t_first = now
                    self._set_abort(llm, False)
                t_last = now
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    finish = "stop"
                    break
                n_gen += 1
                pending += decoder.decode(self._piece(vocab, token))
                ready, pending, stopped = _release(pending, stops)
                emit(ready)
                if stopped:
                    finish = "stop"
                    break
                if cancel.is_set():
                    finish = "cancelled"
                    break
                if n_gen >= limit:
                    finish = "length"
                    break
        except RuntimeError as exc:
            if not cancel.is_set():
                raise EngineRuntimeError(
                    "generation_failed", f"llama.cpp failed: {exc}", status=500
                ) from exc
            finish = "cancelled"
        finally:
            generator.close()
            self._set_abort(llm, False)
            self._cancel = _NEVER
        if finish != "stop" or not stops:
            emit(pending + decoder.decode(b"", final=True))

        ttft = (t_first - t0) if t_first is not None else None
        evaluated = len(tokens) - cached
        prompt_tps = evaluated / ttft if ttft else None
        gen_tps = (
            (n_gen - 1) / (t_last - t_first)
            if (t_first is not None and n_gen > 1 and t_last > t_first)
            else None
        )
        result = GenerationResult(
            text="".join(parts),
            finish_reason=finish,
            prompt_tokens=len(tokens),
            completion_tokens=n_gen,
            cached_tokens=cached,
            ttft_s=ttft,
            prompt_tokens_per_s=prompt_tps,
            tokens_per_s=gen_tps,
        )
        self.metrics = Metrics(
            ttft_s=ttft,
            prompt_tokens_per_s=prompt_tps,
            tokens_per_s=gen_tps,
            prompt_tokens=len(tokens),
            completion_tokens=n_gen,
            cached_tokens=cached,
            requests=self.metrics.requests + 1,
        )
        return result

    def save_to_cache(self) -> None:
        """Remember the current conversation's KV state (called after a reply is sent)."""
        import llama_cpp

        llm = self._llm
        if llm is None or self.cache.capacity_bytes <= 0 or llm.n_tokens < _MIN_CACHED_TOKENS:
            return
        ctx = llm._ctx.ctx
        size = int(llama_cpp.llama_state_seq_get_size(ctx, 0))
        if size <= 0 or size > self.cache.capacity_bytes:
            return
        # llama.cpp writes straight into the bytearray the cache keeps: no copy.
        state = bytearray(size)
        view = (ctypes.c_uint8 * size).from_buffer(state)
        written = int(llama_cpp.llama_state_seq_get_data(ctx, view, size, 0))
        del view  # releases the export, so the bytearray may be trimmed
        if written <= 0:
            return
        del state[written:]
        self.cache.store(llm.input_ids[: llm.n_tokens].tolist(), state)

    def _restore_cached_prefix(self, llm: Any, tokens: list[int]) -> None:
        import llama_cpp

        if not self.cache.entries:
            return
        current = common_prefix(llm.input_ids[: llm.n_tokens].tolist(), tokens)
        entry, matched = self.cache.lookup(tokens)
        if entry is None or matched < current + _MIN_CACHED_TOKENS:
            return
        ctx = llm._ctx.ctx
        memory = llama_cpp.llama_get_memory(ctx)
        llama_cpp.llama_memory_clear(memory, True)
        data = (ctypes.c_uint8 * len(entry.state)).from_buffer(entry.state)
        if int(llama_cpp.llama_state_seq_set_data(ctx, data, len(entry.state), 0)) == 0:
            llama_cpp.llama_memory_clear(memory, True)
            llm.n_tokens = 0
            return
        n = len(entry.tokens)
        llm.input_ids[:n] = entry.tokens
        llm.n_tokens = n
        llm._requires_eval = True

    def _piece(self, vocab: Any, token: int) -> bytes:
        import llama_cpp

        buf = self._piece_buf
        n = llama_cpp.llama_token_to_piece(vocab, token, buf, len(buf), 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(vocab, token, buf, len(buf), 0, False)
        return buf.raw[:n]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.executor.submit(self.unload).result(timeout=10)
        self.executor.shutdown(wait=False, cancel_futures=True)


_NEVER = threading.Event()


def _release(pending: str, stops: tuple[str, ...]) -> tuple[str, str, bool]:
    """Split generated text not yet sent into (text to send, text to hold, stop found).

    Text up to the first stop string is sent and the rest dropped; otherwise only the end
    that could still become a stop string is held back.
    """
    cut = _find_stop(pending, stops)
    if cut >= 0:
        return pending[:cut], "", True
    hold = _stop_prefix_len(pending, stops)
    return pending[: len(pending) - hold], pending[len(pending) - hold :], False


def _stop_prefix_len(text: str, stops: tuple[str, ...]) -> int:
    """Length of the longest end of ``text`` that is the start of a stop string."""
    best = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:k]):
                best = k
                break
    return best


def _find_stop(text: str, stops: tuple[str, ...]) -> int:
    best = -1
    for stop in stops:
        index = text.find(stop)
        if index >= 0 and (best < 0 or index < best):
            best = index
    return best


def default_threads() -> int:
    """Physical cores, as llama.cpp's own tools choose (hyper-threads slow generation down)."""
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
    except Exception:
        physical = None
    return max(1, physical or os.cpu_count() or 1)


_BACKEND_CACHE: dict[str, Any] = {}


def backend_info() -> dict[str, Any]:
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
