"""Model output as Markdown (core/chat/markdown.py): what it shows, what it never emits,
and that streaming renders exactly what rendering at once renders."""

from __future__ import annotations

import html
import random
import re
import time
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmos_desktop.core.chat.markdown import (
    CHUNK_LIMIT,
    DISPLAY_LIMIT,
    HIGHLIGHT_LIMIT,
    PLAIN_CHUNK,
    STREAMING_TAIL_LIMIT,
    MarkdownDocument,
    MarkdownRenderer,
    MarkdownTheme,
    render_markdown,
    safe_link,
)

RENDERER = MarkdownRenderer()

SAMPLE = """# Title

Some *emphasis*, **strong**, ~~struck~~ and `inline code`, with [a link](https://example.com/a?b=1&c=2).

- one
- two
  - nested
- three

1. first

2. second

> quoted text
> - quoted list

| Name | Size |
|:-----|-----:|
| alpha | 12 |

```python
def f(x):
    return x + 1


print(f(1))
```

---

Last paragraph.
"""

# Markdown that streams in with tricky places for cutting: loose lists, code with blank
# lines and column-0 lines inside, fences inside lists, setext headings, tables, quotes,
# lazy continuation, reference links, CRLF, an unclosed fence at the end.
CORPUS = [
    SAMPLE,
    "1. a\n\n2. b\n\n3. c\n\nafter the list\n",
    "- a\n\n  continued paragraph of a\n\n- b\n\nx\n",
    "```\nfirst\n\nsecond at column 0\n\nthird\n```\n\nafter\n",
    "~~~\n```\n\nnot closed by backticks\n\n~~~\n\nafter\n",
    "1. step\n\n   ```bash\n   echo hi\n\n   echo there\n   ```\n\n2. next\n\nend\n",
    "Heading\n=======\n\nSub\n---\n\npara\nlazy\n\n> q\nlazy too\n\nz\n",
    "[ref] and [other][ref]\n\n[ref]: https://example.com/ref\n\ntext [ref]\n",
    "| a | b |\n|---|---|\n| 1 | 2 |\n\n| c |\n|---|\n| 3 |\n\ntext\n",
    "line one\r\n\r\nline two\r\n\r\n- item\r\n",
    "```python\nunfinished = True\n\nprint(unfinished)\n",
    "    indented code\n\n    more code\n\nnormal\n",
    "* a\n\n+ b\n\n- c\n\n10) x\n\n11) y\n\nok\n",
    "<div>raw html</div>\n\n<script>alert(1)</script>\n\ntext <b>bold</b>\n",
    "",
    "\n\n\n",
    "no newline at the end",
]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(markup: str) -> _Tags:
    found = _Tags()
    found.feed(markup)
    found.close()
    return found


ALLOWED_TAGS = {
    "p", "span", "i", "b", "s", "br", "a", "ul", "ol", "li", "table", "tr", "td", "th",
    "pre", "hr",
}  # fmt: skip
ALLOWED_ATTRS = {
    "style", "href", "start", "align", "bgcolor", "width", "cellspacing", "cellpadding",
    "colspan",
}  # fmt: skip


def assert_safe(markup: str) -> None:
    """Only tags and attributes Qt renders harmlessly; every link is http(s) or copy:N."""
    for tag, attrs in parse(markup).tags:
        assert tag in ALLOWED_TAGS, (tag, attrs)
        assert set(attrs) <= ALLOWED_ATTRS, (tag, attrs)
        if "href" in attrs:
            href = attrs["href"] or ""
            assert safe_link(href) or re.fullmatch(r"copy:\d+", href), href


def text_of(markup: str) -> str:
    return "".join(parse(markup).text)


def stream(text: str, seed: int, *, render_every: float = 0.5) -> MarkdownDocument:
    """``text`` given in random pieces, rendered at random moments (as a reply streams)."""
    rng = random.Random(seed)
    document = MarkdownDocument(RENDERER, streaming=True)
    index = 0
    while index < len(text):
        size = rng.choice((1, 1, 2, 3, 5, 8, 20, 80))
        document.append(text[index : index + size])
        index += size
        if rng.random() < render_every:
            document.render()
    document.set_streaming(False)  # the reply ended
    document.render()
    return document


