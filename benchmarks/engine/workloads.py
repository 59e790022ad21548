"""The measures: generation speed, TTFT over a conversation, rotation, GUI start-up.

Each returns raw rows; ``report`` turns them into tables and ratios. Progress lines
are printed as the measures run.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.engine.common import GEN_PROMPT, REPLY_TOKENS, TURNS, fmt, log
from benchmarks.engine.processes import CpuUse, OtherLoad, Processes
from benchmarks.engine.targets import DIRECT, ChatTarget, DirectBaseline

# --------------------------------------------------------------------------------------
# Synthetic conversation text
# --------------------------------------------------------------------------------------

_WORD_TEXT = (
    "garden river morning window market letter travel kitchen mountain village teacher "
    "student library winter summer bridge station ticket coffee bread music story paper "
    "museum doctor island forest harbor painting weather journey friend family holiday "
    "engine bicycle lantern meadow castle festival recipe notebook planet ocean valley "
    "orchard workshop harvest schedule project question answer history science language "
    "careful quiet bright gentle early late simple curious ancient modern northern local "
    "visit explain remember describe compare prepare borrow follow collect imagine"
)
_WORDS = _WORD_TEXT.split()


def user_turn(rng: random.Random, label: str, words: int = 135) -> str:
    """About 180 tokens of plain English-like text, unique per (rng, label)."""
    sentences: list[str] = [f"This is message {label}."]
    count = 0
    while count < words:
        length = rng.randint(8, 14)
        sentence = " ".join(rng.choice(_WORDS) for _ in range(length))
        sentences.append(sentence[0].upper() + sentence[1:] + ".")
        count += length
    sentences.append("Please answer briefly.")
    return " ".join(sentences)


def canned_reply(rng: random.Random) -> str:
    return "Thank you, I read it. " + " ".join(rng.choice(_WORDS) for _ in range(9)) + "."


# --------------------------------------------------------------------------------------
# 1-2. Generation speed, variants interleaved
# --------------------------------------------------------------------------------------


@dataclass
class GenRow:
    variant: str
    tokens_per_s: float | None
    chunks: int
    server_tokens_per_s: float | None
    tokens: int
    eos: bool
    prompt_tokens: int | None
    client_cpu_ms_per_token: float | None
    server_cpu_ms_per_token: float | None
    main_thread_ms_per_token: float | None
    text: str
    other_load: float = 0.0  # cores used by processes not ours during this run


def _per_token(value: float | None, tokens: int) -> float | None:
    return value * 1000 / tokens if (value is not None and tokens > 0) else None


def measure_generation(
    targets: Sequence[ChatTarget],
    direct: DirectBaseline,
    max_tokens: int,
    reps: int,
    our_pids: Sequence[int],
) -> list[list[GenRow]]:
    """Rows per rep, in the order: direct, then the targets; variants interleaved."""
    messages = [{"role": "user", "content": GEN_PROMPT}]

    def run_direct() -> GenRow:
        r = direct.generate(GEN_PROMPT, max_tokens)
        use: CpuUse | None = r["server_cpu"]
        return GenRow(
            DIRECT,
            r["tokens_per_s"],
            r["chunks"],
            r["tokens_per_s"],
            r["tokens"],
            r["eos"],
            r["prompt_tokens"],
            None,
            _per_token(use.total if use else r["cpu_s"], r["tokens"]),
            None,
            r["text"],
        )

    def run_target(target: ChatTarget) -> Callable[[], GenRow]:
        def run() -> GenRow:
            r = target.chat(messages, max_tokens)
            tokens = r.completion_tokens if r.completion_tokens is not None else r.chunks
            use = r.server_cpu
            return GenRow(
                target.name,
                r.tokens_per_s,
                r.chunks,
                r.server_tokens_per_s,
                tokens,
                r.finish == "stop",
                r.prompt_tokens,
                _per_token(r.client_cpu_s, tokens),
                _per_token(use.total if use else None, tokens),
                _per_token(use.main_thread if use else None, tokens),
                r.text,
            )

        return run

    variants: list[tuple[str, Callable[[], GenRow]]] = [(DIRECT, run_direct)]
    variants += [(target.name, run_target(target)) for target in targets]
    # Warm-up: page the model in, fill allocator pools, run each server's code paths once.
    warm_up_tokens = max(8, min(32, max_tokens // 4))
    direct.generate(GEN_PROMPT, warm_up_tokens)
    for target in targets:
        target.chat(messages, warm_up_tokens)
    rows: list[list[GenRow]] = []
    for rep in range(reps):
        order = variants[rep % len(variants) :] + variants[: rep % len(variants)]
        rep_rows: dict[str, GenRow] = {}
        for name, run in order:
            load = OtherLoad(our_pids)
            row = run()
            row.other_load = load.cores()
            rep_rows[name] = row
            log(
                f"  rep {f'{rep + 1}/{reps}':>5} {name:<22} {fmt(row.tokens_per_s, 1):>6} tok/s "
                f"({row.tokens} tokens{', EOS' if row.eos else ''}; "
                f"other processes {row.other_load:.2f} cores)"
            )
        rows.append([rep_rows[name] for name, _ in variants])
    return rows


# --------------------------------------------------------------------------------------
# 3. TTFT over one growing conversation
# --------------------------------------------------------------------------------------


@dataclass
class TtftTurn:
    turn: int
    ttft_s: float | None
    server_ttft_s: float | None
    prompt_tokens: int | None
    cached_tokens: int | None


def measure_ttft_growth(engine: ChatTarget, conversations: int, seed: int) -> list[list[TtftTurn]]:
    """TTFT per turn of conversations that grow to ~2,000 tokens by turn 10."""
    out: list[list[TtftTurn]] = []
    for conv in range(conversations):
        rng = random.Random(seed * 1000 + conv)
        messages: list[dict[str, str]] = []
        turns: list[TtftTurn] = []
        for turn in range(1, TURNS + 1):
            messages.append({"role": "user", "content": user_turn(rng, f"{conv}-{turn}")})
            r = engine.chat(messages, REPLY_TOKENS)
            messages.append({"role": "assistant", "content": r.text})
            turns.append(
                TtftTurn(turn, r.ttft_s, r.server_ttft_s, r.prompt_tokens, r.cached_tokens)
            )
        log(
            f"  conversation {conv + 1}/{conversations}: TTFT turn 1 {fmt(turns[0].ttft_s, 3)} s "
            f"({turns[0].prompt_tokens} tokens), turn {TURNS} {fmt(turns[-1].ttft_s, 3)} s "
            f"({turns[-1].prompt_tokens} tokens, {turns[-1].cached_tokens} cached)"
        )
        out.append(turns)
    return out


# --------------------------------------------------------------------------------------
# 4. Three conversations in rotation: returning to a chat against continuing it
# --------------------------------------------------------------------------------------


@dataclass
class RotationSample:
    kind: str  # "continue" or "return"
    conversation: str
    ttft_s: float | None
    server_ttft_s: float | None
    prompt_tokens: int | None
    cached_tokens: int | None


def measure_rotation(engine: ChatTarget, rounds: int, seed: int) -> list[RotationSample]:
    """Three ~1,000-token conversations in rotation; each visit is a return then a continue."""
    rng = random.Random(seed)
    convs: dict[str, list[dict[str, str]]] = {}
    for name in ("A", "B", "C"):
        history: list[dict[str, str]] = []
        for turn in range(4):
            history.append({"role": "user", "content": user_turn(rng, f"{name}-{turn}")})
            history.append({"role": "assistant", "content": canned_reply(rng)})
        history.append({"role": "user", "content": user_turn(rng, f"{name}-4")})
        r = engine.chat(history, REPLY_TOKENS)  # builds the conversation (and its cache entry)
        history.append({"role": "assistant", "content": r.text})
        convs[name] = history
        log(f"  conversation {name}: {r.prompt_tokens} tokens of history")
    samples: list[RotationSample] = []
    for round_ in range(rounds):
        for name in ("A", "B", "C"):
            history = convs[name]
            for kind in ("return", "continue"):
                history.append(
                    {"role": "user", "content": user_turn(rng, f"{name}-r{round_}-{kind}", 60)}
                )
                r = engine.chat(history, REPLY_TOKENS)
                history.append({"role": "assistant", "content": r.text})
                samples.append(
                    RotationSample(
                        kind, name, r.ttft_s, r.server_ttft_s, r.prompt_tokens, r.cached_tokens
                    )
                )
        ret = [s for s in samples[-6:] if s.kind == "return"]
        cont = [s for s in samples[-6:] if s.kind == "continue"]
        log(
            f"  round {round_ + 1}/{rounds}: return TTFT "
            + ", ".join(
                f"{s.conversation} {fmt(s.ttft_s, 3)} s ({s.cached_tokens} cached)" for s in ret
            )
            + "; continue "
            + ", ".join(f"{s.conversation} {fmt(s.ttft_s, 3)} s" for s in cont)
        )
    return samples


# --------------------------------------------------------------------------------------
# 5b. The GUI process without a model: start-up time and resident memory
# --------------------------------------------------------------------------------------

# Run with ``python -c`` in a fresh process (offscreen Qt, a temporary LLMOS_HOME). The
# app names it uses: llmos_desktop.app.build_window() and window.engine.pid (None while
# the engine process is not started, as it should be for a window without a model).
GUI_SCRIPT = r"""
import json, os, sys, time
spawned = float(sys.argv[1])
t_import = time.time()
from PySide6.QtWidgets import QApplication
import llmos_desktop.app as app
qapp = QApplication([])
window = app.build_window()
window.show()
qapp.processEvents()
shown = time.time()
end = time.perf_counter() + 1.0
while time.perf_counter() < end:
    qapp.processEvents()
    time.sleep(0.01)
