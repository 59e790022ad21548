"""A scatter plot drawn with QPainter: quality against speed or size, one point a model file.

QtCharts is not in PySide6-Essentials, and a comparison needs little: two linear axes
with round ticks, points coloured by model with their error bars (the perplexity's
standard error, the speed's spread), a short label at each point, a legend, and a hint
of which corner is better. The widget only draws what it is given (``PlotPoint``s); the
comparison view decides what goes on each axis.

Colours come from the palette (text, grid, background), and the series colours have a
light and a dark set, so the plot reads in both themes. The keyboard can walk the points
(Left/Right in the order of the x axis, Home/End): the chosen point's figures are written
under the plot and ``point_selected`` tells the view, which selects its table row; a
click does the same. The accessible description lists every point, so a screen reader
hears the plot's content, not just its name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFontMetricsF,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

# Colour-blind-friendly (Okabe-Ito) series colours, with lighter twins for a dark window.
_LIGHT_SERIES = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#7f7f7f")
_DARK_SERIES = ("#56b4e9", "#ff9a52", "#3fd0a0", "#e8a0cc", "#f0c040", "#9ad4f5", "#c0c0c0")
_RADIUS = 5.0
_PICK_RADIUS = 9.0


@dataclass(frozen=True)
class PlotPoint:
    """One model file in the plot. ``key`` ties it to the comparison's table row."""

    key: str
    label: str  # drawn next to the point (the quantization type, or the file name)
    series: str  # one colour per series (the model the file was made from)
    x: float
    y: float
    x_error: float | None = None  # half the error bar, in the axis' units
    y_error: float | None = None
    detail: str = ""  # the full figures, for the tooltip and the caption


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) covering ``low`` to ``high``."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high < low:
        low, high = high, low
    if high == low:
        spread = abs(low) * 0.1 or 1.0
        low, high = low - spread, high + spread
    raw = (high - low) / max(1, count)
    power = 10.0 ** math.floor(math.log10(raw))
    ratio = raw / power
    step = power * (1.0 if ratio < 1.5 else 2.0 if ratio < 3.0 else 5.0 if ratio < 7.0 else 10.0)
    first = math.floor(low / step) * step
    ticks: list[float] = []
    value = first
    while len(ticks) < 50:
        ticks.append(round(value, 12))
        if value >= high - step * 1e-9:
            break
        value = first + len(ticks) * step
    return ticks


def format_tick(value: float, ticks: Sequence[float]) -> str:
    """A tick's text with as many decimals as the step between ticks needs."""
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else abs(value) or 1.0
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{value:.{decimals}f}"