# --- what is shown ------------------------------------------------------------------


def test_sample_renders_every_construct() -> None:
    document = render_markdown(SAMPLE, RENDERER)
    markup = document.html()
    tags = [tag for tag, _ in parse(markup).tags]
    assert "font-size:x-large" in markup  # the heading
    # the list, its nested list, the list in the quote; the loose ordered list is one list
    assert tags.count("ul") == 3 and tags.count("ol") == 1
    assert "<i>emphasis</i>" in markup and "<b>strong</b>" in markup and "<s>struck</s>" in markup
    assert '<a href="https://example.com/a?b=1&amp;c=2">a link</a>' in markup
    assert ">inline code</span>" in markup
    assert "<th" in markup and ">alpha</td>" in markup and ' align="right"' in markup
    assert "quoted text" in markup and "<hr />" in markup
    assert document.code_blocks() == ["def f(x):\n    return x + 1\n\n\nprint(f(1))"]
    assert '<a href="copy:0"' in markup and ">Copy</a>" in markup
    assert ">python</span>" in markup  # the language is named
    assert "color:#" in markup  # highlighted by Pygments
    assert_safe(markup)


def test_loose_ordered_list_stays_one_list() -> None:
    markup = render_markdown("1. a\n\n2. b\n\n3. c\n", RENDERER).html()
    assert markup.count("<ol") == 1 and markup.count("<li>") == 3


def test_code_with_blank_lines_and_column_zero_lines_is_one_block() -> None:
    document = render_markdown("```\nfirst\n\nsecond\n\nthird\n```\n\nafter\n", RENDERER)
    assert document.code_blocks() == ["first\n\nsecond\n\nthird"]
    assert document.html().count("copy:") == 1


def test_code_blocks_are_numbered_across_chunks() -> None:
    text = "```sh\na\n```\n\ntext\n\n- item\n\n  ```\n  b\n  ```\n\n~~~\nc\n~~~\n"
    document = render_markdown(text, RENDERER)
    assert document.code_blocks() == ["a", "b", "c"]
    assert [int(n) for n in re.findall(r"copy:(\d+)", document.html())] == [0, 1, 2]


def test_unknown_language_is_named_but_not_highlighted() -> None:
    markup = render_markdown("```no-such-language\nx = 1\n```\n", RENDERER).html()
    assert ">no-such-language</span>" in markup
    assert "x = 1</pre>" in markup


