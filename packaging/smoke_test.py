"""Smoke-test an installed or unpacked LLMOS Desktop: ``python packaging/smoke_test.py DIR MODEL``.

DIR is the app's folder (dist/llmos-desktop, or usr/lib/llmos-desktop inside an unpacked
.deb). Runs ``llmos --version`` and ``llmos-desktop --self-test MODEL`` (offscreen,
the window, an engine started from the bundle, one chat reply through the API, a clean
close), then looks for any engine process of that folder left behind. MODEL may be
``starter``: the bundle's own starter model, which must then be offered first, be loaded
from inside DIR (in place) and leave no copy in the user's folders. CI runs it on the
.deb's contents; it works the same on a Windows or macOS bundle folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

STARTER = "starter"  # llmos_desktop/selftest.py: the bundle's own starter model


def _exe(folder: Path, name: str) -> Path:
    return folder / (name + ".exe" if sys.platform == "win32" else name)


def engines_from(folder: Path) -> list[int]:
    """Live processes of this bundle running with --engine-child."""
    found = []
    prefix = str(folder.resolve())
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            cmdline = proc.info["cmdline"] or []
            if proc.info["status"] == psutil.STATUS_ZOMBIE or "--engine-child" not in cmdline:
                continue
            if cmdline and os.path.realpath(cmdline[0]).startswith(prefix):
                found.append(proc.info["pid"])
        except (psutil.Error, OSError):
            continue
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the app folder holding llmos-desktop and llmos")
    parser.add_argument(
        "model", help="a small GGUF model, or 'starter' for the bundle's own starter model"
    )
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    folder = args.folder.resolve()

    version = subprocess.run(
        [str(_exe(folder, "llmos")), "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    print(f"smoke: {version.stdout.strip()}")

    env = dict(os.environ)
    if sys.platform.startswith("linux") and not env.get("DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory(prefix="llmos-smoke-") as tmp:
        out = Path(tmp) / "result.json"
        started = time.monotonic()
        run = subprocess.run(
            [
                str(_exe(folder, "llmos-desktop")),
                "--self-test",
                args.model if args.model == STARTER else str(Path(args.model).resolve()),
                "--json-out",
                str(out),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=args.timeout,
        )
        seconds = time.monotonic() - started
        result = json.loads(out.read_text("utf-8")) if out.is_file() else {}
    problems = []
    if run.returncode != 0 or not result.get("ok"):
        problems.append(f"self-test failed (exit {run.returncode}): {result.get('error')}")
        sys.stderr.write(run.stdout[-4000:] + run.stderr[-4000:])
    if result and not result.get("frozen"):
        problems.append("the self-test did not run frozen")
    command = result.get("engine_command") or [""]
    if result and not os.path.realpath(command[0]).startswith(str(folder)):
        problems.append(f"the engine did not start from the bundle: {command}")
    if args.model == STARTER and result.get("ok"):
        loaded = os.path.realpath(str(result.get("model")))
        if not loaded.startswith(str(folder) + os.sep):
            problems.append(f"the starter was not used in place from the bundle: {loaded}")
        if not result.get("starter_note_shown"):
            problems.append("the chat page did not show the starter's note")
    time.sleep(0.5)
    left = engines_from(folder)
    if left:
        problems.append(f"engine processes left: {left}")
    summary = {k: result.get(k) for k in ("model", "backend", "load_s", "tokens_per_s", "reply")}
    print(f"smoke: self-test {seconds:.1f} s, {json.dumps(summary, ensure_ascii=False)}")
    for problem in problems:
        print(f"smoke: FAILED: {problem}", file=sys.stderr)
    if not problems:
        print("smoke: OK (window, engine from the bundle, chat reply, no engine left)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
