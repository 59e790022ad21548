"""llama.cpp inside the engine process: loading, generation, cancellation, prompt cache.

Everything that touches llama.cpp runs on one dedicated thread (worker.LlamaThread).
With ``n_parallel`` 1 (the default) requests are served one at a time, in the order
they were submitted, each generated from start to end on that thread. With more, the
model serves that many at once with batched decoding (slots.py), and the methods here
hand their llama.cpp work to the thread from whichever thread calls them
(``EngineRuntime.executor`` says which: worker.EngineExecutor).

Keep-alive: with ``keep_alive_s`` the model is unloaded after that many idle seconds and
loaded again, the same way, by the next request that needs it.

This module is imported only in the engine process; the GUI process never imports
llama_cpp. Calls into llama-cpp-python beyond ``Llama``'s public methods go through
llama_api.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import json
import os
import random
import re
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

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
from llmos_desktop.core.engine.process.state_store import StateStore, model_identity
from llmos_desktop.core.engine.process.worker import EngineExecutor, LlamaThread
from llmos_desktop.core.text import one_line

if TYPE_CHECKING:
    from llmos_desktop.core.engine.process.slots import SlotScheduler

T = TypeVar("T")

ProgressCallback = Callable[[float, str], None]
# (new text, completion tokens generated so far)
TextCallback = Callable[[str, int], None]


class EngineRuntimeError(Exception):
    """A failure with a machine-readable kind and a one-line human message; ``param``
    names the request field at fault, when one is."""

    def __init__(
        self, kind: ErrorKind, message: str, *, status: int = 400, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.param = param


class ConstrainedSampling(SamplingOptions):
    """Sampling options and a grammar (GBNF) the reply must follow (``response_format``).

    In llama.cpp a grammar is one more sampler in the chain, so it travels with the
    sampling options; ``EngineRuntime.response_grammar`` makes it.
    """

    grammar: str


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
    n_ctx: int = 0
    # Why it ended, finer than finish_reason's "length": "stop" (the model ended, a stop
    # string came, or it was cancelled), "max_tokens" or "context" (the context was full).
    stopped_by: str = "stop"


@dataclass(frozen=True)
class ChatPrompt:
    """A chat rendered and tokenized for ``generate``."""

    tokens: list[int]
    stops: tuple[str, ...]  # the template's stop strings
    dropped_messages: int = 0  # left out so that it fits (truncate)


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
# Grammars made from JSON Schemas, by schema: an app sends the same one at every run, and
# checking a large schema takes a good part of a second.
_GRAMMAR_CACHE_ENTRIES = 32
# The smallest context one parallel slot may have (LoadOptions' own bound on n_ctx).
MIN_SLOT_CTX = 128
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
        self,
        *,
        cache_bytes: int = DEFAULT_PROMPT_CACHE_MB << 20,
        log: LogTap | None = None,
        state_store: StateStore | None = None,
        keep_alive_s: float | None = None,
    ) -> None:
        self._llama = LlamaThread()
        # What the server runs its blocking calls on (worker.EngineExecutor).
        self.executor = EngineExecutor(self._llama)
        # Parallel slots of the loaded model (n_parallel > 1), else None.
        self._scheduler: SlotScheduler | None = None
        self._generating = False  # a one-at-a-time generation is running
        # Keep-alive: the model unloaded after this many idle seconds (None or 0: never);
        # _idle_spec is what to load again meanwhile.
        self.keep_alive_s = keep_alive_s if keep_alive_s else None
        self._idle_spec: ModelLoad | None = None
        self._llama.idle_after = self.keep_alive_s
        self._llama.on_idle = self._on_idle
        # Called on the llama thread before a model is closed (unload, replaced, idle).
        self._unload_hooks: list[Callable[[], None]] = []
        self.log = log or LogTap()
        self.cache = PromptCache(capacity_bytes=max(0, cache_bytes))
        # Saved states on disk, for conversations reopened after a restart (None: off).
        self.states = state_store
        # The loaded model's identity in ``states``, computed once per loaded model.
        self._state_model: tuple[weakref.ref[Any], str | None] | None = None
        self._restored_from: str | None = None  # where the last request's prefix came from
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
        # Files the probe has passed, as (path, size, mtime): each is probed once per
        # engine process, and again when it changes (_prove).
        self._proven: set[tuple[str, int, int]] = set()
        # Held while the loaded model is swapped or read by status(), which other threads
        # call: status never touches a model that the worker is closing.
        self._state_lock = threading.Lock()
        # Called (on the worker) with each model that loaded: ``llmos serve`` records it,
        # so a restarted engine comes back with the model it had.
        self.on_loaded: Callable[[ModelLoad], None] | None = None
        # response_grammar's results, by (strict, schema as canonical JSON); LRU.
        self._grammars: collections.OrderedDict[tuple[bool, str], str] = collections.OrderedDict()

    # --- information (safe from any thread) ---------------------------------------

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    @property
    def model_id(self) -> str | None:
        """The loaded model's id; also while keep-alive has unloaded it (the next request
        loads it again), so clients see the same model throughout."""
        spec = self._spec if self._llm is not None else self._idle_spec
        if spec is None:
            return None
        return spec.alias or Path(spec.path).stem

    def activity(self) -> dict[str, int]:
        """Generations running now ("active") and requests waiting for the model
        ("queued": tasks waiting for the llama thread, and with parallel slots the
        requests waiting for a free slot). Safe from any thread."""
        scheduler = self._scheduler
        if scheduler is not None:
            active, waiting = scheduler.active, len(scheduler.waiting)
        else:
            active, waiting = int(self._generating), 0
        return {"active": active, "queued": waiting + self._llama.queued()}

    def run_on_model(self, fn: Callable[[Any], T]) -> T:
        """``fn(llama)`` on the llama thread, with the loaded ``llama_cpp.Llama``; blocking.

        With parallel slots it runs between two decode steps; with one sequence, between
        two requests (in their order). No model: EngineRuntimeError(model_not_loaded);
        a model keep-alive unloaded is loaded again first.
        """
        return self._llama.call(lambda: fn(self._require_model()))

    def add_unload_hook(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` on the llama thread before the model is closed (an unload, a
        load that replaces it, keep-alive): to free what was made on it."""
        self._unload_hooks.append(hook)

    def status(self) -> dict[str, Any]:
        import psutil

        with self._state_lock:
            llm = self._llm
            spec = self._spec if llm is not None else None
            template = self._template if llm is not None else None
            scheduler = self._scheduler if llm is not None else None
            idle = self._idle_spec if llm is None else None
            model: dict[str, Any] = {
                "loaded": llm is not None,
                "model": self.model_id,
                "model_path": spec.path if spec else (idle.path if idle else None),
                "n_ctx": llm.n_ctx() if llm is not None else None,
                "n_gpu_layers": spec.n_gpu_layers if spec else None,
                "n_threads": llm.n_threads if llm is not None else None,
                "n_parallel": spec.n_parallel if spec else (idle.n_parallel if idle else None),
                # The context each request may use: n_ctx, or its share with parallel slots.
                "n_ctx_slot": (
                    scheduler.n_ctx_slot if scheduler else (llm.n_ctx() if llm else None)
                ),
                "tokens_in_context": (
                    scheduler.tokens_held()
                    if scheduler is not None
                    else (int(llm.n_tokens) if llm is not None else 0)
                ),
                "idle_unloaded": idle is not None,
                "keep_alive_s": self.keep_alive_s,
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
                # "memory" or "disk": a saved state gave the prefix; None: the context had
                # it, or nothing did.
                "restored_from": self._restored_from if last else None,
            },
            "requests_served": self.requests,
            "busy": self.activity(),
            "kv_states": self.states.status() if self.states is not None else None,
        }
        status.update(llama_api.backend_info())
        return status

    # --- loading (worker thread) ----------------------------------------------------

    def load(self, spec: ModelLoad, progress: ProgressCallback | None = None) -> dict[str, Any]:
        """Load ``spec`` in place of the current model; the engine's status afterwards.

        On the llama thread, once no request is being served (parallel slots finish
        theirs first; those that come after wait for the load).
        """
        return self._llama.call(self._load, spec, progress, exclusive=True)

    def _load(self, spec: ModelLoad, progress: ProgressCallback | None = None) -> dict[str, Any]:
        """``load``, on the llama thread.

        The file is checked first, then (the first time) probed in a throwaway process
        (_prove); a refused file leaves the current model loaded. When
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
        if n_ctx // spec.n_parallel < MIN_SLOT_CTX:
            raise EngineRuntimeError(
                ErrorKind.INVALID_VALUE,
                f"a context of {n_ctx} tokens shared by {spec.n_parallel} parallel slots "
                f"leaves {n_ctx // spec.n_parallel} for each; each needs at least "
                f"{MIN_SLOT_CTX}: ask for a larger context or fewer slots",
                param="n_parallel",
            )
        self._prove(spec.path, previous)

        self.log.install()
        side_by_side = previous is None or estimate_memory_bytes(info, n_ctx) <= available
        if not side_by_side:
            self._unload()
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
            self._load(previous)
        except EngineRuntimeError as exc:
            return f"{name} could not be loaded again either: {exc.message}"
        return f"{name} was loaded again."

    def _install(
        self, llm: Any, spec: ModelLoad, template: Any, info: Any, warnings: tuple[str, ...]
    ) -> None:
        """Make ``llm`` the loaded model, closing the one it replaces."""
        self._close_scheduler()
        if self._llm is not None:
            self._run_unload_hooks()
        scheduler = None
        if spec.n_parallel > 1:
            from llmos_desktop.core.engine.process.slots import SlotScheduler

            n_seq, n_ctx_seq = llama_api.sequence_context(llm)
            scheduler = SlotScheduler(
                llm,
                llama_api.TokenText(llm),
                n_slots=min(n_seq, spec.n_parallel),
                n_ctx_slot=n_ctx_seq,
                n_batch=int(llm.n_batch),
                on_finished=self._on_slot_finished,
            )
        with self._state_lock:
            old = self._llm
            self._idle_spec = None
            self._scheduler = scheduler
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
        self.executor.parallel = scheduler is not None
        self._llama.stepper = scheduler
        self.cache.clear()
        if old is not None:
            old.close()

    def _close_scheduler(self) -> None:
        scheduler = self._scheduler
        if scheduler is not None:
            self._llama.stepper = None
            scheduler.close()
            with self._state_lock:
                self._scheduler = None

    def _run_unload_hooks(self) -> None:
        for hook in self._unload_hooks:
            try:
                hook()
            except Exception as exc:  # one hook's failure must not keep the model
                with contextlib.suppress(Exception):
                    self.log.stream.write(f"engine: unload hook failed: {exc!r}\n")

    def _on_slot_finished(self, result: GenerationResult) -> None:
        self.last = result
        self._restored_from = None
        self.requests += 1

    def _open(self, spec: ModelLoad, n_ctx: int, n_threads: int, report: ProgressCallback) -> Any:
        report(0.05, "loading weights")
        with self.log.capture() as lines:
            try:
                llm = llama_api.open_model(
                    spec.path,
                    n_ctx=n_ctx,
                    n_gpu_layers=spec.n_gpu_layers,
                    n_threads=n_threads,
                    n_parallel=spec.n_parallel,
                    # Batched decoding of several sequences: 15-20% more tokens/s with
                    # flash attention on 2 cores (llama-server's default, "auto", turns it
                    # on for the CPU too). One sequence keeps the path it always had.
                    flash_attn=spec.n_parallel > 1,
                    on_progress=lambda value: report(0.05 + 0.85 * value, "loading weights"),
                    chatter=self.log.stream,
                )
            except Exception as exc:
                raise _refusal(Path(spec.path).name, "".join(lines), str(exc)) from exc
        report(0.95, "creating context")
        return llm

    def _prove(self, path: str, previous: ModelLoad | None) -> None:
        """Have a throwaway process load ``path``'s vocabulary and tokenize with it
        (llama_api.probe_model) before this process does, once per version of the file.

        llama.cpp aborts or hangs on some files the check cannot foresee; in the probe
        that costs a process, not the engine. A crash, a hang or a refusal there is an
        EngineRuntimeError here, before anything is unloaded. A probe that cannot run at
        all (no executable, a launcher without the flag) is logged and the load goes on.
        """
        try:
            st = os.stat(path)
        except OSError:
            return  # gone since the check: the load says so
        key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
        if key in self._proven:
            return
        name = Path(path).name
        try:
            result = run_probe(path)
        except OSError as exc:  # no process to be had (no executable, no memory)
            with contextlib.suppress(Exception):
                self.log.stream.write(f"engine: probe of {name} could not start: {exc}\n")
            return
        with contextlib.suppress(Exception):  # the log must never fail a load
            self.log.stream.write(f"engine: probe of {name}: {result.summary()}\n")
            if result.returncode != 0:
                self.log.stream.write(result.log)
        if not result.started and result.returncode is not None:
            return  # the probe never got to llama.cpp (logged above)
        error = _probe_error(name, result)
        if error is not None:
            if previous is not None:
                error.message += " " + self._after_failed_load(previous, True)
            raise error
        self._proven.add(key)

    def _cancel_requested(self) -> bool:
        # llama.cpp's abort callback reads the running request's cancel event, so a Stop
        # interrupts even a long prompt evaluation inside llama_decode.
        return self._cancel.is_set()

    def unload(self) -> None:
        """Close the model (and forget one keep-alive unloaded), once no request is
        being served."""
        self._llama.call(self._unload, True, exclusive=True)

    def _unload(self, forget_idle: bool = True) -> None:
        self._close_scheduler()
        if self._llm is not None:
            self._run_unload_hooks()
        with self._state_lock:
            llm = self._llm
            self._llm = None
            if forget_idle:
                self._idle_spec = None
            self._template = None
            self._abort = None
            self._text = None
            self._info = None
            self._model_info = {}
        self.cache.clear()
        if llm is not None:
            llm.close()

    # --- prompts (worker thread) ------------------------------------------------------

    def _on_idle(self) -> None:
        """Keep-alive (on the llama thread, after keep_alive_s without work): unload the
        model and remember it, so the next request that needs it loads it again."""
        spec = self._spec
        if self._llm is None or spec is None:
            return
        scheduler = self._scheduler
        if scheduler is not None and scheduler.busy:
            return
        self._unload(forget_idle=True)
        with self._state_lock:
            self._idle_spec = spec
        with contextlib.suppress(Exception):
            self.log.stream.write(
                f"engine: unloaded {Path(spec.path).name} after {self.keep_alive_s:g} s idle "
                "(keep-alive); the next request loads it again\n"
            )

    def _require_model(self) -> Any:
        """The loaded model (on the llama thread); one keep-alive unloaded is loaded again."""
        if self._llm is None and self._idle_spec is not None:
            self._load(self._idle_spec)
        if self._llm is None:
            raise EngineRuntimeError(ErrorKind.MODEL_NOT_LOADED, "No model is loaded.", status=409)
        return self._llm

    def _n_ctx(self, llm: Any) -> int:
        """The context one request may use: its slot's share with parallel slots."""
        scheduler = self._scheduler
        return scheduler.n_ctx_slot if scheduler is not None else int(llm.n_ctx())

    def chat_prompt(
        self,
        messages: list[dict[str, Any]],
        *,
        truncate: bool = False,
        continue_final: bool = False,
        max_tokens: int | None = None,
    ) -> ChatPrompt:
        """``_chat_prompt`` on the llama thread."""
        return self._llama.call(
            lambda: self._chat_prompt(
                messages, truncate=truncate, continue_final=continue_final, max_tokens=max_tokens
            )
        )

    def _chat_prompt(
        self,
        messages: list[dict[str, Any]],
        *,
        truncate: bool = False,
        continue_final: bool = False,
        max_tokens: int | None = None,
    ) -> ChatPrompt:
        """``messages`` rendered with the model's template and tokenized.

        ``continue_final``: the last message (the assistant's) is the start of the reply;
        the rest is rendered with the generation prompt and its text appended raw.
        ``truncate``: when the prompt and a reserve for the reply (``max_tokens``, at most
        half the context) do not fit, the oldest turns are left out, whole, keeping the
        system messages and everything from the last user message on. A prompt that fits
        only without the reserve is still served (the reply may stop at the context); one
        that does not fit even then is refused, as without ``truncate``.
        """
        llm = self._require_model()
        if continue_final and (not messages or messages[-1].get("role") != "assistant"):
            raise EngineRuntimeError(
                ErrorKind.INVALID_PROMPT,
                "continue_final_message needs the last message to be the assistant's",
            )
        stops = tuple(self._template.stop)
        n_ctx = self._n_ctx(llm)
        if not truncate:
            _check_fits(n_ctx, _content_size(messages))
            return ChatPrompt(self._render_tokens(llm, messages, continue_final), stops)

        target = n_ctx - _reply_reserve(n_ctx, max_tokens)
        turns = _droppable_turns(messages)
        rendered: dict[int, list[int] | None] = {}

        def kept(k: int) -> list[dict[str, Any]]:
            dropped = {index for turn in turns[:k] for index in turn}
            return [m for i, m in enumerate(messages) if i not in dropped]

        def without(k: int) -> list[int] | None:
            """The prompt without the k oldest turns; None when too long to tokenize."""
            if k not in rendered:
                candidate = kept(k)
                tokens: list[int] | None = None
                if _content_size(candidate) <= n_ctx * _MAX_TOKEN_BYTES:
                    with contextlib.suppress(_TooLong):
                        tokens = self._render_tokens(llm, candidate, continue_final)
                rendered[k] = tokens
            return rendered[k]

        def fits(k: int) -> bool:
            tokens = without(k)
            return tokens is not None and len(tokens) <= target

        def dropped(k: int) -> int:
            return sum(len(turn) for turn in turns[:k])

        if fits(0):
            return ChatPrompt(without(0) or [], stops)
        last = len(turns)
        if not fits(last):
            # Nothing more to drop: served if it fits without the reserve.
            tokens = without(last)
            if tokens is not None and len(tokens) < n_ctx:
                return ChatPrompt(tokens, stops, dropped(last))
            raise EngineRuntimeError(
                ErrorKind.CONTEXT_LENGTH_EXCEEDED,
                (
                    f"the prompt has {len(tokens)} tokens"
                    if tokens is not None
                    else f"the prompt is {_content_size(kept(last)):,} characters long"
                )
                + f" but the context holds {n_ctx}, even without its older messages",
            )
        low, high = 1, last  # the fewest turns to drop: fits(high), not fits(low - 1)
        while low < high:
            middle = (low + high) // 2
            if fits(middle):
                high = middle
            else:
                low = middle + 1
        return ChatPrompt(without(low) or [], stops, dropped(low))

    def _render_tokens(
        self, llm: Any, messages: list[dict[str, Any]], continue_final: bool
    ) -> list[int]:
        from llmos_desktop.core.templates import ChatTemplateError

        head, partial = messages, ""
        if continue_final:
            head, partial = messages[:-1], str(messages[-1].get("content") or "")
        try:
            text = self._template.render(head, add_generation_prompt=True) + partial
        except ChatTemplateError as exc:
            raise EngineRuntimeError(ErrorKind.CHAT_TEMPLATE_ERROR, str(exc), status=422) from exc
        _check_fits(self._n_ctx(llm), len(text.encode("utf-8")))
        return llama_api.tokenize(llm, text)

    def text_prompt(self, prompt: str | list[int]) -> list[int]:
        return self._llama.call(self._text_prompt, prompt)

    def _text_prompt(self, prompt: str | list[int]) -> list[int]:
        llm = self._require_model()
        if isinstance(prompt, list):
            n_vocab = llm.n_vocab()
            if any(not 0 <= t < n_vocab for t in prompt):
                raise EngineRuntimeError(
                    ErrorKind.INVALID_PROMPT, "prompt has token ids outside the vocabulary"
                )
            return list(prompt)
        _check_fits(self._n_ctx(llm), len(prompt.encode("utf-8")))
        return llama_api.tokenize(llm, prompt)

    def response_grammar(
        self, schema: Mapping[str, Any] | None, *, strict: bool = False, param: str | None = None
    ) -> str:
        """``_response_grammar`` on the llama thread."""
        return self._llama.call(lambda: self._response_grammar(schema, strict=strict, param=param))

    def _response_grammar(
        self, schema: Mapping[str, Any] | None, *, strict: bool = False, param: str | None = None
    ) -> str:
        """The grammar of a reply in JSON (``response_format``): any JSON object when
        ``schema`` is None, else JSON that follows ``schema`` (a JSON Schema).

        Built by llama_api.json_grammar (bounded in time) and parsed by llama.cpp for the
        loaded model before any generation uses it. A schema that is not valid, or that
        no grammar can be built from, is EngineRuntimeError(invalid_value, 400) naming
        ``param``.
        """
        llm = self._require_model()
        key = (strict, json.dumps(schema, sort_keys=True, ensure_ascii=False))
        grammar = self._grammars.get(key)
        if grammar is None:
            try:
                grammar = llama_api.json_grammar(schema, strict=strict)
            except llama_api.GrammarError as exc:
                raise EngineRuntimeError(
                    ErrorKind.INVALID_VALUE, f"response_format: {exc}", param=param
                ) from None
        with self.log.capture() as lines:
            accepted = llama_api.grammar_accepted(llm, grammar)
        if not accepted:
            self._grammars.pop(key, None)
            reason = next((line.strip() for line in lines if "grammar" in line), "")
            raise EngineRuntimeError(
                ErrorKind.INVALID_VALUE,
                "response_format: llama.cpp refused the grammar made from the schema"
                + (f" ({one_line(reason, limit=200)})" if reason else ""),
                param=param,
            )
        self._grammars[key] = grammar
        self._grammars.move_to_end(key)
        while len(self._grammars) > _GRAMMAR_CACHE_ENTRIES:
            self._grammars.popitem(last=False)
        return grammar

    # --- generation (worker thread) ---------------------------------------------------

    def generate(
        self,
        tokens: list[int],
        sampling: SamplingOptions,
        cancel: threading.Event,
        on_text: TextCallback | None = None,
    ) -> GenerationResult:
        """A reply to ``tokens``; ``on_text(text, tokens so far)`` as it comes (called on
        the llama thread). Stops at the end of generation, a stop string, ``max_tokens``,
        the context's end or ``cancel``.

        One sequence: generated here, on the llama thread, start to end. Parallel slots:
        queued for a slot (slots.py) and waited for.
        """
        if self._llama.on_thread() and self._scheduler is None:
            return self._generate_one(tokens, sampling, cancel, on_text)
        from llmos_desktop.core.engine.process.slots import SlotRequest

        grammar = sampling.grammar if isinstance(sampling, ConstrainedSampling) else None
        request = SlotRequest(list(tokens), sampling, grammar, cancel, on_text)
        if self._llama.on_thread():
            # A request queued on this thread before a load turned slots on: it is served
            # by stepping the slots here until it is done (rare: only across that load).
            self._serve(request)
            while not request.done.is_set():
                self._llama.run_pending()
                scheduler = self._scheduler
                if scheduler is None:
                    break
                scheduler.step()
        else:
            self._llama.call(self._serve, request)
        return request.wait()

    def _serve(self, request: Any) -> None:
        """Start ``request`` (a SlotRequest) on the llama thread: in a slot, or (one
        sequence) generated here at once."""
        try:
            llm = self._require_model()
            scheduler = self._scheduler
            if scheduler is None:
                request.complete(
                    self._generate_one(
                        request.tokens, request.sampling, request.cancel, request.on_text
                    )
                )
                return
            tokens = request.tokens
            n_ctx = scheduler.n_ctx_slot
            if not tokens:
                raise EngineRuntimeError(ErrorKind.INVALID_PROMPT, "the prompt is empty")
            if len(tokens) >= n_ctx:
                raise EngineRuntimeError(
                    ErrorKind.CONTEXT_LENGTH_EXCEEDED,
                    f"the prompt has {len(tokens)} tokens but the context holds {n_ctx} "
                    f"(each of the {len(scheduler.slots)} parallel slots has that much of "
                    f"the {int(llm.n_ctx())})",
                )
            n_vocab = int(llm.n_vocab())
            if any(not 0 <= t < n_vocab for t in tokens):
                raise EngineRuntimeError(
                    ErrorKind.INVALID_PROMPT, "prompt has token ids outside the vocabulary"
                )
            scheduler.submit(request)
        except BaseException as exc:
            request.fail(exc)

    def _generate_one(
        self,
        tokens: list[int],
        sampling: SamplingOptions,
        cancel: threading.Event,
        on_text: TextCallback | None = None,
    ) -> GenerationResult:
        self._generating = True
        try:
            return self._generate_single(tokens, sampling, cancel, on_text)
        finally:
            self._generating = False

    def _generate_single(
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
            return GenerationResult("", "cancelled", len(tokens), 0, 0, None, None, None, n_ctx)

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
        grammar = sampling.grammar if isinstance(sampling, ConstrainedSampling) else None
        generator = llama_api.generate(llm, tokens, sampling, grammar)
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
        stopped_by = "stop"
        if finish == "length":
            asked = sampling.max_tokens
            stopped_by = "max_tokens" if asked is not None and n_gen >= asked else "context"
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
            n_ctx=n_ctx,
            stopped_by=stopped_by,
        )
        self.last = result
        self.requests += 1
        return result

    def save_to_cache(self) -> None:
        """Remember the current conversation's KV state (called after a reply is sent): in
        memory, and on disk when a state store is on (written by its own thread).

        With parallel slots each slot keeps its own conversation in its KV cells instead.
        """
        if self._scheduler is not None or self.executor.parallel:
            return
        self._llama.call(self._save_to_cache)

    def _save_to_cache(self) -> None:
        if self._scheduler is not None:
            return
        llm = self._llm
        if llm is None or llm.n_tokens < MIN_CACHED_TOKENS:
            return
        key = self._state_key(llm)
        disk = self.states.budget_bytes if (self.states is not None and key) else 0
        limit = max(self.cache.capacity_bytes, disk)
        if limit <= 0:
            return
        state = llama_api.save_state(llm, limit)
        if state is None:
            return
        tokens = llama_api.tokens_in_context(llm)
        if self.cache.capacity_bytes > 0:
            self.cache.store(tokens, state)
        if disk and key and self.states is not None and self._spec is not None:
            # The same bytes: the cache never changes a state it holds.
            self.states.submit(key, self._spec.path, tokens, state)

    def _state_key(self, llm: Any) -> str | None:
        """The loaded model's identity for the state store (None: no store, or no file)."""
        states, spec = self.states, self._spec
        if states is None or not states.enabled or spec is None:
            return None
        known = self._state_model
        if known is not None and known[0]() is llm:
            return known[1]
        version = llama_api.backend_info().get("llama_cpp_python", "")
        try:
            key: str | None = model_identity(spec.path, extra=f"llama-cpp-python {version}")
        except OSError:
            key = None
        self._state_model = (weakref.ref(llm), key)
        if key is not None:
            states.forget_other_versions(key, spec.path)
        return key

    def _restore_cached_prefix(self, llm: Any, tokens: list[int]) -> None:
        """Give the context the longest saved prefix of ``tokens`` (memory or disk) when it
        is at least MIN_CACHED_TOKENS longer than what the context holds now."""
        self._restored_from = None
        key = self._state_key(llm)
        if not self.cache.entries and key is None:
            return
        current = common_prefix(llama_api.tokens_in_context(llm), tokens)
        entry, in_memory = self.cache.lookup(tokens) if self.cache.entries else (None, 0)
        stored, on_disk = (None, 0)
        if key is not None and self.states is not None:
            stored, on_disk = self.states.lookup(key, tokens, max_tokens=int(llm.n_ctx()))
        wanted = current + MIN_CACHED_TOKENS
        if (
            entry is not None
            and in_memory >= max(on_disk, wanted)
            and llama_api.restore_state(llm, entry.tokens, entry.state)
        ):
            self._restored_from = "memory"
            return
        if stored is not None and self.states is not None and on_disk >= wanted:
            state = self.states.read(stored)  # checked; None if it fails a check
            if state is None:
                return
            if llama_api.restore_state(llm, list(stored.tokens), state):
                self.states.touch(stored)
                self._restored_from = "disk"
            else:
                self.states.discard(stored, "llama.cpp refused it")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.executor.submit(self.unload).result(timeout=10)
        self.executor.shutdown(wait=False, cancel_futures=True)