def test_long_code_is_shown_without_highlighting() -> None:
    code = "x = 1\n" * (HIGHLIGHT_LIMIT // 6 + 10)
    document = render_markdown(f"```python\n{code}```\n", RENDERER)
    pre = document.html().split("<pre", 1)[1]
    assert "<span" not in pre
    assert document.code_blocks() == [code[:-1]]


def test_dark_theme_uses_its_own_colours() -> None:
    code = "```python\ndef f():\n    return 'x'\n```\n"
    light = render_markdown(code, MarkdownRenderer(MarkdownTheme())).html()
    dark_theme = MarkdownTheme(text="#e8eaed", code_background="#2b2d31", dark=True)
    dark = render_markdown(code, MarkdownRenderer(dark_theme)).html()
    assert set(re.findall(r"color:#\w{6}", light)) != set(re.findall(r"color:#\w{6}", dark))
    assert 'bgcolor="#2b2d31"' in dark


def test_theme_refuses_values_that_could_break_out_of_html() -> None:
    with pytest.raises(ValueError):
        MarkdownTheme(text='red" onload="x')
    with pytest.raises(ValueError):
        MarkdownTheme(monospace="x'; background:url(file:///etc/passwd)")


def test_copy_label_is_escaped() -> None:
    theme = MarkdownTheme(copy_label="<b>Copy</b>")
    markup = render_markdown("```\nx\n```\n", MarkdownRenderer(theme)).html()
    assert "&lt;b&gt;Copy&lt;/b&gt;" in markup


# --- untrusted text -------------------------------------------------------------------


HOSTILE = [
    "<script>alert(1)</script>",
    '<img src="/etc/passwd">',
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "[file](file:///etc/passwd) [js](javascript:alert(1)) [data](data:text/html,<b>x</b>)",
    "[vb](vbscript:msgbox) [ftp](ftp://example.com) [mail](mailto:a@b.c) <mailto:a@b.c>",
    "![image](https://example.com/x.png) ![local](/etc/passwd) ![](file:///etc/passwd)",
    '[q](https://example.com/"onmouseover="alert(1)) [t](https://x.org "title\\" x=\\"y")',
    "<https://example.com/auto> <javascript:alert(1)>",
    "```\n</pre><img src=/etc/passwd>\n```",
    "```<img src=x>\ncode\n```",
    "`<img src=x>` **<iframe src=x>** &lt;b&gt; &amp;lt; &#60;script&#62;",
    "<style>p{background:url(file:///etc/passwd)}</style>",
    "| <img src=x> | [x](javascript:y) |\n|---|---|\n| <b>c</b> | d |",
    "text\x00with\x00nul",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_output_is_shown_as_text_and_emits_nothing_active(text: str) -> None:
    document = render_markdown(text, RENDERER)
    markup = document.html()
    assert_safe(markup)
    assert "<img" not in markup.lower() and "<script" not in markup.lower()
    assert "javascript:" not in " ".join(attrs.get("href") or "" for _, attrs in parse(markup).tags)


def test_raw_html_is_visible_as_text() -> None:
    shown = text_of(render_markdown("<script>alert(1)</script> and <b>x</b>", RENDERER).html())
    assert "<script>alert(1)</script> and <b>x</b>" in shown


def test_images_become_their_alt_text_and_only_http_links_stay_links() -> None:
    markup = render_markdown(
        "![a cat](https://example.com/cat.png) ![secret](file:///etc/passwd) "
        "[site](https://example.com) [local](file:///etc/passwd) [other](ftp://example.com)",
        RENDERER,
    ).html()
    hrefs = [attrs["href"] for tag, attrs in parse(markup).tags if tag == "a"]
    assert hrefs == ["https://example.com/cat.png", "https://example.com"]
    shown = text_of(markup)
    assert "a cat" in shown and "site" in shown and "other" in shown


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.com/x", True),
        ("HTTP://EXAMPLE.COM", True),
        ("http://", False),
        ("https:///path", False),
        ("javascript:alert(1)", False),
        ("file:///etc/passwd", False),
        ("data:text/html,x", False),
        ("qrc:/x", False),
        ("//example.com", False),
        ("https://exa mple.com", False),
        ("https://example.com/\nx", False),
        ("https://[::1", False),
        ("https://example.com/" + "a" * 5000, False),
    ],
)
def test_safe_link(url: str, ok: bool) -> None:
    assert safe_link(url) is ok


# --- bounds ------------------------------------------------------------------------------


def test_ten_megabyte_line_renders_quickly_as_bounded_plain_text() -> None:
    text = "A<b>" * 2_500_000
    started = time.perf_counter()
    document = render_markdown(text, RENDERER)
    assert time.perf_counter() - started < 2.0
    assert document.truncated and document.total_length == len(text)
    assert document.long_words
    markup = document.html()
    assert_safe(markup)
    assert len(markup) < DISPLAY_LIMIT * 3
    assert text_of(markup).replace("\n", "") == text[:DISPLAY_LIMIT]


def test_streaming_a_huge_line_stops_growing_at_the_display_limit() -> None:
    document = MarkdownDocument(RENDERER)
    piece = "x" * 10_000
    for _ in range(30):
        document.append(piece)
        document.render()
    assert len(document.text) == DISPLAY_LIMIT and document.truncated
    # Cut every CHUNK_LIMIT characters, shown as plain pieces of at most PLAIN_CHUNK.
    assert len(document.chunks) == DISPLAY_LIMIT // CHUNK_LIMIT * -(-CHUNK_LIMIT // PLAIN_CHUNK)


