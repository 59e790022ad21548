"""The Settings page: it shows the settings, saves each change (once per burst, off the
GUI thread), keeps numbers inside the engine contract's bounds, applies the theme at
once, and reports a save that failed without losing the change."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication, QWheelEvent
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from llmos_desktop.core.engine.contract import LoadOptions, SamplingOptions
from llmos_desktop.core.paths import AppPaths, app_paths
from llmos_desktop.core.settings import (
    CHAT_MAX_TOKENS,
    Settings,
    SettingsWriter,
    load_settings,
)
from llmos_desktop.ui.main_window import MainWindow
from llmos_desktop.ui.settings_page import SettingsPage
from llmos_desktop.ui.theme import is_dark


@pytest.fixture
def paths() -> AppPaths:
    return app_paths().ensure()


PageFactory = Callable[..., SettingsPage]


@pytest.fixture
def make_page(
    qtbot: QtBot, paths: AppPaths, qasync_loop: asyncio.AbstractEventLoop
) -> Iterator[PageFactory]:
    """Settings pages on their own (no window), each with a writer that is closed after."""
    writers: list[SettingsWriter] = []

    def make(settings: Settings, writer: SettingsWriter | None = None) -> SettingsPage:
        writer = writer or SettingsWriter(paths.settings_file)
        writers.append(writer)
        page = SettingsPage(settings=settings, paths=paths, writer=writer)
        qtbot.addWidget(page)
        page.resize(800, 700)
        page.show()
        return page

    yield make
    for writer in writers:
        writer.close()


@pytest.fixture
def page(make_page: PageFactory) -> SettingsPage:
    return make_page(Settings())


def _saved(paths: AppPaths) -> dict[str, object]:
    data = json.loads(paths.settings_file.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _type_into(qtbot: QtBot, widget: QWidget, text: str) -> None:
    """Focus, select all, type, leave: as a user edits a field."""
    widget.setFocus()
    qtbot.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(widget, text)
    qtbot.keyClick(widget, Qt.Key.Key_Tab)


def test_the_page_shows_the_settings(make_page: PageFactory, paths: AppPaths) -> None:
    settings = Settings(
        sampling=SamplingOptions(temperature=0.3, top_p=0.9, top_k=20, min_p=0.1, max_tokens=None),
        load=LoadOptions(n_ctx=8192, n_gpu_layers=-1, n_threads=None),
        kv_state_disk_mb=0,
        theme="dark",
        language="zh_CN",
        enter_sends=False,
    )
    page = make_page(settings)
    assert page.temperature_spin.value() == pytest.approx(0.3)
    assert page.top_p_spin.value() == pytest.approx(0.9)
    assert page.top_k_spin.value() == 20
    assert page.min_p_spin.value() == pytest.approx(0.1)
    assert page.max_tokens_spin.text() == "No limit"
    assert page.context_spin.text() == "8,192 tokens"
    assert page.gpu_layers_spin.text() == "All"
    assert page.threads_spin.text() == "Automatic"
    assert page.kv_disk_spin.text() == "Off"
    assert page.theme_combo.currentText() == "Dark"
    assert page.language_combo.currentText() == "简体中文"
    assert not page.enter_sends_check.isChecked()
    assert page.data_folder_edit.text() == str(paths.data)
    assert page.models_folder_edit.text() == str(paths.models)
    assert page.data_folder_edit.isReadOnly()
    assert not paths.settings_file.exists(), "showing the settings writes nothing"


def test_a_burst_of_changes_is_saved_once(
    page: SettingsPage, qtbot: QtBot, paths: AppPaths
) -> None:
    saves: list[bool] = []
    changed: list[str] = []
    page.settings_saved.connect(lambda: saves.append(True))
    page.settings_changed.connect(changed.append)
    _type_into(qtbot, page.temperature_spin, "0.35")
    _type_into(qtbot, page.context_spin, "16384")
    _type_into(qtbot, page.kv_disk_spin, "512")
    assert "sampling" in changed and "load" in changed and "kv_state_disk_mb" in changed
    qtbot.waitUntil(lambda: bool(saves), timeout=5_000)
    qtbot.wait(600)  # longer than the save delay: no second write follows
    assert saves == [True]
    saved = load_settings(paths.settings_file)
    assert saved.sampling.temperature == pytest.approx(0.35)
    assert saved.load.n_ctx == 16384
    assert saved.kv_state_disk_mb == 512
    assert not page.save_pending


def test_numbers_stay_inside_the_contracts_bounds(
    page: SettingsPage, qtbot: QtBot, paths: AppPaths
) -> None:
    assert (page.context_spin.minimum(), page.context_spin.maximum()) == (128, 1_048_576)
    assert (page.temperature_spin.minimum(), page.temperature_spin.maximum()) == (0.0, 5.0)
    assert (page.top_p_spin.minimum(), page.top_p_spin.maximum()) == (0.0, 1.0)
    assert (page.gpu_layers_spin.minimum(), page.gpu_layers_spin.maximum()) == (-1, 10_000)
    assert page.repeat_penalty_spin.minimum() > 0  # the contract refuses 0 (gt=0)
    assert page.threads_spin.maximum() == 1024
    # Typed past the maximum: the field holds the maximum, and what is saved loads.
    _type_into(qtbot, page.context_spin, "99999999")
    assert page.context_spin.value() <= 1_048_576
    _type_into(qtbot, page.temperature_spin, "9")
    assert page.temperature_spin.value() <= 5.0
    page.repeat_penalty_spin.setFocus()
    for _ in range(300):  # hold the Down key
        qtbot.keyClick(page.repeat_penalty_spin, Qt.Key.Key_Down)
    assert page.repeat_penalty_spin.value() == pytest.approx(0.05)
    qtbot.waitUntil(lambda: paths.settings_file.exists() and not page.save_pending, timeout=5_000)
    raw = _saved(paths)
    assert raw["sampling"]["repeat_penalty"] > 0  # type: ignore[index]
    loaded = load_settings(paths.settings_file)  # nothing fell back to a default
    assert loaded.load.n_ctx == page.context_spin.value()
    assert loaded.sampling.repeat_penalty == pytest.approx(0.05)


def test_zero_means_no_limit_automatic_and_off(
    page: SettingsPage, qtbot: QtBot, paths: AppPaths
) -> None:
    page.max_tokens_spin.setFocus()
    page.max_tokens_spin.setValue(0)
    assert page.max_tokens_spin.text() == "No limit"
    page.threads_spin.setValue(4)
    page.threads_spin.setValue(0)
    assert page.threads_spin.text() == "Automatic"
    page.kv_disk_spin.setValue(0)
    assert page.kv_disk_spin.text() == "Off"
    page.gpu_layers_spin.setValue(-1)
    assert page.gpu_layers_spin.text() == "All"
    qtbot.waitUntil(lambda: paths.settings_file.exists() and not page.save_pending, timeout=5_000)
    saved = load_settings(paths.settings_file)
    assert saved.sampling.max_tokens is None  # until the context is full
    assert saved.load.n_threads is None  # llama.cpp's choice
    assert saved.load.n_gpu_layers == -1
    assert saved.kv_state_disk_mb == 0


def test_enter_sends_is_switched_from_the_keyboard(
    page: SettingsPage, qtbot: QtBot, paths: AppPaths
) -> None:
    with qtbot.waitSignal(page.settings_changed, timeout=2_000) as changed:
        page.enter_sends_check.setFocus()
        qtbot.keyClick(page.enter_sends_check, Qt.Key.Key_Space)
    assert changed.args == ["enter_sends"]
    qtbot.waitUntil(lambda: paths.settings_file.exists() and not page.save_pending, timeout=5_000)
    assert _saved(paths)["enter_sends"] is False


def test_the_language_is_kept_for_the_next_start(
    page: SettingsPage, qtbot: QtBot, paths: AppPaths
) -> None:
    assert page.language_hint.isVisible()
    assert "next time" in page.language_hint.text()
    page.language_combo.setFocus()
    qtbot.keyClick(page.language_combo, Qt.Key.Key_End)  # the last: 简体中文
    assert page.language_combo.currentText() == "简体中文"
    qtbot.waitUntil(lambda: paths.settings_file.exists() and not page.save_pending, timeout=5_000)
    assert _saved(paths)["language"] == "zh_CN"
    qtbot.keyClick(page.language_combo, Qt.Key.Key_Home)
    assert page.language_combo.currentText() == "System default"
    qtbot.waitUntil(lambda: not page.save_pending, timeout=5_000)
    qtbot.waitUntil(lambda: _saved(paths)["language"] is None, timeout=5_000)


def test_reset_gives_the_default_sampling_and_loading(
    make_page: PageFactory, qtbot: QtBot, paths: AppPaths
) -> None:
    settings = Settings(
        sampling=SamplingOptions(temperature=2.0, max_tokens=9),
        load=LoadOptions(n_ctx=512, chat_template="chatml"),
        kv_state_disk_mb=64,
    )
    page = make_page(settings)
    qtbot.mouseClick(page.reset_button, Qt.MouseButton.LeftButton)
    assert page.temperature_spin.value() == pytest.approx(SamplingOptions().temperature)
    assert page.max_tokens_spin.value() == CHAT_MAX_TOKENS
    assert page.context_spin.value() == LoadOptions().n_ctx
    assert settings.load.chat_template == "chatml"  # not on this page: kept
    assert settings.kv_state_disk_mb == 64  # not sampling or loading: kept
    qtbot.waitUntil(lambda: paths.settings_file.exists() and not page.save_pending, timeout=5_000)
    assert load_settings(paths.settings_file).sampling == SamplingOptions(
        max_tokens=CHAT_MAX_TOKENS
    )


def test_a_failed_save_is_reported_and_the_change_kept(
    make_page: PageFactory, qtbot: QtBot, paths: AppPaths, tmp_path: Path
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the config folder should be")
    writer = SettingsWriter(blocker / "settings.json")
    settings = Settings()
    page = make_page(settings, writer)
    _type_into(qtbot, page.top_k_spin, "7")
    qtbot.waitUntil(lambda: page.banner.text() != "", timeout=5_000)
    assert page.banner.kind == "error"
    assert "could not be saved" in page.banner.text()
    assert str(blocker) in page.banner.text()
    assert settings.sampling.top_k == 7  # the change is kept in the app
    # The folder is writable again: the next change saves everything, and says nothing.
    writer.path = paths.settings_file
    _type_into(qtbot, page.top_k_spin, "8")
    qtbot.waitUntil(lambda: page.banner.text() == "", timeout=5_000)
    assert load_settings(paths.settings_file).sampling.top_k == 8


def test_folders_open_in_the_file_manager(
    page: SettingsPage, qtbot: QtBot, paths: AppPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[QUrl] = []

    def open_url(url: QUrl) -> bool:
        opened.append(url)
        return len(opened) < 2  # the second one: as if no file manager were installed

    # Offscreen there is no desktop to open a folder in: the one stand-in of this file.
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(open_url))
    assert page.open_data_button.isEnabled() and page.open_models_button.isEnabled()
    qtbot.mouseClick(page.open_data_button, Qt.MouseButton.LeftButton)
    assert opened == [QUrl.fromLocalFile(str(paths.data))]
    assert page.banner.text() == ""
    qtbot.mouseClick(page.open_models_button, Qt.MouseButton.LeftButton)
    assert opened[1] == QUrl.fromLocalFile(str(paths.models))
    assert str(paths.models) in page.banner.text()


def test_the_wheel_turns_only_a_focused_spin_box(page: SettingsPage, qtbot: QtBot) -> None:
    spin = page.top_k_spin
    before = spin.value()

    def wheel() -> None:
        centre = QPointF(spin.rect().center())
        event = QWheelEvent(
            centre,
            QPointF(spin.mapToGlobal(centre.toPoint())),
            QPoint(0, 0),
            QPoint(0, 120),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(spin, event)

    page.context_spin.setFocus()
    wheel()  # scrolling the page over it
    assert spin.value() == before
    spin.setFocus()
    wheel()
    assert spin.value() == before + 1


def test_the_theme_changes_at_once_and_follows_the_system(
    fresh_window: MainWindow, qtbot: QtBot, platform_theme: None
) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    fresh_window.show_page(fresh_window.SETTINGS_PAGE)
    page = fresh_window.settings_page
    combo = page.theme_combo
    assert combo.currentText() == "System"
    assert not is_dark(app.palette())
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_End)
    assert combo.currentText() == "Dark"
    assert is_dark(app.palette())
    assert fresh_window.theme.dark
    qtbot.waitUntil(lambda: is_dark(page.palette()), timeout=2_000)
    qtbot.keyClick(combo, Qt.Key.Key_Up)
    assert combo.currentText() == "Light"
    assert not is_dark(app.palette())

    # The desktop switches to dark mode (Qt reports it through QStyleHints; offscreen
    # there is no desktop, so the signal is sent as the platform would send it).
    hints = QGuiApplication.styleHints()
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert not is_dark(app.palette()), "Light was chosen: the system's mode does not matter"
    qtbot.keyClick(combo, Qt.Key.Key_Home)
    assert combo.currentText() == "System"
    assert is_dark(app.palette()), "System follows the dark mode the desktop reported"
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert not is_dark(app.palette())
    qtbot.waitUntil(lambda: not page.save_pending, timeout=5_000)
    assert load_settings(fresh_window.paths.settings_file).theme == "system"


def test_settings_still_apply_after_the_lab_was_opened(
    fresh_window: MainWindow, qtbot: QtBot, platform_theme: None
) -> None:
    """Found in review: once the Lab's service existed, a changed theme, Enter-sends or
    sampling setting reached the Lab only, not the window or the chat."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    fresh_window.show_page(fresh_window.LAB_PAGE)
    assert fresh_window.lab is not None
    fresh_window.show_page(fresh_window.SETTINGS_PAGE)
    page = fresh_window.settings_page
    page.theme_combo.setFocus()
    qtbot.keyClick(page.theme_combo, Qt.Key.Key_End)
    assert page.theme_combo.currentText() == "Dark"
    assert is_dark(app.palette())
    _type_into(qtbot, page.top_k_spin, "13")
    assert fresh_window.chat_page.session.sampling.top_k == 13
    assert fresh_window.lab.settings.sampling.top_k == 13


def test_sampling_changes_reach_the_next_reply(fresh_window: MainWindow, qtbot: QtBot) -> None:
    fresh_window.show_page(fresh_window.SETTINGS_PAGE)
    page = fresh_window.settings_page
    _type_into(qtbot, page.top_k_spin, "12")
    assert fresh_window.chat_page.session.sampling.top_k == 12


def test_the_apps_catalogue_is_a_repository_or_nothing(
    fresh_window: MainWindow, qtbot: QtBot
) -> None:
    page = fresh_window.settings_page
    changed: list[str] = []
    page.settings_changed.connect(changed.append)
    page.catalogue_edit.setText("not a repository!")
    page.catalogue_edit.editingFinished.emit()
    assert "owner/name" in page.banner.text()
    assert fresh_window.settings.apps_catalogue_repo is None and changed == []

    page.catalogue_edit.setText(" someone/llm-apps ")
    page.catalogue_edit.editingFinished.emit()
    assert fresh_window.settings.apps_catalogue_repo == "someone/llm-apps"
    assert changed == ["apps_catalogue_repo"]
    assert page.banner.text() == ""

    page.catalogue_edit.setText("")
    page.catalogue_edit.editingFinished.emit()
    assert fresh_window.settings.apps_catalogue_repo is None
