"""Model output as Markdown, in the HTML subset that Qt's rich-text engine renders.

Model output is untrusted. It is parsed by markdown-it-py (CommonMark plus tables and
strikethrough) with raw HTML off, and turned into HTML by our own writer, which knows
every token it emits: text is always escaped, there is never an image (an image becomes
its alt text), and a link survives only for http(s); any other link is plain text.
Code blocks are highlighted by Pygments (the lexer named by the fence, no guessing)
and carry a Copy anchor ``copy:N`` that the widget intercepts.

Streaming: a reply grows a few characters at a time, and rendering all of it again on
every update would make token 4,000 cost forty times token 100. So the text is cut
into *chunks* at places where no later text can change what came before: a blank
line followed by a line that starts in column 0, is not a list item (a loose list
continues after a blank line) and is not inside a fenced code block. Each such cut is
confirmed by markdown-it itself (a top-level block must start on that line), so the
cut never splits what markdown-it would render as one block. A finished chunk is
rendered once and kept; only the unfinished tail is rendered on each update.
Rendering the whole text at once runs the same cutting, so the result is the same
HTML however the text arrived (tests/unit/core/chat/test_markdown.py checks it).
Link reference definitions apply within their chunk only.

Bounds against hostile output: only the first ``DISPLAY_LIMIT`` characters of a
message are rendered; a chunk longer than ``CHUNK_LIMIT``, nested deeper than
``NESTING_LIMIT`` or with a table of more than ``TABLE_CELL_LIMIT`` cells is shown as
escaped plain text; a code block longer than ``HIGHLIGHT_LIMIT`` is not highlighted.
Rendering can stop at a deadline and resume, so a widget can spread a big message
over several turns of the event loop.

Qt-free: the widget passes the palette's colours in a ``MarkdownTheme``.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token
    from pygments.lexer import Lexer

__all__ = [
    "CHUNK_LIMIT",
    "DISPLAY_LIMIT",
    "HIGHLIGHT_LIMIT",
    "NESTING_LIMIT",
    "PLAIN_CHUNK",
    "STREAMING_TAIL_LIMIT",
    "TABLE_CELL_LIMIT",
    "MarkdownDocument",
    "MarkdownRenderer",
    "MarkdownTheme",
    "RenderProgress",
    "RenderedChunk",
    "has_long_word",
    "plain_text_html",
    "render_markdown",
    "safe_link",
    "warm_up",
]

DISPLAY_LIMIT = 100_000
"""Characters of one message that are rendered; the rest is not shown (Copy has it all)."""
CHUNK_LIMIT = 16_000
"""A chunk (see the module docstring) is cut here at the latest, and shown as plain text."""
HIGHLIGHT_LIMIT = 12_000
"""A code block longer than this is shown without highlighting."""
NESTING_LIMIT = 20
"""Block nesting (markdown-it token levels; a list level costs two) beyond: plain text."""
TABLE_CELL_LIMIT = 400
"""A chunk whose tables have more cells than this is shown as plain text."""
STREAMING_TAIL_LIMIT = 4_000
"""While a reply streams, an unfinished tail longer than this is shown without the costly
parts (an open code block unhighlighted, anything else as plain text), because it is
rendered again on every update; it is rendered in full once it is finished."""
PLAIN_CHUNK = 4_000
"""Plain text (what the user typed, a system prompt) is inserted in pieces this long."""
LONG_WORD = 1_000
"""Qt's line breaking is quadratic in the length of a word that does not fit on a line
(a 200,000-character word takes seconds); a chunk with a longer run of non-blank
characters says so (``RenderedChunk.long_words``) and the view wraps anywhere."""

# markdown-it stops descending at maxNesting and drops the rest of the input; it must
# stay above NESTING_LIMIT, so that a chunk that reaches it is caught and shown as text.
_PARSER_MAX_NESTING = NESTING_LIMIT + 8
_LANGUAGE_LIMIT = 40

_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
_FONT_FAMILY = re.compile(r"[\w .+-]{1,80}")
_FENCE_OPEN = re.compile(r" {0,3}(`{3,}|~{3,})")
_LIST_MARKER = re.compile(r"(?:[-+*]|\d{1,9}[.)])(?:[ \t]|$)")
_LONG_WORD = re.compile(rf"\S{{{LONG_WORD}}}")

_LIGHT_CODE_STYLE = "default"
_DARK_CODE_STYLE = "github-dark"


@dataclass(frozen=True)
class MarkdownTheme:
    """Colours (``#rrggbb``) and fonts for the HTML; the widget fills it from its palette.

    ``copy_label`` is the (translated) text of a code block's Copy anchor.
    ``code_style`` names a Pygments style; empty picks one for ``dark``.
    """

    text: str = "#1f1f1f"
    muted: str = "#6b6b6b"
    link: str = "#0b57d0"
    code_background: str = "#f3f3f3"
    border: str = "#d0d0d0"
    dark: bool = False
    monospace: str = "monospace"
    copy_label: str = "Copy"
    code_style: str = ""

    def __post_init__(self) -> None:
        for name in ("text", "muted", "link", "code_background", "border"):
            value = getattr(self, name)
            if not _COLOUR.fullmatch(value):
                raise ValueError(f"{name} must be a colour written #rrggbb, not {value!r}")
        if not _FONT_FAMILY.fullmatch(self.monospace):
            raise ValueError(f"not a font family name: {self.monospace!r}")

    @property
    def pygments_style(self) -> str:
        return self.code_style or (_DARK_CODE_STYLE if self.dark else _LIGHT_CODE_STYLE)


@dataclass(frozen=True)
class RenderedChunk:
    """The HTML of one chunk and the code of its code blocks (``copy:N`` indexes them).

    ``long_words``: the chunk has a run of non-blank characters of ``LONG_WORD`` or more.
    """

    html: str
    code: tuple[str, ...] = ()
    long_words: bool = False


@dataclass
class RenderProgress:
    """What one ``MarkdownDocument.render`` call produced.

    ``new_chunks`` were finished since the last call: they never change again. ``tail``
    is the HTML of the unfinished rest, or None when the deadline came before it was
    rendered (``done`` is then False and the next call goes on).
    """

    new_chunks: list[RenderedChunk] = field(default_factory=list)
    tail: RenderedChunk | None = None
    done: bool = True


def safe_link(url: str) -> bool:
    """Whether ``url`` may be offered as a link: http(s) with a host, nothing else."""
    if len(url) > 4096 or any(ord(c) < 0x21 for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def has_long_word(text: str) -> bool:
    """Whether ``text`` has a run of ``LONG_WORD`` or more non-blank characters."""
    return _LONG_WORD.search(text) is not None


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def plain_text_html(
    text: str,
    theme: MarkdownTheme,
    *,
    monospace: bool = False,
    note: bool = False,
    margin: int = 8,
) -> str:
    """``text`` as one escaped paragraph that keeps its line breaks and spaces.

    ``note``: in the muted colour and italic, for remarks that are not a message.
    ``margin``: pixels below the paragraph.
    """
    style = f"margin-top:0px; margin-bottom:{int(margin)}px; white-space:pre-wrap;"
    if monospace:
        style += f" font-family:'{theme.monospace}';"
    if note:
        style += f" font-style:italic; color:{theme.muted};"
    body = _escape(text.replace("\x00", "\ufffd"))
    return f'<p style="{style}">{body}</p>'


@lru_cache(maxsize=1)
def _lexer_names() -> dict[str, str]:
    """Lower-case alias -> lexer name, of Pygments' own lexers (no plug-in scan per miss)."""
    from pygments.lexers import get_all_lexers

    names: dict[str, str] = {}
    for name, aliases, *_rest in get_all_lexers(plugins=False):
        for alias in aliases:
            names.setdefault(alias.lower(), name)
    return names


@lru_cache(maxsize=64)
def _lexer(language: str) -> Lexer | None:
    from pygments.lexers import find_lexer_class

    name = _lexer_names().get(language.lower())
    lexer_class = find_lexer_class(name) if name else None
    if lexer_class is None:
        return None
    lexer: Lexer = lexer_class(stripnl=False, ensurenl=True)
    return lexer


def _markdown_parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    parser = MarkdownIt(
        "commonmark",
        {"html": False, "linkify": False, "typographer": False, "maxNesting": _PARSER_MAX_NESTING},
    )
    parser.enable(["table", "strikethrough"])
    return parser


class _TooComplex(Exception):
    """A chunk beyond a bound: it is shown as plain text."""


class MarkdownRenderer:
    """Renders one chunk of Markdown (or plain text) to Qt-friendly HTML for a theme."""

    def __init__(self, theme: MarkdownTheme | None = None) -> None:
        self.theme = theme or MarkdownTheme()
        self._parser: MarkdownIt | None = None  # markdown-it is imported at the first parse
        self._token_styles: dict[Any, tuple[str, str]] = {}
        self._style: Any = None

    def render_chunk(
        self, source: str, first_code: int = 0, tokens: Sequence[Token] | None = None
    ) -> RenderedChunk:
        """The HTML of ``source``; its code blocks are numbered from ``first_code``.

        ``tokens``: markdown-it's tokens of ``source`` when the caller has them already.
        """
        if not source.strip():
            return RenderedChunk("")
        long_words = has_long_word(source)
        if too_complex(source):
            return RenderedChunk(self.plain(source), long_words=long_words)
        if tokens is None:
            tokens = self.parse(source)
        try:
            _check_bounds(tokens)
            writer = _HtmlWriter(self, first_code)
            writer.blocks(tokens)
        except _TooComplex:
            return RenderedChunk(self.plain(source), long_words=long_words)
        return RenderedChunk("".join(writer.out), tuple(writer.code), long_words)

    def parse(self, source: str) -> list[Token]:
        if self._parser is None:
            self._parser = _markdown_parser()
        return self._parser.parse(source)

    def plain(self, text: str) -> str:
        return plain_text_html(text, self.theme, monospace=True)

    def code_box(self, code: str, language: str, index: int, *, highlight: bool = True) -> str:
        """A code block: its language, a ``copy:index`` anchor, the code (highlighted)."""
        theme = self.theme
        language = language[:_LANGUAGE_LIMIT]
        if not code:
            body = "&nbsp;"
        elif highlight:
            body = self.highlight(code, language)
        else:
            body = _escape(code)
        label = _escape(language) if language else "&nbsp;"
        return (
            f'<table width="100%" cellspacing="0" cellpadding="0" bgcolor="{theme.code_background}" '
            'style="margin-top:4px; margin-bottom:10px">'
            '<tr><td style="padding-left:10px; padding-top:5px">'
            f'<span style="color:{theme.muted}; font-size:small">{label}</span></td>'
            '<td align="right" style="padding-right:10px; padding-top:5px">'
            f'<a href="copy:{index}" style="font-size:small">{_escape(theme.copy_label)}</a>'
            "</td></tr>"
            '<tr><td colspan="2" style="padding-left:10px; padding-right:10px; padding-bottom:8px">'
            '<pre style="margin-top:2px; margin-bottom:0px; white-space:pre-wrap; '
            f"font-family:'{theme.monospace}'\">{body}</pre></td></tr></table>"
        )

    def highlight(self, code: str, language: str) -> str:
        """Escaped HTML of ``code``, coloured when ``language`` names a Pygments lexer."""
        too_big = len(code) > HIGHLIGHT_LIMIT or _LONG_WORD.search(code) is not None
        lexer = _lexer(language) if language and not too_big else None
        if lexer is None:
            return _escape(code)
        pieces: list[tuple[tuple[str, str], str]] = []
        for token_type, value in lexer.get_tokens(code):
            span = self._token_span(token_type)
            if pieces and pieces[-1][0] == span:
                pieces[-1] = (span, pieces[-1][1] + value)
            else:
                pieces.append((span, value))
        # The lexer's ensurenl added a newline that the code does not have.
        if pieces and pieces[-1][1].endswith("\n") and not code.endswith("\n"):
            pieces[-1] = (pieces[-1][0], pieces[-1][1][:-1])
        return "".join(
            f"{span[0]}{_escape(value)}{span[1]}" if span[0] else _escape(value)
            for span, value in pieces
            if value
        )

    def _token_span(self, token_type: Any) -> tuple[str, str]:
        span = self._token_styles.get(token_type)
        if span is not None:
            return span
        if self._style is None:
            from pygments.styles import get_style_by_name
            from pygments.util import ClassNotFound

            try:
                self._style = get_style_by_name(self.theme.pygments_style)
            except ClassNotFound:
                self._style = get_style_by_name(
                    _DARK_CODE_STYLE if self.theme.dark else _LIGHT_CODE_STYLE
                )
        found = self._style.style_for_token(token_type)
        css = []
        if found.get("color"):
            css.append(f"color:#{found['color']}")
        if found.get("bold"):
            css.append("font-weight:bold")
        if found.get("italic"):
            css.append("font-style:italic")
        span = (f'<span style="{"; ".join(css)}">', "</span>") if css else ("", "")
        self._token_styles[token_type] = span
        return span


def _check_bounds(tokens: Sequence[Token]) -> None:
    cells = 0
    for token in tokens:
        if token.level > NESTING_LIMIT:
            raise _TooComplex
        if token.type in ("td_open", "th_open"):
            cells += 1
            if cells > TABLE_CELL_LIMIT:
                raise _TooComplex


class _HtmlWriter:
    """Walks markdown-it tokens and writes only HTML it knows Qt renders well."""

    def __init__(self, renderer: MarkdownRenderer, first_code: int) -> None:
        self.renderer = renderer
        self.theme = renderer.theme
        self.first_code = first_code
        self.out: list[str] = []
        self.code: list[str] = []
        self._links: list[bool] = []
        self._lists = 0  # lists open around the current token

    def blocks(self, tokens: Sequence[Token]) -> None:
        theme = self.theme
        out = self.out
        for token in tokens:
            kind = token.type
            if kind == "inline":
                self.inline(token.children or ())
            elif kind == "paragraph_open":
                if not token.hidden:
                    out.append('<p style="margin-top:0px; margin-bottom:8px">')
            elif kind == "paragraph_close":
                if not token.hidden:
                    out.append("</p>")
            elif kind == "heading_open":
                out.append(_HEADINGS.get(token.tag, _HEADINGS["h6"]))
            elif kind == "heading_close":
                out.append("</span></p>")
            elif kind == "bullet_list_open":
                out.append(f'<ul style="margin-top:0px; margin-bottom:{self._list_margin()}px">')
                self._lists += 1
            elif kind == "bullet_list_close":
                self._lists -= 1
                out.append("</ul>")
            elif kind == "ordered_list_open":
                start = token.attrGet("start")
                number = int(start) if isinstance(start, int | str) and str(start).isdigit() else 1
                margin = self._list_margin()
                out.append(
                    f'<ol start="{number}" style="margin-top:0px; margin-bottom:{margin}px">'
                )
                self._lists += 1
            elif kind == "ordered_list_close":
                self._lists -= 1
                out.append("</ol>")
            elif kind == "list_item_open":
                out.append("<li>")
            elif kind == "list_item_close":
                out.append("</li>")
            elif kind == "blockquote_open":
                # Qt draws no left border on a block, so a quote is a two-cell table: a
                # thin bar in the border colour, then the quoted text in the muted colour.
                out.append(
                    '<table cellspacing="0" cellpadding="0" style="margin-top:4px; margin-bottom:8px">'
                    f'<tr><td width="3" bgcolor="{theme.border}"></td>'
                    f'<td style="padding-left:10px; color:{theme.muted}">'
                )
            elif kind == "blockquote_close":
                out.append("</td></tr></table>")
            elif kind == "hr":
                # The empty paragraph keeps the rule a block of its own when the next
                # chunk is inserted after it (see ui/widgets/markdown_view.py).
                out.append(f"<hr />{_SPACER}")
            elif kind in ("fence", "code_block"):
                self.code_box(token)
            elif kind == "table_open":
                out.append(
                    '<table cellspacing="0" cellpadding="5" style="border-collapse:collapse; '
                    'margin-top:6px; margin-bottom:10px">'
                )
            elif kind == "table_close":
                out.append("</table>")
            elif kind in ("thead_open", "thead_close", "tbody_open", "tbody_close"):
                continue
            elif kind == "tr_open":
                out.append("<tr>")
            elif kind == "tr_close":
                out.append("</tr>")
            elif kind in ("th_open", "td_open"):
                # Qt drops a table's border attribute under border-collapse; borders on
                # each cell give single lines.
                cell = "th" if kind == "th_open" else "td"
                align = _ALIGN.get(str(token.attrGet("style") or ""), "")
                shade = f' bgcolor="{theme.code_background}"' if cell == "th" else ""
                out.append(f'<{cell}{align}{shade} style="border:1px solid {theme.border}">')
            elif kind in ("th_close", "td_close"):
                out.append(f"</{'th' if kind == 'th_close' else 'td'}>")
            else:  # html_block (never with html off) or anything new: its text, escaped
                if token.content:
                    out.append(plain_text_html(token.content, theme))

    def _list_margin(self) -> int:
        """A nested list adds no space below it; the outer list does."""
        return 0 if self._lists else 8

    def code_box(self, token: Token) -> None:
        code = token.content[:-1] if token.content.endswith("\n") else token.content
        index = self.first_code + len(self.code)
        self.code.append(code)
        info = token.info.strip()
        language = info.split(maxsplit=1)[0] if info else ""
        self.out.append(self.renderer.code_box(code, language, index))

    def inline(self, children: Iterable[Token]) -> None:
        theme = self.theme
        out = self.out
        for token in children:
            kind = token.type
            if kind in ("text", "text_special"):
                out.append(_escape(token.content))
            elif kind == "softbreak":
                out.append("\n")
            elif kind == "hardbreak":
                out.append("<br />")
            elif kind == "code_inline":
                out.append(
                    f"<span style=\"font-family:'{theme.monospace}'; "
                    f'background-color:{theme.code_background}">{_escape(token.content)}</span>'
                )
            elif kind in _INLINE_TAGS:
                out.append(_INLINE_TAGS[kind])
            elif kind == "link_open":
                href = str(token.attrGet("href") or "")
                linked = safe_link(href)
                self._links.append(linked)
                if linked:
                    out.append(f'<a href="{html.escape(href, quote=True)}">')
            elif kind == "link_close":
                if self._links and self._links.pop():
                    out.append("</a>")
            elif kind == "image":
                self.image(token)
            else:  # html_inline (never with html off) or anything new: its text, escaped
                out.append(_escape(token.content))

    def image(self, token: Token) -> None:
        """No image is ever loaded: its alt text, as a link when the source is http(s)."""
        alt = _escape("".join(_plain_text(token.children or ())))
        src = str(token.attrGet("src") or "")
        inside_link = any(self._links)
        if safe_link(src) and not inside_link:
            self.out.append(f'<a href="{html.escape(src, quote=True)}">{alt or _escape(src)}</a>')
        else:
            self.out.append(alt)


def _plain_text(children: Iterable[Token]) -> Iterable[str]:
    for token in children:
        if token.type in ("text", "text_special", "code_inline"):
            yield token.content
        elif token.type in ("softbreak", "hardbreak"):
            yield " "
        elif token.children:
            yield from _plain_text(token.children)


_SPACER = '<p style="margin-top:0px; margin-bottom:4px; font-size:1px">&nbsp;</p>'
_HEADINGS = {
    "h1": '<p style="margin-top:6px; margin-bottom:8px"><span style="font-size:x-large; font-weight:600">',
    "h2": '<p style="margin-top:6px; margin-bottom:6px"><span style="font-size:large; font-weight:600">',
    "h3": '<p style="margin-top:4px; margin-bottom:6px"><span style="font-size:medium; font-weight:600">',
    "h4": '<p style="margin-top:4px; margin-bottom:4px"><span style="font-weight:600">',
    "h5": '<p style="margin-top:4px; margin-bottom:4px"><span style="font-weight:600">',
    "h6": '<p style="margin-top:4px; margin-bottom:4px"><span style="font-weight:600; font-style:italic">',
}
_ALIGN = {
    "text-align:left": ' align="left"',
    "text-align:center": ' align="center"',
    "text-align:right": ' align="right"',
}
_INLINE_TAGS = {
    "em_open": "<i>",
    "em_close": "</i>",
    "strong_open": "<b>",
    "strong_close": "</b>",
    "s_open": "<s>",
    "s_close": "</s>",
}


class MarkdownDocument:
    """The rendered form of one message's text, kept up to date as the text grows.

    ``append`` only stores text. ``render`` looks at the lines that ended since the last
    call, cuts finished chunks off (see the module docstring), renders each once, then
    renders the unfinished tail; with a deadline it stops between two steps (a cut or
    a chunk) and the next call goes on from there.

    ``markdown=False`` shows the text as typed (plain text; ``note`` in the muted
    colour, italic), cut every ``PLAIN_CHUNK`` characters (at a line end when there is
    one) so that a long text, too, is inserted a piece at a time.
    """

    def __init__(
        self,
        renderer: MarkdownRenderer,
        text: str = "",
        *,
        markdown: bool = True,
        note: bool = False,
        streaming: bool = False,
        limit: int = DISPLAY_LIMIT,
    ) -> None:
        self.renderer = renderer
        self.markdown = markdown
        self.streaming = streaming
        self.note = note
        self.limit = limit
        self.text = ""
        self.truncated = False
        self.chunks: list[RenderedChunk] = []
        self.tail = RenderedChunk("")
        self._code_count = 0
        self._tail_start = 0  # where the unfinished chunk begins
        self._scan_pos = 0  # start of the first line not looked at yet
        self._fence: tuple[str, int] | None = None
        self._fence_start = 0  # where the line that opened that fence begins
        self._previous_blank = False
        self._pipes = 0  # "|" in the unfinished chunk's lines looked at (table cells)
        # Finished chunks not rendered yet: start, end, and markdown-it's tokens when the
        # cut was confirmed by parsing (they are the chunk's own tokens; see _cut_before).
        # Finished chunks shown as plain text have no tokens and ``plain`` set.
        self._pending: list[tuple[int, int, list[Token] | None, bool]] = []
        self._tail_dirty = True
        self._total = 0
        self.append(text)

    @property
    def total_length(self) -> int:
        """Length of all the text given, also what is beyond ``limit``."""
        return self._total

    @property
    def long_words(self) -> bool:
        """Whether any rendered chunk (or the tail) has a run of ``LONG_WORD`` characters."""
        return self.tail.long_words or any(chunk.long_words for chunk in self.chunks)

    @property
    def up_to_date(self) -> bool:
        """Everything appended has been rendered."""
        return not self._tail_dirty

    def append(self, piece: str) -> None:
        self._total += len(piece)
        room = self.limit - len(self.text)
        if room <= 0:
            self.truncated = self.truncated or bool(piece)
            return
        if len(piece) > room:
            piece = piece[:room]
            self.truncated = True
        if piece:
            self.text += piece
            self._tail_dirty = True

    def set_streaming(self, streaming: bool) -> None:
        """Whether the text still grows (see ``STREAMING_TAIL_LIMIT``)."""
        if streaming != self.streaming:
            self.streaming = streaming
            self._tail_dirty = True

    def code_blocks(self) -> list[str]:
        """The code of every code block rendered so far, by ``copy:N`` index."""
        code = [c for chunk in self.chunks for c in chunk.code]
        return code + list(self.tail.code)

    def html(self) -> str:
        """All the HTML rendered so far (call ``render`` first)."""
        return "".join(chunk.html for chunk in self.chunks) + self.tail.html

    def render(self, deadline: float | None = None, max_chars: int | None = None) -> RenderProgress:
        """Render what changed since the last call.

        After ``deadline`` (a ``time.perf_counter()`` value), or once chunks of
        ``max_chars`` characters were rendered in this call (Qt will lay them out, which
        takes time too), it stops between two steps. At least one chunk is rendered
        per call, so a caller that calls again always gets further.
        """
        progress = RenderProgress()
        if not self._tail_dirty:
            return progress
        rendered = 0
        while True:
            if progress.new_chunks and (
                (deadline is not None and time.perf_counter() > deadline)
                or (max_chars is not None and rendered >= max_chars)
            ):
                progress.done = False
                return progress
            if self._pending:
                start, end, tokens, plain = self._pending.pop(0)
                rendered += end - start
                chunk = self._render(self.text[start:end], tokens, plain)
                self._code_count += len(chunk.code)
                self.chunks.append(chunk)
                progress.new_chunks.append(chunk)
            elif not self._cut_next():
                break
        self.tail = self._render_tail()
        self._tail_dirty = False
        progress.tail = self.tail
        return progress

    def _render(self, source: str, tokens: list[Token] | None, plain: bool) -> RenderedChunk:
        if not plain:
            return self.renderer.render_chunk(source, self._code_count, tokens)
        if not source:
            return RenderedChunk("")
        # A piece ends with the line break that separates it from the next one; the
        # paragraph break shows it.
        shown = source[:-1] if source.endswith("\n") else source
        return RenderedChunk(
            plain_text_html(
                shown, self.renderer.theme, monospace=self.markdown, note=self.note, margin=0
            ),
            long_words=has_long_word(shown),
        )

    def _render_tail(self) -> RenderedChunk:
        source = self.text[self._tail_start :]
        if not (self.markdown and self.streaming and len(source) > STREAMING_TAIL_LIMIT):
            return self._render(source, None, not self.markdown)
        long_words = has_long_word(source)
        if self._fence is not None and self._fence_start == self._tail_start:
            # An open code block: shown as code, highlighted once it is finished.
            first, _, code = source.partition("\n")
            info = first.strip().lstrip(self._fence[0]).strip()
            language = info.split(maxsplit=1)[0] if info else ""
            html = self.renderer.code_box(code, language, self._code_count, highlight=False)
            return RenderedChunk(html, (code,), long_words)
        return RenderedChunk(self.renderer.plain(source), long_words=long_words)

    def _cut_next(self) -> bool:
        """Look at the lines that ended since the last look until one ends a chunk.

        False when no chunk was finished and no complete line is left to look at.
        """
        if not self.markdown:
            return self._cut_plain()
        text = self.text
        pending = len(self._pending)
        while len(self._pending) == pending:
            limit = self._tail_start + CHUNK_LIMIT
            end = text.find("\n", self._scan_pos, limit)
            if end >= 0:
                start = self._scan_pos
                self._scan_pos = end + 1
                self._scan_line(text[start:end], start)
            elif len(text) >= limit:
                # No line ends in CHUNK_LIMIT characters: plain text, even inside a line.
                self._cut_plain_pieces(limit)
                self._scan_pos = max(self._scan_pos, limit)
                self._reset_scan()
            else:
                return False
        return True

    def _cut_plain(self) -> bool:
        """Plain text: a piece of at most PLAIN_CHUNK characters, up to a line end if any."""
        if len(self.text) <= self._tail_start + PLAIN_CHUNK:
            return False
        self._cut_plain_pieces(self._tail_start + PLAIN_CHUNK)
        return True

    def _cut_plain_pieces(self, end: int) -> None:
        """Cut ``[tail, end)`` into plain pieces of at most PLAIN_CHUNK characters.

        Qt lays a piece out in one go; small pieces keep each turn of the event loop short.
        """
        while self._tail_start < end:
            stop = min(end, self._tail_start + PLAIN_CHUNK)
            newline = self.text.rfind("\n", self._tail_start, stop)
            if newline > self._tail_start:
                stop = newline + 1
            self._pending.append((self._tail_start, stop, None, True))
            self._tail_start = stop
        self._pipes = 0

    def _cut(self, at: int, tokens: list[Token] | None) -> None:
        self._pending.append((self._tail_start, at, tokens, False))
        self._tail_start = at
        self._pipes = 0

    def _reset_scan(self) -> None:
        self._fence = None
        self._previous_blank = False
        self._pipes = 0

    def _scan_line(self, line: str, start: int) -> None:
        content = line.rstrip("\r")
        blank = not content.strip(" \t")
        if self._fence is not None:
            marker, length = self._fence
            stripped = content.lstrip(" ")
            if (
                len(content) - len(stripped) <= 3
                and stripped.startswith(marker * length)
                and not stripped.rstrip(" \t").strip(marker)
            ):
                self._fence = None
            self._previous_blank = False
            self._count_pipes(content, start + len(line) + 1)
            return
        if (
            self._previous_blank
            and start > self._tail_start
            and content[:1] not in ("", " ", "\t")
            and not _LIST_MARKER.match(content)
        ):
            self._cut_before(start, end=start + len(line) + 1)
        opened = _FENCE_OPEN.match(content)
        if opened:
            fence = opened.group(1)
            self._fence = (fence[0], len(fence))
            self._fence_start = start
        self._previous_blank = blank
        self._count_pipes(content, start + len(line) + 1)

    def _count_pipes(self, content: str, line_end: int) -> None:
        """A chunk with more table cells than it may render is cut as plain text now.

        Its tail would otherwise be parsed and laid out again on every update.
        """
        self._pipes += content.count("|")
        if self._pipes > 2 * TABLE_CELL_LIMIT:
            self._cut_plain_pieces(line_end)
            self._reset_scan()

    def _cut_before(self, start: int, end: int) -> None:
        """Finish the chunk before ``start`` if markdown-it starts a block on that line.

        The text up to the end of that line is parsed; when a top-level block starts on
        the line, everything before it is closed for good, and the tokens before that
        block are exactly the tokens of the finished chunk, so they are kept for its
        rendering instead of parsing it again. A chunk that will be shown as plain text
        anyway (too long, too many table cells) is cut without parsing it.
        """
        before = self.text[self._tail_start : start]
        if too_complex(before):
            self._cut_plain_pieces(start)
            return
        pending = self.text[self._tail_start : end]
        line = before.count("\n")
        tokens = self.renderer.parse(pending)
        for index, token in enumerate(tokens):
            if token.level == 0 and token.map and token.map[0] == line:
                self._cut(start, tokens[:index])
                return


def too_complex(source: str) -> bool:
    """Whether a chunk is shown as plain text before it is even parsed.

    markdown-it's inline parsing is slow on some hostile text: 16,000 characters of
    ``[a `` take it a quarter of a second. Text with that many link or emphasis
    openers outside code blocks is not prose; it is shown as it is.
    """
    if len(source) >= CHUNK_LIMIT or source.count("|") > 2 * TABLE_CELL_LIMIT:
        return True
    if (
        source.count("[") <= _BRACKETS_LIMIT
        and _emphasis(source) <= _EMPHASIS_LIMIT
        and not _DEEP.search(source)
    ):
        return False
    # Something looks hostile: count again, leaving code blocks out.
    brackets = emphasis = 0
    fence: tuple[str, int] | None = None
    for line in source.split("\n"):
        opened = _FENCE_OPEN.match(line)
        if fence is None and opened:
            fence = (opened.group(1)[0], len(opened.group(1)))
        elif fence is not None:
            stripped = line.strip()
            if stripped.startswith(fence[0] * fence[1]) and not stripped.strip(fence[0]):
                fence = None
        elif _DEEP.match(line):
            return True  # markdown-it would recurse as deep as it may, and drop the rest
        else:
            brackets += line.count("[")
            emphasis += _emphasis(line)
    return brackets > _BRACKETS_LIMIT or emphasis > _EMPHASIS_LIMIT


def _emphasis(text: str) -> int:
    return text.count("*") + text.count("_")


_BRACKETS_LIMIT = 400
_EMPHASIS_LIMIT = 2_000
# A line nested deeper than NESTING_LIMIT allows: that many quote markers, or list
# indentation of that many levels (two columns each at least).
_DEEP = re.compile(
    rf"^(?:[ \t]*>){{{NESTING_LIMIT}}}|^[ \t]{{{2 * NESTING_LIMIT}}}[ \t]*[-+*\d]", re.M
)


COMMON_LANGUAGES = (
    "python", "bash", "javascript", "typescript", "json", "c", "cpp", "rust", "go",
    "java", "html", "css", "sql", "yaml", "toml",
)  # fmt: skip


def warm_up(languages: Iterable[str] = COMMON_LANGUAGES) -> None:
    """Import markdown-it and Pygments and compile common lexers before the first reply.

    The first code block in a language otherwise costs its lexer's regular expressions,
    up to a few hundred milliseconds on a slow machine, in the middle of a reply. This
    touches no Qt, so a widget may run it on a worker thread; lexers are shared
    read-only afterwards.
    """
    renderer = MarkdownRenderer()
    renderer.parse("*warm* `up` [x](https://example.com)\n\n| a |\n|---|\n| b |\n")
    for dark in (False, True):
        MarkdownRenderer(MarkdownTheme(dark=dark)).highlight("x = 1", "python")
    for language in languages:
        lexer = _lexer(language)
        if lexer is not None:
            for _token in lexer.get_tokens("x = 1\n"):
                pass


def render_markdown(text: str, renderer: MarkdownRenderer) -> MarkdownDocument:
    """``text`` rendered at once (the same cutting as when it streams in)."""
    document = MarkdownDocument(renderer, text)
    document.render()
    return document
