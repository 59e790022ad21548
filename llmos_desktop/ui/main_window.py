"""The main window: navigation on the left, one page at a time, engine state below.

Pages receive their services in constructors. Chat works now; Models and Store are
placeholders that later issues replace with ui/models/ and ui/store/ pages.
"""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QStackedWidget,
    QWidget,
)

from llmos_desktop.core.chat.session import ReplyEnded
from llmos_desktop.core.engine.control.service import Engine
from llmos_desktop.core.engine.errors import EngineFailure
from llmos_desktop.core.paths import AppPaths
from llmos_desktop.core.settings import Settings
from llmos_desktop.ui.chat_page import ChatPage
from llmos_desktop.ui.widgets.placeholder import PlaceholderPage

DEFAULT_SIZE = QSize(1000, 700)


class MainWindow(QMainWindow):
    # Emitted on the engine's watcher thread (Engine.subscribe_exit); Qt queues it to the
    # GUI thread, so no widget is touched from that thread.
    engine_exited = Signal(object)
    closed = Signal()

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        paths: AppPaths,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.engine = engine
        self.settings = settings
        self.paths = paths
        self.setWindowTitle(self.tr("LLMOS Desktop"))
        self.resize(DEFAULT_SIZE)
        self.setMinimumSize(QSize(640, 420))

        self.chat_page = ChatPage(engine=engine, settings=settings, paths=paths, parent=self)
        self.models_page = PlaceholderPage(
            self.tr("Models"),
            self.tr(
                "Browse and download GGUF models from the Hugging Face Hub — coming soon. "
                "For now, open a .gguf file from the Chat page."
            ),
            self,
        )
        self.store_page = PlaceholderPage(
            self.tr("Store"),
            self.tr("Install small LLM apps from a catalogue — coming soon."),
            self,
        )

        self.navigation = QListWidget(self)
        self.navigation.setObjectName("navigation")
        self.navigation.setFixedWidth(150)
        self.navigation.setSpacing(2)
        self.navigation.setFrameShape(QListWidget.Shape.NoFrame)
        self.pages = QStackedWidget(self)
        for label, page in (
            (self.tr("Chat"), self.chat_page),
            (self.tr("Models"), self.models_page),
            (self.tr("Store"), self.store_page),
        ):
            self.navigation.addItem(label)
            self.pages.addWidget(page)
        for row in range(self.navigation.count()):
            self.navigation.item(row).setSizeHint(QSize(0, 32))
        self.navigation.currentRowChanged.connect(self._on_navigation_current_row_changed)
        self.navigation.setCurrentRow(0)

        central = QWidget(self)
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.navigation)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)
        self.navigation.setStyleSheet(
            "#navigation { background: palette(window); border-right: 1px solid palette(mid);"
            " padding-top: 8px; }"
            "QListWidget#navigation::item { padding-left: 14px; border-radius: 4px; }"
            "QListWidget#navigation::item:selected"
            " { background: palette(highlight); color: palette(highlighted-text); }"
        )

        self.engine_label = QLabel(self.tr("Engine: not started"), self)
        self.engine_label.setObjectName("engineStatus")
        self.engine_label.setTextFormat(Qt.TextFormat.PlainText)
        self.speed_label = QLabel(self)
        self.speed_label.setObjectName("speedStatus")
        self.speed_label.setTextFormat(Qt.TextFormat.PlainText)
        self.engine_label.setContentsMargins(8, 0, 0, 0)
        self.speed_label.setContentsMargins(0, 0, 8, 0)
        self.statusBar().addWidget(self.engine_label, 1)
        self.statusBar().addPermanentWidget(self.speed_label)

        quit_action = QAction(self.tr("Quit"), self)
        quit_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Quit))
        quit_action.triggered.connect(self.close)
        self.addAction(quit_action)
        self.about_action = QAction(self.tr("About LLMOS Desktop…"), self)
        self.about_action.triggered.connect(self._on_about_action_triggered)
        help_menu = self.menuBar().addMenu(self.tr("Help"))
        help_menu.addAction(self.about_action)
        self._about_task: asyncio.Future[None] | None = None

        self.chat_page.engine_state_changed.connect(self._on_chat_page_engine_state_changed)
        self.chat_page.reply_finished.connect(self._on_chat_page_reply_finished)
        self.engine_exited.connect(self._on_engine_exited)
        self._unsubscribe_exit = engine.subscribe_exit(self.engine_exited.emit)

    async def shutdown(self) -> None:
        """Stop the pages' work; the caller then closes the engine."""
        self._unsubscribe_exit()
        await self.chat_page.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:
        event.accept()
        self.closed.emit()

    # --- slots --------------------------------------------------------------------------

    def _on_navigation_current_row_changed(self, row: int) -> None:
        if row >= 0:
            self.pages.setCurrentIndex(row)

    def _on_chat_page_engine_state_changed(self, text: str) -> None:
        self.engine_label.setText(text)

    def _on_chat_page_reply_finished(self, ended: ReplyEnded) -> None:
        self.speed_label.setText(self._speed_text(ended.result.timings))

    def _on_about_action_triggered(self) -> None:
        if self._about_task is None or self._about_task.done():
            self._about_task = asyncio.ensure_future(self._show_about())

    async def _show_about(self) -> None:
        from llmos_desktop.ui.about_dialog import AboutDialog

        backend = self.tr("engine not started")
        # Ask a running engine only: About must not start one.
        if self.engine.running:
            try:
                backend = str((await self.engine.status()).get("backend", backend))
            except Exception as exc:  # the dialog still opens; it just says why
                backend = self.tr("unknown ({error})").format(error=exc)
        dialog = AboutDialog(backend=backend, logs_folder=self.paths.logs, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def _on_engine_exited(self, failure: EngineFailure) -> None:
        self.chat_page.show_engine_failure(failure)

    def _speed_text(self, timings: dict[str, Any]) -> str:
        speed = timings.get("tokens_per_s")
        if not isinstance(speed, int | float):
            return ""
        text = self.tr("{speed:.1f} tokens/s").format(speed=speed)
        ttft = timings.get("ttft_s")
        if isinstance(ttft, int | float):
            text += " · " + self.tr("first token {ttft:.2f} s").format(ttft=ttft)
        return text