def test_deeply_nested_lists_render_as_plain_text_with_all_their_items() -> None:
    text = "".join("  " * depth + f"- item {depth}\n" for depth in range(200))
    started = time.perf_counter()
    markup = render_markdown(text, RENDERER).html()
    assert time.perf_counter() - started < 2.0
    shown = text_of(markup)
    assert all(f"item {depth}" in shown for depth in range(200))
    assert "<ul" not in markup


def test_moderate_nesting_is_still_rendered_as_lists() -> None:
    text = "".join("  " * depth + f"- item {depth}\n" for depth in range(5))
    assert render_markdown(text, RENDERER).html().count("<ul") == 5


def test_deep_quotes_and_emphasis_finish() -> None:
    for text in ("> " * 2000 + "deep", "*" * 20_000 + "a" + "*" * 20_000, "[" * 20_000 + "a"):
        started = time.perf_counter()
        markup = render_markdown(text, RENDERER).html()
        assert time.perf_counter() - started < 2.0
        assert_safe(markup)


def test_huge_tables_become_plain_text() -> None:
    row = "| " + " | ".join("cell" for _ in range(40)) + " |\n"
    table = row + "|" + "---|" * 40 + "\n" + row * 60
    document = render_markdown(table + "\n" + table, RENDERER)
    markup = document.html()
    assert "<table" not in markup and "white-space:pre-wrap" in markup
    assert text_of(markup).count("cell") == 2 * 61 * 40


def test_render_with_a_deadline_resumes_where_it_stopped() -> None:
    text = "\n\n".join(f"paragraph {n} with *some* text" for n in range(200))
    document = MarkdownDocument(RENDERER, text)
    progress = document.render(deadline=time.perf_counter() - 1)
    assert not progress.done and len(progress.new_chunks) == 1 and progress.tail is None
    rounds = 1
    while not document.render(deadline=time.perf_counter() - 1).done:
        rounds += 1
    assert rounds > 100
    assert document.html() == render_markdown(text, RENDERER).html()


# --- streaming equals rendering at once ------------------------------------------------


@pytest.mark.parametrize("index", range(len(CORPUS)))
@pytest.mark.parametrize("seed", range(6))
def test_streaming_gives_the_same_html_as_rendering_at_once(index: int, seed: int) -> None:
    text = CORPUS[index]
    at_once = render_markdown(text, RENDERER)
    streamed = stream(text, seed)
    assert streamed.html() == at_once.html()
    assert streamed.code_blocks() == at_once.code_blocks()


def test_a_long_open_code_block_streams_unhighlighted_then_is_highlighted() -> None:
    code = "".join(f"value_{n} = compute({n})  # step {n}\n" for n in range(300))
    document = MarkdownDocument(RENDERER, streaming=True)
    document.append("Here:\n\n```python\n" + code)
    document.render()
    assert len(code) > STREAMING_TAIL_LIMIT
    streaming_html = document.html()
    assert ">python</span>" in streaming_html and 'href="copy:0"' in streaming_html
    assert '<span style="color' not in streaming_html.split("<pre", 1)[1]  # not highlighted
    assert document.code_blocks() == [code]
    document.append("```\n")
    document.set_streaming(False)
    document.render()
    assert (
        document.html() == render_markdown("Here:\n\n```python\n" + code + "```\n", RENDERER).html()
    )
    assert '<span style="color' in document.html().split("<pre", 1)[1]


def test_a_long_unfinished_table_streams_as_plain_text() -> None:
    table = "| a | b |\n|---|---|\n" + "| a longer cell of text | another longer cell |\n" * 100
    assert len(table) > STREAMING_TAIL_LIMIT
    document = MarkdownDocument(RENDERER, streaming=True)
    document.append(table)
    document.render()
    assert "<table" not in document.html() and "cell" in text_of(document.html())
    document.set_streaming(False)
    document.render()
    assert "<table" in document.html()


