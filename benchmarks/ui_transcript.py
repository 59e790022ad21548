"""The chat transcript's performance targets (docs/architecture.md, "Performance targets").

``python -m benchmarks.ui_transcript`` (offscreen; 15-30 s on two cores) prints:

1. **append at token 4,000 / at token 100** (target <= 2). A reply of ~4,100 tokens of
   typical model Markdown (headings, paragraphs, lists, code blocks, a table) streams
   into a ``ChatTranscript`` one token at a time. The cost of one update is measured
   as the user pays it: append the token, render (``flush``: Markdown, Pygments,
   the QTextDocument insertion) and let Qt process what that posted (layout, the
   scroll area, painting). Earlier turns fill the view first, as in a real chat, so
   the view scrolls with the reply from its first token on. The reply repeats a
   section of ``SECTION_TOKENS`` tokens, so tokens 100 and 4,000 fall on the same kind
   of Markdown. The mean over the 50 tokens from token 4,000, divided by the mean over
   the 50 tokens from token 100; the median of ``--reps`` runs.
2. **first paint of a 2,000-message conversation** (target <= 500 ms): from
   ``set_messages`` (called from the event loop, as a click would) to the first paint
   of the message list, also divided by the same for a 20-message conversation; the
   time until two screens of messages are made and rendered, how many message widgets
   were made, and the **longest event-loop stall while it opens** (target <= 50 ms).
3. **longest event-loop stall while a reply streams at full speed** (target <= 50 ms):
   a 1 ms timer appends tokens as fast as it fires, as a fast engine would, while a
   5 ms timer records the longest gap between its ticks. The transcript renders at
   its own pace (it coalesces appends).

Exits 0 whatever the numbers (1 only on a crash).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from collections.abc import Callable

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication

from llmos_desktop.ui.widgets.chat_transcript import (
    ChatTranscript,
    MessageCard,
    MessageRole,
    MessageStatus,
    TranscriptMessage,
)

_SECTION = """## Step {n}: reading the file

The function below opens the file, reads it line by line and counts the words in each
line. It keeps a running total, so memory stays flat even for a very large file, and
it returns the total at the end. Note that `split()` without arguments also handles
tabs and repeated spaces.

- it works on any text file
- it does not load the whole file at once
  - so it suits large logs
- it returns an `int`

```python
def count_words(path: str) -> int:
    total = 0
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            total += len(line.split())
    return total


if __name__ == "__main__":
    import sys

    print(count_words(sys.argv[1]))
```

| Input | Words | Time |
|:------|------:|-----:|
| small.txt | 120 | 1 ms |
| large.log | 1,204,330 | 2.1 s |

> Tip: for files with very long lines, read in fixed-size blocks instead.

