"""Every use of llama-cpp-python's private or low-level API, in one module.

The runtime needs more than ``llama_cpp.Llama``'s public methods: load progress,
an abort callback, saving and restoring the KV state, detokenizing one token
without copies, llama.cpp's log, grammars built from JSON Schemas and sampling with
them. Those reach into ctypes bindings and private attributes (``Llama._ctx``,
``Llama._model``, ``Llama.input_ids``, ``n_tokens``, ``Llama._init_sampler``,
``llama_grammar.SchemaConverter``; for parallel slots the context defaults that carry
``n_seq_max`` and ``kv_unified``, ``llama_batch`` and the per-sequence memory calls) that a llama-cpp-python release may change, so they all live here: an upgrade is
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
import math
import os
import re
import struct
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

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
    n_parallel: int = 1,
    flash_attn: bool = False,
) -> Llama:
    """``llama_cpp.Llama`` for ``path``, reporting weight-loading progress (0..1).

    What llama-cpp-python itself prints while loading (the metadata, its chat-format
    guesses, which contradict our own template choice) goes to ``chatter``, the log.

    llama-cpp-python has no progress argument; its Llama() builds the model params
    from ``llama_model_default_params()``, so for the length of this call we hand it
    defaults that carry our callback. Call from one thread at a time (the runtime's
    worker): the patched function is module state.

    ``n_parallel`` > 1: the context holds that many sequences (``n_seq_max``), each in
    its own part of the KV cache (``kv_unified`` off: n_ctx / n_parallel cells each), as
    llama-server's ``-np N`` makes it; Llama() has no argument for either, so they ride
    on the context defaults in the same way.
    """
    import llama_cpp
    import llama_cpp.llama_cpp as low_level  # the module whose function Llama() calls

    original_defaults = getattr(low_level, "llama_model_default_params")  # noqa: B009
    original_context_defaults = getattr(low_level, "llama_context_default_params")  # noqa: B009

    def progress(value: float, _user: Any) -> bool:
        on_progress(float(value))
        return True

    progress_cb = llama_cpp.llama_progress_callback(progress)

    def defaults_with_progress() -> Any:
        model_params = original_defaults()
        model_params.progress_callback = progress_cb
        return model_params

    def context_defaults() -> Any:
        context_params = original_context_defaults()
        context_params.n_seq_max = n_parallel
        context_params.kv_unified = False
        return context_params

    setattr(low_level, "llama_model_default_params", defaults_with_progress)  # noqa: B010
    if n_parallel > 1:
        setattr(low_level, "llama_context_default_params", context_defaults)  # noqa: B010
    try:
        with contextlib.redirect_stderr(chatter), contextlib.redirect_stdout(chatter):
            return llama_cpp.Llama(
                model_path=path,
                n_ctx=n_ctx,
                n_gpu_layers=n_gpu_layers,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                n_batch=512,
                flash_attn=flash_attn,
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
        setattr(low_level, "llama_context_default_params", original_context_defaults)  # noqa: B010


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


def generate(
    llm: Llama, tokens: Sequence[int], sampling: SamplingOptions, grammar: str | None = None
) -> Generator[int, Any, None]:
    """``Llama.generate`` with the sampling options, and the reply held to ``grammar``
    (GBNF, from ``json_grammar``) when one is given.

    Without a grammar this is ``Llama.generate`` itself: a normal request pays nothing.
    With one, ``Llama.generate`` samples through a ``GrammarSampler``: for the length of
    the generation the model's ``_init_sampler`` (which builds the sampler chain that
    ``Llama.sample`` uses) is wrapped, on this one object only. Close the generator
    (``generator.close()``) when done: that puts the method back and frees the grammar.
    """
    args = sampling_args(sampling)
    if grammar is None:
        generator: Generator[int, Any, None] = llm.generate(tokens, **args)
        return generator
    return _generate_with_grammar(llm, tokens, args, grammar)


def _generate_with_grammar(
    llm: Llama, tokens: Sequence[int], args: dict[str, Any], grammar: str
) -> Generator[int, Any, None]:
    build_chain = llm._init_sampler
    made: list[GrammarSampler] = []

    def init_sampler(**kwargs: Any) -> GrammarSampler:
        sampler = GrammarSampler(llm, build_chain(**kwargs), grammar)
        made.append(sampler)
        return sampler

    llm._init_sampler = init_sampler  # an instance attribute: shadows the method
    try:
        yield from llm.generate(tokens, **args)
    finally:
        with contextlib.suppress(AttributeError):
            del llm._init_sampler
        llm._sampler = None  # Llama.sample must never reach a closed sampler
        for sampler in made:
            sampler.close()


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


# --- replies in JSON: a grammar from a JSON Schema (response_format) ------------------------
# llama-cpp-python turns a JSON Schema into a GBNF grammar (llama_grammar.SchemaConverter,
# a copy of an older llama.cpp json-schema-to-grammar.py) and llama.cpp holds sampling to
# it. What stands between that and a schema from a request:
# - Time and memory. The converter resolves a $ref again at every use when the name it
#   points to is not a valid rule name ("a_1"), so a 1.4 KB chain of such references
#   takes 6 s, and each step doubles it; it writes "maxLength": n as n nested
#   groups, which llama.cpp's recursive grammar parser overflows its stack on (2,000 on
#   a 512 KiB thread stack, 20,000 on 8 MiB: a crash); "minLength": 10**9 is one
#   string of gigabytes. So prepare_schema bounds every count first, the conversion runs
#   under a deadline (a trace function, as the template sandbox does), repetitions are
#   written in GBNF's own x{m,n} (llama.cpp expands it without recursion), and the
#   grammar's nesting is measured before llama.cpp parses it.
# - Output that is not JSON. Its strings may hold raw control characters, a regex class
#   may hold a quote or a backslash, and an enum value with a backslash loses it. Patterns
#   are rewritten into a subset whose every character is safe in a JSON string, the
#   string rules are replaced with JSON's own, and literals escape backslashes.
# - Keywords it ignores (minimum, uniqueItems, not...) or gets wrong (required names that
#   are not properties, $ref beside $defs, type lists with other keywords): prepare_schema
#   refuses them when the request is strict and otherwise leaves them out, so the grammar
#   still makes JSON that follows what it keeps.
# - Cost per token. llama.cpp's grammar sampler filters the whole vocabulary at each step:
#   70 ms a token for Gemma 3's 262,144 tokens on two cores (12 tok/s against 58).
#   GrammarSampler samples as llama.cpp's own tools do: the token the usual chain picks is
#   checked alone and kept when the grammar allows it; when it does not, the grammar looks
#   at the 256 likeliest tokens, and only when it allows none of them at the whole
#   vocabulary. A simple schema then costs next to nothing: CPU time per token, one
#   thread, 0.96 of a reply without one on SmolLM2 (49,152 tokens) and 1.0-1.1 on Gemma
#   3, against 0.57 and 0.34 with llama-cpp-python's own grammar sampling.


class GrammarError(ValueError):
    """A schema no grammar can be built from (or that is not valid); str() is one line."""


GRAMMAR_TIME_LIMIT_S = 2.0  # to prepare the schema and convert it
MAX_REPEAT = 1_000  # minLength, maxLength, minItems, maxItems and a pattern's {m,n}
MAX_OBJECT_PROPERTIES = 500  # in one object
MAX_OPTIONAL_PROPERTIES = 100  # of them not required (they cost the converter n**2)
# Enum values and anyOf/oneOf branches in the whole schema. Each is a branch the grammar
# follows at once while they share a start, and applying it to the whole vocabulary costs
# time per live branch: 1,000 values with a common start took 5.4 s of CPU for one token
# of Gemma 3 (262,144 tokens; GrammarSampler rarely needs the whole vocabulary, but a
# hostile prompt can make it), 500 about half that.
MAX_ALTERNATIVES = 500
MAX_PATTERN_CHARS = 1_000
MAX_PATTERN_GROUPS = 16  # groups inside each other in one pattern
MAX_GRAMMAR_CHARS = 512 * 1024
MAX_GRAMMAR_NESTING = 64  # parentheses inside each other in the grammar
_PREPARE_DEPTH = 64  # the request's own bound is lower; this one protects other callers

# Keywords the grammar follows.
_ENFORCED = frozenset(
    {
        "type", "enum", "const", "properties", "required", "additionalProperties",
        "items", "prefixItems", "minItems", "maxItems", "minLength", "maxLength",
        "pattern", "format", "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions",
    }
)  # fmt: skip
# Assertions it cannot follow: refused when strict, else left out of the grammar (the
# reply may break them; a client that needs them validates the reply).
_NOT_ENFORCED = frozenset(
    {
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "uniqueItems", "contains", "minContains", "maxContains", "minProperties",
        "maxProperties", "patternProperties", "propertyNames", "dependentRequired",
        "dependentSchemas", "dependencies", "if", "then", "else", "not",
        "unevaluatedItems", "unevaluatedProperties", "$dynamicRef", "$recursiveRef",
    }
)  # fmt: skip
# Every other keyword (title, description, examples, default, unknown ones) says nothing
# about which values are valid, and is left out.
_FORMATS = frozenset({"date", "time", "date-time", "uuid"})  # the converter's own rules
_ANY_TYPES = ["object", "array", "string", "number", "boolean", "null"]
_STRING_KEYWORDS = ("minLength", "maxLength", "pattern")
_ARRAY_KEYWORDS = ("items", "prefixItems", "minItems", "maxItems")
_OBJECT_KEYWORDS = ("properties", "required", "additionalProperties")

# What a JSON string may hold unescaped: no quote, no backslash, no control character.
_UNSAFE_RANGES = ((0x00, 0x1F), (0x22, 0x22), (0x5C, 0x5C))
_JSON_CHAR = r'[^"\\\x7F\x00-\x1F] | [\\] (["\\/bfnrt] | "u" [0-9a-fA-F]{4})'
_SAFE_DOT = r'[^"\\\x7F\x00-\x1F]'


def json_grammar(schema: Mapping[str, Any] | None, *, strict: bool = False) -> str:
    """GBNF for a reply in JSON: any JSON object (``schema`` None, OpenAI's JSON mode), or
    JSON that follows ``schema``, a JSON Schema (2020-12).

    The schema is checked with jsonschema (Draft202012Validator.check_schema: linear in
    the schema's size, which the request bounds; 0.5 s for 36 KB on a slow machine), then
    prepared (prepare_schema) and converted within GRAMMAR_TIME_LIMIT_S; raises
    GrammarError.
    ``strict``: refuse keywords the grammar cannot enforce rather than leave them out.
    Call ``grammar_accepted`` to have llama.cpp parse the result for a model.
    """
    from llama_cpp import llama_grammar

    if schema is None:
        return str(llama_grammar.JSON_GBNF)
    _check_json_schema(schema)
    _converter()  # imported before the clock starts: an import under the trace is slow
    text = _limited(lambda: _convert(prepare_schema(schema, strict=strict)), GRAMMAR_TIME_LIMIT_S)
    if len(text) > MAX_GRAMMAR_CHARS:
        raise GrammarError(f"its grammar would be longer than {MAX_GRAMMAR_CHARS} characters")
    depth = grammar_nesting(text)
    if depth > MAX_GRAMMAR_NESTING:
        raise GrammarError(f"its grammar would nest {depth} groups (at most {MAX_GRAMMAR_NESTING})")
    return text


def grammar_accepted(llm: Llama, grammar: str) -> bool:
    """Whether llama.cpp parses ``grammar`` for ``llm``'s vocabulary (why not goes to its
    log, or to stderr).

    Tried before a request is answered, so that a grammar llama.cpp refuses is a 400
    rather than an error in the middle of a stream (llama-cpp-python itself would add the
    NULL sampler to its chain). ``grammar`` must be bounded (json_grammar's result): the
    parser recurses.
    """
    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(
        llm._model.vocab, grammar.encode("utf-8"), b"root"
    )
    if not sampler:
        return False
    llama_cpp.llama_sampler_free(sampler)
    return True


def grammar_nesting(grammar: str) -> int:
    """The deepest nesting of parentheses in GBNF text (literals, classes and comments
    skipped)."""
    depth = deepest = 0
    i, n = 0, len(grammar)
    while i < n:
        c = grammar[i]
        if c in '"[':
            close = '"' if c == '"' else "]"
            i += 1
            while i < n and grammar[i] != close:
                i += 2 if grammar[i] == "\\" else 1
        elif c == "#":
            while i < n and grammar[i] != "\n":
                i += 1
        elif c == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif c == ")":
            depth -= 1
        i += 1
    return deepest


class _Deadline(BaseException):
    """Raised by the trace function; a BaseException so no ``except Exception`` in the
    code it interrupts can swallow it."""


_T = TypeVar("_T")


def _limited(work: Callable[[], _T], seconds: float) -> _T:
    """``work()``, stopped after ``seconds`` (GrammarError): a trace function (this thread
    only, only while it runs) checks the clock at every Python call. (Not at every line:
    that tripled the cost, and the code it bounds loops by calling.)

    It raises once; the ``finally`` blocks it passes through on the way out then run
    untraced. The previous trace function (a debugger's, coverage's) is put back first
    thing, on success and on error.
    """
    deadline = time.monotonic() + seconds
    now = time.monotonic
    fired = False

    def trace(_frame: types.FrameType, _event: str, _arg: Any) -> Any:
        nonlocal fired
        if not fired and now() > deadline:
            fired = True
            raise _Deadline
        return None  # no line events

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        result = work()
    except _Deadline:
        sys.settrace(previous)
        raise GrammarError(f"building a grammar from it took longer than {seconds:g} s") from None
    except RecursionError:
        sys.settrace(previous)
        raise GrammarError("it is nested or refers to itself too deeply") from None
    except BaseException:
        sys.settrace(previous)
        raise
    sys.settrace(previous)
    return result


def _check_json_schema(schema: Mapping[str, Any]) -> None:
    from jsonschema import Draft202012Validator, SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "".join(f"/{part}" for part in exc.path)
        raise GrammarError(
            _one_line(f"not a valid JSON Schema: {where or '/'}: {exc.message}")
        ) from None
    except RecursionError:  # compiling a pattern of 500 nested groups, for one
        raise GrammarError("not a valid JSON Schema: nested too deeply") from None
    except Exception as exc:
        raise GrammarError(
            _one_line(f"not a valid JSON Schema ({type(exc).__name__}: {exc})")
        ) from None


def _one_line(text: str) -> str:
    from llmos_desktop.core.text import one_line

    return one_line(text, limit=300)


def prepare_schema(schema: Mapping[str, Any], *, strict: bool = False) -> dict[str, Any]:
    """``schema`` rewritten for llama-cpp-python's converter, so that its grammar makes
    only JSON that follows what the grammar keeps (see the notes above). GrammarError for
    what cannot be followed (and, with ``strict``, for what would be left out)."""
    return _SchemaPreparer(schema, strict).prepare(schema, "", 0)


class _SchemaPreparer:
    def __init__(self, root: Mapping[str, Any], strict: bool) -> None:
        self.root = root
        self.strict = strict
        self.alternatives = 0

    def count_alternatives(self, n: int, where: str) -> None:
        self.alternatives += n
        if self.alternatives > MAX_ALTERNATIVES:
            raise self.refuse(
                where, f"more than {MAX_ALTERNATIVES} enum values and anyOf branches in the schema"
            )

    def resolves(self, ref: str) -> bool:
        """Whether a `#/...` reference (a JSON pointer) names a schema in the root."""
        target: Any = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(target, Mapping) and part in target:
                target = target[part]
            elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                target = target[int(part)]
            else:
                return False
        return isinstance(target, Mapping | bool)

    def refuse(self, where: str, message: str) -> GrammarError:
        return GrammarError(_one_line(f"{where or '/'}: {message}"))

    def prepare(self, node: object, where: str, depth: int) -> dict[str, Any]:
        if depth > _PREPARE_DEPTH:
            raise self.refuse(where, "nested too deeply")
        if node is True:
            return {"type": list(_ANY_TYPES)}
        if node is False:
            raise self.refuse(where, "`false` allows no value, so no reply can follow it")
        if not isinstance(node, Mapping):
            raise self.refuse(where, "a schema must be an object or a boolean")
        node = dict(node)
        if "allOf" in node:
            node = self.merge_all_of(node, where)
        for key in node:
            if key in _NOT_ENFORCED and self.strict:
                raise self.refuse(
                    where, f"`{key}` cannot be enforced while generating (strict is true)"
                )
        out: dict[str, Any] = {}
        for defs in ("$defs", "definitions"):
            if isinstance(node.get(defs), Mapping):
                out[defs] = {
                    name: self.prepare(sub, f"{where}/{defs}/{name}", depth + 1)
                    for name, sub in node[defs].items()
                }
        out.update(self.prepare_value(node, where, depth))
        return out

    def prepare_value(self, node: dict[str, Any], where: str, depth: int) -> dict[str, Any]:
        if "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                raise self.refuse(where, "only references inside the schema (#/...) are supported")
            if not self.resolves(ref):
                raise self.refuse(where, f"`$ref` {ref} points to no schema")
            others = [
                k for k in node if k in _ENFORCED and k not in ("$ref", "$defs", "definitions")
            ]
            if others and self.strict:
                raise self.refuse(where, f"`{others[0]}` beside `$ref` is not supported")
            # A $ref alone in a union: the converter would not look inside a node that
            # has a $ref (its $defs, for one) for the references there.
            return {"anyOf": [{"$ref": ref}]}
        if "anyOf" in node or "oneOf" in node:
            if "anyOf" in node and "oneOf" in node:
                raise self.refuse(where, "`anyOf` and `oneOf` together are not supported")
            key = "anyOf" if "anyOf" in node else "oneOf"
            siblings = {
                k: v
                for k, v in node.items()
                if k in _ENFORCED and k not in (key, "$defs", "definitions")
            }
            # A `false` branch allows nothing: the others are the union.
            branches = [(i, b) for i, b in enumerate(node[key]) if b is not False]
            if not branches:
                raise self.refuse(where, f"every branch of `{key}` is `false`: no value fits")
            self.count_alternatives(len(branches), where)
            # The keywords beside the union hold for every branch (`true`: only they do).
            return {
                "anyOf": [
                    self.prepare(
                        {**siblings, **(branch if isinstance(branch, Mapping) else {})}
                        if branch is True or isinstance(branch, Mapping)
                        else branch,
                        f"{where}/{key}/{i}",
                        depth + 1,
                    )
                    for i, branch in branches
                ]
            }
        if "const" in node:
            return {"const": node["const"]}
        if "enum" in node:
            values = list(node["enum"])
            self.count_alternatives(len(values), where)
            if not values:
                raise self.refuse(where, "an empty `enum` allows no value")
            return {"enum": values}
        kind = node.get("type")
        if isinstance(kind, list):
            kinds = list(dict.fromkeys(kind))
            if len(kinds) == 1:
                kind = kinds[0]
            else:
                rest = {k: v for k, v in node.items() if k != "type"}
                return {
                    "anyOf": [
                        self.prepare({**rest, "type": one}, f"{where}/type/{one}", depth + 1)
                        for one in kinds
                    ]
                }
        if kind is None:
            kind = self.implied_type(node)
        if kind is None:
            return {"type": list(_ANY_TYPES)}
        if kind == "object":
            return self.prepare_object(node, where, depth)
        if kind == "array":
            return self.prepare_array(node, where, depth)
        if kind == "string":
            return self.prepare_string(node, where)
        return {"type": kind}

    def implied_type(self, node: Mapping[str, Any]) -> str | None:
        """The one type a schema without `type` constrains (JSON Schema lets other types
        through; the grammar makes the one that is constrained)."""
        for kind, keywords in (
            ("object", _OBJECT_KEYWORDS),
            ("array", _ARRAY_KEYWORDS),
            ("string", _STRING_KEYWORDS),
        ):
            if any(k in node for k in keywords):
                return kind
        if "format" in node and node["format"] in _FORMATS:
            return "string"
        return None

    def merge_all_of(self, node: dict[str, Any], where: str) -> dict[str, Any]:
        """``allOf`` folded into its schema: properties and required names joined, other
        keywords taken where the schema has none. A keyword two of them give different
        values is refused when strict (the first is kept otherwise)."""
        parts = node.pop("allOf")
        merged = dict(node)
        for i, part in enumerate(parts):
            if part is True:
                continue
            if not isinstance(part, Mapping) or "$ref" in part or "allOf" in part:
                raise self.refuse(
                    f"{where}/allOf/{i}", "only plain schemas are supported in `allOf`"
                )
            for key, value in part.items():
                if key == "properties" and isinstance(value, Mapping):
                    properties = dict(merged.get("properties") or {})
                    for name, sub in value.items():
                        if name in properties and properties[name] != sub and self.strict:
                            raise self.refuse(where, f"`allOf` gives property {name!r} two schemas")
                        properties.setdefault(name, sub)
                    merged["properties"] = properties
                elif key == "required" and isinstance(value, list):
                    merged["required"] = list(dict.fromkeys([*merged.get("required", []), *value]))
                elif key not in merged:
                    merged[key] = value
                elif merged[key] != value and key in _ENFORCED and self.strict:
                    raise self.refuse(where, f"`allOf` gives `{key}` two values")
        return merged

    def prepare_object(self, node: Mapping[str, Any], where: str, depth: int) -> dict[str, Any]:
        properties = dict(node.get("properties") or {})
        required = list(dict.fromkeys(node.get("required") or []))
        additional = node.get("additionalProperties", True)
        for name in required:
            if name not in properties:
                if additional is False:
                    raise self.refuse(
                        where, f"required property {name!r} is not allowed by additionalProperties"
                    )
                properties[name] = additional if isinstance(additional, Mapping) else True
        if len(properties) > MAX_OBJECT_PROPERTIES:
            raise self.refuse(where, f"more than {MAX_OBJECT_PROPERTIES} properties in one object")
        if len(properties) - len(required) > MAX_OPTIONAL_PROPERTIES:
            raise self.refuse(
                where, f"more than {MAX_OPTIONAL_PROPERTIES} optional properties in one object"
            )
        out: dict[str, Any] = {"type": "object"}
        # A property whose schema is `false` may not appear: it is left out (a required
        # one fails below).
        properties = {
            name: sub for name, sub in properties.items() if sub is not False or name in required
        }
        if properties:
            out["properties"] = {
                name: self.prepare(sub, f"{where}/properties/{name}", depth + 1)
                for name, sub in properties.items()
            }
        if required:
            out["required"] = required
        if additional is False:
            out["additionalProperties"] = False
        elif isinstance(additional, Mapping) and additional:
            out["additionalProperties"] = self.prepare(
                additional, f"{where}/additionalProperties", depth + 1
            )
        return out

    def prepare_array(self, node: Mapping[str, Any], where: str, depth: int) -> dict[str, Any]:
        low, high = self.counts(node, "minItems", "maxItems", where)
        out: dict[str, Any] = {"type": "array"}
        prefix = node.get("prefixItems")
        if prefix:
            # The converter makes exactly these items (it cannot add `items` after them).
            if low > len(prefix):
                raise self.refuse(where, "`minItems` beyond `prefixItems` is not supported")
            out["prefixItems"] = [
                self.prepare(sub, f"{where}/prefixItems/{i}", depth + 1)
                for i, sub in enumerate(prefix)
            ]
            return out
        items = node.get("items", True)
        if items is False:
            out["maxItems"] = 0
            return out
        out["items"] = self.prepare(items, f"{where}/items", depth + 1)
        if low:
            out["minItems"] = low
        if high is not None:
            out["maxItems"] = high
        return out

    def prepare_string(self, node: Mapping[str, Any], where: str) -> dict[str, Any]:
        low, high = self.counts(node, "minLength", "maxLength", where)
        pattern = node.get("pattern")
        if pattern is not None:
            if (low or high is not None) and self.strict:
                raise self.refuse(
                    where, "`pattern` with `minLength` or `maxLength` is not supported"
                )
            try:
                return {"type": "string", "pattern": grammar_pattern(pattern)}
            except GrammarError as exc:
                raise self.refuse(f"{where}/pattern", str(exc)) from None
        out: dict[str, Any] = {"type": "string"}
        if low or high is not None:
            out["minLength"] = low
            if high is not None:
                out["maxLength"] = high
        elif node.get("format") in _FORMATS:
            out["format"] = node["format"]
        return out

    def counts(
        self, node: Mapping[str, Any], low_key: str, high_key: str, where: str
    ) -> tuple[int, int | None]:
        low = int(node.get(low_key, 0))
        high = node.get(high_key)
        for key, value in ((low_key, low), (high_key, high)):
            if value is not None and value > MAX_REPEAT:
                raise self.refuse(where, f"`{key}` above {MAX_REPEAT} is not supported")
        if high is not None and int(high) < low:
            raise self.refuse(where, f"`{high_key}` is less than `{low_key}`: no value fits")
        return low, None if high is None else int(high)


# --- patterns -------------------------------------------------------------------------
# A JSON Schema pattern is an ECMA-262 regular expression that may match anywhere in the
# string; the converter takes a subset, anchored at both ends, copies character classes
# into the grammar as they are, and knows few escapes. grammar_pattern rewrites a pattern
# into what it takes, such that every string the result matches in full also matches the
# original (so the reply follows the schema) and holds no character JSON must escape.

_CLASS_ESCAPES = {
    "d": [(0x30, 0x39)],
    "w": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
    "s": [(0x20, 0x20)],  # of the white space, only the space is safe in a JSON string
}
_NEGATED_ESCAPES = {"D": "d", "W": "w", "S": "s"}
_PATTERN_SPECIALS = frozenset("|.()[]{}*+?^$\\")
_QUANTIFIER = re.compile(r"\{(\d+)(,(\d*))?\}")


def grammar_pattern(pattern: str) -> str:
    """``pattern`` as the converter takes it (``^...$``), JSON-safe; GrammarError for
    what it cannot express (lookarounds, back-references, anchors inside, \\b...)."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise GrammarError(f"a pattern longer than {MAX_PATTERN_CHARS} characters")
    body = pattern
    if body.startswith("^"):
        body = body[1:]
    if body.endswith("$") and not _escaped_at(body, len(body) - 1):
        body = body[:-1]
    out: list[str] = []
    depth = 0
    atom = False  # the last thing written can take a quantifier
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c == "\\":
            if i + 1 >= n:
                raise GrammarError("the pattern ends with a backslash")
            text, i = _pattern_escape(body, i)
            out.append(text)
            atom = True
            continue
        if c == "[":
            text, i = _pattern_class(body, i)
            out.append(text)
            atom = True
            continue
        if c == "(":
            if body.startswith("(?:", i):
                i += 2
            elif body.startswith("(?", i):
                raise GrammarError("lookarounds and named groups are not supported in a pattern")
            depth += 1
            if depth > MAX_PATTERN_GROUPS:
                raise GrammarError(f"groups nested deeper than {MAX_PATTERN_GROUPS} in a pattern")
            out.append("(")
            atom = False
        elif c == ")":
            if depth == 0:
                raise GrammarError("unbalanced parentheses in the pattern")
            depth -= 1
            out.append(")")
            atom = True
        elif c == "|":
            out.append("|")
            atom = False
        elif c in "*+?":
            if not atom:
                raise GrammarError(f"nothing to repeat before {c!r} in the pattern")
            out.append(c)
            atom = False
            i += 1
            if i < n and body[i] in "?+":  # lazy or possessive: the same strings
                i += 1
            continue
        elif c == "{":
            quantifier = _QUANTIFIER.match(body, i)
            if quantifier is None:
                out.append("[{]")  # a brace that is not a quantifier is itself
                atom = True
            else:
                if not atom:
                    raise GrammarError("nothing to repeat before a quantifier in the pattern")
                low = int(quantifier.group(1))
                high_text = quantifier.group(3)
                high = None if quantifier.group(2) and not high_text else int(high_text or low)
                if low > MAX_REPEAT or (high is not None and high > MAX_REPEAT):
                    raise GrammarError(f"a repetition above {MAX_REPEAT} in the pattern")
                if high is not None and high < low:
                    raise GrammarError("a repetition {m,n} with n < m in the pattern")
                out.append(f"{{{low},{'' if high is None else high}}}")
                atom = False
                i = quantifier.end()
                if i < n and body[i] in "?+":
                    i += 1
                continue
        elif c == ".":
            out.append(".")
            atom = True
        elif c in "^$":
            raise GrammarError("anchors are supported only at the ends of a pattern")
        elif c in "]}":
            out.append(_class_of([(ord(c), ord(c))]))
            atom = True
        else:
            if _unsafe(ord(c)):
                raise GrammarError(f"the pattern needs {c!r}, which JSON strings escape")
            out.append(c)
            atom = True
        i += 1
    if depth:
        raise GrammarError("unbalanced parentheses in the pattern")
    return "^(" + "".join(out) + ")$"


def _escaped_at(text: str, index: int) -> bool:
    backslashes = 0
    while index - backslashes - 1 >= 0 and text[index - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def _pattern_escape(body: str, i: int) -> tuple[str, int]:
    """An escape outside a class, at ``body[i]`` (a backslash): its text and the next index."""
    c = body[i + 1]
    if c in _CLASS_ESCAPES:
        return _class_of(_CLASS_ESCAPES[c]), i + 2
    if c in _NEGATED_ESCAPES:
        return _class_of(_CLASS_ESCAPES[_NEGATED_ESCAPES[c]], negated=True), i + 2
    point, end = _escaped_char(body, i)
    return _class_of([(point, point)]), end


def _escaped_char(body: str, i: int) -> tuple[int, int]:
    """The character an escape at ``body[i]`` stands for (not a class shorthand)."""
    c = body[i + 1]
    if c in "xu":
        digits = 2 if c == "x" else 4
        text = body[i + 2 : i + 2 + digits]
        if len(text) != digits or any(d not in "0123456789abcdefABCDEF" for d in text):
            raise GrammarError(f"a malformed \\{c} escape in the pattern")
        point = int(text, 16)
        end = i + 2 + digits
    elif c.isascii() and not c.isalnum():
        point, end = ord(c), i + 2
    else:
        raise GrammarError(f"\\{c} is not supported in a pattern")
    if _unsafe(point):
        raise GrammarError(f"the pattern needs {chr(point)!r}, which JSON strings escape")
    return point, end


def _pattern_class(body: str, i: int) -> tuple[str, int]:
    """The class starting at ``body[i]`` ('['): its JSON-safe text and the next index."""
    i += 1
    negated = body.startswith("^", i)
    if negated:
        i += 1
    ranges: list[tuple[int, int]] = []
    first = True
    n = len(body)
    while True:
        if i >= n:
            raise GrammarError("an unclosed [ in the pattern")
        c = body[i]
        if c == "]" and not first:
            i += 1
            break
        first = False
        if c == "\\":
            if i + 1 >= n:
                raise GrammarError("an unclosed [ in the pattern")
            shorthand = body[i + 1]
            if shorthand in _CLASS_ESCAPES:
                ranges.extend(_CLASS_ESCAPES[shorthand])
                i += 2
                continue
            if shorthand in _NEGATED_ESCAPES:
                raise GrammarError(f"\\{shorthand} inside [...] is not supported in a pattern")
            low, i = _class_char_escape(body, i)
        else:
            low, i = ord(c), i + 1
        high = low
        if body.startswith("-", i) and i + 1 < n and body[i + 1] != "]":
            if body[i + 1] == "\\":
                high, i = _class_char_escape(body, i + 1)
            else:
                high, i = ord(body[i + 1]), i + 2
            if high < low:
                raise GrammarError("a range [b-a] in the pattern")
        ranges.append((low, high))
    return _class_of(ranges, negated=negated), i


def _class_char_escape(body: str, i: int) -> tuple[int, int]:
    c = body[i + 1] if i + 1 < len(body) else ""
    if c in "xu":
        return _escaped_char(body, i)
    if c.isascii() and not c.isalnum() and c:
        return ord(c), i + 2  # \- \] \\ \. ...: the character itself (checked later)
    raise GrammarError(f"\\{c} is not supported in a pattern")


def _unsafe(point: int) -> bool:
    return any(low <= point <= high for low, high in _UNSAFE_RANGES)


def _class_of(ranges: list[tuple[int, int]], *, negated: bool = False) -> str:
    """A GBNF class (every character as an escape) for ``ranges`` less what JSON strings
    escape: a negated class also leaves those out."""
    if negated:
        ranges = [*ranges, *_UNSAFE_RANGES]
    else:
        for low, high in _UNSAFE_RANGES:
            ranges = [
                part
                for start, end in ranges
                for part in ((start, min(end, low - 1)), (max(start, high + 1), end))
                if part[0] <= part[1]
            ]
        if not ranges:
            raise GrammarError("a character class holds only characters JSON strings escape")
    text = "".join(
        _class_char(low) + ("" if low == high else "-" + _class_char(high)) for low, high in ranges
    )
    return f"[{'^' if negated else ''}{text}]"


def _class_char(point: int) -> str:
    if point <= 0xFF:
        return f"\\x{point:02X}"
    if point <= 0xFFFF:
        return f"\\u{point:04X}"
    return f"\\U{point:08X}"


# --- the conversion -------------------------------------------------------------------


def _repetition(
    item_rule: str,
    min_items: int,
    max_items: int | None,
    separator_rule: str | None = None,
    item_rule_is_literal: bool = False,
) -> str:
    """llama_grammar._build_repetition's replacement: GBNF's own x{m,n} rather than n
    nested groups (as llama.cpp's newer converter writes it)."""
    if max_items == 0:
        return ""
    if min_items == 0 and max_items == 1:
        return f"{item_rule}?"
    if not separator_rule:
        if min_items == 1 and max_items is None:
            return f"{item_rule}+"
        if min_items == 0 and max_items is None:
            return f"{item_rule}*"
        return f"{item_rule}{{{min_items},{'' if max_items is None else max_items}}}"
    rest = _repetition(
        f"({separator_rule} {item_rule})",
        max(min_items - 1, 0),
        None if max_items is None else max_items - 1,
    )
    result = f"{item_rule} {rest}"
    return f"({result})?" if min_items == 0 else result


_CONVERTER_LOCK = threading.Lock()  # the converter's module is patched while it runs
_converter_class: type | None = None


def _converter() -> type:
    """llama_grammar.SchemaConverter, with literals that escape backslashes too."""
    global _converter_class
    if _converter_class is None:
        from llama_cpp import llama_grammar

        escapes = {"\r": "\\r", "\n": "\\n", '"': '\\"', "\\": "\\\\"}
        pattern = re.compile(r'[\r\n"\\]')

        class Converter(llama_grammar.SchemaConverter):
            def _format_literal(self, literal: str) -> str:
                return '"' + pattern.sub(lambda m: escapes[m.group(0)], literal) + '"'

        _converter_class = Converter
    return _converter_class


def _convert(prepared: dict[str, Any]) -> str:
    """The converter's grammar for a prepared schema, with JSON's own string rules."""
    from llama_cpp import llama_grammar

    converter_class = _converter()
    original = llama_grammar._build_repetition
    with _CONVERTER_LOCK:
        llama_grammar._build_repetition = _repetition
        try:
            converter = converter_class(
                prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False
            )
            resolved = converter.resolve_refs(prepared, "")
            converter.visit(resolved, "")
        except (GrammarError, _Deadline, RecursionError):
            raise
        except Exception as exc:  # its asserts and lookups: what it does not support
            raise GrammarError(
                _one_line(f"no grammar can be built from it ({type(exc).__name__}: {exc})")
            ) from None
        finally:
            llama_grammar._build_repetition = original
    rules: dict[str, str] = converter._rules
    if "char" in rules:
        rules["char"] = _JSON_CHAR
    if "dot" in rules:
        rules["dot"] = _SAFE_DOT
    return str(converter.format_grammar())


class GrammarSampler:
    """What ``Llama.sample`` calls (``sample(ctx, idx)``) while a reply must follow a grammar.

    The usual chain (``chain``: penalties, top-k..., greedy or dist; a llama-cpp-python
    ``LlamaSampler``) picks a token as it does without a grammar, and the grammar looks at
    that one token: when it allows it, that is the token. When it does not, the grammar
    looks at the RESAMPLE_TOP tokens with the highest logits, and the chain picks again
    among those it allows; only when it allows none of them is it applied to the whole
    vocabulary (llama.cpp's own tools take the first and the last step). With temperature
    0 this picks exactly what applying the grammar to the whole vocabulary first would;
    with sampling, nearly so. The chain has then taken note of the refused token too,
    which only a repeat penalty would notice.
    """

    RESAMPLE_TOP = 256

    def __init__(self, llm: Llama, chain: Any, grammar: str) -> None:
        import llama_cpp
        import numpy as np

        self._chain = chain
        self._grammar = llama_cpp.llama_sampler_init_grammar(
            llm._model.vocab, grammar.encode("utf-8"), b"root"
        )
        if not self._grammar:
            chain.close()
            raise GrammarError("llama.cpp refused the grammar")
        self._np = np
        self._n_vocab = int(llm.n_vocab())
        self._one = llama_cpp.llama_token_data()
        self._one_array = llama_cpp.llama_token_data_array(ctypes.pointer(self._one), 1, -1, False)
        self._top = (llama_cpp.llama_token_data * min(self.RESAMPLE_TOP, self._n_vocab))()
        self._top_view = np.ctypeslib.as_array(self._top)
        self._all: Any = None  # the whole vocabulary, made when first needed
        self.sampled = 0  # tokens picked
        self.refused = 0  # of them, first picks the grammar refused
        self.whole = 0  # of those, picks that needed the whole vocabulary

    def sample(self, ctx: Any, idx: int) -> int:
        import llama_cpp

        token = int(llama_cpp.llama_sampler_sample(self._chain.sampler, ctx.ctx, idx))
        self.sampled += 1
        if not self._allows(token):
            self.refused += 1
            token = self._resample(ctx.ctx, idx)
            llama_cpp.llama_sampler_accept(self._chain.sampler, token)
        llama_cpp.llama_sampler_accept(self._grammar, token)
        return token

    def _allows(self, token: int) -> bool:
        import llama_cpp

        one, array = self._one, self._one_array
        one.id, one.logit, one.p = token, 0.0, 0.0  # type: ignore[assignment]  # ctypes
        array.size, array.selected, array.sorted = 1, -1, False
        llama_cpp.llama_sampler_apply(self._grammar, ctypes.byref(array))
        return not math.isinf(one.logit)

    def _resample(self, ctx: Any, idx: int) -> int:
        import llama_cpp

        np = self._np
        n = self._n_vocab
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, idx), shape=(n,))
        view, data = self._top_view, self._top
        k = len(view)
        best = np.argpartition(logits, n - k)[n - k :] if k < n else np.arange(n)
        token = self._pick(data, view, best.astype(np.intc), logits[best])
        if token is not None:
            return token
        self.whole += 1
        if self._all is None:
            self._all = (llama_cpp.llama_token_data * n)()
            self._all_view = np.ctypeslib.as_array(self._all)
            self._ids = np.arange(n, dtype=np.intc)
        token = self._pick(self._all, self._all_view, self._ids, logits)
        if token is None:
            # Accepting a token the grammar refuses would abort the process.
            raise RuntimeError("the grammar allows no token of this model's vocabulary here")
        return token

    def _pick(self, data: Any, view: Any, ids: Any, logits: Any) -> int | None:
        """The chain's pick among ``ids`` (with ``logits``) that the grammar allows."""
        import llama_cpp

        view["id"] = ids
        view["logit"] = logits
        view["p"] = 0.0
        array = llama_cpp.llama_token_data_array(data, len(view), -1, False)
        llama_cpp.llama_sampler_apply(self._grammar, ctypes.byref(array))
        if not self._np.isfinite(view["logit"]).any():
            return None
        llama_cpp.llama_sampler_apply(self._chain.sampler, ctypes.byref(array))
        return int(array.data[array.selected].id)

    def close(self) -> None:
        import llama_cpp

        if self._grammar:
            llama_cpp.llama_sampler_free(self._grammar)
            self._grammar = None
        self._chain.close()


# --- parallel slots: several sequences in one context (slots.py) -----------------------
# llama-server's way: one llama_batch carries a token of every sequence that is generating
# and chunks of the prompts still being read, each token tagged with its sequence id (its
# slot's part of the KV cache); one llama_decode computes them all, and each sequence's
# own sampler chain picks its next token from its row of logits.


class Batch:
    """A ``llama_batch`` whose arrays are numpy's, so a prompt chunk is written in one
    slice assignment instead of a ctypes store per token and field.

    llama_batch_init would allocate one seq_id array per token; here every token's
    seq_id pointer points into one contiguous array (one sequence per token), and the
    struct is never passed to llama_batch_free (numpy owns the memory; keep this object
    alive while llama.cpp may read it).
    """

    def __init__(self, capacity: int) -> None:
        import llama_cpp
        import numpy as np

        self.capacity = capacity
        self.token = np.zeros(capacity, dtype=np.int32)
        self.pos = np.zeros(capacity, dtype=np.int32)
        self.n_seq_id = np.ones(capacity, dtype=np.int32)
        self.seq = np.zeros(capacity, dtype=np.int32)
        self.logits = np.zeros(capacity, dtype=np.int8)
        seq_base = self.seq.ctypes.data
        self._seq_ptrs = (ctypes.POINTER(llama_cpp.llama_seq_id) * capacity)(
            *(
                ctypes.cast(seq_base + 4 * i, ctypes.POINTER(llama_cpp.llama_seq_id))
                for i in range(capacity)
            )
        )
        batch: Any = llama_cpp.llama_batch()
        batch.token = self.token.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_token))
        batch.embd = ctypes.POINTER(ctypes.c_float)()
        batch.pos = self.pos.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_pos))
        batch.n_seq_id = self.n_seq_id.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))
        batch.seq_id = self._seq_ptrs
        batch.logits = self.logits.ctypes.data_as(ctypes.POINTER(ctypes.c_int8))
        self.batch = batch
        self.size = 0

    def clear(self) -> None:
        self.size = 0

    def add(self, token: int, pos: int, seq: int, logits: bool) -> int:
        """One token; its index in the batch (where its logits are, when asked for)."""
        i = self.size
        self.token[i] = token
        self.pos[i] = pos
        self.seq[i] = seq
        self.logits[i] = logits
        self.size = i + 1
        return i

    def add_run(self, tokens: Sequence[int], first_pos: int, seq: int, logits_last: bool) -> int:
        """Consecutive tokens of one sequence; the index of the last one."""
        import numpy as np

        i, n = self.size, len(tokens)
        self.token[i : i + n] = tokens
        self.pos[i : i + n] = np.arange(first_pos, first_pos + n, dtype=np.int32)
        self.seq[i : i + n] = seq
        self.logits[i : i + n] = 0
        self.logits[i + n - 1] = logits_last
        self.size = i + n
        return i + n - 1

    def decode(self, llm: Llama) -> int:
        """llama_decode of what the batch holds: 0 done, 1 no room in the KV cache,
        2 aborted, < 0 an error."""
        import llama_cpp

        self.batch.n_tokens = self.size
        return int(llama_cpp.llama_decode(llm._ctx.ctx, self.batch))


