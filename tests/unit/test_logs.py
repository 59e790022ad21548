"""The app process's log (llmos_desktop/logs.py) and Qt's messages in it (ui/qt_log.py).

Every test leaves logging as it found it: the ``logged`` fixture puts recorders in place
of the previous excepthooks (so pytest's own never see the test's exceptions) and calls
shutdown_logging afterwards, then checks that the root logger, the levels, warnings and
the hooks are back.
"""

from __future__ import annotations

import errno
import io
import logging
import logging.handlers
import re
import sys
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import pytest

from llmos_desktop import logs
from llmos_desktop.logs import HANDLER_NAME, LOG_FILE_NAME, setup_logging, shutdown_logging

LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>[A-Z]+) +(?P<name>\S+) "
    r"\[(?P<thread>[^\]]+)\] (?P<message>.*)$"
)


@dataclass
class Hooks:
    """What reached the hooks that were in place before setup_logging."""

    sys_calls: list[tuple[type[BaseException], BaseException, TracebackType | None]] = field(
        default_factory=list
    )
    thread_calls: list[threading.ExceptHookArgs] = field(default_factory=list)

    def sys_hook(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        self.sys_calls.append((exc_type, exc, tb))

    def thread_hook(self, args: threading.ExceptHookArgs) -> None:
        self.thread_calls.append(args)


def _ours() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if h.get_name() == HANDLER_NAME]


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hooks]:
    recorded = Hooks()
    monkeypatch.setattr(sys, "excepthook", recorded.sys_hook)
    monkeypatch.setattr(threading, "excepthook", recorded.thread_hook)
    root_level = logging.getLogger().level
    app_level = logging.getLogger("llmos_desktop").level
    showwarning = warnings.showwarning
    yield recorded
    shutdown_logging()
    assert _ours() == []
    assert logs.log_file() is None
    assert logging.getLogger().level == root_level
    assert logging.getLogger("llmos_desktop").level == app_level
    assert sys.excepthook == recorded.sys_hook
    assert threading.excepthook == recorded.thread_hook
    assert warnings.showwarning is showwarning