_NEVER = threading.Event()


def _refusal(name: str, log_text: str, reason: str) -> EngineRuntimeError:
    """A load llama.cpp refused, in one line: the kind and reason its log gives, if any."""
    kind, message = classify_log(log_text)
    if kind is None:
        kind = ErrorKind.LOAD_FAILED
        message = f"llama.cpp could not load the model: {reason}"
    detail = llama_error_detail(log_text)
    if detail:
        message += f" (llama.cpp: {detail})"
    return EngineRuntimeError(kind, f"{name}: {message}.")


# --- the probe (llama_api.probe_model), seen from the engine --------------------------
# Reading a vocabulary took up to 9 s here (262,144 tokens under the plamo2 tokenizer,
# 0.6 s under Gemma's own); tokenizing PROBE_TEXT takes well under a millisecond.
PROBE_LOAD_TIMEOUT_S = 120.0
PROBE_TOKENIZE_TIMEOUT_S = 10.0
_PROBE_LOG_LINES = 40
_CRASH_LINE = re.compile(r"GGML_ASSERT|GGML_ABORT|fatal error")
# libstdc++'s last words on an exception that crossed llama.cpp's C API.
_UNCAUGHT = re.compile(
    r"terminate called after throwing an instance of '(?P<type>[^'\n]+)'\n\s*what\(\):(?P<what>.*)"
)
# /tmp/build/.../src/llama-vocab.cpp:12: fatal error -> llama-vocab.cpp:12: fatal error
_SOURCE_PATH = re.compile(r"\S*[/\\](?=[^/\\\s]+:\d+:)")


