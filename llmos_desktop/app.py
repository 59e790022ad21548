"""Composition root: builds the services, the window and the one event loop (qasync's).

Nothing heavy is imported here (no llama_cpp, fastapi, huggingface_hub, numpy, gguf):
the engine process starts lazily on the first model load, so the window paints fast.
The settings are read before the QApplication's widgets exist, so the translators
(ui/i18n.py) are installed first and every widget is made in its language; the window
applies the theme before it builds its pages (ui/theme.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from llmos_desktop.core.engine.control.service import Engine
from llmos_desktop.core.engine.control.supervisor import EngineSupervisor
from llmos_desktop.core.paths import AppPaths, app_paths
from llmos_desktop.core.settings import Settings, load_settings
from llmos_desktop.ui.main_window import MainWindow

if TYPE_CHECKING:
    import qasync

APPLICATION_NAME = "LLMOS Desktop"
ORGANIZATION_NAME = "LLMOS"


@contextlib.contextmanager
def asyncgen_hooks(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Install asyncio's async-generator hooks for ``loop`` while the block runs.

    asyncio's own run_forever installs them; qasync 0.28's does not. Without them an
    async generator left suspended (httpx/httpcore streams, httpx-sse's aiter_sse after
    an early return) is finalised by the garbage collector *synchronously, wherever GC
    happens to run*: its cleanup awaits run outside any task, anyio cancel scopes break
    and httpcore's connection lock can stay taken, after which the next request hangs.
    With the hooks the loop closes such generators in a task of their own, as asyncio does.
    """
    if not isinstance(loop, asyncio.BaseEventLoop):
        yield
        return
    old = sys.get_asyncgen_hooks()
    # BaseEventLoop's own (private, but unchanged since 3.6) pair, as its run_forever uses.
    sys.set_asyncgen_hooks(
        firstiter=loop._asyncgen_firstiter_hook,  # type: ignore[attr-defined]
        finalizer=loop._asyncgen_finalizer_hook,  # type: ignore[attr-defined]
    )
    try:
        yield
    finally:
        sys.set_asyncgen_hooks(*old)


def build_engine(paths: AppPaths, settings: Settings) -> Engine:
    """The engine service for the window: not started until the first model load.

    The RAM prompt cache and the disk budget for saved conversation states come from
    the settings (read once: a change in Settings applies at the next start).
    """
    supervisor = EngineSupervisor(
        log_path=paths.engine_log,
        cache_bytes=settings.prompt_cache_mb * 1024 * 1024,
        state_dir=paths.kv_states,
        state_budget_mb=settings.kv_state_disk_mb,
    )
    return Engine(supervisor)


def build_window(
    *,
    paths: AppPaths | None = None,
    settings: Settings | None = None,
    engine: Engine | None = None,
) -> MainWindow:
    """The window with its services, not shown, no loop run (tests call this directly).

    Needs a QApplication; the engine process is not started.
    """
    if paths is None:
        paths = app_paths().ensure()
    if settings is None:
        settings = load_settings(paths.settings_file)
    if engine is None:
        engine = build_engine(paths, settings)
    return MainWindow(engine=engine, settings=settings, paths=paths)


async def close_window(window: MainWindow) -> None:
    """Stop the window's tasks, then the engine process, so no orphan is left."""
    await window.shutdown()
    await window.engine.close()


def create_application(argv: Sequence[str]) -> tuple[QApplication, qasync.QEventLoop]:
    """The QApplication (names, icon, desktop entry) and the one qasync loop on it."""
    import qasync  # after PySide6, so qasync binds to it and not to another Qt binding

    from llmos_desktop.resources import app_icon

    app = QApplication.instance() or QApplication(list(argv))
    assert isinstance(app, QApplication)
    app.setApplicationName(APPLICATION_NAME)
    app.setOrganizationName(ORGANIZATION_NAME)
    app.setDesktopFileName("llmos-desktop")  # lets Wayland docks match the .desktop entry
    app.setWindowIcon(app_icon())
    # The loop ends when the window's close is handled (engine stopped first), not when
    # Qt sees the last window go.
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    return app, loop


def main(argv: Sequence[str] | None = None) -> int:
    """The ``llmos-desktop`` script's entry (``argv`` with the program name, as sys.argv).

    Before any QApplication: ``--help``/``--version`` print and exit, ``--self-test`` is
    routed as ``python -m llmos_desktop`` routes it, and on X11 the xcb plugin's system
    libraries are checked, so a missing one is named instead of Qt aborting.
    """
    from llmos_desktop.__main__ import parse_command_line, wants_self_test
    from llmos_desktop.qt_preflight import preflight

    args = list(sys.argv if argv is None else argv)
    program, options = (args[0], args[1:]) if args else ("llmos-desktop", [])
    if wants_self_test(options):
        from llmos_desktop.selftest import selftest_main

        return selftest_main(options)
    _known, qt_args = parse_command_line(options)
    status = preflight(qt_args)
    if status is not None:
        return status
    # The app's own log (app.log), set up here only: tests build windows without it.
    import logging
    import platform

    from PySide6.QtCore import qVersion

    from llmos_desktop import __version__
    from llmos_desktop.logs import setup_logging
    from llmos_desktop.ui.i18n import choose_language, install_translators
    from llmos_desktop.ui.qt_log import install_qt_message_handler

    paths = app_paths().ensure()
    log_file = setup_logging(paths.logs)
    install_qt_message_handler()  # before the QApplication, so its start-up messages count
    settings = load_settings(paths.settings_file)
    app, loop = create_application([program, *qt_args])
    # Before any widget is built: widgets translate their texts when they are made.
    language = choose_language(settings.language)
    install_translators(app, language)
    logging.getLogger("llmos_desktop.app").info(
        "LLMOS Desktop %s starting: Python %s, Qt %s on %s, language %s, log %s",
        __version__,
        platform.python_version(),
        qVersion(),
        QApplication.platformName(),
        language,
        log_file,
    )
    window = build_window(paths=paths, settings=settings)
    closed = asyncio.Event()
    window.closed.connect(closed.set)

    # Ctrl+C in a terminal closes the window cleanly; the timer lets Python see the signal.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    heartbeat = QTimer()
    heartbeat.start(250)
    heartbeat.timeout.connect(lambda: None)

    async def run() -> None:
        await closed.wait()
        await close_window(window)

    window.show()
    with loop, asyncgen_hooks(loop):
        main_task = loop.create_task(run())
        try:
            loop.run_until_complete(main_task)
        except RuntimeError:
            if main_task.done():
                raise
            # Qt quit on its own (session end) before the window was closed: still stop
            # the engine before leaving.
            closed.set()
            loop.run_until_complete(main_task)
        loop.run_until_complete(loop.shutdown_asyncgens())
    logging.getLogger("llmos_desktop.app").info("LLMOS Desktop closed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
