"""Printing: the tables of each measure, the paired ratios, the verdicts, the summary.

The summary's ``ratio ...`` and ``ttft ...`` lines are parsed by other tools; keep
their wording.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from benchmarks.engine.common import TURNS, fmt, log, median
from benchmarks.engine.targets import DIRECT, ENGINE, ENGINE_APP, PEER, EngineStart
from benchmarks.engine.workloads import GenRow, GuiResult, RotationSample, TtftTurn
from llmos_desktop.core.engine.process.prompt_cache import common_prefix

QUIET_CORES = 0.3  # a rep during which other processes used more CPU than this is "noisy"


def verdict(value: float | None, target: float, higher_is_better: bool) -> str:
    if value is None:
        return "n/a"
    ok = value >= target if higher_is_better else value <= target
    return "PASS" if ok else "FAIL"


def _codepoints(text: str) -> list[int]:
    return [ord(c) for c in text]


def print_generation(all_rows: list[list[GenRow]], max_tokens: int) -> dict[str, Any]:
    """The generation table and notes; returns the paired ratios (keys as below)."""
    names = [row.variant for row in all_rows[0]]
    quiet = [rep for rep in all_rows if max(r.other_load for r in rep) < QUIET_CORES]
    rows = quiet or all_rows
    used = (
        f"{len(rows)} quiet rep(s) of {len(all_rows)}"
        if quiet
        else f"all {len(all_rows)} reps, none was quiet (other processes used >= "
        f"{QUIET_CORES} cores): numbers are noisy"
    )
    log("")
    log(f"Generation, {max_tokens} tokens, greedy; medians over {used}")
    log(
        f"  {'variant':<22} {'tok/s':>7} {'chunks':>6} {'srv tok/s':>9} {'tokens':>6} "
        f"{'prompt':>6} {'srv CPU':>8} {'srv loop':>8} {'client CPU':>10}"
    )
    for i, name in enumerate(names):
        col = [rep[i] for rep in rows]
        prompt = col[0].prompt_tokens
        log(
            f"  {name:<22} {fmt(median([r.tokens_per_s for r in col]), 2):>7} "
            f"{int(median([r.chunks for r in col]) or 0):>6} "
            f"{fmt(median([r.server_tokens_per_s for r in col]), 2):>9} "
            f"{int(median([r.tokens for r in col]) or 0):>6} "
            f"{'n/a' if prompt is None else prompt:>6} "
            f"{fmt(median([r.server_cpu_ms_per_token for r in col]), 2):>8} "
            f"{fmt(median([r.main_thread_ms_per_token for r in col]), 3):>8} "
            f"{fmt(median([r.client_cpu_ms_per_token for r in col]), 3):>10}"
        )
    log(
        "  (tok/s: client-side (tokens-1)/(last chunk-first chunk), tokens from usage;"
        " chunks: text chunks received;"
        " srv tok/s: the server's own timings; CPU columns: ms of CPU per token)"
    )
    notes: list[str] = []
    for i, name in enumerate(names):
        early = [r for r in (rep[i] for rep in all_rows) if r.eos or r.tokens < max_tokens]
        if early:
            notes.append(
                f"  note: {name} stopped early (EOS) in {len(early)} rep(s), at "
                f"{', '.join(str(r.tokens) for r in early)} tokens"
            )
    reference = all_rows[0][0].text
    for i, name in enumerate(names[1:], start=1):
        text = all_rows[0][i].text
        if text.strip() != reference.strip():
            common = common_prefix(_codepoints(text), _codepoints(reference))
            notes.append(
                f"  note: {name}'s text differs from the direct loop's after {common} characters"
            )
    if not notes:
        notes.append("  all variants produced the same text and token count")
    for note in notes:
        log(note)

    def ratios(a: str, b: str, attr_a: str = "tokens_per_s", attr_b: str = "") -> list[float]:
        if a not in names or b not in names:
            return []
        ia, ib = names.index(a), names.index(b)
        values = []
        for rep in rows:
            va, vb = getattr(rep[ia], attr_a), getattr(rep[ib], attr_b or attr_a)
            if va and vb:
                values.append(va / vb)
        return values

    def ratio(a: str, b: str, attr_a: str = "tokens_per_s", attr_b: str = "") -> float | None:
        return median(ratios(a, b, attr_a, attr_b))

    def spread(a: str, b: str) -> str:
        """The middle half of the per-rep ratios: how far one run's median can wander."""
        values = ratios(a, b)
        if len(values) < 4:
            return ""
        low, _, high = statistics.quantiles(values, n=4)
        return f" (middle half of reps {low:.3f}-{high:.3f})"

    result: dict[str, Any] = {
        "engine/direct": ratio(ENGINE, DIRECT),
        "engine/peer": ratio(ENGINE, PEER),
        "app/direct": ratio(ENGINE_APP, DIRECT),
        "peer/direct": ratio(PEER, DIRECT),
        "engine server/direct": ratio(ENGINE, DIRECT, "server_tokens_per_s", "tokens_per_s"),
        "noisy": not quiet,
        "engine/direct spread": spread(ENGINE, DIRECT),
        "app/direct spread": spread(ENGINE_APP, DIRECT),
    }
    log("  paired ratios (median of per-rep ratios):")
    log(
        f"    engine/direct {fmt(result['engine/direct'], 3)}, "
        f"engine/llama_cpp.server {fmt(result['engine/peer'], 3)}, "
        f"engine with the app's client/direct {fmt(result['app/direct'], 3)}, "
        f"llama_cpp.server/direct {fmt(result['peer/direct'], 3)}"
    )
    log(f"    engine's own timings.tokens_per_s/direct {fmt(result['engine server/direct'], 3)}")
    return result


