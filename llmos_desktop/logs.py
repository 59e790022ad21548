"""The app process's own log: ``app.log`` in the logs folder, beside ``engine.log``.

``setup_logging(folder)`` is called once by ``app.main`` (never by ``build_window``, so
tests that build windows write no log). It sends to one rotating file:

- ``llmos_desktop.*`` at INFO and above, every other library at WARNING and above;
- Python warnings (``logging.captureWarnings``);
- uncaught exceptions, in the GUI thread (``sys.excepthook``, which PySide6 also calls for
  an exception raised in a slot) and in other threads (``threading.excepthook``). The
  previous hook still runs after the log has the traceback.

Qt's own messages (qWarning, …) reach the same log through ``ui/qt_log.py``; this module
imports no Qt. A folder that cannot be written (read-only, full disk) does not stop the
app: the log goes to stderr instead, and a warning there says so once.

``shutdown_logging()`` undoes all of it (tests use it; the app just exits).
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TextIO

LOG_FILE_NAME = "app.log"
MAX_BYTES = 2 * 1024 * 1024
BACKUP_COUNT = 3
LOG_FORMAT = "%(asctime)s %(levelname)-8s %(name)s [%(threadName)s] %(message)s"
APP_LOGGER = "llmos_desktop"
HANDLER_NAME = "llmos_desktop.app_log"

_log = logging.getLogger(__name__)
_uncaught = logging.getLogger("llmos_desktop.uncaught")

SysExceptHook = Callable[[type[BaseException], BaseException, TracebackType | None], object]
ThreadingExceptHook = Callable[[threading.ExceptHookArgs], object]


@dataclass
class _Installed:
    """What setup_logging changed, and what was there before (for shutdown_logging)."""

    folder: Path
    handler: logging.Handler
    log_file: Path | None
    root_level: int
    app_level: int
    sys_hook: SysExceptHook
    threading_hook: ThreadingExceptHook
    captured_warnings: bool


_installed: _Installed | None = None
_lock = threading.Lock()


class _AppLogHandler(logging.handlers.RotatingFileHandler):
    """A rotating file that says once on stderr when it cannot write (a full disk), not
    once per record; records that cannot be written are lost, the app goes on."""

    _failed = False

    def handleError(self, record: logging.LogRecord) -> None:
        if self._failed:
            return
        self._failed = True
        error = sys.exc_info()[1]
        _note_on_stderr(
            f"LLMOS Desktop: cannot write the log {self.baseFilename} ({error}); "
            "further log records may be lost."
        )


class _AppFilter(logging.Filter):
    """INFO and above from llmos_desktop.*, WARNING and above from everything else, even
    when a library lowers its own logger's level."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        return record.levelno >= logging.INFO and (
            record.name == APP_LOGGER or record.name.startswith(APP_LOGGER + ".")
        )


def _note_on_stderr(text: str) -> None:
    stream: TextIO | None = sys.stderr
    if stream is not None:  # a windowed build on Windows has none
        with contextlib.suppress(OSError, ValueError):
            stream.write(text + "\n")
            stream.flush()


def _file_handler(log_file: Path, max_bytes: int, backup_count: int) -> logging.Handler:
    """Opens the file now (not on the first record), so an unwritable folder shows here."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    return _AppLogHandler(
        log_file, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8", delay=False
    )


def _stderr_handler() -> logging.Handler:
    stream: TextIO | None = sys.stderr
    if stream is None:
        return logging.NullHandler()
    return logging.StreamHandler(stream)


def setup_logging(
    logs_folder: Path, *, max_bytes: int = MAX_BYTES, backup_count: int = BACKUP_COUNT
) -> Path | None:
    """Log to ``logs_folder/app.log`` (rotated past ``max_bytes``, ``backup_count`` old
    files kept); returns that path, or None when the folder could not be written and the
    log goes to stderr instead.

    Calling it again with the same folder changes nothing; with another folder, it moves
    the log there. Hooks and levels are installed once.
    """
    global _installed
    with _lock:
        if _installed is not None and _installed.folder == logs_folder:
            return _installed.log_file
        log_file: Path | None = logs_folder / LOG_FILE_NAME
        failure: OSError | None = None
        try:
            handler = _file_handler(logs_folder / LOG_FILE_NAME, max_bytes, backup_count)
        except OSError as exc:
            failure, log_file = exc, None
            handler = _stderr_handler()
        handler.set_name(HANDLER_NAME)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.addFilter(_AppFilter())

        root = logging.getLogger()
        app_logger = logging.getLogger(APP_LOGGER)
        if _installed is None:
            _installed = _Installed(
                folder=logs_folder,
                handler=handler,
                log_file=log_file,
                root_level=root.level,
                app_level=app_logger.level,
                sys_hook=sys.excepthook,
                threading_hook=threading.excepthook,
                captured_warnings=not _capturing_warnings(),
            )
            root.setLevel(logging.WARNING)
            app_logger.setLevel(logging.INFO)
            if _installed.captured_warnings:
                logging.captureWarnings(True)
            sys.excepthook = _sys_excepthook
            threading.excepthook = _threading_excepthook
        else:
            _remove_handler(_installed.handler)
            _installed.folder, _installed.handler = logs_folder, handler
            _installed.log_file = log_file
        # Any handler of ours left behind (a module reloaded in a test) goes first.
        for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
            _remove_handler(old)
        root.addHandler(handler)
    if failure is not None:
        _log.warning(
            "Cannot write the log in %s (%s); logging to stderr instead.", logs_folder, failure
        )
    return log_file


def log_file() -> Path | None:
    """The file setup_logging writes now; None before it, or when it fell back to stderr."""
    installed = _installed
    return None if installed is None else installed.log_file


def shutdown_logging() -> None:
    """Undo setup_logging: the handler is closed and removed; levels, warnings capture and
    the excepthooks are as they were (a hook someone set after ours is left alone)."""
    global _installed
    with _lock:
        installed, _installed = _installed, None
        if installed is None:
            return
        _remove_handler(installed.handler)
        logging.getLogger().setLevel(installed.root_level)
        logging.getLogger(APP_LOGGER).setLevel(installed.app_level)
        if installed.captured_warnings:
            logging.captureWarnings(False)
        if sys.excepthook is _sys_excepthook:
            sys.excepthook = installed.sys_hook
        if threading.excepthook is _threading_excepthook:
            threading.excepthook = installed.threading_hook


def _remove_handler(handler: logging.Handler) -> None:
    logging.getLogger().removeHandler(handler)
    with contextlib.suppress(OSError, ValueError):  # its last flush, on a full disk
        handler.close()


def _capturing_warnings() -> bool:
    # logging keeps the replaced showwarning while captureWarnings(True) is on.
    return getattr(logging, "_warnings_showwarning", None) is not None


def _sys_excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    if not issubclass(exc_type, KeyboardInterrupt):
        _uncaught.critical("Uncaught exception", exc_info=(exc_type, exc, tb))
    installed = _installed
    previous = sys.__excepthook__ if installed is None else installed.sys_hook
    previous(exc_type, exc, tb)


def _threading_excepthook(args: threading.ExceptHookArgs) -> None:
    # threading's own hook ignores SystemExit as well.
    if args.exc_value is not None and not issubclass(args.exc_type, SystemExit):
        name = args.thread.name if args.thread is not None else "?"
        _uncaught.critical(
            "Uncaught exception in thread %s",
            name,
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )
    installed = _installed
    previous = threading.__excepthook__ if installed is None else installed.threading_hook
    previous(args)
