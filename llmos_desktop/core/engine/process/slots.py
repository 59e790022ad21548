"""Parallel slots: several requests generated at once with llama.cpp's batched decoding.

With ``n_parallel`` > 1 the context holds that many sequences, each with its own part of
the KV cache (llama_api.open_model). ``SlotScheduler`` keeps one ``Slot`` per sequence
and, at each ``step`` on the llama thread (worker.LlamaThread), builds one llama_batch
as llama-server's update_slots does: the last sampled token of every slot that is
generating, then chunks of the prompts still to be read, up to the batch size, so a new
prompt is read while the other replies keep streaming. One llama_decode computes them
all; each slot's own sampler chain (with its grammar for ``response_format``) picks its
next token from its row of logits.

Each slot keeps the tokens its KV cells hold after a reply, so a follow-up request goes
to the slot with the longest common prefix and only the rest of its prompt is read
(llama-server's slot choice: the most similar prompt, else the least recently used slot).

What a request sees is what a one-at-a-time generation gives (runtime.generate): text
with stop strings held back and cut, ``finish_reason``/``stopped_by``, usage, timings,
cancellation (checked at every step; llama.cpp's abort callback would stop every slot's
decode, so it stays off here and a cancel waits for at most one step).

Runs in the engine process only; llama.cpp is reached through llama_api.
"""

from __future__ import annotations

import codecs
import collections
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from llmos_desktop.core.engine.contract import ErrorKind, SamplingOptions
from llmos_desktop.core.engine.process import llama_api
from llmos_desktop.core.engine.process.prompt_cache import common_prefix
from llmos_desktop.core.engine.process.runtime import (
    EngineRuntimeError,
    GenerationResult,
    TextCallback,
    _release,
)

# llama-server's --slot-prompt-similarity default: a slot is chosen for its cached prefix
# only when that prefix is more than this share of the new prompt.
SLOT_PROMPT_SIMILARITY = 0.1


@dataclass
class SlotRequest:
    """One generation waiting for, or holding, a slot; ``done`` is set with its end."""

    tokens: list[int]
    sampling: SamplingOptions
    grammar: str | None
    cancel: threading.Event
    on_text: TextCallback | None
    done: threading.Event = field(default_factory=threading.Event)
    result: GenerationResult | None = None
    error: BaseException | None = None

    def wait(self) -> GenerationResult:
        self.done.wait()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.done.set()

    def complete(self, result: GenerationResult) -> None:
        self.result = result
        self.done.set()


class _Reply:
    """A reply's text as its tokens come: stop strings, limits, timings and the result,
    as runtime.generate makes them for one request at a time."""

    def __init__(
        self, request: SlotRequest, n_ctx: int, cached: int, token_text: llama_api.TokenText
    ) -> None:
        self.request = request
        self.n_ctx = n_ctx
        self.cached = cached
        self.token_text = token_text
        n_prompt = len(request.tokens)
        room = n_ctx - n_prompt
        self.limit = min(request.sampling.max_tokens or room, room)
        self.stops = tuple(request.sampling.stop_list())
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.pending = ""
        self.parts: list[str] = []
        self.n_gen = 0
        self.t0 = time.perf_counter()
        self.t_first: float | None = None
        self.t_last = self.t0

    def _emit(self, text: str) -> None:
        if text:
            self.parts.append(text)
            on_text = self.request.on_text
            if on_text is not None:
                on_text(text, self.n_gen)

    def add(self, token: int) -> str | None:
        """Take one sampled token; the finish reason when the reply ends with it."""
        now = time.perf_counter()
        if self.t_first is None:
            self.t_first = now
        self.t_last = now
        if self.token_text.is_end(token):
            return "stop"
        self.n_gen += 1
        self.pending += self.decoder.decode(self.token_text.piece(token))
        ready, self.pending, stopped = _release(self.pending, self.stops)
        self._emit(ready)
        if stopped:
            return "stop"
        if self.request.cancel.is_set():
            return "cancelled"
        if self.n_gen >= self.limit:
            return "length"
        return None

    def result(self, finish: str) -> GenerationResult:
        if finish != "stop" or not self.stops:
            self._emit(self.pending + self.decoder.decode(b"", final=True))
            self.pending = ""
        n_prompt = len(self.request.tokens)
        t_first, n_gen = self.t_first, self.n_gen
        ttft = (t_first - self.t0) if t_first is not None else None
        stopped_by = "stop"
        if finish == "length":
            asked = self.request.sampling.max_tokens
            stopped_by = "max_tokens" if asked is not None and n_gen >= asked else "context"
        return GenerationResult(
            text="".join(self.parts),
            finish_reason=finish,
            prompt_tokens=n_prompt,
            completion_tokens=n_gen,
            cached_tokens=self.cached,
            ttft_s=ttft,
            prompt_tokens_per_s=(n_prompt - self.cached) / ttft if ttft else None,
            tokens_per_s=(
                (n_gen - 1) / (self.t_last - t_first)
                if (t_first is not None and n_gen > 1 and self.t_last > t_first)
                else None
            ),
            n_ctx=self.n_ctx,
            stopped_by=stopped_by,
        )