def sequence_context(llm: Llama) -> tuple[int, int]:
    """(sequences the context holds, KV cells each may use)."""
    import llama_cpp

    ctx = llm._ctx.ctx
    return int(llama_cpp.llama_n_seq_max(ctx)), int(llama_cpp.llama_n_ctx_seq(ctx))


def forget_tokens(llm: Llama, seq: int, first: int) -> bool:
    """Drop sequence ``seq``'s KV cells from position ``first`` on (0: all of them);
    False when llama.cpp cannot cut it there (then nothing was dropped)."""
    import llama_cpp

    memory = llama_cpp.llama_get_memory(llm._ctx.ctx)
    return bool(llama_cpp.llama_memory_seq_rm(memory, seq, first, -1))


def clear_context(llm: Llama) -> None:
    """Empty the whole KV cache (every sequence) and ``Llama``'s own record of it."""
    import llama_cpp

    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm._ctx.ctx), True)
    llm.n_tokens = 0


class SlotSampler:
    """One sequence's sampler chain: the chain ``Llama.generate`` would build for the same
    options and seed (llama-cpp-python's ``_init_sampler``), held to ``grammar`` through
    GrammarSampler when one is given. ``sample(idx)`` picks from the logits at batch
    index ``idx`` and accepts the pick."""

    def __init__(
        self, llm: Llama, sampling: SamplingOptions, seed: int, grammar: str | None
    ) -> None:
        llm.set_seed(seed)  # _init_sampler seeds the chain's dist sampler from it
        chain = llm._init_sampler(**sampling_args(sampling))
        self._ctx = llm._ctx
        self._chain: Any = chain if grammar is None else GrammarSampler(llm, chain, grammar)

    def sample(self, idx: int) -> int:
        return int(self._chain.sample(self._ctx, idx))

    def close(self) -> None:
        self._chain.close()


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


