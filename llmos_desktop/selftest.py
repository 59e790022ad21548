"""``llmos-desktop --self-test MODEL``: an installed app checks itself, end to end.

Installer builds are smoke-tested with the very executable a user double-clicks: it
opens the real window (offscreen when there is no display), starts the engine the
normal way (EngineSupervisor runs this same executable with ``--engine-child``), loads
MODEL, streams one chat reply through the engine's OpenAI-compatible API, closes the
window as a user would (which stops the engine) and then checks that no engine process
is left. It prints one JSON line and exits 0 on success, 1 on failure.

``--self-test starter`` checks the installation's own starter model instead, as a first
start does: the chat page offers it first and loads it (from the bundle, in place, after
its checksum), and afterwards no copy of it is in the data or cache folders.

By default it works in a temporary LLMOS_HOME so it never touches the user's settings,
models or chats.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmos_desktop.ui.main_window import MainWindow

DEFAULT_PROMPT = "Write one short sentence about the sea."
STARTER = "starter"
"""The MODEL that names the installation's own starter model."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmos-desktop --self-test",
        description="Smoke-test this installation: window, engine, one chat reply, clean exit.",
    )
    parser.add_argument(
        "--self-test",
        dest="model",
        required=True,
        metavar="MODEL",
        help=f"a GGUF file, or {STARTER!r} for the installation's starter model",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds (default 300)")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--ctx", type=int, default=2048)
    parser.add_argument("--json-out", type=Path, help="also write the JSON result to this file")
    parser.add_argument(
        "--keep-home", action="store_true", help="keep the temporary LLMOS_HOME (for its logs)"
    )
    return parser


def _prepare_environment() -> None:
    """Offscreen when no display is there (CI, a server); a display is used when present."""
    if sys.platform.startswith("linux") and "QT_QPA_PLATFORM" not in os.environ:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            os.environ["QT_QPA_PLATFORM"] = "offscreen"


def _engine_processes(pid: int | None) -> list[int]:
    """Engine processes still alive: the one we started and any child of ours."""
    import psutil

    alive: set[int] = set()
    if pid is not None:
        with contextlib.suppress(psutil.Error):
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.add(pid)
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if child.status() != psutil.STATUS_ZOMBIE:
                    alive.add(child.pid)
    return sorted(alive)


async def _exercise(args: argparse.Namespace, result: dict[str, Any]) -> None:
    from llmos_desktop.app import build_window, close_window
    from llmos_desktop.core.engine.contract import ModelLoad, SamplingOptions
    from llmos_desktop.core.engine.control.client import ChatResult
    from llmos_desktop.resources import app_icon

    started = time.monotonic()
    window = build_window()
    try:
        window.setWindowIcon(app_icon())
        window.show()
        await asyncio.sleep(0.3)  # a few frames, so the window is laid out and painted
        result["window_shown"] = window.isVisible() and not window.grab().isNull()
        result["qt_platform"] = _qt_platform()

        engine = window.engine
        loaded: dict[str, Any] = {}
        if args.model == STARTER:
            loaded = await _load_starter_as_a_user_does(window, result)
        else:
            async for event in engine.load(
                ModelLoad(path=str(Path(args.model).resolve()), n_ctx=args.ctx)
            ):
                if event.get("type") == "loaded":
                    loaded = dict(event.get("status") or {})
        result["engine_pid"] = engine.pid
        result["engine_command"] = engine.command[:2]
        result["backend"] = loaded.get("backend")
        result["load_s"] = round(time.monotonic() - started, 2)
        if not loaded.get("loaded"):
            raise RuntimeError(f"the model did not load: {loaded}")

        chat = ChatResult()
        pieces: list[str] = []
        async for delta in engine.stream_chat(
            [{"role": "user", "content": args.prompt}],
            chat,
            sampling=SamplingOptions(max_tokens=args.max_tokens, temperature=0.0, seed=1),
        ):
            pieces.append(delta.text)
        reply = "".join(pieces)
        result["reply"] = reply[:200]
        result["finish_reason"] = chat.finish_reason
        result["completion_tokens"] = chat.usage.get("completion_tokens")
        result["tokens_per_s"] = chat.timings.get("tokens_per_s")
        if not reply.strip():
            raise RuntimeError("the engine returned an empty reply")
    finally:
        window.close()  # what the user does; app.main then runs close_window
        await close_window(window)
    result["engine_left"] = _engine_processes(result.get("engine_pid"))


