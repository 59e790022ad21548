"""The start-up notice for a CPU the bundled engine cannot run on (a simulated old CPU).

The CPU is simulated by its /proc/cpuinfo flags (core/cpu.py's own parser); the build by
a build-info.json in a folder standing in for the bundle, read by the real reader. The
notice is the real widget, offscreen.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from llmos_desktop.build_info import BUILD_INFO_FILE, BuildInfo, read_build_info
from llmos_desktop.core import cpu

OLD_CPU = cpu.parse_cpuinfo(
    "flags\t\t: fpu sse sse2 pni ssse3 cx16 sse4_1 sse4_2 popcnt xsave avx lahf_lm\n"
)
PORTABLE = BuildInfo(
    variant="portable",
    starter=True,
    cpu_baseline="x86-64-v3",
    cpu_required=("avx", "avx2", "bmi2", "f16c", "fma"),
)


def test_the_notice_names_what_is_missing_and_what_to_install(
    qtbot: object, tmp_path: Path
) -> None:
    from PySide6.QtCore import Qt

    from llmos_desktop.ui.cpu_notice import CpuNotice

    (tmp_path / BUILD_INFO_FILE).write_text(json.dumps(PORTABLE.to_json()), "utf-8")
    check = cpu.check_cpu(read_build_info(tmp_path), OLD_CPU)
    assert check is not None
    notice = CpuNotice(check)
    qtbot.addWidget(notice)  # type: ignore[attr-defined]
    assert notice.textFormat() == Qt.TextFormat.PlainText
    assert "lacks AVX2, BMI2, F16C, FMA" in notice.text()
    assert "x86-64-v3" in notice.text()
    assert "illegal instruction" in notice.text()
    assert cpu.SOURCE_URL in notice.informativeText()
    assert "older processors" in notice.informativeText()


def test_the_start_up_check_opens_the_notice_over_the_window(
    qtbot: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QWidget

    from llmos_desktop.ui import cpu_notice

    window = QWidget()
    qtbot.addWidget(window)  # type: ignore[attr-defined]
    window.show()
    # The running CPU is simulated: the check is the real one with an old CPU's flags.
    monkeypatch.setattr(cpu_notice, "check_cpu", lambda: cpu.check_cpu(PORTABLE, OLD_CPU))
    notice = asyncio.run(cpu_notice.show_cpu_notice_if_needed(window))
    assert notice is not None and notice.isVisible()
    assert notice.parent() is window
    notice.close()

    modern = cpu.parse_cpuinfo("flags\t\t: sse2 pni ssse3 avx avx2 bmi2 f16c fma\n")
    monkeypatch.setattr(cpu_notice, "check_cpu", lambda: cpu.check_cpu(PORTABLE, modern))
    assert asyncio.run(cpu_notice.show_cpu_notice_if_needed(window)) is None


def test_from_source_there_is_no_notice(qtbot: object) -> None:
    from PySide6.QtWidgets import QWidget

    from llmos_desktop.ui.cpu_notice import show_cpu_notice_if_needed

    window = QWidget()
    qtbot.addWidget(window)  # type: ignore[attr-defined]
    assert asyncio.run(show_cpu_notice_if_needed(window)) is None