"""


_TOKEN = re.compile(r"\s*\S{1,4}")
SECTION_TOKENS = 260
"""Tokens per section of the reply: 4,000 - 100 is a multiple, so token 100 and token
4,000 are at the same place in a section (the same kind of Markdown to render)."""


def section(n: int) -> str:
    """Section ``n`` of the reply, padded with words to exactly ``SECTION_TOKENS`` tokens."""
    text = _SECTION.format(n=n)
    missing = SECTION_TOKENS - len(_TOKEN.findall(text))
    assert missing >= 0, "the section is longer than SECTION_TOKENS"
    return text.replace("total at the end.", "total" + " word" * missing + " at the end.", 1)


def reply_tokens(count: int) -> list[str]:
    """``count`` tokens of a typical reply, split roughly as a tokenizer would."""
    sections = -(-count // SECTION_TOKENS)
    text = "".join(section(n) for n in range(1, sections + 1))
    tokens = _TOKEN.findall(text)
    assert len(tokens) == sections * SECTION_TOKENS
    return tokens[:count]


def conversation(count: int) -> list[TranscriptMessage]:
    messages = []
    for i in range(count):
        if i % 2 == 0:
            messages.append(
                TranscriptMessage(f"m{i}", MessageRole.USER, f"Question {i}: how do I count words?")
            )
        else:
            body = section(i) if i % 6 == 1 else f"Answer {i}: use `len(s.split())`."
            messages.append(
                TranscriptMessage(
                    f"m{i}",
                    MessageRole.ASSISTANT,
                    body,
                    time_to_first_token=0.2,
                    tokens_per_second=120.0,
                    token_count=300,
                )
            )
    return messages


def dispose(app: QApplication, transcript: ChatTranscript) -> None:
    """Close and really delete (processEvents alone leaves deleteLater's work undone)."""
    transcript.close()
    transcript.deleteLater()
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    app.processEvents()


def make_window(app: QApplication) -> ChatTranscript:
    transcript = ChatTranscript()
    transcript.resize(900, 800)
    transcript.show()
    app.processEvents()
    return transcript


def measure_append(
    app: QApplication, tokens: list[str], windows: tuple[int, int], span: int
) -> tuple[float, float]:
    """Mean seconds per update over ``span`` tokens from each index in ``windows``."""
    transcript = make_window(app)
    # Earlier turns fill the view, as in a real chat, so the view scrolls with the
    # reply from its first token on; at token 100 as at token 4,000.
    transcript.set_messages(conversation(12))
    transcript.begin_stream(TranscriptMessage("reply", MessageRole.ASSISTANT, ""))
    card = transcript.card("reply")
    assert card is not None
    costs: dict[int, list[float]] = {w: [] for w in windows}
    for index, token in enumerate(tokens):
        window = next((w for w in windows if w <= index < w + span), None)
        started = time.perf_counter()
        transcript.append_stream(token)
        if window is not None or index % 25 == 0:
            card.view.flush()
            app.processEvents()
        if window is not None:
            costs[window].append(time.perf_counter() - started)
    dispose(app, transcript)
    return statistics.fmean(costs[windows[0]]), statistics.fmean(costs[windows[1]])


def measure_open(app: QApplication, count: int) -> tuple[float, float, float, int]:
    """(first paint, two screens filled, longest stall while opening) in seconds, widgets.

    ``set_messages`` is called from the event loop (as a click would), and the first
    paint is the first paint event of the message list after it.
    """
    messages = conversation(count)
    transcript = make_window(app)
    started: list[float] = []
    painted: list[float] = []

    class PaintSpy(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and started and not painted:
                painted.append(time.perf_counter())
            return False

    spy = PaintSpy()
    container = transcript.scroll_area().widget()
    container.installEventFilter(spy)

    def open_conversation() -> None:
        started.append(time.perf_counter())
        transcript.set_messages(messages)

    watch = _GapWatch()
    watch.start()
    QTimer.singleShot(0, open_conversation)
    while (
        not started
        or not painted
        or transcript.opening
        or any(c.view.rendering for c in _cards(transcript, messages))
    ):
        app.processEvents()
    filled = time.perf_counter() - started[0]
    watch.stop()
    container.removeEventFilter(spy)
    cards = transcript.card_count
    dispose(app, transcript)
    return painted[0] - started[0], filled, watch.longest, cards


def _cards(transcript: ChatTranscript, messages: list[TranscriptMessage]) -> list[MessageCard]:
    found = (transcript.card(m.id) for m in messages[-transcript.card_count :])
    return [card for card in found if card is not None]


class _GapWatch:
    """Longest gap between ticks of a 5 ms timer: how long the event loop was blocked."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setInterval(5)
        self._timer.timeout.connect(self._on_timer_timeout)

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _on_timer_timeout(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self._last)
        self._last = now


def measure_stall(app: QApplication, tokens: list[str]) -> tuple[float, float]:
    """(longest gap between 5 ms ticks, seconds the stream took)."""
    transcript = make_window(app)
    transcript.set_messages(conversation(12))
    transcript.begin_stream(TranscriptMessage("reply", MessageRole.ASSISTANT, ""))
    remaining = list(reversed(tokens))

    def feed() -> None:
        for _ in range(4):
            if remaining:
                transcript.append_stream(remaining.pop())

    watch = _GapWatch()
    feeder = QTimer()
    feeder.setInterval(1)
    feeder.timeout.connect(feed)
    started = time.perf_counter()
    watch.start()
    feeder.start()
    while remaining:
        app.processEvents()
    feeder.stop()
    card = transcript.card("reply")
    while card is not None and card.view.rendering:
        app.processEvents()
    watch.stop()
    took = time.perf_counter() - started
    transcript.finish_stream(
        TranscriptMessage("reply", MessageRole.ASSISTANT, "".join(tokens), MessageStatus.COMPLETE)
    )
    dispose(app, transcript)
    return watch.longest, took


def verdict(value: float, target: float, higher_is_worse: bool = True) -> str:
    ok = value <= target if higher_is_worse else value >= target
    return "meets the target" if ok else "MISSES the target"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="runs of each measure (default 3)")
    parser.add_argument("--tokens", type=int, default=4100, help="tokens in the reply")
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    tokens = reply_tokens(args.tokens)
    late = min(4000, len(tokens) - 50)

    # Warm up imports and caches (markdown-it, Pygments' lexer) outside the measures.
    measure_append(app, tokens[:300], (100, 150), 50)

    ratios: list[float] = []
    early_costs: list[float] = []
    late_costs: list[float] = []
    opens: list[float] = []
    short_opens: list[float] = []
    fills: list[float] = []
    open_stalls: list[float] = []
    cards = 0
    stalls: list[float] = []
    durations: list[float] = []
    steps: list[Callable[[], None]] = []

    def append_step() -> None:
        early, late_cost = measure_append(app, tokens, (100, late), 50)
        early_costs.append(early)
        late_costs.append(late_cost)
        ratios.append(late_cost / early)

    def open_step() -> None:
        nonlocal cards
        first, filled, stall, cards = measure_open(app, 2000)
        opens.append(first)
        fills.append(filled)
        open_stalls.append(stall)
        short, *_ = measure_open(app, 20)
        short_opens.append(short)

    def stall_step() -> None:
        longest, took = measure_stall(app, tokens)
        stalls.append(longest)
        durations.append(took)

    steps = [append_step, open_step, stall_step]
    for rep in range(args.reps):
        for step in steps[rep % 3 :] + steps[: rep % 3]:  # interleaved
            step()

    ratio = statistics.median(ratios)
    print(f"reply: {len(tokens)} tokens, {len(''.join(tokens))} characters; {args.reps} runs")
    print(
        f"append at token {late} / at token 100: {ratio:.2f} "
        f"(target <= 2: {verdict(ratio, 2.0)}); per update "
        f"{statistics.median(early_costs) * 1000:.2f} ms at 100, "
        f"{statistics.median(late_costs) * 1000:.2f} ms at {late}; "
        f"runs: {', '.join(f'{r:.2f}' for r in ratios)}"
    )
    first_paint = statistics.median(opens)
    print(
        f"first paint of a 2,000-message conversation: {first_paint * 1000:.0f} ms "
        f"(target <= 500 ms: {verdict(first_paint, 0.5)}); "
        f"{first_paint / statistics.median(short_opens):.2f} x a 20-message one "
        f"({statistics.median(short_opens) * 1000:.0f} ms); two screens filled after "
        f"{statistics.median(fills) * 1000:.0f} ms with {cards} message widgets; "
        f"runs: {', '.join(f'{o * 1000:.0f}' for o in opens)} ms"
    )
    open_stall = max(open_stalls)
    print(
        f"longest event-loop stall while it opens: {open_stall * 1000:.1f} ms "
        f"(target <= 50 ms: {verdict(open_stall, 0.05)}); "
        f"runs: {', '.join(f'{s * 1000:.1f}' for s in open_stalls)} ms"
    )
    stall = max(stalls)
    print(
        f"longest event-loop stall while streaming at full speed: {stall * 1000:.1f} ms "
        f"(target <= 50 ms: {verdict(stall, 0.05)}); the reply streamed in "
        f"{statistics.median(durations):.1f} s ({len(tokens) / statistics.median(durations):.0f} tokens/s); "
        f"runs: {', '.join(f'{s * 1000:.1f}' for s in stalls)} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