class ScatterPlot(QWidget):
    """Points, error bars, labels, axes and a legend; see the module docstring."""

    point_selected = Signal(str)  # the key of the point chosen by click or keyboard

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("labScatterPlot")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._points: list[PlotPoint] = []
        self._x_title = ""
        self._y_title = ""
        self._empty_text = ""
        self._better_text = ""
        self._x_higher_better = True
        self._y_higher_better = True
        self._selected: str | None = None
        self._series: list[str] = []
        self._plot_rect = QRectF()
        self._x_range = (0.0, 1.0)
        self._y_range = (0.0, 1.0)

    # --- data ---------------------------------------------------------------------------

    def set_data(
        self,
        points: Sequence[PlotPoint],
        *,
        x_title: str,
        y_title: str,
        x_higher_better: bool,
        y_higher_better: bool,
        empty_text: str = "",
        better_text: str = "",
    ) -> None:
        """Show ``points`` (non-finite values are left out). ``*_higher_better`` places
        the "better" hint (``better_text``) in the corner where the best points lie."""
        self._points = [p for p in points if math.isfinite(p.x) and math.isfinite(p.y)]
        self._x_title = x_title
        self._y_title = y_title
        self._x_higher_better = x_higher_better
        self._y_higher_better = y_higher_better
        self._empty_text = empty_text
        self._better_text = better_text
        self._series = list(dict.fromkeys(p.series for p in self._points))
        if self._selected not in {p.key for p in self._points}:
            self._selected = None
        self._x_range = self._range([p.x for p in self._points], [p.x_error for p in self._points])
        self._y_range = self._range([p.y for p in self._points], [p.y_error for p in self._points])
        self.setAccessibleDescription(self.description())
        self.update()

    def points(self) -> list[PlotPoint]:
        return list(self._points)

    @property
    def selected(self) -> str | None:
        return self._selected

    def select(self, key: str | None) -> None:
        """Highlight the point ``key`` (None: none); emits nothing (the view calls it)."""
        if key is not None and key not in {p.key for p in self._points}:
            key = None
        if key != self._selected:
            self._selected = key
            self.update()

    def description(self) -> str:
        """Every point as text: what the accessible description says."""
        if not self._points:
            return self._empty_text
        lines = [f"{self._y_title} / {self._x_title}"]
        lines += [p.detail or f"{p.series} {p.label}: {p.x:g}, {p.y:g}" for p in self._points]
        return "\n".join(lines)

    def series_colour(self, series: str) -> QColor:
        dark = self._dark()
        colours = _DARK_SERIES if dark else _LIGHT_SERIES
        index = self._series.index(series) if series in self._series else 0
        return QColor(colours[index % len(colours)])

    @staticmethod
    def _range(values: list[float], errors: list[float | None]) -> tuple[float, float]:
        if not values:
            return (0.0, 1.0)
        lows = [v - (e or 0.0) for v, e in zip(values, errors, strict=True)]
        highs = [v + (e or 0.0) for v, e in zip(values, errors, strict=True)]
        low, high = min(lows), max(highs)
        pad = (abs(low) * 0.1 or 1.0) if high == low else (high - low) * 0.08
        low, high = low - pad, high + pad
        if min(values) >= 0 and low < 0:
            low = 0.0  # sizes, speeds and perplexities are never negative
        ticks = nice_ticks(low, high)
        return (min(ticks[0], low), max(ticks[-1], high)) if ticks else (low, high)

    # --- geometry -----------------------------------------------------------------------

    def sizeHint(self) -> QSize:
        return QSize(420, 300)

    def minimumSizeHint(self) -> QSize:
        return QSize(240, 180)

    def _dark(self) -> bool:
        palette = self.palette()
        return (
            palette.color(QPalette.ColorRole.Window).lightness()
            < palette.color(QPalette.ColorRole.WindowText).lightness()
        )

    def _to_screen(self, x: float, y: float) -> QPointF:
        rect = self._plot_rect
        x0, x1 = self._x_range
        y0, y1 = self._y_range
        sx = rect.left() + (x - x0) / (x1 - x0) * rect.width() if x1 > x0 else rect.center().x()
        sy = rect.bottom() - (y - y0) / (y1 - y0) * rect.height() if y1 > y0 else rect.center().y()
        return QPointF(sx, sy)

    def _layout(self, metrics: QFontMetricsF) -> None:
        line = metrics.height()
        y_ticks = nice_ticks(*self._y_range)
        widest = max(
            (metrics.horizontalAdvance(format_tick(t, y_ticks)) for t in y_ticks), default=20.0
        )
        legend = line + 6 if len(self._series) > 0 else 0.0
        caption = line + 4
        left = widest + line + 14
        top = legend + 8
        bottom = 2 * line + 12 + caption
        self._plot_rect = QRectF(
            left, top, max(10.0, self.width() - left - 16), max(10.0, self.height() - top - bottom)
        )

    def point_at(self, position: QPointF) -> PlotPoint | None:
        """The point under ``position`` (widget coordinates), the nearest if several."""
        best: tuple[float, PlotPoint] | None = None
        for point in self._points:
            screen = self._to_screen(point.x, point.y)
            distance = math.hypot(screen.x() - position.x(), screen.y() - position.y())
            if distance <= _PICK_RADIUS and (best is None or distance < best[0]):
                best = (distance, point)
        return best[1] if best is not None else None

    def screen_position(self, key: str) -> QPointF | None:
        """Where the point ``key`` is drawn (for tests and tooltips)."""
        self._layout(QFontMetricsF(self.font()))
        point = next((p for p in self._points if p.key == key), None)
        return self._to_screen(point.x, point.y) if point is not None else None

    # --- painting -----------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.WindowText)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        metrics = QFontMetricsF(self.font())
        self._layout(metrics)
        rect = self._plot_rect
        if not self._points:
            painter.setPen(muted)
            painter.drawText(
                QRectF(self.rect()).adjusted(12, 12, -12, -12),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self._empty_text,
            )
            self._draw_focus(painter)
            painter.end()
            return
        self._draw_axes(painter, metrics, text, muted)
        self._draw_better(painter, metrics, muted)
        painter.save()
        painter.setClipRect(rect.adjusted(-_RADIUS - 2, -_RADIUS - 2, _RADIUS + 2, _RADIUS + 2))
        for point in self._points:
            self._draw_point(painter, point, text)
        painter.restore()
        self._draw_labels(painter, metrics, text)
        self._draw_legend(painter, metrics, text)
        self._draw_caption(painter, metrics, text)
        self._draw_focus(painter)
        painter.end()

    def _draw_axes(
        self, painter: QPainter, metrics: QFontMetricsF, text: QColor, muted: QColor
    ) -> None:
        rect = self._plot_rect
        grid = QColor(muted)
        grid.setAlpha(70)
        line = metrics.height()
        x_ticks = [
            t for t in nice_ticks(*self._x_range) if self._x_range[0] <= t <= self._x_range[1]
        ]
        y_ticks = [
            t for t in nice_ticks(*self._y_range) if self._y_range[0] <= t <= self._y_range[1]
        ]
        for tick in x_ticks:
            position = self._to_screen(tick, self._y_range[0])
            painter.setPen(QPen(grid, 1))
            painter.drawLine(
                QPointF(position.x(), rect.top()), QPointF(position.x(), rect.bottom())
            )
            painter.setPen(text)
            label = format_tick(tick, x_ticks)
            width = metrics.horizontalAdvance(label)
            painter.drawText(QPointF(position.x() - width / 2, rect.bottom() + line), label)
        for tick in y_ticks:
            position = self._to_screen(self._x_range[0], tick)
            painter.setPen(QPen(grid, 1))
            painter.drawLine(
                QPointF(rect.left(), position.y()), QPointF(rect.right(), position.y())
            )
            painter.setPen(text)
            label = format_tick(tick, y_ticks)
            width = metrics.horizontalAdvance(label)
            painter.drawText(
                QPointF(rect.left() - width - 6, position.y() + metrics.ascent() / 2 - 1), label
            )
        painter.setPen(QPen(muted, 1))
        painter.drawRect(rect)
        painter.setPen(text)
        painter.drawText(
            QRectF(rect.left(), rect.bottom() + line + 4, rect.width(), line + 2),
            Qt.AlignmentFlag.AlignHCenter,
            self._x_title,
        )
        painter.save()
        painter.translate(4, rect.center().y())
        painter.rotate(-90)
        painter.drawText(
            QRectF(-rect.height() / 2, 0, rect.height(), line + 2),
            Qt.AlignmentFlag.AlignHCenter,
            self._y_title,
        )
        painter.restore()

    def _draw_better(self, painter: QPainter, metrics: QFontMetricsF, muted: QColor) -> None:
        if not self._better_text:
            return
        right = self._x_higher_better
        top = self._y_higher_better
        arrow = {(True, True): "↗", (False, True): "↖", (True, False): "↘", (False, False): "↙"}
        text = (
            f"{self._better_text} {arrow[(right, top)]}"
            if right
            else f"{arrow[(right, top)]} {self._better_text}"
        )
        flags = (Qt.AlignmentFlag.AlignRight if right else Qt.AlignmentFlag.AlignLeft) | (
            Qt.AlignmentFlag.AlignTop if top else Qt.AlignmentFlag.AlignBottom
        )
        painter.setPen(muted)
        painter.drawText(self._plot_rect.adjusted(6, 4, -6, -4), flags, text)

    def _draw_point(self, painter: QPainter, point: PlotPoint, text: QColor) -> None:
        colour = self.series_colour(point.series)
        centre = self._to_screen(point.x, point.y)
        painter.setPen(QPen(colour, 1.2))
        if point.x_error:
            left = self._to_screen(point.x - point.x_error, point.y)
            right = self._to_screen(point.x + point.x_error, point.y)
            painter.drawLine(left, right)
            painter.drawLine(left + QPointF(0, -3), left + QPointF(0, 3))
            painter.drawLine(right + QPointF(0, -3), right + QPointF(0, 3))
        if point.y_error:
            low = self._to_screen(point.x, point.y - point.y_error)
            high = self._to_screen(point.x, point.y + point.y_error)
            painter.drawLine(low, high)
            painter.drawLine(low + QPointF(-3, 0), low + QPointF(3, 0))
            painter.drawLine(high + QPointF(-3, 0), high + QPointF(3, 0))
        selected = point.key == self._selected
        painter.setBrush(colour)
        painter.setPen(QPen(text if selected else colour.darker(130), 2.0 if selected else 1.0))
        radius = _RADIUS + (1.5 if selected else 0.0)
        painter.drawEllipse(centre, radius, radius)
        painter.setBrush(Qt.BrushStyle.NoBrush)

    def _draw_labels(self, painter: QPainter, metrics: QFontMetricsF, text: QColor) -> None:
        """Each point's label beside it, on the first side where it covers no other
        label or point (right, left, above, below); left out when no side is free."""
        bounds = QRectF(self.rect())
        dots = [self._to_screen(p.x, p.y) for p in self._points]
        taken = [QRectF(d.x() - _RADIUS, d.y() - _RADIUS, 2 * _RADIUS, 2 * _RADIUS) for d in dots]
        # The chosen point's label first, so it is never the one left out.
        order = sorted(
            range(len(self._points)), key=lambda i: self._points[i].key != self._selected
        )
        painter.setPen(text)
        for index in order:
            point, centre = self._points[index], dots[index]
            width = metrics.horizontalAdvance(point.label)
            height = metrics.height()
            gap = _RADIUS + 3
            for dx, dy in (
                (gap, -height / 2),
                (-gap - width, -height / 2),
                (-width / 2, -gap - height),
                (-width / 2, gap),
                (gap, -height),
                (gap, 0.0),
            ):
                box = QRectF(centre.x() + dx, centre.y() + dy, width, height)
                if not bounds.contains(box):
                    continue
                own = taken[index]
                if any(box.intersects(other) for other in taken if other is not own):
                    continue
                taken.append(box)
                painter.drawText(box, Qt.AlignmentFlag.AlignCenter, point.label)
                break

    def _draw_legend(self, painter: QPainter, metrics: QFontMetricsF, text: QColor) -> None:
        x = self._plot_rect.left()
        y = 4.0
        line = metrics.height()
        for series in self._series:
            colour = self.series_colour(series)
            painter.setPen(QPen(colour.darker(130), 1))
            painter.setBrush(colour)
            painter.drawEllipse(QPointF(x + _RADIUS, y + line / 2), _RADIUS, _RADIUS)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(text)
            name = metrics.elidedText(series, Qt.TextElideMode.ElideMiddle, 220)
            painter.drawText(QPointF(x + 2 * _RADIUS + 4, y + metrics.ascent()), name)
            x += 2 * _RADIUS + 4 + metrics.horizontalAdvance(name) + 16

    def _draw_caption(self, painter: QPainter, metrics: QFontMetricsF, text: QColor) -> None:
        point = next((p for p in self._points if p.key == self._selected), None)
        if point is None:
            return
        caption = point.detail or f"{point.series} {point.label}"
        caption = metrics.elidedText(caption, Qt.TextElideMode.ElideRight, self.width() - 16)
        painter.setPen(text)
        painter.drawText(QPointF(8, self.height() - metrics.descent() - 4), caption)

    def _draw_focus(self, painter: QPainter) -> None:
        if self.hasFocus():
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Highlight), 2))
            painter.drawRect(QRectF(self.rect()).adjusted(1, 1, -1, -1))

    # --- input --------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        point = self.point_at(event.position())
        if point is not None:
            self._choose(point.key)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        point = self.point_at(event.position())
        if point is not None:
            QToolTip.showText(event.globalPosition().toPoint(), point.detail or point.label, self)
        else:
            QToolTip.hideText()
        super().mouseMoveEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        ordered = sorted(self._points, key=lambda p: (p.x, p.y))
        if not ordered:
            super().keyPressEvent(event)
            return
        keys = [p.key for p in ordered]
        index = keys.index(self._selected) if self._selected in keys else -1
        key = event.key()
        if key in (Qt.Key.Key_Right, Qt.Key.Key_Down):
            index = min(len(keys) - 1, index + 1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Up):
            index = max(0, index - 1) if index >= 0 else 0
        elif key == Qt.Key.Key_Home:
            index = 0
        elif key == Qt.Key.Key_End:
            index = len(keys) - 1
        else:
            super().keyPressEvent(event)
            return
        self._choose(keys[index])

    def _choose(self, key: str) -> None:
        self.select(key)
        self.point_selected.emit(key)