class Slot:
    """One sequence of the context: the tokens its KV cells hold, and the request it serves."""

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.tokens: list[int] = []  # what the KV cells of ``seq`` hold, in order
        self.last_used = 0.0
        self.request: SlotRequest | None = None
        self.reply: _Reply | None = None
        self.sampler: llama_api.SlotSampler | None = None
        self.prompt_left: list[int] = []  # prompt tokens not read yet
        self.next_token: int | None = None  # sampled, to be read in the next step
        self.i_batch = -1  # where this slot's logits are in the batch being decoded


class SlotScheduler:
    """The slots of one loaded model; every method runs on the llama thread."""

    def __init__(
        self,
        llm: Any,
        token_text: llama_api.TokenText,
        *,
        n_slots: int,
        n_ctx_slot: int,
        n_batch: int = 512,
        on_finished: Any = None,
    ) -> None:
        self.llm = llm
        self.token_text = token_text
        self.n_ctx_slot = n_ctx_slot
        self.slots = [Slot(seq) for seq in range(n_slots)]
        self.waiting: collections.deque[SlotRequest] = collections.deque()
        self.batch = llama_api.Batch(max(n_batch, n_slots))
        # Called with each GenerationResult (the runtime's ``last`` and request count).
        self.on_finished = on_finished
        self.steps = 0
        self.prompt_tokens_read = 0  # prompt tokens evaluated, over all requests

    # --- state ---------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return bool(self.waiting) or any(slot.request is not None for slot in self.slots)

    @property
    def active(self) -> int:
        return sum(slot.request is not None for slot in self.slots)

    def tokens_held(self) -> int:
        return sum(len(slot.tokens) for slot in self.slots)

    # --- requests ------------------------------------------------------------------

    def submit(self, request: SlotRequest) -> None:
        """Queue a request; it gets a slot at the next step that has one free."""
        self.waiting.append(request)

    def close(self, error: BaseException | None = None) -> None:
        """End every request (the model is going away) and free the samplers."""
        reason = error or EngineRuntimeError(
            ErrorKind.MODEL_NOT_LOADED, "The model was unloaded.", status=409
        )
        for slot in self.slots:
            if slot.request is not None:
                slot.request.fail(reason)
                self._release(slot)
            slot.tokens = []
        while self.waiting:
            self.waiting.popleft().fail(reason)

    # --- one step --------------------------------------------------------------------

    def step(self) -> None:
        """Admit waiting requests, then one llama_decode for every slot with work."""
        for slot in self.slots:
            request = slot.request
            if request is not None and request.cancel.is_set():
                self._finish(slot, "cancelled")
        self._admit()
        batch = self.batch
        batch.clear()
        for slot in self.slots:
            token = slot.next_token
            if token is not None:
                slot.i_batch = batch.add(token, len(slot.tokens), slot.seq, True)
                slot.tokens.append(token)
                slot.next_token = None
        for slot in sorted(
            (s for s in self.slots if s.prompt_left), key=lambda s: s.reply.t0 if s.reply else 0
        ):
            room = batch.capacity - batch.size
            if room <= 0:
                break
            chunk = slot.prompt_left[:room]
            last = len(chunk) == len(slot.prompt_left)
            index = batch.add_run(chunk, len(slot.tokens), slot.seq, last)
            slot.i_batch = index if last else -1
            slot.tokens.extend(chunk)
            slot.prompt_left = slot.prompt_left[len(chunk) :]
            self.prompt_tokens_read += len(chunk)
        if batch.size == 0:
            return
        self.steps += 1
        code = batch.decode(self.llm)
        if code != 0:
            self._decode_failed(code)
            return
        for slot in self.slots:
            if slot.i_batch < 0 or slot.request is None:
                continue
            index, slot.i_batch = slot.i_batch, -1
            assert slot.sampler is not None and slot.reply is not None
            try:
                token = slot.sampler.sample(index)
            except RuntimeError as exc:
                self._fail(
                    slot,
                    EngineRuntimeError(
                        ErrorKind.GENERATION_FAILED, f"llama.cpp failed: {exc}", status=500
                    ),
                )
                continue
            finish = slot.reply.add(token)
            if finish is None:
                slot.next_token = token
            else:
                self._finish(slot, finish)

    def _admit(self) -> None:
        while self.waiting:
            free = [slot for slot in self.slots if slot.request is None]
            if not free:
                return
            request = self.waiting.popleft()
            if request.cancel.is_set():
                n = len(request.tokens)
                request.complete(
                    GenerationResult("", "cancelled", n, 0, 0, None, None, None, self.n_ctx_slot)
                )
                continue
            slot = self._pick(request.tokens, free)
            try:
                self._start(slot, request)
            except Exception as exc:
                self._fail(slot, exc)

    def _pick(self, tokens: list[int], free: list[Slot]) -> Slot:
        """The free slot whose cached tokens share the longest prefix with ``tokens``
        (above SLOT_PROMPT_SIMILARITY of it), else the one used least recently."""
        best, best_len = None, 0
        for slot in free:
            n = common_prefix(slot.tokens, tokens)
            if n > best_len and n / max(1, len(tokens)) > SLOT_PROMPT_SIMILARITY:
                best, best_len = slot, n
        empty = [slot for slot in free if not slot.tokens]
        # Unlike llama-server, a slot that would lose most of its cached conversation for
        # a short shared start (a BOS token, a system prompt) is spared while one is empty.
        if best is not None and (best_len * 2 >= len(best.tokens) or not empty):
            return best
        if empty:
            return empty[0]
        return min(free, key=lambda slot: slot.last_used)

    def _start(self, slot: Slot, request: SlotRequest) -> None:
        tokens = request.tokens
        # At least the last prompt token is read again: its logits pick the first token.
        keep = min(common_prefix(slot.tokens, tokens), len(tokens) - 1)
        if keep < len(slot.tokens) and not llama_api.forget_tokens(self.llm, slot.seq, keep):
            llama_api.forget_tokens(self.llm, slot.seq, 0)
            keep = 0
        slot.tokens = slot.tokens[:keep]
        slot.request = request
        slot.prompt_left = tokens[keep:]
        slot.next_token = None
        slot.i_batch = -1
        sampling = request.sampling
        seed = (
            sampling.seed
            if sampling.seed is not None and sampling.seed >= 0
            else random.getrandbits(31)
        )
        slot.reply = _Reply(request, self.n_ctx_slot, keep, self.token_text)
        slot.sampler = llama_api.SlotSampler(self.llm, sampling, seed, request.grammar)

    def _finish(self, slot: Slot, finish: str) -> None:
        request, reply = slot.request, slot.reply
        assert request is not None and reply is not None
        try:
            result = reply.result(finish)
        except BaseException as exc:  # on_text failed: the request gets the error
            self._fail(slot, exc)
            return
        self._release(slot)
        if self.on_finished is not None:
            self.on_finished(result)
        request.complete(result)

    def _fail(self, slot: Slot, error: BaseException) -> None:
        request = slot.request
        self._release(slot)
        if request is not None:
            request.fail(error)

    def _release(self, slot: Slot) -> None:
        if slot.sampler is not None:
            slot.sampler.close()
        slot.sampler = None
        slot.request = None
        slot.reply = None
        slot.prompt_left = []
        slot.next_token = None
        slot.i_batch = -1
        slot.last_used = time.monotonic()

    def _decode_failed(self, code: int) -> None:
        """llama_decode refused the batch: every request in it ends with the error, and
        their sequences start afresh (what the cache holds of them is not known)."""
        error = EngineRuntimeError(
            ErrorKind.GENERATION_FAILED,
            "llama.cpp failed: "
            + ("no room in the KV cache" if code == 1 else f"llama_decode returned {code}"),
            status=500,
        )
        in_batch = {int(seq) for seq in self.batch.seq[: self.batch.size]}
        for slot in self.slots:
            if slot.seq in in_batch:
                llama_api.forget_tokens(self.llm, slot.seq, 0)
                slot.tokens = []
                if slot.request is not None:
                    self._fail(slot, error)
