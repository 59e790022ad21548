"""llama.cpp inside the engine process: loading, generation, cancellation, prompt cache.

Everything that touches llama.cpp runs on one dedicated worker thread (``executor``),
so requests are served one at a time, in the order they were submitted. This module
is imported only in the engine process; the GUI process never imports llama_cpp.
Calls into llama-cpp-python beyond ``Llama``'s public methods go through llama_api.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from llmos_desktop.core.engine.contract import (
    DEFAULT_PROMPT_CACHE_MB,
    ErrorKind,
    ModelLoad,
    SamplingOptions,
)
from llmos_desktop.core.engine.errors import classify_log, llama_error_detail
from llmos_desktop.core.engine.process import llama_api
from llmos_desktop.core.engine.process.prompt_cache import (
    MIN_CACHED_TOKENS,
    PromptCache,
    common_prefix,
)

ProgressCallback = Callable[[float, str], None]
# (new text, completion tokens generated so far)
TextCallback = Callable[[str, int], None]


class EngineRuntimeError(Exception):
    """A failure with a machine-readable kind and a one-line human message."""

    def __init__(self, kind: ErrorKind, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status


@dataclass(frozen=True)
class GenerationResult:
    text: str
    finish_reason: str  # "stop", "length" or "cancelled"
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    ttft_s: float | None
    prompt_tokens_per_s: float | None
    tokens_per_s: float | None


class LogTap:
    """Routes llama.cpp's log lines to our log stream and keeps the last ones for diagnosis.

    A load writes ~1,500 lines, more than ``keep``: ``capture()`` keeps every line of one
    load (bounded), so the reason for a failure is still there when it is read.
    """

    def __init__(self, stream: TextIO | None = None, keep: int = 400) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.lines: collections.deque[str] = collections.deque(maxlen=keep)
        self._callback: object = None
        self._captured: list[str] | None = None

    def install(self) -> None:
        if self._callback is None:
            self._callback = llama_api.install_log_callback(self._on_line)

    def _on_line(self, line: str) -> None:
        self.lines.append(line)
        captured = self._captured
        if captured is not None and len(captured) < _MAX_CAPTURED_LINES:
            captured.append(line)
        with contextlib.suppress(Exception):  # a log line must never take the engine down
            self.stream.write(line)

    def tail(self, n: int = 60) -> str:
        return "".join(list(self.lines)[-n:])

    @contextlib.contextmanager
    def capture(self) -> Iterator[list[str]]:
        """Every line logged while the block runs (at most _MAX_CAPTURED_LINES)."""
        lines: list[str] = []
        self._captured = lines
        try:
            yield lines
        finally:
            self._captured = None


_MAX_CAPTURED_LINES = 20_000
# No vocabulary we know has a token longer than this many bytes: a text longer than
# n_ctx times this cannot fit the context, and is refused before it is tokenized.
_MAX_TOKEN_BYTES = 256


def default_threads() -> int:
    """Physical cores, as llama.cpp's own tools choose (hyper-threads slow generation down)."""
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
    except Exception:
        physical = None
    return max(1, physical or os.cpu_count() or 1)


