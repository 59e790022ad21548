"""The window's performance targets (issue 10, docs/architecture.md "Performance targets").

Run from the repository root, offscreen (no display needed)::

    .venv/bin/python -m benchmarks.ui            # ~1 min on 2 cores
    .venv/bin/python -m benchmarks.ui --reps 3

What it prints (every figure measured in this run; ratios are medians of per-repetition
ratios of variants run interleaved, because this machine is shared and noisy):

1. Start-up to the first painted window: ``python -c`` of the app's window
   (``llmos_desktop.app.build_window``, a fresh LLMOS_HOME) divided by a bare PySide6
   QMainWindow started the same way (target <= 2.0). Both times run from before the
   interpreter is spawned to the first Paint event any widget receives.
2. The GUI process's resident memory with no model loaded, one second after the first
   paint, divided by the bare window's (target <= 2.5).

The transcript's figures (appending at token 4,000 vs 100, opening a 2,000-message
conversation, the longest stall while streaming) are printed by
``python -m benchmarks.ui_transcript``; the time to first token of a reopened
conversation by ``python -m benchmarks.kv_state``.

Exit status 0 whatever the numbers (1 only when a variant could not run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

START_TARGET = 2.0
MEMORY_TARGET = 2.5

# Run with ``python -c SCRIPT SPAWNED VARIANT`` in a fresh process, offscreen Qt.
STARTUP_SCRIPT = r"""
import json, os, sys, time
spawned, variant = float(sys.argv[1]), sys.argv[2]
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QMainWindow

class FirstPaint(QObject):
    at = None
    def eventFilter(self, obj, event):
        if self.at is None and event.type() == QEvent.Type.Paint:
            self.at = time.time()
        return False

qapp = QApplication([])
spy = FirstPaint()
qapp.installEventFilter(spy)
if variant == "app":
    import llmos_desktop.app as app
    window = app.build_window()
else:
    window = QMainWindow()
    window.resize(1000, 700)
window.show()
deadline = time.monotonic() + 30
while spy.at is None and time.monotonic() < deadline:
    qapp.processEvents()
    time.sleep(0.001)
settle = time.monotonic() + 1.0
while time.monotonic() < settle:
    qapp.processEvents()
    time.sleep(0.01)
import psutil
print("UI-RESULT " + json.dumps({
    "painted_s": None if spy.at is None else spy.at - spawned,
    "rss": psutil.Process().memory_info().rss,
}), flush=True)
os._exit(0)
"""


@dataclass
class StartupSample:
    painted_s: float
    rss_mb: float


def run_startup(variant: str, home: str) -> StartupSample:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LLMOS_HOME=home)
    spawned = time.time()
    proc = subprocess.run(
        [sys.executable, "-c", STARTUP_SCRIPT, repr(spawned), variant],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("UI-RESULT "):
            data = json.loads(line[len("UI-RESULT ") :])
            if data["painted_s"] is None:
                raise RuntimeError(f"{variant}: no paint within 30 s")
            return StartupSample(data["painted_s"], data["rss"] / 1e6)
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    raise RuntimeError(f"{variant} window failed (exit {proc.returncode}): {tail}")


def verdict(value: float, target: float) -> str:
    return "meets" if value <= target else "MISSES"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ui", description=__doc__)
    parser.add_argument("--reps", type=int, default=5, help="start-ups of each variant")
    args = parser.parse_args(argv)

    apps: list[StartupSample] = []
    bares: list[StartupSample] = []
    with tempfile.TemporaryDirectory(prefix="llmos-bench-ui-") as home:
        run_startup("app", home)  # warm the file cache and write the first settings
        run_startup("bare", home)
        try:
            for rep in range(args.reps):
                order = ("app", "bare") if rep % 2 == 0 else ("bare", "app")
                for variant in order:
                    sample = run_startup(variant, home)
                    (apps if variant == "app" else bares).append(sample)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    start_ratio = statistics.median(
        a.painted_s / b.painted_s for a, b in zip(apps, bares, strict=True)
    )
    memory_ratio = statistics.median(a.rss_mb / b.rss_mb for a, b in zip(apps, bares, strict=True))
    print(f"start-up to first paint ({args.reps} interleaved runs each, offscreen):")
    print(
        f"  app window  median {statistics.median(a.painted_s for a in apps):.3f} s, "
        f"RSS {statistics.median(a.rss_mb for a in apps):.0f} MB"
    )
    print(
        f"  bare window median {statistics.median(b.painted_s for b in bares):.3f} s, "
        f"RSS {statistics.median(b.rss_mb for b in bares):.0f} MB"
    )
    print(
        f"  start-up app/bare {start_ratio:.2f} (target <= {START_TARGET}: "
        f"{verdict(start_ratio, START_TARGET)})"
    )
    print(
        f"  memory app/bare   {memory_ratio:.2f} (target <= {MEMORY_TARGET}: "
        f"{verdict(memory_ratio, MEMORY_TARGET)})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
