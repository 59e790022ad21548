"""Translations: the window in Simplified Chinese, the choice of language, and the
translation files kept honest (every string translated, placeholders and keyboard
mnemonics kept, the .qm built from the .ts, nothing new left untranslated).

The tools are the project's own (packaging/i18n.py: PySide6's lupdate and lrelease).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from PySide6.QtCore import QLocale, QTranslator
from PySide6.QtWidgets import QApplication, QDialogButtonBox
from pytestqt.qtbot import QtBot

import llmos_desktop
from llmos_desktop.app import build_window, close_window
from llmos_desktop.core.settings import LANGUAGES, Settings
from llmos_desktop.ui.i18n import (
    LANGUAGE_NAMES,
    choose_language,
    install_translators,
    qt_translation_file,
    remove_translators,
    system_language,
    translation_file,
)
from tests.ui.conftest import run_on_loop

ROOT = Path(llmos_desktop.__file__).resolve().parents[1]
UI = ROOT / "llmos_desktop" / "ui"
# Every file of the window: a string a user reads must reach lupdate and the translator.
OWN_FILES = [*sorted(UI.rglob("*.py")), ROOT / "llmos_desktop" / "app.py"]


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("llmos_i18n_tool", ROOT / "packaging" / "i18n.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()
TS = tool.ts_file("zh_CN")


@pytest.fixture
def chinese(qapp: QApplication) -> Iterator[None]:
    translators = install_translators(qapp, "zh_CN")
    assert len(translators) == 2, "ours and Qt's own"
    try:
        yield
    finally:
        remove_translators(qapp, translators)


def test_the_window_speaks_chinese(chinese: None, qtbot: QtBot, qasync_loop: object) -> None:
    window = build_window(settings=Settings())
    qtbot.addWidget(window)
    window.show()
    try:
        labels = [window.navigation.item(i).text() for i in range(window.navigation.count())]
        assert labels == ["聊天", "模型", "商店", "实验室", "开发者", "设置"]
        assert window.navigation.accessibleName() == "页面导航"
        assert [a.text() for a in window.menuBar().actions()] == [
            "文件(&F)",
            "转到(&G)",
            "帮助(&H)",
        ]
        assert window.status_bar.state_label.text() == "未加载模型"
        assert window.models_page.title_label.text() == "模型"
        window.show_page(window.SETTINGS_PAGE)
        page = window.settings_page
        assert page.title_label.text() == "设置"
        assert page.theme_combo.itemText(2) == "深色"
        assert page.context_spin.text() == "4,096 词元"
        assert page.language_combo.itemText(0) == "跟随系统"
        assert page.enter_sends_check.accessibleName() == "按 Enter 发送消息（Shift+Enter 换行）"
        assert page.data_folder_edit.accessibleName() == "数据文件夹"  # no "(&D)："
    finally:
        run_on_loop(close_window(window), 30)
    # Qt's own translation: the standard buttons of dialogs.
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    qtbot.addWidget(buttons)
    close = buttons.button(QDialogButtonBox.StandardButton.Close)
    assert close is not None and close.text() == "关闭"


def test_english_needs_no_translator(qapp: QApplication) -> None:
    assert install_translators(qapp, "en") == []
    assert QApplication.translate("MainWindow", "Settings") == "Settings"


def test_the_app_starts_in_the_language_of_its_settings(tmp_path: Path) -> None:
    """app.main, as the desktop starts it: settings.json says zh_CN."""
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "settings.json").write_text(
        json.dumps({"schema_version": 3, "language": "zh_CN", "theme": "dark"})
    )
    script = (
        "import json\n"
        "from PySide6.QtCore import QTimer\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from llmos_desktop import app\n"
        "from llmos_desktop.ui.main_window import MainWindow\n"
        "from llmos_desktop.ui.theme import is_dark\n"
        "qapp = QApplication(['llmos-desktop'])\n"
        "seen = {}\n"
        "def look():\n"
        "    [window] = [w for w in qapp.topLevelWidgets() if isinstance(w, MainWindow)]\n"
        "    seen['nav'] = window.navigation.item(window.SETTINGS_PAGE).text()\n"
        "    seen['dark'] = is_dark(qapp.palette())\n"
        "    window.close()\n"
        "QTimer.singleShot(300, look)\n"
        "status = app.main(['llmos-desktop'])\n"
        "print(json.dumps({'status': status, **seen}))\n"
    )
    env = dict(os.environ, LLMOS_HOME=str(home), QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "status": 0,
        "nav": "设置",
        "dark": True,
    }


@pytest.mark.parametrize(
    ("setting", "system", "expected"),
    [
        (None, "zh_CN", "zh_CN"),
        (None, "zh_SG", "zh_CN"),
        (None, "zh_TW", "en"),  # Traditional script: English rather than Simplified
        (None, "zh_HK", "en"),
        (None, "de_DE", "en"),
        (None, "en_GB", "en"),
        ("en", "zh_CN", "en"),  # the setting wins
        ("zh_CN", "fr_FR", "zh_CN"),
        ("klingon", "zh_CN", "zh_CN"),  # not shipped: the system's
    ],
)
def test_the_language_is_the_settings_or_the_systems(
    setting: str | None, system: str, expected: str
) -> None:
    assert choose_language(setting, QLocale(system)) == expected


def test_the_system_language_reads_the_ui_languages_in_order() -> None:
    assert system_language(QLocale("zh_Hans_CN")) == "zh_CN"
    assert system_language(QLocale("ja_JP")) == "en"


def test_the_shipped_languages_agree() -> None:
    assert set(LANGUAGE_NAMES) == set(LANGUAGES)
    assert set(tool.LANGUAGES) == set(LANGUAGES) - {"en"}
    for language in tool.LANGUAGES:
        assert translation_file(language).is_file()
        assert qt_translation_file(language).is_file(), "Qt's translations folder"


def test_every_string_in_the_ts_is_translated() -> None:
    found = tool.messages(TS)
    assert len(found) > 100
    assert [(c, s) for c, s, text, kind in found if kind or not text.strip()] == []


def test_placeholders_and_mnemonics_are_kept_in_translation() -> None:
    placeholder = re.compile(r"\{[^{}]*\}|%n")
    mnemonic = re.compile(r"&(?!&)(\w)")
    for context, source, text, _kind in tool.messages(TS):
        where = f"{context}: {source!r} -> {text!r}"
        assert sorted(placeholder.findall(text)) == sorted(placeholder.findall(source)), where
        wanted = [m.lower() for m in mnemonic.findall(source)]
        assert [m.lower() for m in mnemonic.findall(text)] == wanted, where
        assert "\n" not in text or "\n" in source, where


def test_the_qm_is_built_from_the_ts(tmp_path: Path, qapp: QApplication) -> None:
    """The shipped .qm says what the .ts says, message by message, as a .qm rebuilt now
    does (compared through QTranslator, so another lrelease's byte layout is no failure)."""
    rebuilt = tmp_path / "rebuilt.qm"
    tool.lrelease(TS, rebuilt)
    shipped, fresh = QTranslator(), QTranslator()
    assert shipped.load(str(tool.qm_file("zh_CN"))) and fresh.load(str(rebuilt))
    differ = []
    for context, source, text, _kind in tool.messages(TS):
        n = 2 if "%n" in source else -1
        want = text.replace("%n", "2")
        got = shipped.translate(context, source, None, n).replace("%n", "2")
        if got != want or fresh.translate(context, source, None, n).replace("%n", "2") != want:
            differ.append((context, source, got))
    assert differ == [], "run python packaging/i18n.py and commit the .qm"


def test_lupdate_finds_no_new_string_in_the_windows_files(tmp_path: Path) -> None:
    ts = tmp_path / TS.name
    shutil.copyfile(TS, ts)
    # Only these files: the other files' strings become obsolete, not unfinished.
    tool.lupdate(ts, "zh_CN", OWN_FILES, keep_obsolete=True)
    active = [m for m in tool.messages(ts) if m[3] in ("", "unfinished")]
    assert len(active) > 60
    assert tool.unfinished(ts) == [], "run python packaging/i18n.py and translate"


# Calls whose first argument a user reads: a plain string literal there is untranslated.
_USER_TEXT_CALLS = {
    "QLabel",
    "QPushButton",
    "QCheckBox",
    "QGroupBox",
    "QAction",
    "QMenu",
    "setText",
    "setToolTip",
    "setPlaceholderText",
    "setWindowTitle",
    "setAccessibleName",
    "setAccessibleDescription",
    "setSpecialValueText",
    "setSuffix",
    "setPrefix",
    "addItem",
    "addMenu",
    "show_error",
    "show_info",
    "showMessage",
}


def untranslated_literals(path: Path) -> list[str]:
    """String literals with letters handed straight to a user-visible text call."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = getattr(node.func, "attr", getattr(node.func, "id", ""))
        first = node.args[0]
        if (
            name in _USER_TEXT_CALLS
            and isinstance(first, ast.Constant | ast.JoinedStr)
            and re.search(r"[A-Za-z]{2}", ast.unparse(first))
        ):
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(first)}")
    return found


def test_the_windows_files_hand_no_untranslated_text_to_widgets() -> None:
    # Language names are shown in their own language on purpose (LANGUAGE_NAMES).
    assert [line for path in OWN_FILES for line in untranslated_literals(path)] == []
