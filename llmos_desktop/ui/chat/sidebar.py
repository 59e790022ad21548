"""The conversation list beside the chat: new, search, rename, delete with undo, export.

It shows what the page hands it (``set_conversations``) and forwards what the user
asks for as signals; the page does the store work off the GUI thread and hands back
the new list. So the sidebar never waits for a disk, and a second process writing the
same database (``llmos chat``) shows up at the next refresh.

Keys: the list takes the arrows (each row opens its chat), F2 renames in place,
Delete deletes; an "Undo" strip stays for ``UNDO_SECONDS`` after a deletion. Titles
come from the user's first message and are shown as plain text.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QDateTime, QLocale, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.chat.store import Conversation

UNDO_SECONDS = 10
SEARCH_DELAY_MS = 250
ID_ROLE = Qt.ItemDataRole.UserRole
TITLE_ROLE = Qt.ItemDataRole.UserRole + 1


class UndoStrip(QFrame):
    """ "Deleted “title”. [Undo] [×]" for a few seconds after a deletion."""

    undo_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("undoStrip")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.label = QLabel(self)
        self.label.setObjectName("undoText")
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setWordWrap(True)
        self.undo_button = QPushButton(self.tr("Undo"), self)
        self.undo_button.setObjectName("undoButton")
        self.undo_button.setAccessibleName(self.tr("Undo the deletion"))
        self.undo_button.clicked.connect(self._on_undo_button_clicked)
        self.close_button = QToolButton(self)
        self.close_button.setText("×")
        self.close_button.setAccessibleName(self.tr("Dismiss"))
        self.close_button.setToolTip(self.tr("Dismiss"))
        self.close_button.setAutoRaise(True)
        self.close_button.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 4, 4, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.undo_button)
        layout.addWidget(self.close_button)
        self.conversation_id: int | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.dismiss)
        self.hide()

    def offer(self, conversation_id: int, title: str, seconds: float = UNDO_SECONDS) -> None:
        self.conversation_id = conversation_id
        self.label.setText(self.tr("Deleted “{title}”.").format(title=title))
        self.show()
        self._timer.start(int(seconds * 1000))

    def dismiss(self) -> None:
        self._timer.stop()
        self.conversation_id = None
        self.hide()

    def _on_undo_button_clicked(self) -> None:
        conversation_id = self.conversation_id
        self.dismiss()
        if conversation_id is not None:
            self.undo_clicked.emit(conversation_id)


class ChatSidebar(QWidget):
    """The conversations, newest activity first; see the module docstring."""

    new_requested = Signal()
    chat_activated = Signal(int)
    rename_requested = Signal(int, str)
    delete_requested = Signal(int)
    undo_requested = Signal(int)
    search_changed = Signal(str)
    export_requested = Signal(int, str)  # (conversation id, "md" or "json")
    import_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatSidebar")
        self._current: int | None = None
        self._filling = False

        self.new_button = QPushButton(self.tr("&New chat"), self)
        self.new_button.setObjectName("newChatButton")
        self.new_button.setToolTip(self.tr("Start a new chat (Ctrl+N)"))
        self.new_button.clicked.connect(self.new_requested)

        self.search_edit = QLineEdit(self)
        self.search_edit.setObjectName("chatSearch")
        self.search_edit.setPlaceholderText(self.tr("Search chats (Ctrl+F)"))
        self.search_edit.setAccessibleName(self.tr("Search chats"))
        self.search_edit.setClearButtonEnabled(True)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._on_search_timer_timeout)
        self.search_edit.textChanged.connect(self._on_search_edit_text_changed)

        self.list = QListWidget(self)
        self.list.setObjectName("chatList")
        self.list.setAccessibleName(self.tr("Chats"))
        self.list.setEditTriggers(
            QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.SelectedClicked
        )
        self.list.setUniformItemSizes(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.currentItemChanged.connect(self._on_list_current_item_changed)
        self.list.itemChanged.connect(self._on_list_item_changed)
        delete = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.list)
        delete.setContext(Qt.ShortcutContext.WidgetShortcut)
        delete.activated.connect(self._on_delete_button_clicked)

        self.empty_label = QLabel(self)
        self.empty_label.setObjectName("chatListEmpty")
        self.empty_label.setTextFormat(Qt.TextFormat.PlainText)
        self.empty_label.setWordWrap(True)
        self.empty_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.empty_label.hide()

        self.undo_strip = UndoStrip(self)
        self.undo_strip.undo_clicked.connect(self.undo_requested)

        self.rename_button = QToolButton(self)
        self.rename_button.setObjectName("renameChatButton")
        self.rename_button.setText(self.tr("&Rename"))
        self.rename_button.setToolTip(self.tr("Rename the chat (F2)"))
        self.rename_button.setAccessibleName(self.tr("Rename the chat"))
        self.rename_button.clicked.connect(self._on_rename_button_clicked)
        self.delete_button = QToolButton(self)
        self.delete_button.setObjectName("deleteChatButton")
        self.delete_button.setText(self.tr("&Delete"))
        self.delete_button.setToolTip(self.tr("Delete the chat (Delete); it can be undone"))
        self.delete_button.setAccessibleName(self.tr("Delete the chat"))
        self.delete_button.clicked.connect(self._on_delete_button_clicked)
        self.export_button = QToolButton(self)
        self.export_button.setObjectName("exportChatButton")
        self.export_button.setText(self.tr("E&xport"))
        self.export_button.setToolTip(self.tr("Save the chat as Markdown or JSON"))
        self.export_button.setAccessibleName(self.tr("Export the chat"))
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        self.export_markdown_action = QAction(self.tr("As Markdown…"), menu)
        self.export_markdown_action.triggered.connect(lambda: self._export("md"))
        self.export_json_action = QAction(self.tr("As JSON (can be imported)…"), menu)
        self.export_json_action.triggered.connect(lambda: self._export("json"))
        menu.addAction(self.export_markdown_action)
        menu.addAction(self.export_json_action)
        self.export_button.setMenu(menu)
        self.import_button = QToolButton(self)
        self.import_button.setObjectName("importChatButton")
        self.import_button.setText(self.tr("&Import…"))
        self.import_button.setToolTip(self.tr("Add a chat from a JSON export"))
        self.import_button.setAccessibleName(self.tr("Import a chat"))
        self.import_button.clicked.connect(self.import_requested)
        for button in (
            self.rename_button,
            self.delete_button,
            self.export_button,
            self.import_button,
        ):
            button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            button.setAutoRaise(True)

        # Two rows, so that no label is cut short in a narrow sidebar or a longer language.
        tools = QGridLayout()
        tools.setSpacing(0)
        tools.addWidget(self.rename_button, 0, 0)
        tools.addWidget(self.delete_button, 0, 1)
        tools.addWidget(self.export_button, 1, 0)
        tools.addWidget(self.import_button, 1, 1)
        tools.setColumnStretch(2, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 12, 4, 8)
        layout.setSpacing(6)
        layout.addWidget(self.new_button)
        layout.addWidget(self.search_edit)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.undo_strip)
        layout.addLayout(tools)
        self._update_buttons()

    # --- what the page hands over ------------------------------------------------------

    @property
    def current_id(self) -> int | None:
        return self._current

    @property
    def editing(self) -> bool:
        """A title is being edited in place."""
        return self.list.state() == QAbstractItemView.State.EditingState

    @property
    def search_text(self) -> str:
        return self.search_edit.text().strip()

    def set_conversations(
        self, conversations: Sequence[Conversation], current: int | None = None
    ) -> None:
        """Show ``conversations`` (newest first), with ``current`` selected if listed."""
        self._current = current
        self._filling = True
        try:
            self.list.clear()
            locale = QLocale()
            for conversation in conversations:
                title = conversation.title or self.tr("Untitled chat")
                item = QListWidgetItem(title)
                item.setData(ID_ROLE, conversation.id)
                item.setData(TITLE_ROLE, conversation.title)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                when = QDateTime.fromSecsSinceEpoch(int(conversation.updated_at))
                item.setToolTip(
                    self.tr("{title}\nLast activity: {when}").format(
                        title=title,
                        when=locale.toString(when, QLocale.FormatType.ShortFormat),
                    )
                )
                self.list.addItem(item)
                if conversation.id == current:
                    self.list.setCurrentItem(item)
            if current is None or self.item_for(current) is None:
                self.list.setCurrentRow(-1)
        finally:
            self._filling = False
        if not conversations:
            self.empty_label.setText(
                self.tr("No chat matches “{text}”.").format(text=self.search_text)
                if self.search_text
                else self.tr("Your chats appear here.")
            )
        self.empty_label.setVisible(not conversations)
        self._update_buttons()

    def set_current(self, conversation_id: int | None) -> None:
        """Select ``conversation_id``'s row (None: none) without asking to open it."""
        self._current = conversation_id
        self._filling = True
        try:
            item = self.item_for(conversation_id) if conversation_id is not None else None
            if item is None:
                self.list.setCurrentRow(-1)
                self.list.clearSelection()
            else:
                self.list.setCurrentItem(item)
        finally:
            self._filling = False
        self._update_buttons()

    def item_for(self, conversation_id: int) -> QListWidgetItem | None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(ID_ROLE) == conversation_id:
                return item
        return None

    def conversation_ids(self) -> list[int]:
        return [int(self.list.item(row).data(ID_ROLE)) for row in range(self.list.count())]

    def titles(self) -> list[str]:
        return [self.list.item(row).text() for row in range(self.list.count())]

    def offer_undo(self, conversation_id: int, title: str) -> None:
        self.undo_strip.offer(conversation_id, title or self.tr("Untitled chat"))

    def focus_search(self) -> None:
        self.search_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_edit.selectAll()

    def rename_current(self) -> None:
        """Edit the selected chat's title in place (Enter saves, Esc cancels)."""
        item = self.list.currentItem()
        if item is not None:
            self.list.setFocus()
            self.list.editItem(item)

    # --- slots --------------------------------------------------------------------------

    def _on_search_edit_text_changed(self, _text: str) -> None:
        self._search_timer.start()

    def _on_search_timer_timeout(self) -> None:
        self.search_changed.emit(self.search_text)

    def _on_list_current_item_changed(
        self, current: QListWidgetItem | None, _previous: QListWidgetItem | None
    ) -> None:
        self._update_buttons()
        if self._filling or current is None:
            return
        conversation_id = int(current.data(ID_ROLE))
        if conversation_id != self._current:
            self._current = conversation_id
            self.chat_activated.emit(conversation_id)

    def _on_list_item_changed(self, item: QListWidgetItem) -> None:
        if self._filling:
            return
        old = str(item.data(TITLE_ROLE) or "")
        new = " ".join(item.text().split())
        if new == old or (not old and new == self.tr("Untitled chat")):
            return
        self.rename_requested.emit(int(item.data(ID_ROLE)), new)

    def _on_rename_button_clicked(self) -> None:
        self.rename_current()

    def _on_delete_button_clicked(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.delete_requested.emit(int(item.data(ID_ROLE)))

    def _export(self, kind: str) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.export_requested.emit(int(item.data(ID_ROLE)), kind)

    def _update_buttons(self) -> None:
        selected = self.list.currentItem() is not None
        for button in (self.rename_button, self.delete_button, self.export_button):
            button.setEnabled(selected)