def print_ttft(convs: list[list[TtftTurn]]) -> float | None:
    """The per-turn table; returns the median TTFT ratio of the last turn to the first."""
    log("")
    log(f"TTFT over one growing conversation (medians over {len(convs)} conversation(s))")
    log(f"  {'turn':>4} {'TTFT client s':>13} {'TTFT server s':>13} {'prompt':>7} {'cached':>7}")
    for t in range(TURNS):
        col = [conv[t] for conv in convs]
        cached = median([c.cached_tokens for c in col])
        log(
            f"  {t + 1:>4} {fmt(median([c.ttft_s for c in col]), 3):>13} "
            f"{fmt(median([c.server_ttft_s for c in col]), 3):>13} "
            f"{int(median([c.prompt_tokens for c in col]) or 0):>7} "
            f"{'n/a' if cached is None else int(cached):>7}"
        )
    ratios = [
        conv[-1].ttft_s / conv[0].ttft_s for conv in convs if conv[-1].ttft_s and conv[0].ttft_s
    ]
    return median(ratios)


def print_rotation(samples: list[RotationSample]) -> float | None:
    """Medians per kind; returns the median ratio of each return to the continue after it."""
    log("")
    log("Three conversations in rotation (return = after the other two ran)")
    by_kind: dict[str, list[RotationSample]] = {"return": [], "continue": []}
    for s in samples:
        by_kind[s.kind].append(s)
    for kind, items in by_kind.items():
        log(
            f"  {kind:<8} TTFT median {fmt(median([s.ttft_s for s in items]), 3)} s "
            f"(server {fmt(median([s.server_ttft_s for s in items]), 3)} s), prompt "
            f"{int(median([s.prompt_tokens for s in items]) or 0)} tokens, cached "
            f"{int(median([s.cached_tokens for s in items]) or 0)} (n={len(items)})"
        )
    # Pair each return with the continue right after it (same conversation, same size).
    ratios = [
        r.ttft_s / c.ttft_s
        for r, c in zip(by_kind["return"], by_kind["continue"], strict=False)
        if r.ttft_s and c.ttft_s
    ]
    return median(ratios)


def print_summary(
    *,
    threads: int,
    max_tokens: int,
    gen_reps: int,
    elapsed_s: float,
    gen: dict[str, Any],
    peer_ran: bool,
    peer_note: str,
    ttft_ratio: float | None,
    rotation_ratio: float | None,
    starts: Sequence[EngineStart],
    gui: GuiResult,
) -> None:
    """The summary: one line per target in docs/architecture.md ("Performance targets"), with its verdict."""
    ready = median([s.ready_s for s in starts])
    loaded = median([s.loaded_s for s in starts])
    engine_direct = gen["engine/direct"]
    engine_peer = gen["engine/peer"]
    log("")
    log(
        f"Summary (threads {threads}, {max_tokens} tokens, {gen_reps} "
        f"generation reps, {elapsed_s:.0f} s)"
        + ("; generation numbers NOISY (other processes were busy)" if gen["noisy"] else "")
    )
    log(
        f"ratio engine/direct tokens/s: {fmt(engine_direct, 3)} (target >= 0.97) "
        f"{verdict(engine_direct, 0.97, True)}{gen['engine/direct spread']}"
    )
    log(
        f"  (informational) engine with the app's own client/direct: {fmt(gen['app/direct'], 3)}"
        f"{gen['app/direct spread']}"
    )
    peer_text = fmt(engine_peer, 3) if peer_ran else (peer_note or "n/a (skipped)")
    log(
        f"ratio engine/llama_cpp.server tokens/s: {peer_text} (target >= 1.0) "
        f"{verdict(engine_peer, 1.0, True)}"
    )
    log(f"ttft turn10/turn1: {fmt(ttft_ratio)} (target <= 2) {verdict(ttft_ratio, 2.0, False)}")
    log(
        f"ttft return/continue: {fmt(rotation_ratio)} (target <= 2) "
        f"{verdict(rotation_ratio, 2.0, False)}"
    )
    gui_text = fmt(gui.rss_mb, 0, " MB") if gui.rss_mb is not None else gui.note
    log(
        f"engine start-up: spawn->ready {fmt(ready, 1)} s, ->loaded {fmt(loaded, 1)} s; "
        f"GUI RSS without model: {gui_text}"
    )
