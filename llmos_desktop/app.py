"""Composition root: builds the services, the window and the one event loop (qasync's).

Nothing heavy is imported here (no llama_cpp, fastapi, huggingface_hub, numpy, gguf):
the engine process starts lazily on the first model load, so the window paints fast.

Start-up paints the window's frame first (``start_window``): the language, theme and
geometry are read from the settings file with the json module (core/appearance.py), the
translators installed (ui/i18n.py) before any widget is made, and the frame (navigation,
status bar, menus) shown. Once it has painted, the next turn of the loop reads the full
Settings (pydantic, the engine contract), builds the engine service and the pages. Tests
build the whole window at once with ``build_window``.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from llmos_desktop.core.appearance import Appearance, peek_appearance
from llmos_desktop.core.paths import AppPaths, app_paths
from llmos_desktop.ui.main_window import MainWindow

if TYPE_CHECKING:
    import asyncio

    import qasync

    from llmos_desktop.core.engine.control.service import Engine
    from llmos_desktop.core.settings import Settings

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
    import asyncio

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
    from llmos_desktop.core.engine.control.service import Engine
    from llmos_desktop.core.engine.control.supervisor import EngineSupervisor
    from llmos_desktop.core.engine.process.child import ChildOptions

    supervisor = EngineSupervisor(
        log_path=paths.engine_log,
        cache_bytes=settings.prompt_cache_mb * 1024 * 1024,
        state_dir=paths.kv_states,
        state_budget_mb=settings.kv_state_disk_mb,
        # Unload the model after this long idle (the Developer page's setting; 0: never).
        options=ChildOptions(keep_alive_s=settings.engine_keep_alive_s or None),
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
    from llmos_desktop.core.settings import load_settings

    if paths is None:
        paths = app_paths().ensure()
    if settings is None:
        settings = load_settings(paths.settings_file)
    if engine is None:
        engine = build_engine(paths, settings)
    return MainWindow(engine=engine, settings=settings, paths=paths)


class _PaintSpy(QObject):
    """Notes when any widget of ``window`` first receives a Paint event."""

    def __init__(self, window: QWidget) -> None:
        super().__init__()
        self._window = window
        self.painted = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            not self.painted
            and event.type() == QEvent.Type.Paint
            and isinstance(watched, QWidget)
            and watched.window() is self._window
        ):
            self.painted = True
        return False


def start_window(paths: AppPaths, appearance: Appearance | None = None) -> MainWindow:
    """The window's frame, as start-up shows it first; ``finish_window`` adds the pages.

    The frame needs no Settings object (``appearance`` comes from peek_appearance), no
    engine service and no event loop, so it paints before any of them is imported.
    """
    if appearance is None:
        appearance = peek_appearance(paths.settings_file)
    return MainWindow(paths=paths, appearance=appearance)


def show_until_painted(window: QWidget, timeout: float = 2.0) -> bool:
    """Show ``window`` and run Qt's events until it has painted (False: it did not within
    ``timeout`` seconds: a window started minimised or hidden goes on anyway)."""
    app = QApplication.instance()
    assert app is not None
    spy = _PaintSpy(window)
    app.installEventFilter(spy)
    try:
        window.show()
        deadline = time.monotonic() + timeout
        while not spy.painted and time.monotonic() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        return spy.painted
    finally:
        app.removeEventFilter(spy)


def finish_window(window: MainWindow) -> None:
    """Read the settings, build the engine service and put the pages in ``window``'s frame
    (under the event loop: the pages start tasks). Nothing happens once it is closing."""
    from llmos_desktop.core.settings import load_settings

    if window.pages_ready or window.shutting_down:
        return
    settings = load_settings(window.paths.settings_file)
    window.build_pages(settings=settings, engine=build_engine(window.paths, settings))


async def close_window(window: MainWindow) -> None:
    """Stop the window's tasks, then the engine process, so no orphan is left."""
    await window.shutdown()
    if window.pages_ready:
        await window.engine.close()


def make_application(argv: Sequence[str]) -> QApplication:
    """The QApplication, with the app's names, icon and desktop entry."""
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
    return app


def make_loop(app: QApplication) -> qasync.QEventLoop:
    """The one asyncio loop, qasync's, on ``app``'s Qt event loop (set as the current one)."""
    import asyncio

    import qasync  # after PySide6, so qasync binds to it and not to another Qt binding

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    return loop


def create_application(argv: Sequence[str]) -> tuple[QApplication, qasync.QEventLoop]:
    """The QApplication (names, icon, desktop entry) and the one qasync loop on it."""
    app = make_application(argv)
    return app, make_loop(app)


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
    import asyncio
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
    appearance = peek_appearance(paths.settings_file)
    app = make_application([program, *qt_args])
    # Before any widget is built: widgets translate their texts when they are made.
    language = choose_language(appearance.language)
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
    # The frame paints before the event loop and the pages exist (issue 10's start-up
    # target); the loop's first turn builds the pages.
    window = start_window(paths, appearance)
    closed_early: list[bool] = []  # closed before the loop exists (a quick Ctrl+Q)
    window.closed.connect(lambda: closed_early.append(True))
    show_until_painted(window)
    loop = make_loop(app)
    loop.call_soon(finish_window, window)
    # An installed build whose engine needs instructions this CPU lacks says so in words
    # (off the GUI thread; nothing is checked when running from source).
    from llmos_desktop.ui.cpu_notice import start_cpu_check

    cpu_check = start_cpu_check(window, loop)  # noqa: F841  # a task needs a live reference
    closed = asyncio.Event()
    window.closed.connect(closed.set)
    if closed_early:
        closed.set()

    # Ctrl+C in a terminal closes the window cleanly; the timer lets Python see the signal.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    heartbeat = QTimer()
    heartbeat.start(250)
    heartbeat.timeout.connect(lambda: None)

    async def run() -> None:
        await closed.wait()
        await close_window(window)

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