# --- embeddings ---
# Vectors for /v1/embeddings (process/embeddings.py is the caller): a second llama.cpp
# context on the loaded model's weights, with embeddings on, made the first time a
# request asks and freed with the model (its close is on the Llama's exit stack, so an
# unload or a new model frees it before the weights).
#
# Pooling is done here, not by llama.cpp: with embeddings on, this llama.cpp computes
# the logits of every token too (n_vocab floats each: Gemma 3's 262k vocabulary made a
# 600-token input take 1.3 GB and 15 s in one batch), and its in-graph pooling needs a
# whole input in one batch. So the context pools nothing (LLAMA_POOLING_TYPE_NONE) and
# causal models are fed in chunks that keep the logits buffer small; each chunk's token
# vectors are pooled as the model says (its GGUF pooling type; mean when it has none).
# Non-causal models (BERT and the like: no logits, small contexts) get an input in one
# batch, as their attention needs. Vectors are L2-normalised, as OpenAI's are.

EMBED_MAX_TOKENS = 8192  # per input (OpenAI's embedding models take 8,191)
EMBED_LOGITS_BYTES = 64 << 20  # the logits buffer of one chunk, at most
_EMBED_MAX_CHUNK = 512
_EMBED_MIN_CHUNK = 16
_NON_CAUSAL = frozenset(
    {
        "bert",
        "nomic-bert",
        "nomic-bert-moe",
        "jina-bert-v2",
        "jina-bert-v3",
        "modern-bert",
        "neo-bert",
        "t5encoder",
        "gemma-embedding",
        "eurobert",
    }
)
POOLING_NAMES = {0: "none", 1: "mean", 2: "cls", 3: "last", 4: "rank"}


