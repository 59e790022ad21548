"""Qt's own messages (qDebug … qFatal, e.g. a plugin's warnings) into the Python log.

``llmos_desktop.logs`` writes the Python log to ``app.log`` and imports no Qt; this is
the Qt half. A message goes to the logger named after its category (``qt.qpa.xcb``; the
``default`` category is ``qt``), then on to the handler that was there before, or to
stderr as Qt's default handler would print it, so a terminal still shows it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable

from PySide6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler

QtMessageHandler = Callable[[QtMsgType, QMessageLogContext, str], object]

_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}

_installed = False
_previous: QtMessageHandler | None = None


def install_qt_message_handler() -> None:
    """Route Qt's messages to the Python log; a second call changes nothing."""
    global _installed, _previous
    if _installed:
        return
    previous = qInstallMessageHandler(_on_qt_message)  # None: Qt's default handler
    _previous = previous if callable(previous) else None
    _installed = True


def uninstall_qt_message_handler() -> None:
    """Put back the handler that was there before (tests use it)."""
    global _installed, _previous
    if not _installed:
        return
    qInstallMessageHandler(_previous)
    _installed, _previous = False, None


def logger_name(category: str | None) -> str:
    if not category or category == "default":
        return "qt"
    return category if category == "qt" or category.startswith("qt.") else f"qt.{category}"


def _on_qt_message(mode: QtMsgType, context: QMessageLogContext, message: str) -> None:
    # Called from C++, on whatever thread Qt logs from: nothing may escape.
    with contextlib.suppress(Exception):
        level = _LEVELS.get(mode, logging.WARNING)
        category = getattr(context, "category", None)  # missing from PySide6's stubs
        logging.getLogger(logger_name(category)).log(level, "%s", message)
    previous = _previous
    if previous is not None:
        previous(mode, context, message)
    elif sys.stderr is not None:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(message + "\n")
