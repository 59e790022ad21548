"""One message in the chat transcript: who wrote it, its text, its figures and its actions.

The card shows and forwards; it decides nothing. Each action button emits
``action_requested(message_id, action)``, and the page (which owns the conversation)
does the copying, editing, regenerating. Replies are rendered as Markdown; what the
user, the system prompt and notes say is shown as typed (plain text).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.chat.markdown import DISPLAY_LIMIT, MarkdownRenderer
from llmos_desktop.ui.widgets.markdown_view import MarkdownView


class MessageRole(enum.StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    NOTE = "note"
    """A remark in the conversation that is not a message (e.g. older turns were dropped)."""


class MessageStatus(enum.StrEnum):
    COMPLETE = "complete"
    STREAMING = "streaming"
    INCOMPLETE = "incomplete"
    """A reply that never finished (the app was closed or killed while it streamed)."""


class StopReason(enum.StrEnum):
    """Why a reply ended before the model said it was done."""

    MAX_TOKENS = "max_tokens"
    CONTEXT_FULL = "context_full"
    STOPPED = "stopped"
    FAILED = "failed"


class MessageAction(enum.StrEnum):
    """What ``action_requested`` names."""

    COPY = "copy"
    EDIT = "edit"
    RESEND = "resend"
    REGENERATE = "regenerate"
    CONTINUE = "continue"
    DELETE = "delete"
    PREVIOUS_VERSION = "previous_version"
    NEXT_VERSION = "next_version"


@dataclass(frozen=True)
class TranscriptMessage:
    """A message as the transcript shows it.

    ``author`` replaces the role's name in the header (a model's name for a reply).
    ``time_to_first_token`` (seconds), ``tokens_per_second`` and ``token_count`` make
    a reply's figures line; ``note`` (already translated) is added to it.
    ``version``/``versions`` (1-based) show "‹ 2/3 ›" when a message was edited or a
    reply regenerated, with buttons that ask for the other versions.
    """

    id: str
    role: MessageRole
    text: str
    status: MessageStatus = MessageStatus.COMPLETE
    author: str = ""
    time_to_first_token: float | None = None
    tokens_per_second: float | None = None
    token_count: int | None = None
    stop_reason: StopReason | None = None
    note: str = ""
    version: int = 1
    versions: int = 1

    def __post_init__(self) -> None:
        if self.versions < 1 or not 1 <= self.version <= self.versions:
            raise ValueError(f"version {self.version} of {self.versions} does not exist")


_ACTIONS_BY_ROLE = {
    MessageRole.USER: (
        MessageAction.COPY,
        MessageAction.EDIT,
        MessageAction.RESEND,
        MessageAction.DELETE,
    ),
    MessageRole.ASSISTANT: (
        MessageAction.COPY,
        MessageAction.CONTINUE,
        MessageAction.REGENERATE,
        MessageAction.DELETE,
    ),
    MessageRole.SYSTEM: (MessageAction.COPY, MessageAction.EDIT, MessageAction.DELETE),
    MessageRole.NOTE: (),
}


class MessageCard(QFrame):
    """Header (author, versions), the text, a figures line and the action buttons."""

    action_requested = Signal(str, str)

    def __init__(
        self, message: TranscriptMessage, renderer: MarkdownRenderer, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("chatMessage")
        self.message = message
        role = message.role
        if role is MessageRole.USER:
            # The user's turns stand out from the replies on the alternate base colour.
            self.setBackgroundRole(QPalette.ColorRole.AlternateBase)
            self.setAutoFillBackground(True)
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 4)
        layout.setSpacing(2)

        self.author_label = QLabel(self)
        self.author_label.setObjectName("messageAuthor")
        self.author_label.setTextFormat(Qt.TextFormat.PlainText)
        bold = QFont(self.author_label.font())
        bold.setBold(True)
        self.author_label.setFont(bold)
        self.previous_button: QToolButton | None = None
        self.next_button: QToolButton | None = None
        self.version_label: QLabel | None = None
        self._header = QHBoxLayout()
        self._header.setSpacing(2)
        self._header.addWidget(self.author_label)
        self._header.addStretch(1)
        if role is not MessageRole.NOTE:
            layout.addLayout(self._header)
        else:
            self.author_label.hide()

        self.view = MarkdownView(
            renderer,
            markdown=role is MessageRole.ASSISTANT,
            note=role is MessageRole.NOTE,
            parent=self,
        )
        layout.addWidget(self.view)

        self.meta_label = QLabel(self)
        self.meta_label.setObjectName("messageMeta")
        self.meta_label.setTextFormat(Qt.TextFormat.PlainText)
        self.meta_label.setWordWrap(True)
        self.meta_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        small = QFont(self.meta_label.font())
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.88))
        self.meta_label.setFont(small)
        layout.addWidget(self.meta_label)

        self.action_buttons: dict[MessageAction, QToolButton] = {}
        actions = _ACTIONS_BY_ROLE[role]
        if actions:
            bar = QWidget(self)  # its small font is the buttons' font (one setFont, not six)
            bar.setObjectName("messageActions")
            bar.setFont(small)
            row = QHBoxLayout(bar)
            row.setContentsMargins(0, 0, 0, 0)
            row.setSpacing(2)
            for action in actions:
                button = self._button(action, bar)
                row.addWidget(button)
                self.action_buttons[action] = button
            row.addStretch(1)
            layout.addWidget(bar)

        self._shown_text: str | None = None
        self.set_message(message)

    # -- showing a message ----------------------------------------------------------

    def set_message(self, message: TranscriptMessage) -> None:
        """Show ``message`` (same id and role); the text is rendered again only if it changed."""
        if message.id != self.message.id or message.role is not self.message.role:
            raise ValueError("a card shows one message; make a new card for another")
        self.message = message
        if self._shown_text is None or message.text != self.view.text():
            self.view.set_text(message.text)
        self._shown_text = message.text
        self.view.set_streaming(message.status is MessageStatus.STREAMING)
        self.refresh()

    def append_text(self, piece: str) -> None:
        """Streamed text for this (streaming) message."""
        self.view.append_text(piece)

    def refresh(self) -> None:
        """Update the header, the figures line and the buttons from ``self.message``."""
        message = self.message
        author = message.author or self._role_name(message.role)
        self.author_label.setText(author)
        self.view.setAccessibleName(self.tr("Message from {author}").format(author=author))
        self._show_versions(message)
        meta = self.meta_text()
        self.meta_label.setText(meta)
        self.meta_label.setVisible(bool(meta))
        streaming = message.status is MessageStatus.STREAMING
        for action, button in self.action_buttons.items():
            visible = not streaming
            if action is MessageAction.CONTINUE:
                visible = visible and message.status is MessageStatus.INCOMPLETE
            button.setVisible(visible)

    def meta_text(self) -> str:
        """The figures line: time to first token, speed, tokens, how it ended."""
        message = self.message
        parts: list[str] = []
        if message.time_to_first_token is not None:
            parts.append(
                self.tr("{seconds:.2f} s to first token").format(
                    seconds=message.time_to_first_token
                )
            )
        if message.tokens_per_second is not None:
            parts.append(self.tr("{rate:.1f} tokens/s").format(rate=message.tokens_per_second))
        if message.token_count is not None:
            parts.append(self.tr("%n tokens", "", message.token_count))
        reason = message.stop_reason
        if reason is StopReason.MAX_TOKENS:
            parts.append(self.tr("stopped at max tokens"))
        elif reason is StopReason.CONTEXT_FULL:
            parts.append(self.tr("stopped: the context is full"))
        elif reason is StopReason.STOPPED:
            parts.append(self.tr("stopped"))
        elif reason is StopReason.FAILED:
            parts.append(self.tr("failed"))
        if message.status is MessageStatus.INCOMPLETE:
            parts.append(self.tr("incomplete"))
        if message.note:
            parts.append(message.note)
        if self.view.truncated:
            parts.append(
                self.tr("only the first {shown} characters are shown; Copy copies all").format(
                    shown=f"{DISPLAY_LIMIT:,}"
                )
            )
        return " · ".join(parts)

    def focus_order(self) -> list[QWidget]:
        """The widgets Tab goes through, in order: versions, the text, the actions."""
        header = [w for w in (self.previous_button, self.next_button) if w is not None]
        return [*header, self.view, *self.action_buttons.values()]

    # -- parts ----------------------------------------------------------------------

    def _role_name(self, role: MessageRole) -> str:
        if role is MessageRole.USER:
            return self.tr("You")
        if role is MessageRole.ASSISTANT:
            return self.tr("Assistant")
        if role is MessageRole.SYSTEM:
            return self.tr("System prompt")
        return self.tr("Note")

    def _show_versions(self, message: TranscriptMessage) -> None:
        if message.versions <= 1:
            for widget in (self.previous_button, self.version_label, self.next_button):
                if widget is not None:
                    widget.hide()
            return
        if self.version_label is None:
            self.previous_button = self._button(MessageAction.PREVIOUS_VERSION)
            self.version_label = QLabel(self)
            self.version_label.setObjectName("messageVersion")
            self.version_label.setTextFormat(Qt.TextFormat.PlainText)
            self.next_button = self._button(MessageAction.NEXT_VERSION)
            for widget in (self.previous_button, self.version_label, self.next_button):
                self._header.addWidget(widget)
            # Tab reaches them just before the text.
            QWidget.setTabOrder(self.view.previousInFocusChain(), self.previous_button)
            QWidget.setTabOrder(self.previous_button, self.next_button)
        assert self.previous_button is not None and self.next_button is not None
        self.version_label.setText(
            self.tr("{version}/{versions}").format(
                version=message.version, versions=message.versions
            )
        )
        self.version_label.setAccessibleName(
            self.tr("Version {version} of {versions}").format(
                version=message.version, versions=message.versions
            )
        )
        streaming = message.status is MessageStatus.STREAMING
        self.previous_button.setEnabled(message.version > 1 and not streaming)
        self.next_button.setEnabled(message.version < message.versions and not streaming)
        for widget in (self.previous_button, self.version_label, self.next_button):
            widget.show()

    def _button(self, action: MessageAction, parent: QWidget | None = None) -> QToolButton:
        text, name = self._action_texts(action)
        button = QToolButton(parent or self)
        button.setObjectName(f"messageAction_{action.value}")
        button.setText(text)
        button.setToolTip(name)
        button.setAccessibleName(name)
        button.setAutoRaise(True)
        button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        button.clicked.connect(lambda: self.action_requested.emit(self.message.id, action.value))
        return button

    def _action_texts(self, action: MessageAction) -> tuple[str, str]:
        """The button's text and its accessible name (also the tooltip)."""
        reply = self.message.role is MessageRole.ASSISTANT
        if action is MessageAction.COPY:
            return self.tr("Copy"), self.tr("Copy the message")
        if action is MessageAction.EDIT:
            return self.tr("Edit"), self.tr("Edit the message")
        if action is MessageAction.RESEND:
            return self.tr("Resend"), self.tr("Send the message again")
        if action is MessageAction.REGENERATE:
            return self.tr("Regenerate"), self.tr("Write the reply again")
        if action is MessageAction.CONTINUE:
            return self.tr("Continue"), self.tr("Continue the reply")
        if action is MessageAction.DELETE:
            return self.tr("Delete"), (
                self.tr("Delete the reply") if reply else self.tr("Delete the message")
            )
        if action is MessageAction.PREVIOUS_VERSION:
            return "‹", self.tr("Previous version")
        return "›", self.tr("Next version")
