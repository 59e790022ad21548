"""The window's performance targets (issue 10, docs/architecture.md "Performance targets").

Run from the repository root, offscreen (no display needed)::

    .venv/bin/python -m benchmarks.ui                   # every part, ~5 min on 2 cores
    .venv/bin/python -m benchmarks.ui --only startup    # just the start-up figures

What it prints (every figure measured in this run; ratios are medians of per-repetition
ratios of variants run interleaved, because this machine is shared and noisy):

1. Start-up to the first painted window: ``python -c`` of what ``llmos_desktop.app.main``
   does up to its first paint (the application, the translators, ``app.start_window``:
   the window's frame; a fresh LLMOS_HOME) divided by a bare PySide6 QMainWindow started
   the same way (target <= 2.0). Both times run from before the interpreter is spawned
   to the first Paint event any widget receives. Also printed, without a target: when
   the app's pages were built (``finish_window`` on the qasync loop's first turn, after
   the frame has painted, as main() does).
2. The GUI process's resident memory with no model loaded, one second after the first
   paint, divided by the bare window's (target <= 2.5).

The other parts run as their own modules, each in a fresh process (one QApplication
each, nothing shared), and print their own figures:

3. ``benchmarks.ui_transcript``: appending at token 4,000 vs token 100 (<= 2), first
   paint of a 2,000-message conversation (<= 500 ms), the longest event-loop stall while
   it opens and while a reply streams at full speed (<= 50 ms).
4. ``benchmarks.ui_chat``: the longest stall in the real chat page while a reply streams
   from the real engine, while a model loads, and while a 2,000-message chat opens.
5. ``benchmarks.kv_state``: time to first token of a ~2,000-token conversation reopened
   after an engine restart, divided by continuing it without a restart, with and
   without the saved state (<= 2 with it).

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
pages_at = None
if variant == "app":
    # What llmos_desktop.app.main() does up to the first paint: the application, the
    # translators, the window's frame; then (below) the qasync loop and the pages.
    import llmos_desktop.app as app
    from llmos_desktop.core.appearance import peek_appearance
    from llmos_desktop.core.paths import app_paths
    from llmos_desktop.ui.i18n import choose_language, install_translators
    app.make_application(["llmos-desktop"])
    paths = app_paths().ensure()
    appearance = peek_appearance(paths.settings_file)
    install_translators(qapp, choose_language(appearance.language))
    window = app.start_window(paths, appearance)
    def built():
        global pages_at
        pages_at = time.time()
    window.pages_built.connect(built)
else:
    window = QMainWindow()
    window.resize(1000, 700)
window.show()
deadline = time.monotonic() + 30
while spy.at is None and time.monotonic() < deadline:
    qapp.processEvents()
    time.sleep(0.001)
if variant == "app":
    loop = app.make_loop(qapp)
    loop.call_soon(app.finish_window, window)
    loop.call_soon(loop.stop)
    loop.run_forever()
settle = time.monotonic() + 1.0
while time.monotonic() < settle or (variant == "app" and pages_at is None):
    qapp.processEvents()
    time.sleep(0.01)
import psutil
print("UI-RESULT " + json.dumps({
    "painted_s": None if spy.at is None else spy.at - spawned,
    "pages_s": None if pages_at is None else pages_at - spawned,
    "rss": psutil.Process().memory_info().rss,
}), flush=True)
os._exit(0)
"""


@dataclass
class StartupSample:
    painted_s: float
    rss_mb: float
    pages_s: float | None = None  # the app's pages built (after its frame painted)


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
            return StartupSample(data["painted_s"], data["rss"] / 1e6, data["pages_s"])
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    raise RuntimeError(f"{variant} window failed (exit {proc.returncode}): {tail}")


def verdict(value: float, target: float) -> str:
    return "meets" if value <= target else "MISSES"


PARTS = {
    "transcript": "benchmarks.ui_transcript",
    "chat": "benchmarks.ui_chat",
    "kv": "benchmarks.kv_state",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ui",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--reps", type=int, default=5, help="start-ups of each variant")
    parser.add_argument(
        "--only", choices=["startup", *PARTS], action="append", help="run only these parts"
    )
    args = parser.parse_args(argv)
    parts = args.only or ["startup", *PARTS]
    status = run_startup_part(args.reps) if "startup" in parts else 0
    for name, module in PARTS.items():
        if name in parts:
            print(f"\n--- {name}: python -m {module}", flush=True)
            status |= subprocess.run([sys.executable, "-m", module], check=False).returncode
    return 1 if status else 0


def run_startup_part(reps: int) -> int:

    apps: list[StartupSample] = []
    bares: list[StartupSample] = []
    with tempfile.TemporaryDirectory(prefix="llmos-bench-ui-") as home:
        run_startup("app", home)  # warm the file cache and write the first settings
        run_startup("bare", home)
        try:
            for rep in range(reps):
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
    print(f"start-up to first paint ({reps} interleaved runs each, offscreen):")
    print(
        f"  app window  median {statistics.median(a.painted_s for a in apps):.3f} s, "
        f"RSS {statistics.median(a.rss_mb for a in apps):.0f} MB"
    )
    print(
        "  app pages built (chat page usable) median "
        f"{statistics.median(a.pages_s or 0.0 for a in apps):.3f} s "
        "(not a target: the frame paints first, the pages follow on the next loop turn)"
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