class EmbeddingUnsupported(ValueError):
    """The loaded model cannot make embeddings; the message says why."""


class EmbeddingCancelled(Exception):
    """The caller stopped an embedding (its client went away)."""


def _metadata_int(llm: Llama, key: str) -> int | None:
    value = (getattr(llm, "metadata", None) or {}).get(key)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def embedding_refusal(llm: Llama) -> str | None:
    """Why ``llm`` cannot make embeddings, or None when it can."""
    import llama_cpp

    model = llm._model.model
    arch = str((llm.metadata or {}).get("general.architecture", ""))
    if llama_cpp.llama_model_has_encoder(model) and llama_cpp.llama_model_has_decoder(model):
        return (
            f"this model ({arch or 'encoder-decoder'}) is an encoder-decoder model; its "
            "embeddings are not served: load an embedding model or a decoder model"
        )
    if _metadata_int(llm, f"{arch}.pooling_type") == 4:
        return (
            "this model is a reranker (its pooling type is 'rank'): it scores pairs of "
            "texts and makes no embeddings; load an embedding model"
        )
    if _embedding_size(llm) <= 0:
        return "this model has no output vectors to serve as embeddings"
    return None


def _embedding_size(llm: Llama) -> int:
    import llama_cpp

    model = llm._model.model
    size = 0
    if hasattr(llama_cpp, "llama_model_n_embd_out"):
        size = int(llama_cpp.llama_model_n_embd_out(model))
    return size if size > 0 else int(llama_cpp.llama_model_n_embd(model))