import psutil
heavy = [m for m in ("llama_cpp", "fastapi", "uvicorn", "numpy", "huggingface_hub", "gguf")
         if m in sys.modules]
print("GUI-RESULT " + json.dumps({
    "rss": psutil.Process().memory_info().rss,
    "shown_s": shown - spawned,
    "engine_pid": window.engine.pid,
    "heavy": heavy,
}), flush=True)
os._exit(0)
"""


@dataclass
class GuiResult:
    rss_mb: float | None
    shown_s: float | None
    note: str


def measure_gui(procs: Processes, home: Path) -> GuiResult:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LLMOS_HOME=str(home))
    proc = procs.add(
        subprocess.Popen(
            [sys.executable, "-c", GUI_SCRIPT, repr(time.time())],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
    )
    try:
        stdout, stderr = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        procs.stop(proc)
        return GuiResult(None, None, "n/a (the GUI did not finish within 90 s)")
    procs.stop(proc)
    for line in stdout.splitlines():
        if line.startswith("GUI-RESULT "):
            data = json.loads(line[len("GUI-RESULT ") :])
            note = ""
            if data["engine_pid"] is not None:
                note = "engine was started by the window! "
            if data["heavy"]:
                note += f"heavy modules imported: {', '.join(data['heavy'])}"
            return GuiResult(data["rss"] / 1e6, data["shown_s"], note.strip())
    last = (stderr.strip().splitlines() or ["no output"])[-1]
    return GuiResult(None, None, f"n/a (GUI process failed, exit {proc.returncode}: {last})")