class EngineRuntime:
    """One loaded model and the single worker thread that owns it."""

    def __init__(
        self, *, cache_bytes: int = DEFAULT_PROMPT_CACHE_MB << 20, log: LogTap | None = None
    ) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")
        self.log = log or LogTap()
        self.cache = PromptCache(capacity_bytes=max(0, cache_bytes))
        self.last: GenerationResult | None = None
        self.requests = 0
        self._llm: Any = None
        self._spec: ModelLoad | None = None
        self._template: Any = None
        self._model_info: dict[str, Any] = {}
        self._cancel: threading.Event = _NEVER
        self._abort: llama_api.AbortSwitch | None = None
        self._text: llama_api.TokenText | None = None
        self._info: Any = None  # the loaded file's GGUFInfo
        self._warnings: tuple[str, ...] = ()
        # Held while the loaded model is swapped or read by status(), which other threads
        # call: status never touches a model that the worker is closing.
        self._state_lock = threading.Lock()
        # Called (on the worker) with each model that loaded: ``llmos serve`` records it,
        # so a restarted engine comes back with the model it had.
        self.on_loaded: Callable[[ModelLoad], None] | None = None

    # --- information (safe from any thread) ---------------------------------------

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    @property
    def model_id(self) -> str | None:
        if self._spec is None or self._llm is None:
            return None
        return self._spec.alias or Path(self._spec.path).stem

    def status(self) -> dict[str, Any]:
        import psutil

        with self._state_lock:
            llm = self._llm
            spec = self._spec if llm is not None else None
            template = self._template if llm is not None else None
            model: dict[str, Any] = {
                "loaded": llm is not None,
                "model": self.model_id,
                "model_path": spec.path if spec else None,
                "n_ctx": llm.n_ctx() if llm is not None else None,
                "n_gpu_layers": spec.n_gpu_layers if spec else None,
                "n_threads": llm.n_threads if llm is not None else None,
                "tokens_in_context": int(llm.n_tokens) if llm is not None else 0,
                "chat_template": template.describe() if template is not None else None,
                "chat_template_name": template.name if template is not None else None,
                "model_info": dict(self._model_info),
                "warnings": list(self._warnings) if llm is not None else [],
            }
        last = self.last
        status: dict[str, Any] = {
            **model,
            "memory_rss_bytes": psutil.Process().memory_info().rss,
            "prompt_cache": {
                "entries": len(self.cache.entries),
                "bytes": self.cache.size_bytes,
                "capacity_bytes": self.cache.capacity_bytes,
            },
            "last_request": {
                "ttft_s": last.ttft_s if last else None,
                "prompt_tokens_per_s": last.prompt_tokens_per_s if last else None,
                "tokens_per_s": last.tokens_per_s if last else None,
                "prompt_tokens": last.prompt_tokens if last else 0,
                "completion_tokens": last.completion_tokens if last else 0,
                "cached_tokens": last.cached_tokens if last else 0,
            },
            "requests_served": self.requests,
        }
        status.update(llama_api.backend_info())
        return status

    # --- loading (worker thread) ----------------------------------------------------

    def load(self, spec: ModelLoad, progress: ProgressCallback | None = None) -> dict[str, Any]:
        """Load ``spec`` in place of the current model; the engine's status afterwards.

        The file is checked first; a refused file leaves the current model loaded. When
        the new model fits in memory beside the current one, it is loaded before the
        current one is closed, so a load that llama.cpp refuses leaves the current model
        answering. Otherwise the current one is closed first and, if the new one fails,
        loaded again; the error says which happened.
        """
        import psutil

        from llmos_desktop.core.models.gguf import (
            ModelFileError,
            check_model_file,
            estimate_memory_bytes,
        )
        from llmos_desktop.core.templates import ChatTemplateError, choose_template

        report = progress or (lambda _p, _s: None)
        report(0.0, "checking file")
        previous = self._spec if self._llm is not None else None
        # The current model's memory is free for the new one once it is closed.
        available = int(psutil.virtual_memory().available)
        held = estimate_memory_bytes(self._info, previous.n_ctx) if previous else 0
        try:
            info = check_model_file(spec.path, n_ctx=spec.n_ctx, available_memory=available + held)
        except ModelFileError as exc:
            raise EngineRuntimeError(
                exc.kind, exc.message, status=404 if exc.kind == ErrorKind.MISSING else 400
            ) from exc
        try:
            template = choose_template(
                model_template=info.chat_template,
                architecture=info.architecture,
                override=spec.chat_template,
                bos_token=info.bos_token,
                eos_token=info.eos_token,
            )
        except ChatTemplateError as exc:
            raise EngineRuntimeError(
                ErrorKind.INVALID_CHAT_TEMPLATE, f"chat template override: {exc}"
            ) from exc
        n_ctx, n_threads, warnings = _bounded(spec, info.context_length)

        self.log.install()
        side_by_side = previous is None or estimate_memory_bytes(info, n_ctx) <= available
        if not side_by_side:
            self.unload()
        try:
            llm = self._open(spec, n_ctx, n_threads, report)
        except EngineRuntimeError as exc:
            if previous is not None:
                exc.message += " " + self._after_failed_load(previous, side_by_side)
            raise
        self._install(llm, spec, template, info, warnings)
        if self.on_loaded is not None:
            self.on_loaded(spec)
        report(1.0, "ready")
        return self.status()

    def _after_failed_load(self, previous: ModelLoad, still_loaded: bool) -> str:
        name = Path(previous.path).name
        if still_loaded:
            return f"{name} is still loaded."
        try:
            self.load(previous)
        except EngineRuntimeError as exc:
            return f"{name} could not be loaded again either: {exc.message}"
        return f"{name} was loaded again."

    def _install(
        self, llm: Any, spec: ModelLoad, template: Any, info: Any, warnings: tuple[str, ...]
    ) -> None:
        """Make ``llm`` the loaded model, closing the one it replaces."""
        with self._state_lock:
            old = self._llm
            self._llm = llm
            self._spec = spec
            self._template = template
            self._info = info
            self._warnings = warnings
            self._model_info = {
                "architecture": info.architecture,
                "name": info.name,
                "file_size": info.file_size,
                "file_type": info.file_type,
                "context_length_trained": info.context_length,
            }
            self._abort = llama_api.AbortSwitch(llm, self._cancel_requested)
            self._text = llama_api.TokenText(llm)
        self.cache.clear()
        if old is not None:
            old.close()

    def _open(self, spec: ModelLoad, n_ctx: int, n_threads: int, report: ProgressCallback) -> Any:
        report(0.05, "loading weights")
        with self.log.capture() as lines:
            try:
                llm = llama_api.open_model(
                    spec.path,
                    n_ctx=n_ctx,
                    n_gpu_layers=spec.n_gpu_layers,
                    n_threads=n_threads,
                    on_progress=lambda value: report(0.05 + 0.85 * value, "loading weights"),
                    chatter=self.log.stream,
                )
            except Exception as exc:
                log_text = "".join(lines)
                kind, message = classify_log(log_text)
                name = Path(spec.path).name
                if kind is None:
                    kind = ErrorKind.LOAD_FAILED
                    message = f"llama.cpp could not load the model: {exc}"
                detail = llama_error_detail(log_text)
                if detail:
                    message += f" (llama.cpp: {detail})"
                raise EngineRuntimeError(kind, f"{name}: {message}.") from exc
        report(0.95, "creating context")
        return llm

    def _cancel_requested(self) -> bool:
        # llama.cpp's abort callback reads the running request's cancel event, so a Stop
        # interrupts even a long prompt evaluation inside llama_decode.
        return self._cancel.is_set()

    def unload(self) -> None:
        with self._state_lock:
            llm = self._llm
            self._llm = None
            self._template = None
            self._abort = None
            self._text = None
            self._info = None
            self._model_info = {}
        self.cache.clear()
        if llm is not None:
            llm.close()

    # --- prompts (worker thread) ------------------------------------------------------

    def _require_model(self) -> Any:
        if self._llm is None:
            raise EngineRuntimeError(ErrorKind.MODEL_NOT_LOADED, "No model is loaded.", status=409)
        return self._llm

    def chat_prompt(self, messages: list[dict[str, Any]]) -> tuple[list[int], tuple[str, ...]]:
        from llmos_desktop.core.templates import ChatTemplateError

        llm = self._require_model()
        _check_fits(llm, sum(len(str(m.get("content") or "")) for m in messages))
        try:
            text = self._template.render(messages, add_generation_prompt=True)
        except ChatTemplateError as exc:
            raise EngineRuntimeError(ErrorKind.CHAT_TEMPLATE_ERROR, str(exc), status=422) from exc
        _check_fits(llm, len(text.encode("utf-8")))
        return llama_api.tokenize(llm, text), tuple(self._template.stop)

    def text_prompt(self, prompt: str | list[int]) -> list[int]:
        llm = self._require_model()
        if isinstance(prompt, list):
            n_vocab = llm.n_vocab()
            if any(not 0 <= t < n_vocab for t in prompt):
                raise EngineRuntimeError(
                    ErrorKind.INVALID_PROMPT, "prompt has token ids outside the vocabulary"
                )
            return list(prompt)
        _check_fits(llm, len(prompt.encode("utf-8")))
        return llama_api.tokenize(llm, prompt)

    # --- generation (worker thread) ---------------------------------------------------

    def generate(
        self,
        tokens: list[int],
        sampling: SamplingOptions,
        cancel: threading.Event,
        on_text: TextCallback | None = None,
    ) -> GenerationResult:
        llm = self._require_model()
        assert self._abort is not None and self._text is not None
        abort, token_text = self._abort, self._text
        n_ctx = llm.n_ctx()
        if not tokens:
            raise EngineRuntimeError(ErrorKind.INVALID_PROMPT, "the prompt is empty")
        if len(tokens) >= n_ctx:
            raise EngineRuntimeError(
                ErrorKind.CONTEXT_LENGTH_EXCEEDED,
                f"the prompt has {len(tokens)} tokens but the context holds {n_ctx}",
            )
        room = n_ctx - len(tokens)
        limit = min(sampling.max_tokens or room, room)
        if cancel.is_set():
            return GenerationResult("", "cancelled", len(tokens), 0, 0, None, None, None)

        self._restore_cached_prefix(llm, tokens)
        cached = common_prefix(llama_api.tokens_in_context(llm), tokens)
        cached = min(cached, len(tokens) - 1)
        seed = (
            sampling.seed
            if sampling.seed is not None and sampling.seed >= 0
            else random.getrandbits(31)
        )
        llm.set_seed(seed)

        stops = tuple(sampling.stop_list())
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
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

        self._cancel = cancel
        abort.arm(True)
        generator = llm.generate(tokens, **llama_api.sampling_args(sampling))
        try:
            for token in generator:
                now = time.perf_counter()
                if t_first is None:
                    t_first = now
                    abort.arm(False)
                t_last = now
                if token_text.is_end(token):
                    finish = "stop"
                    break
                n_gen += 1
                pending += decoder.decode(token_text.piece(token))
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
                    ErrorKind.GENERATION_FAILED, f"llama.cpp failed: {exc}", status=500
                ) from exc
            finish = "cancelled"
        finally:
            generator.close()
            abort.arm(False)
            self._cancel = _NEVER
        if finish != "stop" or not stops:
            emit(pending + decoder.decode(b"", final=True))

        ttft = (t_first - t0) if t_first is not None else None
        evaluated = len(tokens) - cached
        result = GenerationResult(
            text="".join(parts),
            finish_reason=finish,
            prompt_tokens=len(tokens),
            completion_tokens=n_gen,
            cached_tokens=cached,
            ttft_s=ttft,
            prompt_tokens_per_s=evaluated / ttft if ttft else None,
            tokens_per_s=(
                (n_gen - 1) / (t_last - t_first)
                if (t_first is not None and n_gen > 1 and t_last > t_first)
                else None
            ),
        )
        self.last = result
        self.requests += 1
        return result

    def save_to_cache(self) -> None:
        """Remember the current conversation's KV state (called after a reply is sent)."""
        llm = self._llm
        if llm is None or self.cache.capacity_bytes <= 0 or llm.n_tokens < MIN_CACHED_TOKENS:
            return
        state = llama_api.save_state(llm, self.cache.capacity_bytes)
        if state is not None:
            self.cache.store(llama_api.tokens_in_context(llm), state)

    def _restore_cached_prefix(self, llm: Any, tokens: list[int]) -> None:
        if not self.cache.entries:
            return
        current = common_prefix(llama_api.tokens_in_context(llm), tokens)
        entry, matched = self.cache.lookup(tokens)
        if entry is None or matched < current + MIN_CACHED_TOKENS:
            return
        llama_api.restore_state(llm, entry.tokens, entry.state)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.executor.submit(self.unload).result(timeout=10)
        self.executor.shutdown(wait=False, cancel_futures=True)


