"""Form fields shared by the Settings page and the chat's settings panel.

Spin boxes and combo boxes that turn with the mouse wheel only when focused, so
scrolling a long form never changes a value under the pointer; their ranges read from
the contract's own bounds (one definition of what is allowed); accessible names made
from the visible labels.
"""

from __future__ import annotations

import re

from pydantic import BaseModel
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QSpinBox

from llmos_desktop.core.settings import field_bounds


class SpinBox(QSpinBox):
    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class DoubleSpinBox(QDoubleSpinBox):
    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class ComboBox(QComboBox):
    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


def plain_label(text: str) -> str:
    """A label's text as a screen reader should say it: no mnemonic ("&Data folder:",
    "数据文件夹(&D)：" become "Data folder", "数据文件夹"), no trailing colon."""
    text = re.sub(r"\s*\(&\w\)", "", text)
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip(" :：")


def int_range(model: type[BaseModel], name: str) -> tuple[int, int]:
    """The bounds of an integer field of ``model``, for a spin box."""
    bounds = field_bounds(model, name)
    assert bounds.minimum is not None and bounds.maximum is not None, name
    return int(bounds.minimum) + (1 if bounds.exclusive_minimum else 0), int(bounds.maximum)


def float_range(model: type[BaseModel], name: str, step: float) -> tuple[float, float]:
    """The bounds of a float field of ``model``; an exclusive minimum moves up one step."""
    bounds = field_bounds(model, name)
    assert bounds.minimum is not None and bounds.maximum is not None, name
    return bounds.minimum + (step if bounds.exclusive_minimum else 0.0), bounds.maximum
