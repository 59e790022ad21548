"""The chat transcript: a scrolling list of messages, Markdown replies, streamed replies.

Use (the page owns the conversation; the transcript shows it and forwards clicks):

- ``set_messages(messages)`` when a conversation opens. Only the messages near the
  end get a widget: a first few before the first paint, then more in the next turns
  of the event loop (each turn a few milliseconds) until about two screens are full;
  older ones get theirs when the user scrolls up to them. A 2,000-message
  conversation therefore paints as fast as a short one, and the loop never stalls.
- ``add_message``/``update_message``/``remove_message`` for single changes (the
  user's turn, a new version, a deletion).
- ``begin_stream(message)``, ``append_stream(text)`` (cheap: see MarkdownView),
  ``finish_stream(message)`` for the reply that streams in. The view follows the end
  only while the user is at the end; scrolling up stops that.
- ``action_requested(message_id, action)``: a message's button was clicked; the
  action is one of ``MessageAction``'s values.

The transcript follows the palette: a palette change (light/dark) renders the
messages again with colours taken from the new palette.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace

from PySide6.QtCore import QCoreApplication, QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QPalette, QShowEvent
from PySide6.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

from llmos_desktop.core.chat.markdown import MarkdownRenderer, warm_up
from llmos_desktop.ui.widgets.markdown_view import theme_from_palette
from llmos_desktop.ui.widgets.message_card import (
    MessageAction,
    MessageCard,
    MessageRole,
    MessageStatus,
    StopReason,
    TranscriptMessage,
)

__all__ = [
    "ChatTranscript",
    "MessageAction",
    "MessageCard",
    "MessageRole",
    "MessageStatus",
    "StopReason",
    "TranscriptMessage",
]


class ChatTranscript(QWidget):
    """Messages, newest at the bottom, in one scroll area; see the module docstring."""

    action_requested = Signal(str, str)
    """(message_id, action): a message's action button was clicked."""

    FIRST_SCREENS = 2.0
    """How many screens of messages ``set_messages`` makes widgets for at first."""
    TURN_BUDGET_S = 0.025
    """At most this long per turn of the event loop making message widgets (at least
    one), so opening a long conversation never stalls the loop for long: the first
    turn paints the newest messages, the next turns add the ones above."""
    MAX_BATCH = 40
    WARM_UP_DELAY_MS = 1500

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatTranscript")
        self._scroll = QScrollArea(self)
        self._scroll.setObjectName("chatTranscriptScroll")
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Always on: "as needed" makes the scroll area measure every message at two widths
        # (with and without the bar), and a new width lays a whole document out again.
        self._scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self._container = QWidget()
        self._container.setObjectName("chatTranscriptMessages")
        self._container.setBackgroundRole(QPalette.ColorRole.Base)
        self._container.setAutoFillBackground(True)
        self._layout = QVBoxLayout(self._container)
        self._layout.setContentsMargins(8, 8, 8, 8)
        self._layout.setSpacing(6)
        self._layout.addStretch(1)
        self._scroll.setWidget(self._container)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self._scroll)

        self._messages: list[TranscriptMessage] = []
        self._index: dict[str, int] = {}
        self._cards: dict[str, MessageCard] = {}
        self._first_with_card = 0  # messages before this index have no widget yet
        self._streaming_id: str | None = None
        self._follow = True
        self._fill_left = 0.0  # pixels of messages still to make widgets for after opening
        self._renderer = MarkdownRenderer(theme_from_palette(self.palette(), self.tr("Copy")))

        bar = self._scroll.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrollbar_value_changed)
        bar.rangeChanged.connect(self._on_scrollbar_range_changed)
        self._more_timer = QTimer(self)
        self._more_timer.setSingleShot(True)
        self._more_timer.timeout.connect(self._on_more_timer_timeout)
        self._palette_timer = QTimer(self)
        self._palette_timer.setSingleShot(True)
        self._palette_timer.timeout.connect(self._on_palette_timer_timeout)
        # After start-up, not during it: markdown-it and Pygments' lexers get ready on a
        # worker thread, so the first code block of a reply does not stall the window.
        QTimer.singleShot(self.WARM_UP_DELAY_MS, self, _warm_up_once)

    # -- the conversation -----------------------------------------------------------

    def set_messages(self, messages: Sequence[TranscriptMessage]) -> None:
        """Show a conversation (replacing what is shown), scrolled to its end."""
        self._remove_cards()
        self._messages = list(messages)
        self._reindex()
        self._streaming_id = next(
            (m.id for m in reversed(self._messages) if m.status is MessageStatus.STREAMING),
            None,
        )
        self._first_with_card = len(self._messages)
        self._follow = True
        self._fill_left = self.FIRST_SCREENS * self._viewport_height()
        self._fill()
        self.scroll_to_bottom()
        self._want_more()

    def messages(self) -> list[TranscriptMessage]:
        """The messages shown, with the streamed text of a reply that is streaming."""
        if self._streaming_id is None:
            return list(self._messages)
        return [self.message(m.id) or m for m in self._messages]

    def message(self, message_id: str) -> TranscriptMessage | None:
        index = self._index.get(message_id)
        if index is None:
            return None
        message = self._messages[index]
        card = self._cards.get(message_id)
        if message_id == self._streaming_id and card is not None:
            return _replace_text(message, card.view.text())
        return message

    def add_message(self, message: TranscriptMessage) -> None:
        """Add a message at the end."""
        if message.id in self._index:
            raise ValueError(f"message {message.id!r} is already shown")
        self._messages.append(message)
        self._index[message.id] = len(self._messages) - 1
        card = self._make_card(message)
        self._layout.insertWidget(self._layout.count() - 1, card)
        self._chain_tab_order(len(self._messages) - 1)
        if message.status is MessageStatus.STREAMING:
            self._streaming_id = message.id

    def update_message(self, message: TranscriptMessage) -> None:
        """Show a new state of a message (same id): text, figures, version, status."""
        index = self._index.get(message.id)
        if index is None:
            raise KeyError(message.id)
        self._messages[index] = message
        card = self._cards.get(message.id)
        if card is not None:
            card.set_message(message)
        if message.id == self._streaming_id and message.status is not MessageStatus.STREAMING:
            self._streaming_id = None

    def remove_message(self, message_id: str) -> None:
        index = self._index.pop(message_id, None)
        if index is None:
            return
        del self._messages[index]
        if index < self._first_with_card:
            self._first_with_card -= 1
        self._reindex()
        card = self._cards.pop(message_id, None)
        if card is not None:
            card.hide()
            card.deleteLater()
        if message_id == self._streaming_id:
            self._streaming_id = None

    def clear(self) -> None:
        self.set_messages([])

    # -- the reply that streams in ---------------------------------------------------

    def begin_stream(self, message: TranscriptMessage) -> None:
        """Add the reply that is about to stream in (its status is set to streaming)."""
        if message.status is not MessageStatus.STREAMING:
            message = _replace_status(message, MessageStatus.STREAMING)
        self.add_message(message)

    def append_stream(self, text: str) -> None:
        """Add streamed text to the reply begun with ``begin_stream``."""
        if self._streaming_id is None:
            raise RuntimeError("no reply is streaming")
        card = self._cards.get(self._streaming_id)
        if card is not None:
            card.append_text(text)

    def finish_stream(self, message: TranscriptMessage) -> None:
        """The reply ended: its final state (status, figures, how it stopped)."""
        if message.id != self._streaming_id:
            raise ValueError(f"message {message.id!r} is not the reply that streams")
        self.update_message(message)
        card = self._cards.get(message.id)
        if card is not None:
            card.view.flush()
        self._streaming_id = None

    @property
    def streaming_id(self) -> str | None:
        return self._streaming_id

    # -- widgets ----------------------------------------------------------------------

    def card(self, message_id: str) -> MessageCard | None:
        """The widget of a message, or None while it has none (far above the view)."""
        return self._cards.get(message_id)

    @property
    def card_count(self) -> int:
        return len(self._cards)

    @property
    def opening(self) -> bool:
        """``set_messages`` is still making widgets for the newest messages (a few turns)."""
        return self._fill_left > 0

    def scroll_to_bottom(self) -> None:
        self._follow = True
        bar = self._scroll.verticalScrollBar()
        bar.setValue(bar.maximum())

    def scroll_area(self) -> QScrollArea:
        return self._scroll

    # -- loading older messages ---------------------------------------------------------

    def _viewport_height(self) -> int:
        height = self._scroll.viewport().height()
        return height if height > 50 else 600  # not shown yet: a typical height

    def _fill(self) -> None:
        """One turn of making widgets for the newest messages, until two screens are full."""
        if not self.isVisible() and self.card_count:
            return  # goes on when shown (showEvent)
        self._fill_left -= self._load_older(self.TURN_BUDGET_S, self._fill_left, minimum=1)
        if self._fill_left > 0 and self._first_with_card > 0:
            self._more_timer.start(0)
        else:
            self._fill_left = 0

    def _load_older(self, budget_s: float, target: float, *, minimum: int = 0) -> int:
        """Make widgets for messages above the first one that has a widget.

        Stops after ``target`` pixels of new messages, ``MAX_BATCH`` widgets or
        ``budget_s`` seconds, whichever comes first (but makes at least ``minimum``).
        The view keeps showing what it showed. Returns the height added.
        """
        if self._first_with_card == 0:
            return 0
        deadline = time.perf_counter() + budget_s
        bar = self._scroll.verticalScrollBar()
        anchor = self._first_card()
        anchor_y = anchor.y() if anchor is not None else 0
        value = bar.value()
        made = 0
        height = 0
        while self._first_with_card > 0 and made < self.MAX_BATCH:
            if made >= minimum and (height >= target or time.perf_counter() > deadline):
                break
            self._first_with_card -= 1
            card = self._make_card(self._messages[self._first_with_card])
            self._layout.insertWidget(0, card)
            height += card.height() + self._layout.spacing()
            made += 1
        for index in range(self._first_with_card, self._first_with_card + made + 1):
            self._chain_tab_order(index)
        if anchor is not None and not self._follow:
            # Lay out now, then scroll by what was added above, so nothing moves.
            QCoreApplication.sendPostedEvents(self._container, QEvent.Type.LayoutRequest)
            self._layout.activate()
            bar.setValue(value + anchor.y() - anchor_y)
        return height

    def _first_card(self) -> MessageCard | None:
        if self._first_with_card >= len(self._messages):
            return None
        return self._cards.get(self._messages[self._first_with_card].id)

    def _make_card(self, message: TranscriptMessage) -> MessageCard:
        card = MessageCard(message, self._renderer, self._container)
        card.action_requested.connect(self.action_requested)
        # Sized before it is shown, so its text is laid out once, at the width it gets.
        width = max(
            200, self._scroll.viewport().width() - self._layout.contentsMargins().left() * 2
        )
        card.resize(width, card.heightForWidth(width))
        self._cards[message.id] = card
        return card

    def _chain_tab_order(self, index: int) -> None:
        """Keep Tab going through message ``index`` right after message ``index - 1``, or
        right after the scroll area when it is the first message with a widget (so Tab
        reaches the messages where they are on screen, not after the widgets made
        before them)."""
        if not 0 <= index < len(self._messages):
            return
        card = self._cards.get(self._messages[index].id)
        if card is None:
            return
        before = self._cards.get(self._messages[index - 1].id) if index > 0 else None
        previous: QWidget = before.focus_order()[-1] if before is not None else self._scroll
        for widget in card.focus_order():
            QWidget.setTabOrder(previous, widget)
            previous = widget

    def _remove_cards(self) -> None:
        self._more_timer.stop()
        for card in self._cards.values():
            card.hide()
            card.setParent(None)
            card.deleteLater()
        self._cards.clear()

    def _reindex(self) -> None:
        self._index = {m.id: i for i, m in enumerate(self._messages)}

    # -- scrolling ----------------------------------------------------------------------

    def _on_scrollbar_value_changed(self, value: int) -> None:
        bar = self._scroll.verticalScrollBar()
        self._follow = value >= bar.maximum() - 4
        self._want_more()

    def _on_scrollbar_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._follow:
            self._scroll.verticalScrollBar().setValue(maximum)
        self._want_more()

    def _want_more(self) -> None:
        """Older messages get widgets while the top is less than a screen away."""
        bar = self._scroll.verticalScrollBar()
        near_top = bar.value() < self._scroll.viewport().height()
        visible = self.isVisible()  # a hidden transcript makes no widgets in the background
        if self._first_with_card > 0 and near_top and visible and not self._more_timer.isActive():
            self._more_timer.start(0)

    def _on_more_timer_timeout(self) -> None:
        if self._fill_left > 0:
            self._fill()
            return
        bar = self._scroll.verticalScrollBar()
        height = self._viewport_height()
        if self._first_with_card > 0 and bar.value() < height and self.isVisible():
            self._load_older(self.TURN_BUDGET_S, height, minimum=1)
            if self._first_with_card > 0 and bar.value() < height:
                self._more_timer.start(0)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._fill_left > 0:
            self._more_timer.start(0)
        else:
            self._want_more()

    # -- palette --------------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._palette_timer.start(0)
        super().changeEvent(event)

    def _on_palette_timer_timeout(self) -> None:
        theme = theme_from_palette(self.palette(), self.tr("Copy"))
        if theme == self._renderer.theme:
            return
        self._renderer = MarkdownRenderer(theme)
        for card in self._cards.values():
            card.view.set_renderer(self._renderer)


def _replace_text(message: TranscriptMessage, text: str) -> TranscriptMessage:
    return replace(message, text=text)


def _replace_status(message: TranscriptMessage, status: MessageStatus) -> TranscriptMessage:
    return replace(message, status=status)


_warm_up_started = threading.Event()


def _warm_up_once() -> None:
    if not _warm_up_started.is_set():
        _warm_up_started.set()
        threading.Thread(target=warm_up, name="markdown-warm-up", daemon=True).start()