_NEVER = threading.Event()


def _bounded(spec: ModelLoad, trained_ctx: int | None) -> tuple[int, int, tuple[str, ...]]:
    """The context size and threads a load uses: the request, capped by what the model
    was trained for and by this machine's cores, with a warning for each cap."""
    warnings: list[str] = []
    n_ctx = spec.n_ctx
    if trained_ctx and n_ctx > trained_ctx:
        warnings.append(
            f"A context of {n_ctx} tokens is more than the {trained_ctx} this model was "
            f"trained for; using {trained_ctx}."
        )
        n_ctx = trained_ctx
    cores = os.cpu_count() or 1
    n_threads = spec.n_threads or default_threads()
    if n_threads > cores:
        warnings.append(f"{n_threads} threads is more than this computer's {cores}; using {cores}.")
        n_threads = cores
    return n_ctx, n_threads, tuple(warnings)


def _check_fits(llm: Any, size: int) -> None:
    """Refuse, before tokenizing, a prompt of ``size`` characters or bytes that cannot fit."""
    n_ctx = int(llm.n_ctx())
    if size > n_ctx * _MAX_TOKEN_BYTES:
        raise EngineRuntimeError(
            ErrorKind.CONTEXT_LENGTH_EXCEEDED,
            f"the prompt is {size:,} characters long; the context holds {n_ctx} tokens",
        )


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