def test_streaming_renders_only_the_tail_again() -> None:
    """Finished chunks are rendered once: the work per update does not grow with the text."""
    calls: list[int] = []

    class Counting(MarkdownRenderer):
        def render_chunk(self, source: str, first_code: int = 0, tokens: object = None) -> object:  # type: ignore[override]
            calls.append(len(source))
            return super().render_chunk(source, first_code, tokens)  # type: ignore[arg-type]

    document = MarkdownDocument(Counting())
    paragraph = "A sentence of a typical reply, with `code` and *emphasis*.\n\n"
    for _ in range(300):
        document.append(paragraph)
        document.render()
    assert len(document.chunks) >= 299
    assert max(calls) < 4 * len(paragraph)  # never the whole text again


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "para",
                "text *em*",
                "\n",
                "\n\n",
                "- ",
                "1. ",
                "2) ",
                "  ",
                "    ",
                "> ",
                "```",
                "~~~",
                "```py\n",
                "| a | b |\n|---|---|\n",
                "---\n",
                "===\n",
                "# ",
                "[x]: https://e.com\n",
                "[x]",
                "`c`",
                "\t",
                "\r\n",
                "<b>",
                "*",
                "_",
            ]
        ),
        max_size=40,
    ),
    st.integers(min_value=0, max_value=10_000),
)
def test_streaming_equals_at_once_for_any_markdown(pieces: list[str], seed: int) -> None:
    text = "".join(pieces)
    assert stream(text, seed).html() == render_markdown(text, RENDERER).html()


def test_crlf_text_renders_like_lf_text() -> None:
    lf = render_markdown("a\n\n- b\n- c\n", RENDERER).html()
    crlf = render_markdown("a\r\n\r\n- b\r\n- c\r\n", RENDERER).html()
    assert html.unescape(lf) == html.unescape(crlf)


class _Recording(MarkdownRenderer):
    """Records the source of every chunk it renders (the last one is the tail)."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def render_chunk(self, source: str, first_code: int = 0, tokens: object = None) -> object:  # type: ignore[override]
        self.sources.append(source)
        return super().render_chunk(source, first_code, tokens)  # type: ignore[arg-type]


def _structure(renderer: MarkdownRenderer, source: str) -> list[tuple[str, str, int, bool]]:
    return [(t.type, t.tag, t.level, t.hidden) for t in renderer.parse(source)]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "para",
                "text *em*",
                "\n",
                "\n\n",
                "- ",
                "1. ",
                "2) ",
                "  ",
                "    ",
                "> ",
                "```",
                "~~~",
                "```py\n",
                "| a | b |\n|---|---|\n",
                "---\n",
                "===\n",
                "# ",
                "[x]: https://e.com\n",
                "`c`",
                "\t",
                "\r\n",
                "*",
                "+ ",
                "10. ",
                "   ",
            ]
        ),
        max_size=50,
    )
)
def test_cutting_never_changes_what_markdown_it_parses(pieces: list[str]) -> None:
    """The chunks, parsed one by one, give markdown-it's block structure of the whole text."""
    text = "".join(pieces)
    renderer = _Recording()
    render_markdown(text, renderer)
    assert "".join(renderer.sources) == text or not text.strip()
    if not text.strip():
        return
    whole = _structure(renderer, text)
    pieces_parsed = [item for source in renderer.sources for item in _structure(renderer, source)]
    assert pieces_parsed == whole


def test_warm_up_prepares_the_common_lexers_on_a_worker_thread() -> None:
    import threading

    from llmos_desktop.core.chat import markdown

    errors: list[BaseException] = []

    def run() -> None:
        try:
            markdown.warm_up(("python", "bash", "no-such-language"))
        except BaseException as error:  # reported below
            errors.append(error)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(60)
    assert not worker.is_alive() and errors == []
    misses = markdown._lexer.cache_info().misses
    assert markdown._lexer("python") is not None and markdown._lexer("bash") is not None
    assert markdown._lexer.cache_info().misses == misses  # made by the warm-up, not now
    assert markdown._lexer("no-such-language") is None