class Embedder:
    """The embedding context of one loaded model (see the section's comment)."""

    def __init__(self, llm: Llama) -> None:
        import llama_cpp
        from llama_cpp import _internals as internals

        reason = embedding_refusal(llm)
        if reason is not None:
            raise EmbeddingUnsupported(reason)
        model = llm._model.model
        arch = str((llm.metadata or {}).get("general.architecture", ""))
        declared = _metadata_int(llm, f"{arch}.pooling_type")
        self.pooling = declared if declared in (1, 2, 3) else 1  # mean unless the model says
        causal_flag = str((llm.metadata or {}).get(f"{arch}.attention.causal", "")).lower()
        self.causal = arch not in _NON_CAUSAL and causal_flag != "false"
        self.encoder_only = bool(llama_cpp.llama_model_has_encoder(model)) and not bool(
            llama_cpp.llama_model_has_decoder(model)
        )
        self.n_embd = _embedding_size(llm)
        self.n_vocab = int(llm.n_vocab())
        trained = int(llama_cpp.llama_model_n_ctx_train(model)) or EMBED_MAX_TOKENS
        self.max_tokens = max(1, min(int(llm.n_ctx()), trained, EMBED_MAX_TOKENS))
        if self.causal:
            by_memory = EMBED_LOGITS_BYTES // max(1, 4 * self.n_vocab)
            chunk = max(_EMBED_MIN_CHUNK, min(_EMBED_MAX_CHUNK, by_memory))
        else:
            chunk = self.max_tokens  # non-causal attention: an input in one batch
        self.chunk = min(chunk, self.max_tokens)
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = self.max_tokens
        params.n_batch = self.chunk
        params.n_ubatch = self.chunk
        params.n_seq_max = 1
        params.embeddings = True
        params.pooling_type = llama_cpp.LLAMA_POOLING_TYPE_NONE
        threads = int(getattr(llm, "n_threads", 0) or 1)
        params.n_threads = threads
        params.n_threads_batch = int(getattr(llm, "n_threads_batch", 0) or threads)
        # Registers its own free on the model, so it can never outlive the weights.
        self._ctx: Any = internals.LlamaContext(model=llm._model, params=params, verbose=True)
        self._batch: Any = internals.LlamaBatch(
            n_tokens=self.chunk, embd=0, n_seq_max=1, verbose=True
        )
        self._get = llama_cpp.llama_get_embeddings
        self._clear = llama_cpp.llama_memory_clear
        self.pooling_name = POOLING_NAMES[self.pooling]

    def close(self) -> None:
        self._batch.close()
        self._ctx.close()

    def embed(self, tokens: Sequence[int], should_stop: Callable[[], bool]) -> list[float]:
        """The pooled, L2-normalised vector of one input (1..max_tokens token ids)."""
        import numpy as np

        if not 0 < len(tokens) <= self.max_tokens:
            raise ValueError(f"an input must have 1 to {self.max_tokens} tokens")
        ctx = self._ctx
        self._clear(ctx.memory, True)
        total = np.zeros(self.n_embd, dtype=np.float64)
        first: Any = None
        last: Any = None
        batch: Any = self._batch
        for start in range(0, len(tokens), self.chunk):
            if should_stop():
                raise EmbeddingCancelled
            part = tokens[start : start + self.chunk]
            batch.reset()
            raw = batch.batch
            for offset, token in enumerate(part):
                raw.token[offset] = int(token)
                raw.pos[offset] = start + offset
                raw.seq_id[offset][0] = 0
                raw.n_seq_id[offset] = 1
                raw.logits[offset] = True
            raw.n_tokens = len(part)
            if self.encoder_only:
                ctx.encode(batch)
            else:
                ctx.decode(batch)
            pointer = self._get(ctx.ctx)
            if not pointer:
                raise RuntimeError("llama.cpp returned no embeddings")
            rows = np.ctypeslib.as_array(pointer, shape=(len(part), self.n_embd))
            if self.pooling == 1:
                total += rows.sum(axis=0, dtype=np.float64)
            elif self.pooling == 2 and first is None:
                first = rows[0].astype(np.float64)
            last = rows[-1].astype(np.float64)
        self._clear(ctx.memory, True)
        if self.pooling == 1:
            vector = total / len(tokens)
        elif self.pooling == 2:
            vector = first
        else:
            vector = last
        norm = float(np.linalg.norm(vector))
        if norm > 0.0 and math.isfinite(norm):
            vector = vector / norm
        return [float(x) for x in vector]