def probe_command(path: str) -> list[str]:
    """The probe: this interpreter (or this frozen executable) with the probe flag."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--engine-probe", path]
    return [sys.executable, "-m", "llmos_desktop", "--engine-probe", path]


@dataclass(frozen=True)
class ProbeResult:
    """How a probe ended."""

    returncode: int | None  # None: it was killed, after taking longer than its time
    started: bool  # it got to llama.cpp (PROBE_STARTED)
    loaded: bool  # llama.cpp loaded the vocabulary (PROBE_LOADED)
    log: str  # the end of its stderr: llama.cpp's warnings and errors, an assert
    seconds: float
    timeout_s: float = 0.0  # the time it was given, when it ran out

    def summary(self) -> str:
        if self.returncode is None:
            return f"no answer in {self.timeout_s:g} s, killed"
        return f"exit status {self.returncode} after {self.seconds:.2f} s"


def run_probe(
    path: str,
    *,
    load_timeout: float = PROBE_LOAD_TIMEOUT_S,
    tokenize_timeout: float = PROBE_TOKENIZE_TIMEOUT_S,
) -> ProbeResult:
    """Run llama_api.probe_model on ``path`` in a process of its own and wait for it:
    at most ``load_timeout`` s for the vocabulary, then ``tokenize_timeout`` s more."""
    import subprocess

    started = time.monotonic()
    proc = subprocess.Popen(
        probe_command(path),
        stdin=subprocess.PIPE,  # held open: the probe exits when it closes
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "GGML_NO_BACKTRACE": "1"},  # no debugger attached on an abort
        creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
    )
    tail: collections.deque[str] = collections.deque(maxlen=_PROBE_LOG_LINES)
    marks: set[str] = set()
    loaded = threading.Event()

    def read_stdout() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            marks.add(raw.decode("utf-8", "replace").strip())
            if llama_api.PROBE_LOADED in marks:
                loaded.set()

    def read_stderr() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            tail.append(raw.decode("utf-8", "replace"))

    readers = [
        threading.Thread(target=read, name="probe-output", daemon=True)
        for read in (read_stdout, read_stderr)
    ]
    for reader in readers:
        reader.start()
    timeout: float | None = None
    try:
        while not loaded.wait(0.02) and proc.poll() is None:
            if time.monotonic() - started > load_timeout:
                timeout = load_timeout
                break
        if timeout is None and proc.poll() is None:
            try:
                proc.wait(timeout=tokenize_timeout)
            except subprocess.TimeoutExpired:
                timeout = tokenize_timeout
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for reader in readers:
            reader.join(timeout=2)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
    return ProbeResult(
        returncode=None if timeout is not None else proc.returncode,
        started=llama_api.PROBE_STARTED in marks,
        loaded=llama_api.PROBE_LOADED in marks,
        log="".join(tail),
        seconds=time.monotonic() - started,
        timeout_s=timeout or 0.0,
    )


def _probe_error(name: str, result: ProbeResult) -> EngineRuntimeError | None:
    """What a probe's end means for the load: None (go on), or the error to answer with."""
    if result.returncode == 0:
        return None
    if result.returncode == llama_api.PROBE_REFUSED:
        return _refusal(name, result.log, "it refused the file")
    doing = "tokenizing text with it" if result.loaded else "reading its vocabulary"
    kind, _reason = classify_log(result.log)
    if result.returncode is None:
        what = f"llama.cpp hung while {doing} (no answer in {result.timeout_s:g} s)"
    else:
        what = f"llama.cpp crashed ({_exit_name(result.returncode)}) while {doing}"
    detail = _crash_detail(result.log)
    message = f"{name}: {what}; the model was not loaded" + (
        f" (llama.cpp: {detail})." if detail else "."
    )
    return EngineRuntimeError(kind or ErrorKind.LOAD_FAILED, message)


