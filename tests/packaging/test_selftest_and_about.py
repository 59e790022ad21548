"""``--self-test`` from source, and the About dialog's facts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmos_desktop import __version__
from tests.packaging.conftest import ROOT


def _self_test(*args: str, timeout: float = 300) -> tuple[int, dict[str, object]]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    run = subprocess.run(
        [sys.executable, "-m", "llmos_desktop", "--self-test", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert lines, run.stdout + run.stderr
    return run.returncode, json.loads(lines[-1])


def test_self_test_reports_a_missing_model_as_json(tmp_path: Path) -> None:
    code, result = _self_test(str(tmp_path / "missing.gguf"), timeout=60)
    assert code == 1
    assert result["ok"] is False
    assert "no model file" in str(result["error"])


@pytest.mark.model
@pytest.mark.slow
def test_self_test_from_source(model_path: Path, llmos_home: Path) -> None:
    code, result = _self_test(str(model_path))
    assert code == 0, result
    assert result["ok"] is True
    assert result["window_shown"] is True
    assert result["reply"]
    assert result["engine_left"] == []
    assert result["version"] == __version__
    # It used the given LLMOS_HOME (the test fixture's), never the user's folders.
    assert (llmos_home / "logs" / "engine.log").is_file()


def test_about_dialog(qtbot: object) -> None:
    from PySide6.QtCore import Qt

    from llmos_desktop.ui.about_dialog import AboutDialog, licence_text

    dialog = AboutDialog(backend="Metal")
    qtbot.addWidget(dialog)  # type: ignore[attr-defined]
    assert __version__ in dialog.title_label.text()
    assert dialog.backend_label.text().endswith("Metal")
    assert dialog.backend_label.textFormat() == Qt.TextFormat.PlainText
    text = licence_text()
    assert dialog.licences.toPlainText() == text
    for fact in (
        "LGPL v3",
        "https://download.qt.io/official_releases/qt/",
        "https://download.qt.io/official_releases/QtForPython/pyside6/",
        "llama.cpp and ggml (the inference engine): MIT",
        "llama-cpp-python",
        "Python Software Foundation",
    ):
        assert fact in text


def test_about_dialog_never_renders_rich_text(qtbot: object) -> None:
    from PySide6.QtCore import Qt

    from llmos_desktop.ui.about_dialog import AboutDialog

    dialog = AboutDialog(backend="<b>CUDA</b>")
    qtbot.addWidget(dialog)  # type: ignore[attr-defined]
    assert dialog.backend_label.textFormat() == Qt.TextFormat.PlainText
    assert "<b>CUDA</b>" in dialog.backend_label.text()


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (
            {"variant": "portable", "starter": True, "cpu_baseline": "x86-64-v3"},
            "Build: portable, for x86-64-v3 processors or newer. The starter model is included.",
        ),
        (
            {"variant": "native", "starter": True},
            "Build: tuned to the processor of the computer it was built on; it may not run on "
            "other computers. The starter model is included.",
        ),
        (
            {"variant": "portable", "starter": False, "cpu_baseline": "x86-64-v3"},
            "Build: portable, for x86-64-v3 processors or newer. "
            "The starter model is not included.",
        ),
        ({"variant": "unknown"}, "Build: unknown (this installation has no build information)."),
    ],
)
def test_about_dialog_says_which_build_this_is(
    qtbot: object, build: dict[str, object], expected: str
) -> None:
    from llmos_desktop.build_info import BuildInfo
    from llmos_desktop.ui.about_dialog import AboutDialog

    dialog = AboutDialog(backend="CPU", build=BuildInfo(**build))  # type: ignore[arg-type]
    qtbot.addWidget(dialog)  # type: ignore[attr-defined]
    assert dialog.build_label.text() == expected


def test_about_dialog_from_source_says_development(qtbot: object) -> None:
    from PySide6.QtCore import Qt

    from llmos_desktop.ui.about_dialog import AboutDialog

    dialog = AboutDialog(backend="CPU")  # reads this process's build: a checkout
    qtbot.addWidget(dialog)  # type: ignore[attr-defined]
    assert dialog.build_label.text().startswith("Build: development")
    assert dialog.build_label.textFormat() == Qt.TextFormat.PlainText