def embedder(llm: Llama) -> Embedder:
    """``llm``'s embedding context, made on first use and freed with the model.

    Raises EmbeddingUnsupported for a model that cannot embed (embedding_refusal).
    """
    made = getattr(llm, "_llmos_embedder", None)
    if isinstance(made, Embedder):
        return made
    reason = embedding_refusal(llm)
    if reason is not None:
        raise EmbeddingUnsupported(reason)
    made = Embedder(llm)
    llm._llmos_embedder = made
    # Closed before the Llama's own model and context (its exit stack runs last-in first).
    llm._stack.callback(made.close)
    return made


def embedding_tokens(llm: Llama, text: str) -> list[int]:
    """``text``'s tokens for an embedding: the model's own BOS/EOS rules, and special
    tokens as plain text (an input is data, never control tokens)."""
    tokens: list[int] = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
    return tokens


# --- lab ---
# The model lab's worker process (core/lab/worker.py) quantizes, measures perplexity and
# runs speed tests with what follows; nothing else calls it. It uses llama.cpp's own
# quantizer (``llama_model_quantize``, what the llama-quantize tool calls), low-level
# batches with logits only where they are scored (as llama-perplexity asks for them), and
# one-token decodes timed as llama-bench times them. The arithmetic (chunking, scoring,
# statistics) stays in core/lab/, in plain Python and numpy, where a test can check it.

