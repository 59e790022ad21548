"""One message's text in a read-only QTextBrowser that loads nothing and opens no link itself.

Model output is untrusted (docs/architecture.md, "Untrusted input"):

- ``loadResource`` answers nothing for every URL (no file://, qrc:, http: or data:),
  so even HTML that reached the document could not read a file or call out;
- the view never follows a link (``setOpenLinks(False)``). A click on an http(s) link
  goes to the system browser through ``QDesktopServices.openUrl``; ``copy:N`` puts
  code block N on the clipboard; anything else is ignored;
- the HTML comes from ``core.chat.markdown``, which escapes all text and emits no
  image, or from ``plain_text_html``.

Streaming: ``append_text`` only stores text. Rendering happens at most every
``min_interval_s`` (longer when a render is slow) and at most ``slice_s`` per turn of
the event loop: finished chunks are inserted once at the end of the document and only
the unfinished tail is removed and inserted again, so an update costs the same at
token 4,000 as at token 100. Each piece of HTML is inserted after a 1-pixel lead
paragraph holding a zero-width space, because Qt merges the first block of inserted
HTML into the block at the cursor; the lead is what gets merged, and the chunk keeps
its own block formats (removing the tail leaves the last removed block's format on the
block at the cut, so that format is put back). The document is therefore the same
whether the text streamed in or was set at once (tests/ui/test_chat_transcript.py
compares the pixels). Copied text leaves the zero-width spaces out.

The view is exactly as tall as its document at its width (height-for-width), so a
list of them scrolls as one page.
"""

from __future__ import annotations

import logging
import math
import re
import time
from typing import Any

from PySide6.QtCore import QMimeData, QSize, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QFontDatabase,
    QGuiApplication,
    QImage,
    QPalette,
    QResizeEvent,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextOption,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QSizePolicy, QTextBrowser, QTextEdit, QWidget

from llmos_desktop.core.chat.markdown import (
    DISPLAY_LIMIT,
    MarkdownDocument,
    MarkdownRenderer,
    MarkdownTheme,
    RenderProgress,
    safe_link,
)

log = logging.getLogger(__name__)

_FONT_FAMILY = re.compile(r"[\w .+-]{1,80}")
# U+200B: invisible and without width; removed again from text that is copied.
_LEAD_CHAR = "\u200b"
_LEAD = f'<p style="margin-top:0px; margin-bottom:0px; font-size:1px">{_LEAD_CHAR}</p>'


