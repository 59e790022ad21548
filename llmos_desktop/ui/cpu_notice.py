"""At start-up, on a CPU the bundled engine cannot run on, the window says so in words.

An installer's llama.cpp needs some instruction-set features (AVX2 and friends for a
portable x86-64 build, more for one tuned to its build machine). Without them the engine
process dies with "illegal instruction" at the first model load, which tells a user
nothing. ``start_cpu_check`` runs core/cpu.py's check off the GUI thread once the loop
runs and, when features are missing, opens ``CpuNotice``: which ones, why, and what to
install instead. It is window-modal but opened with ``open()``, so no nested event loop;
a source checkout or a CPU that has everything shows nothing.
"""

from __future__ import annotations

import asyncio
import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from llmos_desktop.core.cpu import SOURCE_URL, CpuCheck, check_cpu, describe

log = logging.getLogger(__name__)


class CpuNotice(QMessageBox):
    """The message for a CPU that lacks what the bundled engine needs (plain text only)."""

    def __init__(self, check: CpuCheck, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.check = check
        self.setObjectName("cpuNotice")
        self.setIcon(QMessageBox.Icon.Warning)
        self.setWindowTitle(self.tr("This processor is not supported"))
        self.setTextFormat(Qt.TextFormat.PlainText)
        features = ", ".join(check.missing_labels)
        if check.native_build:
            built = self.tr(
                "This copy of LLMOS Desktop was built for the processor of the computer it "
                "was built on."
            )
        elif check.baseline:
            built = self.tr(
                "This copy of LLMOS Desktop was built for {baseline} processors."
            ).format(baseline=check.baseline)
        else:
            built = self.tr("This copy of LLMOS Desktop was built for newer processors.")
        self.setText(
            self.tr(
                "This computer's processor lacks {features}, which the chat engine needs. "
                "{built} Loading a model here would stop the engine with an 'illegal "
                "instruction' error."
            ).format(features=features, built=built)
        )
        self.setInformativeText(
            self.tr(
                "Install LLMOS Desktop from its source code instead ({url}, the first "
                "command of its README): pip then compiles the engine for this processor. "
                "Or use a build made for older processors."
            ).format(url=SOURCE_URL)
        )
        self.setStandardButtons(QMessageBox.StandardButton.Ok)
        self.setWindowModality(Qt.WindowModality.WindowModal)


async def show_cpu_notice_if_needed(window: QWidget) -> CpuNotice | None:
    """Check this CPU (in the loop's executor) and open the notice over ``window`` if it
    lacks something; returns the open notice, or None."""
    loop = asyncio.get_running_loop()
    try:
        check = await loop.run_in_executor(None, check_cpu)
    except Exception:  # a check that cannot run must not stop the app
        log.exception("the CPU check failed")
        return None
    if check is None:
        return None
    log.warning("%s", describe(check))
    notice = CpuNotice(check, window)
    notice.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    notice.open()
    return notice


def start_cpu_check(
    window: QWidget, loop: asyncio.AbstractEventLoop
) -> asyncio.Task[CpuNotice | None]:
    """Schedule ``show_cpu_notice_if_needed(window)`` on ``loop`` (app.main calls this)."""
    return loop.create_task(show_cpu_notice_if_needed(window))