# llama-quant.cpp logs "[  12/ 201]  blk.1.attn_q.weight - [...], type = f32, ..." for
# each tensor: the quantizer's only progress report.
_QUANT_TENSOR_LINE = re.compile(r"^\s*\[\s*(\d+)\s*/\s*(\d+)\s*\]")


def lab_quantize(
    source: str,
    out: str,
    *,
    ftype: int,
    n_threads: int,
    allow_requantize: bool,
    on_tensor: Callable[[int, int], None],
) -> tuple[int, list[str]]:
    """llama.cpp's ``llama_model_quantize`` of ``source`` into ``out`` as ``ftype``.

    Returns (llama.cpp's status: 0 = done, its error lines). ``on_tensor(done, total)`` is
    called from the quantizer's log as each tensor starts. The quantizer has no abort
    callback: a run is cancelled by ending the process. The process-wide log callback is
    set back to the one before when it returns.
    """
    import llama_cpp

    errors: list[str] = []

    def on_log(level: int, text: bytes | None, _user: Any) -> None:
        if not text:
            return
        line = text.decode("utf-8", "replace")
        if level == _GGML_LOG_ERROR and len(errors) < 20:
            errors.append(line.strip())
        match = _QUANT_TENSOR_LINE.match(line)
        if match:
            on_tensor(int(match.group(1)) - 1, int(match.group(2)))

    callback = llama_cpp.llama_log_callback(on_log)
    previous = llama_cpp.llama_log_callback()
    previous_data = ctypes.c_void_p()
    llama_cpp.llama_log_get(ctypes.byref(previous), ctypes.byref(previous_data))
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    try:
        llama_cpp.llama_backend_init()
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = ftype
        params.nthread = n_threads
        params.allow_requantize = allow_requantize
        status = llama_cpp.llama_model_quantize(
            os.fsencode(source), os.fsencode(out), ctypes.byref(params)
        )
        return int(status), [line for line in errors if line]
    finally:
        llama_cpp.llama_log_set(previous, previous_data)