class FullDisk(io.TextIOWrapper):
    """A file on a disk that is full."""

    def write(self, s: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def _flush() -> None:
    for handler in _ours():
        handler.flush()


def _text(path: Path) -> str:
    _flush()
    return path.read_text("utf-8")


def _records(path: Path) -> list[re.Match[str]]:
    return [m for m in map(LINE.match, _text(path).splitlines()) if m is not None]


def test_a_logger_call_ends_up_in_app_log(tmp_path: Path, hooks: Hooks) -> None:
    folder = tmp_path / "logs"
    log_file = setup_logging(folder)
    assert log_file == folder / LOG_FILE_NAME
    assert logs.log_file() == log_file

    logging.getLogger("llmos_desktop.ui.chat_page").info("a reply finished")
    logging.getLogger("llmos_desktop.ui.chat_page").debug("not at debug")
    chatty = logging.getLogger("some.library")
    chatty.setLevel(logging.DEBUG)  # a library that lowers its own level still says little
    try:
        chatty.info("library chatter")
        chatty.warning("library trouble")
    finally:
        chatty.setLevel(logging.NOTSET)
    try:
        raise ValueError("bad value")
    except ValueError:
        logging.getLogger("llmos_desktop.core.settings").exception("settings not saved")

    text = _text(log_file)
    records = _records(log_file)
    assert [(m["level"], m["name"], m["thread"], m["message"]) for m in records] == [
        ("INFO", "llmos_desktop.ui.chat_page", "MainThread", "a reply finished"),
        ("WARNING", "some.library", "MainThread", "library trouble"),
        ("ERROR", "llmos_desktop.core.settings", "MainThread", "settings not saved"),
    ]
    assert "Traceback (most recent call last)" in text
    assert "ValueError: bad value" in text


def test_python_warnings_are_logged(tmp_path: Path, hooks: Hooks) -> None:
    log_file = setup_logging(tmp_path)
    assert log_file is not None
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("mind the gap", UserWarning, stacklevel=1)
    records = _records(log_file)
    assert [(m["level"], m["name"]) for m in records] == [("WARNING", "py.warnings")]
    assert "UserWarning: mind the gap" in _text(log_file)


def test_the_log_rotates_at_its_size_limit(tmp_path: Path, hooks: Hooks) -> None:
    log_file = setup_logging(tmp_path, max_bytes=2_000, backup_count=2)
    assert log_file is not None
    log = logging.getLogger("llmos_desktop.test")
    for i in range(200):
        log.info("line %03d %s", i, "x" * 60)
    _flush()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["app.log", "app.log.1", "app.log.2"]
    for path in tmp_path.iterdir():
        assert path.stat().st_size <= 2_000
    assert "line 199" in _text(log_file)
    assert "line 000" not in "".join(p.read_text("utf-8") for p in tmp_path.iterdir())


def test_an_uncaught_exception_in_a_thread_is_logged(tmp_path: Path, hooks: Hooks) -> None:
    log_file = setup_logging(tmp_path)
    assert log_file is not None

    def work() -> None:
        raise RuntimeError("boom in a worker")

    thread = threading.Thread(target=work, name="worker-7")
    thread.start()
    thread.join(10)

    text = _text(log_file)
    records = _records(log_file)
    assert [(m["level"], m["name"], m["thread"]) for m in records] == [
        ("CRITICAL", "llmos_desktop.uncaught", "worker-7")
    ]
    assert records[0]["message"] == "Uncaught exception in thread worker-7"
    assert "Traceback (most recent call last)" in text
    assert 'raise RuntimeError("boom in a worker")' in text
    assert "RuntimeError: boom in a worker" in text
    # ... and then the previous hook has its turn.
    assert [type(a.exc_value) for a in hooks.thread_calls] == [RuntimeError]


def test_an_uncaught_exception_in_the_gui_thread_is_logged(tmp_path: Path, hooks: Hooks) -> None:
    log_file = setup_logging(tmp_path)
    assert log_file is not None
    try:
        raise KeyError("missing")
    except KeyError:
        exc_type, exc, tb = sys.exc_info()
    assert exc_type is not None and exc is not None
    sys.excepthook(exc_type, exc, tb)  # what Python (or PySide6, for a slot) calls

    text = _text(log_file)
    assert "CRITICAL llmos_desktop.uncaught [MainThread] Uncaught exception" in text
    assert "KeyError: 'missing'" in text
    assert hooks.sys_calls == [(exc_type, exc, tb)]


def test_setup_twice_adds_no_second_handler(tmp_path: Path, hooks: Hooks) -> None:
    first = setup_logging(tmp_path / "logs")
    second = setup_logging(tmp_path / "logs")
    assert first == second == tmp_path / "logs" / LOG_FILE_NAME
    assert len(_ours()) == 1
    logging.getLogger("llmos_desktop.test").info("once")
    try:
        raise OSError("disk")
    except OSError:
        exc_type, exc, tb = sys.exc_info()
    assert exc_type is not None and exc is not None
    sys.excepthook(exc_type, exc, tb)
    messages = [m["message"] for m in _records(first)]
    assert messages == ["once", "Uncaught exception"]
    assert len(hooks.sys_calls) == 1  # the hook is not wrapped twice

    # Another folder moves the log; still one handler.
    moved = setup_logging(tmp_path / "elsewhere")
    assert moved == tmp_path / "elsewhere" / LOG_FILE_NAME
    assert len(_ours()) == 1
    logging.getLogger("llmos_desktop.test").info("moved")
    assert [m["message"] for m in _records(moved)] == ["moved"]


def test_an_unwritable_folder_falls_back_to_stderr(
    tmp_path: Path, hooks: Hooks, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the logs folder should be")
    folder = blocker / "logs"  # mkdir fails, even as root (chmod would not stop root)

    assert setup_logging(folder) is None
    assert setup_logging(folder) is None  # said once, not twice
    assert logs.log_file() is None
    logging.getLogger("llmos_desktop.test").info("still heard")

    err = capsys.readouterr().err
    assert err.count("Cannot write the log in") == 1
    assert str(folder) in err
    assert "still heard" in err
    assert not folder.exists()
    assert len(_ours()) == 1


def test_a_write_error_later_is_reported_once(
    tmp_path: Path, hooks: Hooks, capsys: pytest.CaptureFixture[str]
) -> None:
    """A full disk: records are lost, the app goes on, stderr hears about it once."""
    log_file = setup_logging(tmp_path)
    assert log_file is not None
    (handler,) = _ours()
    assert isinstance(handler, logging.handlers.RotatingFileHandler)
    old = handler.setStream(FullDisk(io.BytesIO(), encoding="utf-8"))
    assert old is not None
    old.close()
    log = logging.getLogger("llmos_desktop.test")
    log.warning("lost 1")
    log.warning("lost 2")
    err = capsys.readouterr().err
    assert err.count("cannot write the log") == 1


@pytest.mark.no_qt_log  # pytest-qt's own handler would fail the test on the warning
def test_qt_messages_reach_the_log(
    tmp_path: Path, hooks: Hooks, capsys: pytest.CaptureFixture[str]
) -> None:
    from PySide6.QtCore import (
        QMessageLogContext,
        QtMsgType,
        qDebug,
        qInstallMessageHandler,
        qWarning,
    )

    from llmos_desktop.ui.qt_log import install_qt_message_handler, uninstall_qt_message_handler

    log_file = setup_logging(tmp_path)
    assert log_file is not None
    before: list[str] = []

    def previous(_mode: QtMsgType, _context: QMessageLogContext, message: str) -> None:
        before.append(message)

    # Whatever handler is there now (an earlier test may have left one) is put back.
    original = qInstallMessageHandler(previous)
    try:
        install_qt_message_handler()
        install_qt_message_handler()  # a second call changes nothing
        try:
            qWarning("a Qt warning")
            qDebug("a Qt debug line")  # below WARNING: not for our log
        finally:
            uninstall_qt_message_handler()
        qWarning("after uninstall")
        # With Qt's default handler before ours, ours prints to stderr as Qt would.
        qInstallMessageHandler(None)
        install_qt_message_handler()
        try:
            qWarning("a second Qt warning")
        finally:
            uninstall_qt_message_handler()
    finally:
        qInstallMessageHandler(original)

    records = _records(log_file)
    assert [(m["level"], m["name"], m["message"]) for m in records] == [
        ("WARNING", "qt", "a Qt warning"),
        ("WARNING", "qt", "a second Qt warning"),
    ]
    # The handler that was there before still gets every message.
    assert before == ["a Qt warning", "a Qt debug line", "after uninstall"]
    assert "a second Qt warning" in capsys.readouterr().err


def test_qt_categories_are_logger_names() -> None:
    from llmos_desktop.ui.qt_log import logger_name

    assert logger_name("default") == "qt"
    assert logger_name(None) == "qt"
    assert logger_name("qt.qpa.xcb") == "qt.qpa.xcb"
    assert logger_name("js") == "qt.js"