def _exit_name(returncode: int) -> str:
    if returncode < 0:
        import signal

        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    if returncode > 0xFFFF:  # a Windows exception code, e.g. 0xC0000005
        return f"exit code 0x{returncode:08X}"
    return f"exit code {returncode}"


def _crash_detail(log_text: str) -> str | None:
    """The assert or uncaught exception a crashed llama.cpp printed last, in one line."""
    from llmos_desktop.core.text import one_line

    thrown = _UNCAUGHT.search(log_text)
    if thrown:
        text = f"uncaught {thrown['type']}: {thrown['what'].strip()}"
    else:
        lines = [line for line in log_text.splitlines() if _CRASH_LINE.search(line)]
        if not lines:
            return None
        text = _SOURCE_PATH.sub("", lines[-1]).strip()
    return one_line(text, limit=200)


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


def _content_size(messages: list[dict[str, Any]]) -> int:
    return sum(len(str(m.get("content") or "")) for m in messages)


def _reply_reserve(n_ctx: int, max_tokens: int | None) -> int:
    """Tokens kept free for the reply when older turns are dropped: ``max_tokens``, or a
    quarter of the context without one, and never more than half of it."""
    return min(max_tokens or n_ctx // 4, n_ctx // 2)


def _droppable_turns(messages: list[dict[str, Any]]) -> list[list[int]]:
    """The indices of the turns that may be left out, oldest first.

    A turn is a user message and what follows it up to the next user message (what
    comes before the first user message is a turn of its own), so the prompt still
    begins with a user turn after any number of them are dropped, as templates that
    insist on alternating roles want. System messages are never in a turn (they stay),
    nor is anything from the last user message on (the question being answered).
    """
    roles = [str(m.get("role")) for m in messages]
    users = [i for i, role in enumerate(roles) if role == "user"]
    end = users[-1] if users else len(messages) - 1
    turns: list[list[int]] = []
    for i in range(end):
        if roles[i] == "system":
            continue
        if roles[i] == "user" or not turns:
            turns.append([])
        turns[-1].append(i)
    return turns


class _TooLong(EngineRuntimeError):
    """A prompt refused by ``_check_fits``."""


def _check_fits(n_ctx: int, size: int) -> None:
    """Refuse, before tokenizing, a prompt of ``size`` characters or bytes that cannot fit
    a context of ``n_ctx`` tokens."""
    if size > n_ctx * _MAX_TOKEN_BYTES:
        raise _TooLong(
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