def lab_open(
    path: str,
    *,
    n_ctx: int,
    n_batch: int,
    n_threads: int,
    n_gpu_layers: int,
    chatter: TextIO,
) -> Llama:
    """A ``Llama`` for a lab measurement: ``n_batch`` = ``n_ubatch`` (as the tools set them),
    no output for every token unless asked for (logits_all off). ``n_threads`` 0: the
    library's default. llama-cpp-python's own prints go to ``chatter``.
    """
    import llama_cpp

    kwargs: dict[str, Any] = {}
    if n_threads > 0:
        kwargs = {"n_threads": n_threads, "n_threads_batch": n_threads}
    with contextlib.redirect_stderr(chatter), contextlib.redirect_stdout(chatter):
        return llama_cpp.Llama(
            model_path=path,
            n_ctx=n_ctx,
            n_batch=n_batch,
            n_ubatch=n_batch,
            n_gpu_layers=n_gpu_layers,
            logits_all=False,
            verbose=True,  # verbose=False would swap the process's file descriptors
            **kwargs,
        )


def lab_vocab(llm: Llama) -> tuple[int, bool, int]:
    """(vocabulary size, whether the model wants a BOS token first, the BOS token)."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
    return (
        int(llama_cpp.llama_vocab_n_tokens(vocab)),
        bool(llama_cpp.llama_vocab_get_add_bos(vocab)),
        int(llama_cpp.llama_vocab_bos(vocab)),
    )


def lab_threads(llm: Llama) -> tuple[int, int]:
    """(threads for generation, threads for prompt batches) the context uses."""
    import llama_cpp

    ctx = llm._ctx.ctx
    return int(llama_cpp.llama_n_threads(ctx)), int(llama_cpp.llama_n_threads_batch(ctx))


def lab_tokenize(llm: Llama, text: str) -> list[int]:
    """``text`` as llama-perplexity tokenizes it: BOS as the model wants, special tokens
    read as plain text."""
    tokens: list[int] = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
    return tokens


def lab_chunk_logits(llm: Llama, tokens: Sequence[int], first: int, n_batch: int) -> Any:
    """Evaluate one chunk from an empty KV cache; the logits at positions ``first`` ..
    ``len(tokens) - 2`` (those that predict tokens ``first + 1`` .. the last), as a
    float32 numpy array of shape (len(tokens) - 1 - first, n_vocab).

    The chunk goes in batches of ``n_batch`` tokens (llama-perplexity's ``num_batches``),
    each asking for logits only at the scored positions. Raises RuntimeError when
    llama.cpp refuses a batch.
    """
    import llama_cpp
    import numpy as np

    clear_context(llm)
    n = len(tokens)
    n_vocab = lab_vocab(llm)[0]
    rows: list[Any] = []
    batch = Batch(n_batch)
    ctx = llm._ctx.ctx
    for start in range(0, n, n_batch):
        batch.clear()
        size = min(n_batch, n - start)
        outputs = 0
        for k in range(size):
            pos = start + k
            wanted = first <= pos <= n - 2
            batch.add(int(tokens[pos]), pos, 0, wanted)
            outputs += wanted
        status = batch.decode(llm)
        if status != 0:
            raise RuntimeError(f"llama_decode failed ({status})")
        if outputs:
            pointer = llama_cpp.llama_get_logits(ctx)
            block = np.ctypeslib.as_array(pointer, shape=(outputs, n_vocab))
            rows.append(np.array(block, dtype=np.float32, copy=True))
    clear_context(llm)
    if not rows:
        return np.zeros((0, n_vocab), dtype=np.float32)
    return np.concatenate(rows, axis=0)


def lab_time_prompt(llm: Llama, tokens: Sequence[int], n_batch: int) -> float:
    """Seconds to evaluate ``tokens`` from an empty KV cache in batches of ``n_batch``
    (llama-bench's prompt test: the logits of each batch's last token only)."""
    import llama_cpp

    clear_context(llm)
    batch = Batch(max(1, n_batch))
    ctx = llm._ctx.ctx
    started = time.perf_counter()
    for start in range(0, len(tokens), n_batch):
        batch.clear()
        batch.add_run(list(tokens[start : start + n_batch]), start, 0, True)
        status = batch.decode(llm)
        if status != 0:
            raise RuntimeError(f"llama_decode failed ({status})")
    llama_cpp.llama_synchronize(ctx)
    return time.perf_counter() - started


def lab_time_generation(llm: Llama, tokens: Sequence[int]) -> float:
    """Seconds to decode ``tokens`` one at a time, each with its logits (llama-bench's
    generation test: the cost of a generated token without the sampler), from an empty
    KV cache."""
    import llama_cpp

    clear_context(llm)
    batch = Batch(1)
    ctx = llm._ctx.ctx
    started = time.perf_counter()
    for pos, token in enumerate(tokens):
        batch.clear()
        batch.add(int(token), pos, 0, True)
        status = batch.decode(llm)
        if status != 0:
            raise RuntimeError(f"llama_decode failed ({status})")
        llama_cpp.llama_synchronize(ctx)
    return time.perf_counter() - started


def lab_greedy_reply(llm: Llama, prompt: str, n_tokens: int) -> tuple[str, int]:
    """The first ``n_tokens`` tokens the model picks greedily after ``prompt`` (end of
    text does not stop it: this proves the file computes, not that it answers well),
    as (text, tokens generated)."""
    prompt_tokens: list[int] = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
    picked: list[int] = []
    for token in llm.generate(prompt_tokens, top_k=1, top_p=1.0, min_p=0.0, temp=0.0):
        picked.append(int(token))
        if len(picked) >= n_tokens:
            break
    text = llm.detokenize(picked).decode("utf-8", "replace")
    return text, len(picked)