async def _load_starter_as_a_user_does(
    window: MainWindow, result: dict[str, Any]
) -> dict[str, Any]:
    """A first start: the page offers the starter first; Load checks it and loads it."""
    from llmos_desktop.ui.chat_page import STARTER_CHOICE

    page = window.chat_page
    result["starter_offered_first"] = page.model_picker.currentData() == STARTER_CHOICE
    if not result["starter_offered_first"]:
        raise RuntimeError(
            f"the chat page offers {page.model_picker.currentText()!r}, not the starter model"
        )
    task = page.load_model(STARTER_CHOICE)
    if task is None:
        raise RuntimeError("the chat page was busy")
    await task
    if not page.model_ready or window.engine.loaded is None:
        raise RuntimeError(f"the starter did not load: {page.banner.text()}")
    result["model"] = window.engine.loaded.path
    result["starter_note_shown"] = page.starter_note.isVisible()
    return dict(page.model_status or {}, loaded=True)


def _copies_of_starter() -> list[str]:
    """Files of the starter's size in the user's data and cache folders: there must be none."""
    from llmos_desktop.core.models.starter import STARTER_SIZE
    from llmos_desktop.core.paths import app_paths

    paths = app_paths()
    return sorted(
        str(path)
        for folder in (paths.data, paths.cache)
        for path in folder.rglob("*")
        if path.is_file() and path.stat().st_size == STARTER_SIZE
    )


def _qt_platform() -> str:
    from PySide6.QtGui import QGuiApplication

    return QGuiApplication.platformName()


def _run(args: argparse.Namespace, result: dict[str, Any]) -> None:
    from llmos_desktop.app import asyncgen_hooks, create_application

    _app, loop = create_application([sys.argv[0]])
    with loop, asyncgen_hooks(loop):  # the same loop set-up as app.main
        try:
            loop.run_until_complete(asyncio.wait_for(_exercise(args, result), args.timeout))
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())


def selftest_main(argv: Sequence[str]) -> int:
    """Entry point for ``--self-test`` (see llmos_desktop/__main__.py)."""
    args = _parser().parse_args(list(argv))
    started = time.monotonic()
    result: dict[str, Any] = {
        "ok": False,
        "frozen": bool(getattr(sys, "frozen", False)),
        "executable": sys.executable,
        "model": str(args.model),
    }
    _prepare_environment()
    own_home = "LLMOS_HOME" not in os.environ
    home = Path(tempfile.mkdtemp(prefix="llmos-selftest-")) if own_home else None
    if home is not None:
        os.environ["LLMOS_HOME"] = str(home)
    try:
        from llmos_desktop import __version__

        result["version"] = __version__
        if args.model != STARTER and not Path(args.model).is_file():
            raise FileNotFoundError(f"no model file at {args.model}")
        _run(args, result)
        left = result.get("engine_left")
        if left:
            raise RuntimeError(f"engine processes left after closing the window: {left}")
        if args.model == STARTER:
            copies = _copies_of_starter()
            if copies:
                raise RuntimeError(
                    f"the starter model was copied into the user's folders: {copies}"
                )
        result["ok"] = True
    except BaseException as exc:  # a smoke test reports every failure as its result
        result["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        result["engine_log_tail"] = _engine_log_tail()
        if isinstance(exc, KeyboardInterrupt):
            raise
    finally:
        result["total_s"] = round(time.monotonic() - started, 2)
        if home is not None:
            if args.keep_home:
                result["home"] = str(home)
            else:
                shutil.rmtree(home, ignore_errors=True)
        _report(result, args.json_out)
    return 0 if result["ok"] else 1


def _engine_log_tail(limit: int = 3000) -> str:
    from llmos_desktop.core.paths import app_paths

    with contextlib.suppress(OSError):
        return app_paths().engine_log.read_text("utf-8", "replace")[-limit:]
    return ""


def _report(result: dict[str, Any], json_out: Path | None) -> None:
    line = json.dumps(result, ensure_ascii=False)
    if json_out is not None:
        with contextlib.suppress(OSError):
            json_out.write_text(line + "\n", "utf-8")
    # A windowed executable on Windows may have no stdout at all.
    if sys.stdout is not None:
        with contextlib.suppress(OSError, ValueError):
            print(line, flush=True)