class MarkdownView(QTextBrowser):
    """Read-only view of one message, Markdown or plain text, sized to its content."""

    code_copied = Signal(int)
    """A code block's Copy anchor put that block on the clipboard (its index)."""

    def __init__(
        self,
        renderer: MarkdownRenderer,
        *,
        markdown: bool = True,
        note: bool = False,
        slice_s: float = 0.008,
        min_interval_s: float = 0.03,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("markdownView")
        self.setReadOnly(True)
        self.setUndoRedoEnabled(False)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(self.verticalScrollBarPolicy().ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(self.horizontalScrollBarPolicy().ScrollBarAlwaysOff)
        self.viewport().setAutoFillBackground(False)
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        # The view decides the width its text is laid out at (see heightForWidth):
        # QTextEdit would lay the text out again at every width it is given on the way.
        self.setLineWrapMode(QTextEdit.LineWrapMode.FixedPixelWidth)
        self.setLineWrapColumnOrWidth(400)
        document = self.document()
        document.setDocumentMargin(2)
        document.setIndentWidth(20)
        self.anchorClicked.connect(self._on_view_anchor_clicked)

        self._renderer = renderer
        self._markdown = markdown
        self._note = note
        self.slice_s = slice_s
        # Qt lays out what was inserted after the slice; a few thousand characters of
        # text take it a few milliseconds.
        self.slice_chars = 6_000
        self.min_interval_s = min_interval_s
        self._interval_s = min_interval_s
        self._pieces: list[str] = []
        self._length = 0
        self._doc: MarkdownDocument | None = None
        self._tail_inserted = False
        self._stable_pos = 0
        self._stable_formats: tuple[QTextBlockFormat, QTextCharFormat] | None = None
        self._last_render = 0.0
        self._measured: tuple[int, int] | None = None  # (width, height)
        self._widest = 0  # the widest width measured: narrower ones are estimated
        self._last_measure = (1, 0)
        self.refused_resources = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timer_timeout)

    # -- content --------------------------------------------------------------------

    def text(self) -> str:
        """All the text given, also the part beyond what is shown."""
        if len(self._pieces) > 1:
            self._pieces = ["".join(self._pieces)]
        return self._pieces[0] if self._pieces else ""

    @property
    def truncated(self) -> bool:
        """Only the first ``DISPLAY_LIMIT`` characters are shown."""
        return self._length > DISPLAY_LIMIT

    @property
    def rendering(self) -> bool:
        """Text is waiting to be rendered (a slice or an update is scheduled)."""
        return self._timer.isActive() or (self._doc is not None and not self._doc.up_to_date)

    def set_renderer(self, renderer: MarkdownRenderer) -> None:
        """Render again with another theme (a palette change)."""
        self._renderer = renderer
        self.set_text(self.text())

    def set_text(self, text: str) -> None:
        """Show ``text`` instead of what is shown; a long text renders over a few turns."""
        self._timer.stop()
        self._pieces = [text]
        self._length = len(text)
        self._tail_inserted = False
        self._stable_pos = 0
        self._stable_formats = None
        self.document().clear()
        streaming = self._doc.streaming if self._doc is not None else False
        self._doc = MarkdownDocument(
            self._renderer, text, markdown=self._markdown, note=self._note, streaming=streaming
        )
        self._render_slice()

    def append_text(self, piece: str) -> None:
        """Add streamed text; it is rendered soon (``flush`` renders it now)."""
        if not piece:
            return
        if self._doc is None:
            self.set_text(self.text() + piece)
            return
        self._pieces.append(piece)
        self._length += len(piece)
        self._doc.append(piece)
        if not self._timer.isActive():
            wait = self._last_render + self._interval_s - time.perf_counter()
            self._timer.start(max(0, math.ceil(wait * 1000)))

    def flush(self) -> None:
        """Render everything given so far, now."""
        self._timer.stop()
        if self._doc is not None:
            self._apply(self._doc.render())

    def shown_text(self) -> str:
        """The text as shown (what select-all and copy give)."""
        return _clean(self.toPlainText())

    def createMimeDataFromSelection(self) -> QMimeData:
        data = super().createMimeDataFromSelection()
        if data.hasText():
            data.setText(_clean(data.text()))
        return data

    def set_streaming(self, streaming: bool) -> None:
        """While a reply streams, a long unfinished tail is shown without the costly parts."""
        if self._doc is not None and self._doc.streaming != streaming:
            self._doc.set_streaming(streaming)
            if not self._timer.isActive():
                self._timer.start(0)

    def code_block(self, index: int) -> str | None:
        """The code of the code block that ``copy:index`` names."""
        code = self._doc.code_blocks() if self._doc is not None else []
        return code[index] if 0 <= index < len(code) else None

    # -- safety ---------------------------------------------------------------------

    def loadResource(self, kind: int, name: QUrl | str) -> Any:
        """Nothing is ever loaded: no file, no qrc, no network, no data URL.

        The answer must not be empty: for an empty (null) answer QTextDocument reads a
        local file itself. A 1-pixel transparent image, or a blank, is loaded instead.
        """
        self.refused_resources += 1
        url = name.toString() if isinstance(name, QUrl) else name
        log.debug("refused to load a resource for a message: %s", url[:200])
        if kind == int(QTextDocument.ResourceType.ImageResource):
            return _blank_image()
        return " "

    def _on_view_anchor_clicked(self, url: QUrl) -> None:
        if url.scheme() == "copy":
            path = url.path()
            code = self.code_block(int(path)) if path.isdigit() and len(path) < 9 else None
            if code is not None:
                QGuiApplication.clipboard().setText(code)
                self.code_copied.emit(int(path))
            return
        if safe_link(url.toString(QUrl.ComponentFormattingOption.FullyEncoded)):
            QDesktopServices.openUrl(url)
            return
        log.info("ignored a link that is not http(s): %s", url.scheme()[:40])

    # -- size -----------------------------------------------------------------------

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        """The height of the text at ``width``.

        Laying a document out at another width costs as much as laying it out anew, and
        layouts ask at many widths (their minimum sizes ask at the narrowest). So a width
        much narrower than the one the text is laid out at gets an estimate; the width
        the view really gets is measured (and is the one its document is laid out at).
        """
        margins = self.contentsMargins()
        extra = margins.top() + margins.bottom()
        inner = max(1, width - margins.left() - margins.right())
        if self._measured is not None and self._measured[0] == inner:
            return self._measured[1] + extra
        document = self.document()
        if inner < 0.75 * self._widest:
            # The last measure, also from before the text changed: this is a guess anyway.
            measured_width, measured_height = self._last_measure
            return math.ceil(measured_height * measured_width / inner) + extra
        if self.lineWrapColumnOrWidth() != inner:  # setting it lays all the text out again
            self.setLineWrapColumnOrWidth(inner)
        self._measured = self._last_measure = (inner, math.ceil(document.size().height()))
        self._widest = max(self._widest, inner)
        return self._measured[1] + extra

    def sizeHint(self) -> QSize:
        # Layouts use heightForWidth for the height; this must not lay the text out.
        height = self._measured[1] if self._measured is not None else 40
        return QSize(400, height)

    def minimumSizeHint(self) -> QSize:
        return QSize(40, 0)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        width = self.viewport().width()
        if width != self.lineWrapColumnOrWidth():
            self.setLineWrapColumnOrWidth(width)
            self._widest = width  # a narrower window: measured at its width from now on
            self._content_changed()

    def wheelEvent(self, event: QWheelEvent) -> None:
        event.ignore()  # the transcript scrolls; this view is as tall as its text

    # -- rendering ------------------------------------------------------------------

    def _on_timer_timeout(self) -> None:
        self._render_slice()

    def _render_slice(self) -> None:
        if self._doc is None:
            return
        started = time.perf_counter()
        progress = self._doc.render(started + self.slice_s, max_chars=self.slice_chars)
        self._apply(progress)
        now = time.perf_counter()
        self._last_render = now
        # A slow render (a long unfinished tail) is repeated less often.
        self._interval_s = min(0.25, max(self.min_interval_s, 2 * (now - started)))
        if not progress.done:
            self._timer.start(0)

    def _apply(self, progress: RenderProgress) -> None:
        if not progress.new_chunks and progress.tail is None:
            return
        assert self._doc is not None
        cursor = QTextCursor(self.document())
        cursor.beginEditBlock()
        if self._tail_inserted and self._stable_formats is not None:
            cursor.setPosition(self._stable_pos)
            cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()
            # Removing blocks leaves the last removed block's format on the block at the
            # cut; put back the format it had.
            cursor.setBlockFormat(self._stable_formats[0])
            cursor.setBlockCharFormat(self._stable_formats[1])
            self._tail_inserted = False
        else:
            cursor.movePosition(QTextCursor.MoveOperation.End)
        for chunk in progress.new_chunks:
            if chunk.html:
                cursor.insertHtml(_LEAD + chunk.html)
        if progress.new_chunks or self._stable_formats is None:
            self._stable_pos = cursor.position()
            self._stable_formats = (cursor.blockFormat(), cursor.blockCharFormat())
        if progress.tail is not None and progress.tail.html:
            cursor.insertHtml(_LEAD + progress.tail.html)
            self._tail_inserted = True
        cursor.endEditBlock()
        self._set_wrap(self._doc.long_words)
        self._content_changed()

    def _set_wrap(self, anywhere: bool) -> None:
        # Qt's line breaking is quadratic in a word longer than a line; such text wraps
        # anywhere instead (see core.chat.markdown.LONG_WORD).
        mode = (
            QTextOption.WrapMode.WrapAnywhere
            if anywhere
            else QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere
        )
        if self.wordWrapMode() != mode:
            self.setWordWrapMode(mode)

    def _content_changed(self) -> None:
        self._measured = None
        self.updateGeometry()


def theme_from_palette(palette: QPalette, copy_label: str) -> MarkdownTheme:
    """The Markdown colours for a palette: text on Base, code on a shade of Base."""
    base = palette.color(QPalette.ColorRole.Base)
    text = palette.color(QPalette.ColorRole.Text)
    dark = base.lightnessF() < 0.5
    family = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont).family()
    return MarkdownTheme(
        text=text.name(),
        muted=_mix(base, text, 0.62),
        link=palette.color(QPalette.ColorRole.Link).name(),
        code_background=_mix(base, text, 0.09 if dark else 0.05),
        border=_mix(base, text, 0.25),
        dark=dark,
        monospace=family if _FONT_FAMILY.fullmatch(family) else "monospace",
        copy_label=copy_label,
    )


def _mix(base: QColor, other: QColor, amount: float) -> str:
    def channel(a: float, b: float) -> int:
        return round(255 * (a + (b - a) * amount))

    return QColor(
        channel(base.redF(), other.redF()),
        channel(base.greenF(), other.greenF()),
        channel(base.blueF(), other.blueF()),
    ).name()


_BLANK_IMAGE: list[QImage] = []


def _blank_image() -> QImage:
    if not _BLANK_IMAGE:
        image = QImage(1, 1, QImage.Format.Format_ARGB32)
        image.fill(QColor(0, 0, 0, 0))
        _BLANK_IMAGE.append(image)
    return _BLANK_IMAGE[0]


def _clean(text: str) -> str:
    """Text without the lead characters the view inserts (see the module docstring)."""
    text = text.replace(_LEAD_CHAR, "")
    return text[1:] if text.startswith("\n") else text
