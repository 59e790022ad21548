"""The Store page, as a user drives it: real widgets (offscreen), the real AppsService with
the real built-in catalogue (resources/apps/catalogue), installed apps as real files in a
temporary data folder, and, for the tests marked ``model``, the real engine running the
starter model (SmolLM2-135M-Instruct), loaded by the page itself as a fresh install would.

What a user checks: the catalogue lists the built-in apps by category, and search finds
them in English and Chinese; an app's page shows what it does, its inputs, its version,
author and licence, and offers the recommended model; Install puts the app in the
Installed tab (and a file on disk), an older installed version shows an update, Remove
takes it away; the builder's preview shows the rendered prompt as it is typed, and an
error appears next to the field at fault; running a form app streams its answer, Stop
keeps what was written, Copy and Save give the same text; a structured app's answer is a
table; a chat app hands the chat a preset.

No stand-ins: the remote catalogue is off (``catalogue_repo=None``); the file dialogs are
the real ones, answered as a user would (their ``fileSelected``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QLocale, Qt
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
)
from pytestqt.qtbot import QtBot

from llmos_desktop.core.apps.manifest import AppError, AppManifest, parse_manifest
from llmos_desktop.core.apps.package import builtin_catalogue, read_llmapp
from llmos_desktop.core.apps.runner import AppRunResult, ChatPreset
from llmos_desktop.core.apps.service import AppsService
from llmos_desktop.core.engine.contract import LoadOptions, ModelLoad
from llmos_desktop.core.engine.control.service import Engine
from llmos_desktop.core.paths import AppPaths, app_paths
from llmos_desktop.core.settings import Settings
from llmos_desktop.ui.status_bar import EngineState
from llmos_desktop.ui.store.catalogue_view import ALL
from llmos_desktop.ui.store.model_choice import plan_model
from llmos_desktop.ui.store.page import BUILD_TAB, INSTALLED_TAB, StorePage
from llmos_desktop.ui.store.result_view import StructuredResultView
from tests.ui.conftest import StallWatch, run_on_loop

CONTACTS = "llmos.contacts"
TRANSLATOR = "llmos.translator"


@pytest.fixture
def paths() -> AppPaths:
    return app_paths().ensure()


@pytest.fixture
def settings() -> Settings:
    return Settings(load=LoadOptions(n_ctx=2048, n_threads=2))


@pytest.fixture
def service(paths: AppPaths, settings: Settings) -> Iterator[AppsService]:
    with AppsService(paths, settings, catalogue_repo=None) as made:
        yield made


PageFactory = Callable[..., StorePage]


@pytest.fixture
def make_page(
    qtbot: QtBot,
    service: AppsService,
    settings: Settings,
    qasync_loop: asyncio.AbstractEventLoop,
) -> Iterator[PageFactory]:
    pages: list[StorePage] = []

    def make(engine: Engine | None = None) -> StorePage:
        page = StorePage(service, settings, None, engine=engine)
        qtbot.addWidget(page)
        page.resize(1100, 720)
        pages.append(page)
        return page

    yield make
    for page in pages:
        run_on_loop(page.shutdown(), 30)


@pytest.fixture
def engine(paths: AppPaths, settings: Settings) -> Iterator[Engine]:
    """A real Engine service; its process starts only when a model is loaded."""
    from llmos_desktop.app import build_engine

    made = build_engine(paths, settings)
    yield made
    run_on_loop(made.close(), 30)


def _shown(qtbot: QtBot, page: StorePage) -> StorePage:
    with qtbot.waitSignal(page.catalogue_changed, timeout=20_000):
        page.show()
    return page


def _click(qtbot: QtBot, button: QPushButton) -> None:
    assert button.isVisible() and button.isEnabled(), button.objectName()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _type_with_ime(edit: QLineEdit, text: str) -> None:
    """What an input method's commit does (QTest types ASCII only)."""
    edit.insert(text)
    edit.textEdited.emit(edit.text())


def _names(page: StorePage) -> list[str]:
    model = page.catalogue_view.model
    return [str(model.data(model.index(row, 0))) for row in range(model.rowCount())]


def _open(qtbot: QtBot, page: StorePage, app_id: str) -> None:
    """Open an app's page the way a user does: a click on its row in the list."""
    view = page.catalogue_view
    view.search_edit.clear()
    view.select_category(ALL)
    row = view.shown_ids().index(app_id)
    rect = view.list.visualRect(view.model.index(row, 0))
    view.list.scrollTo(view.model.index(row, 0))
    rect = view.list.visualRect(view.model.index(row, 0))
    qtbot.mouseClick(view.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert page.stack.currentWidget() is page.app_page
    assert page.app_page.app is not None and page.app_page.app.id == app_id


# --- browse and search -----------------------------------------------------------------


def test_browse_by_category_and_search(qtbot: QtBot, make_page: PageFactory) -> None:
    page = make_page()
    with StallWatch() as stalls:
        _shown(qtbot, page)
    builtin = builtin_catalogue()
    assert len(builtin) >= 12
    view = page.catalogue_view
    assert sorted(view.shown_ids()) == sorted(app.id for app in builtin)
    # Every category of the catalogue has its entry (with its count), after "All apps".
    categories = view.category_names()
    assert categories[0] == ALL
    assert set(categories[1:]) == {app.category for app in builtin}
    assert any(view.categories.item(r).text().startswith("Code (") for r in range(len(categories)))

    assert view.select_category("code")
    code = {app.id for app in builtin if app.category == "code"}
    assert set(view.shown_ids()) == code and len(code) >= 3
    assert view.select_category("data")
    assert CONTACTS in view.shown_ids()

    view.select_category(ALL)
    qtbot.keyClicks(view.search_edit, "contact")
    assert view.shown_ids() == [CONTACTS]
    assert _names(page) == ["Contact extractor"]
    view.search_edit.clear()
    qtbot.keyClicks(view.search_edit, "explains CODE")  # words match separately, any case
    assert "llmos.code-explain" in view.shown_ids() and set(view.shown_ids()) <= code
    view.search_edit.clear()
    view.search_edit.setText("翻译")  # the Chinese name is searched too (typed with an IME)
    assert TRANSLATOR in view.shown_ids()
    view.search_edit.clear()
    qtbot.keyClicks(view.search_edit, "no such app anywhere")
    assert view.shown_ids() == []
    assert view.status_label.text() == "No app matches this search."
    view.search_edit.clear()
    assert len(view.shown_ids()) == len(builtin)
    assert stalls.longest < 0.25


def test_the_window_language_picks_the_app_names(qtbot: QtBot, make_page: PageFactory) -> None:
    """In a Chinese window (i18n sets the default locale) names are the Chinese ones."""
    QLocale.setDefault(QLocale("zh_CN"))
    try:
        page = _shown(qtbot, make_page())
        translator = next(a for a in builtin_catalogue() if a.id == TRANSLATOR)
        page.catalogue_view.search_edit.setText("llmos.translator")
        assert _names(page) == [translator.display_name("zh_CN")] == ["翻译"]
        _open(qtbot, page, TRANSLATOR)
        assert page.app_page.title_label.text() == "翻译"
        assert page.app_page.description_label.text() == translator.display_description("zh_CN")
    finally:
        QLocale.setDefault(QLocale.system())


# --- an app's page ---------------------------------------------------------------------


def test_an_app_page_shows_what_the_app_is_and_offers_its_model(
    qtbot: QtBot, engine: Engine, make_page: PageFactory
) -> None:
    page = _shown(qtbot, make_page(engine))
    contacts = next(a for a in builtin_catalogue() if a.id == CONTACTS)
    _open(qtbot, page, CONTACTS)
    app_page = page.app_page
    assert app_page.title_label.text() == "Contact extractor"
    facts = app_page.facts_label.text()
    for part in (contacts.author, "version 1.0.0", "licence: " + contacts.licence):
        assert part in facts
    assert app_page.description_label.text() == contacts.display_description("en")
    labels: list[QLabel] = list(app_page.findChildren(QLabel))
    shown = [label.text() for label in labels if label.isVisible()]
    assert "Text *" in shown  # the input, required
    assert contacts.recommended_models[0].repo_id in shown
    assert app_page.install_button.text().replace("&", "") == "Install"
    assert not app_page.remove_button.isVisible()

    # Nothing is loaded: the starter would run it, and the page says it is too small;
    # the recommended model is one click away, handed to the Models page.
    qtbot.waitUntil(lambda: "starter model" in app_page.model_label.text(), timeout=20_000)
    assert "Get it below" in app_page.model_label.text()
    wanted = contacts.recommended_models[0]
    with qtbot.waitSignal(page.model_wanted, timeout=2000) as signal:
        _click(qtbot, app_page.model_buttons[0])
    assert signal.args == [wanted.repo_id, wanted.file]

    _click(qtbot, app_page.back_button)
    assert page.stack.currentWidget() is page.tabs


def test_model_plan_without_any_model_offers_the_recommended_one() -> None:
    """The page's choice of model, with nothing loaded, nothing in the library and no
    starter: not runnable. With a loaded model of too small a context: runnable, and it
    says so."""
    contacts = next(a for a in builtin_catalogue() if a.id == CONTACTS)
    plan = plan_model(contacts, None, models=None, base=LoadOptions(), starter=None)
    assert plan.kind == "none" and not plan.runnable
    loaded = ModelLoad(path="/models/other.gguf", n_ctx=1024)
    plan = plan_model(contacts, loaded, models=None, base=LoadOptions(), starter=None)
    assert plan.kind == "loaded" and plan.runnable and not plan.recommended
    assert plan.short_context == 1024 and plan.min_context == 4096


def test_descriptions_are_shown_as_plain_text(
    qtbot: QtBot, make_page: PageFactory, service: AppsService
) -> None:
    """A description may hold "<" (``x < y``); it is never read as markup."""
    base = next(a for a in builtin_catalogue() if a.id == TRANSLATOR).to_dict()
    hostile = "<b>bold</b> <img src='file:///etc/passwd'> &amp; x < y"
    base["id"] = "test.markup"
    base["description"] = hostile
    base["localized"]["en"]["description"] = hostile
    service.install(parse_manifest(base))
    page = _shown(qtbot, make_page())
    _open(qtbot, page, "test.markup")
    label = page.app_page.description_label
    assert label.textFormat() == Qt.TextFormat.PlainText
    assert label.text() == hostile


# --- install, update, remove -------------------------------------------------------------


def test_install_update_and_remove(
    qtbot: QtBot, make_page: PageFactory, service: AppsService, paths: AppPaths
) -> None:
    page = _shown(qtbot, make_page())
    installed_file = paths.data / "apps" / f"{CONTACTS}.llmapp"
    _open(qtbot, page, CONTACTS)
    with qtbot.waitSignal(page.catalogue_changed, timeout=20_000):
        _click(qtbot, page.app_page.install_button)
    assert installed_file.is_file()
    assert read_llmapp(installed_file).id == CONTACTS
    assert "installed" in page.banner.text()
    assert page.installed_view.shown_ids() == [CONTACTS]
    assert page.app_page.remove_button.isVisible()
    assert not page.app_page.install_button.isVisible()

    # Remove asks first, then the app leaves the Installed tab and the disk.
    _click(qtbot, page.app_page.remove_button)
    box = next(d for d in page.dialogs if isinstance(d, QMessageBox))
    remove = next(b for b in box.buttons() if b.text().replace("&", "") == "Remove")
    with qtbot.waitSignal(page.catalogue_changed, timeout=20_000):
        remove.click()
    assert not installed_file.exists()
    assert page.installed_view.shown_ids() == []
    assert CONTACTS in page.catalogue_view.shown_ids()  # still in the catalogue

    # An older version installed: the catalogue's is an update.
    older = next(a for a in builtin_catalogue() if a.id == TRANSLATOR).changed(version="0.9.0")
    service.install(older)
    with qtbot.waitSignal(page.catalogue_changed, timeout=20_000):
        page.refresh()
    assert page.tabs.tabText(INSTALLED_TAB).replace("&", "") == "Installed (updates: 1)"
    row = page.installed_view.row_for(TRANSLATOR)
    assert row is not None and row.update and row.installed_version == "0.9.0"
    page.stack.setCurrentWidget(page.tabs)
    _open(qtbot, page, TRANSLATOR)
    assert page.app_page.install_button.text().replace("&", "") == "Update to 1.0.0"
    with qtbot.waitSignal(page.catalogue_changed, timeout=20_000):
        _click(qtbot, page.app_page.install_button)
    assert service.store.get(TRANSLATOR).version == "1.0.0"
    assert page.tabs.tabText(INSTALLED_TAB).replace("&", "") == "Installed"


def test_install_from_a_file_and_a_bad_file_is_refused(
    qtbot: QtBot, make_page: PageFactory, tmp_path: Path
) -> None:
    page = _shown(qtbot, make_page())
    page.tabs.setCurrentIndex(INSTALLED_TAB)
    good = tmp_path / "poem.llmapp"
    good.write_bytes(
        (Path(__file__).parents[2] / "resources/apps/catalogue/poem.llmapp").read_bytes()
    )
    bad = tmp_path / "bad.llmapp"
    bad.write_text(json.dumps({"format_version": 1, "id": "x", "surprise": True}))

    _click(qtbot, page.import_button)
    dialog = next(d for d in page.dialogs if isinstance(d, QFileDialog))
    with qtbot.waitSignal(page.catalogue_changed, timeout=20_000):
        dialog.fileSelected.emit(str(good))
    assert page.installed_view.shown_ids() == ["llmos.poem"]

    task = page.install_file(bad)
    qtbot.waitUntil(task.done, timeout=20_000)
    assert task.result() is None
    assert page.banner.kind == "error"
    assert "bad.llmapp was not installed" in page.banner.text()
    assert "surprise" in page.banner.text() or "name" in page.banner.text()
    assert page.installed_view.shown_ids() == ["llmos.poem"]


def test_a_remote_catalogue_adds_apps_and_updates_and_its_failure_keeps_the_builtin(
    qtbot: QtBot, paths: AppPaths, qasync_loop: asyncio.AbstractEventLoop
) -> None:
    """The catalogue repository on the Hub-compatible test server: Refresh lists its apps,
    a newer version of an installed app shows as an update, a file whose SHA-256 is not
    the index's is left out; with the server gone, the built-in apps stay."""
    from llmos_desktop.core.apps.package import llmapp_bytes, llmapp_sha256
    from llmos_desktop.core.models.hub_token import TokenStore
    from llmos_desktop.core.models.service import ModelsService
    from tests.helpers.hub_server import FakeHub

    builtin = {a.id: a for a in builtin_catalogue()}
    # An app someone shares (built-in ids are refused from catalogues: see test_apps_remote).
    shared = builtin[TRANSLATOR].changed(id="community.translator", version="1.0.0")
    newer = shared.changed(version="1.1.0")
    haiku = builtin["llmos.poem"].changed(id="community.haiku", version="2.0.0")
    tampered = builtin["llmos.story"].changed(id="community.tampered")
    files = {
        "translator.llmapp": llmapp_bytes(newer),
        "haiku.llmapp": llmapp_bytes(haiku),
        "tampered.llmapp": llmapp_bytes(tampered),
    }
    index = {
        "format_version": 1,
        "apps": [
            {
                "id": read_llmapp(data).id,
                "version": read_llmapp(data).version,
                "file": name,
                "sha256": llmapp_sha256(data if name != "tampered.llmapp" else b"other"),
            }
            for name, data in files.items()
        ],
    }
    with FakeHub() as hub:
        hub.add_repo("community/apps", {"index.json": json.dumps(index).encode(), **files})
        settings = Settings(hub_endpoint=hub.url, http_proxy="")
        models = ModelsService(
            paths,
            settings,
            token=TokenStore(paths.config / "token", use_keyring=False),
            starter=None,
            environ={},
        )
        service = AppsService(paths, settings, models=models, catalogue_repo="community/apps")
        service.store.install(llmapp_bytes(shared))
        page = StorePage(service, settings)
        qtbot.addWidget(page)
        page.resize(1100, 720)
        try:
            _shown(qtbot, page)
            view = page.catalogue_view
            assert view.refresh_button.isVisible()
            assert "community.haiku" not in view.shown_ids()
            with qtbot.waitSignal(page.catalogue_changed, timeout=30_000):
                _click(qtbot, view.refresh_button)
            assert "community.haiku" in view.shown_ids()
            assert "community.tampered" not in view.shown_ids()
            assert "1 apps of the remote catalogue were left out" in view.status_label.text()
            row = page.installed_view.row_for("community.translator")
            assert row is not None and row.update and row.app.version == "1.1.0"
            assert page.tabs.tabText(INSTALLED_TAB).replace("&", "") == "Installed (updates: 1)"

            hub.stop()  # the server is gone: a refresh fails, and nothing disappears
            with qtbot.waitSignal(page.catalogue_changed, timeout=60_000):
                _click(qtbot, view.refresh_button)
            assert page.banner.kind == "error"
            assert "the built-in apps are still here" in page.banner.text()
            assert set(builtin) <= set(view.shown_ids())
            assert "community.haiku" in view.shown_ids()  # read before: still listed
        finally:
            run_on_loop(page.shutdown(), 30)
            service.close()
            models.close()


# --- the builder ------------------------------------------------------------------------


def test_builder_previews_the_prompt_and_shows_errors_next_to_fields(
    qtbot: QtBot, make_page: PageFactory, service: AppsService, tmp_path: Path
) -> None:
    page = _shown(qtbot, make_page())
    page.open_builder()
    builder = page.builder
    assert page.tabs.currentIndex() == BUILD_TAB
    qtbot.waitUntil(lambda: builder.app is not None, timeout=20_000)  # a new app is valid

    # The template names an input that does not exist: the error is next to the
    # template, and Save waits.
    with qtbot.waitSignal(builder.checked, timeout=20_000):
        builder.template_edit.setPlainText("Translate into {{ language }}:\n\n{{ text }}")
    assert "'language', which is not an input" in builder.error_for("prompt_template")
    assert builder.error_for("name") == ""
    assert not builder.save_button.isEnabled()

    # Add the input (a choice) in the inputs editor, as a user types it.
    editor = builder.inputs_editor
    _click(qtbot, editor.add_button)
    editor.name_edit.selectAll()
    qtbot.keyClicks(editor.name_edit, "language")
    editor.type_combo.setCurrentIndex(editor.type_combo.findData("choice"))
    qtbot.keyClicks(editor.label_edit, "Language")
    with qtbot.waitSignal(builder.checked, timeout=20_000):
        qtbot.keyClicks(editor.choices_edit, "French")
    # One choice is not enough: said next to the choices of that input.
    qtbot.waitUntil(lambda: "at least 2 choices" in editor.error_text(), timeout=20_000)
    assert editor.errors["choices"].isVisible()
    with qtbot.waitSignal(builder.checked, timeout=20_000):
        qtbot.keyClicks(editor.choices_edit, ", German")
    qtbot.waitUntil(lambda: builder.app is not None, timeout=20_000)
    assert editor.error_text() == ""

    # The live preview: the prompt for the preview's values, as they are typed.
    preview = builder.preview_form
    assert set(preview.editors) == {"text", "language"}
    with qtbot.waitSignal(builder.checked, timeout=20_000):
        qtbot.keyClicks(preview.editors["text"], "Good morning")
    assert builder.preview_text.toPlainText() == "Translate into French:\n\nGood morning"

    # A bad id and a missing Chinese name: each error next to its own field.
    builder.id_edit.clear()
    qtbot.keyClicks(builder.id_edit, "Bad Id")
    with qtbot.waitSignal(builder.checked, timeout=20_000):
        builder.name_zh_edit.clear()
        builder.name_zh_edit.textEdited.emit("")
    qtbot.waitUntil(lambda: builder.error_for("id") != "", timeout=20_000)
    assert "lowercase letters" in builder.error_for("id")
    assert builder.error_for("localized.zh_CN.name") != ""
    assert builder.error_for("prompt_template") == ""
    assert not builder.save_button.isEnabled()
    # The preview still renders while the app is not valid.
    assert builder.preview_text.toPlainText() == "Translate into French:\n\nGood morning"

    builder.id_edit.clear()
    qtbot.keyClicks(builder.id_edit, "me.translate")
    with qtbot.waitSignal(builder.checked, timeout=20_000):
        _type_with_ime(builder.name_zh_edit, "翻译一下")
    qtbot.waitUntil(lambda: builder.save_button.isEnabled(), timeout=20_000)

    # Save installs it (with the preview's values as its example); Export writes a file.
    with qtbot.waitSignal(page.catalogue_changed, timeout=20_000):
        _click(qtbot, builder.save_button)
    saved = service.store.get("me.translate")
    assert saved.display_name("zh_CN") == "翻译一下"
    assert [f.name for f in saved.inputs] == ["text", "language"]
    assert saved.examples == [{"text": "Good morning", "language": "French"}]
    assert "me.translate" in page.installed_view.shown_ids()

    _click(qtbot, builder.export_button)
    dialog = next(d for d in page.dialogs if isinstance(d, QFileDialog))
    assert dialog.acceptMode() == QFileDialog.AcceptMode.AcceptSave
    target = tmp_path / "mine.llmapp"
    with qtbot.waitSignal(page.saved, timeout=20_000):
        dialog.fileSelected.emit(str(target))
    assert read_llmapp(target) == saved


def _png(width: int, height: int, colour: str = "#d02020") -> bytes:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QColor, QImage, QImageWriter

    image = QImage(width, height, QImage.Format.Format_ARGB32)
    image.fill(QColor(colour))
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    assert QImageWriter(buffer, QByteArray(b"png")).write(image)
    return bytes(buffer.data().data())


def _huge_png() -> bytes:
    """A 60-byte PNG whose header claims 100000 x 100000 pixels (40 GB decoded)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 6, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 8)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_icons_are_checked_before_qt_decodes_them(
    qtbot: QtBot, make_page: PageFactory, service: AppsService, tmp_path: Path
) -> None:
    from llmos_desktop.core.apps.icon import icon_data_uri

    red = _png(24, 24)
    with_icon = next(a for a in builtin_catalogue() if a.id == TRANSLATOR).changed(
        id="test.icon", icon=icon_data_uri(red)
    )
    service.install(with_icon)
    page = _shown(qtbot, make_page())
    image = page.icon_for(with_icon, 44).toImage()
    assert image.pixelColor(22, 22).name() == "#d02020"  # its own icon, decoded

    page.open_builder()
    builder = page.builder
    huge = tmp_path / "huge.png"
    huge.write_bytes(_huge_png())
    _click(qtbot, builder.icon_button)
    dialog = next(d for d in page.dialogs if isinstance(d, QFileDialog))
    dialog.fileSelected.emit(str(huge))
    qtbot.waitUntil(lambda: builder.error_for("icon") != "", timeout=20_000)
    assert "100000x100000" in builder.error_for("icon")
    assert "icon" not in builder.draft()

    good = tmp_path / "good.png"
    good.write_bytes(red)
    task = page.choose_icon(good)
    qtbot.waitUntil(task.done, timeout=20_000)
    assert task.result() is True
    assert builder.draft()["icon"] == icon_data_uri(red)
    assert not builder.icon_preview.pixmap().isNull()


def test_edit_a_copy_opens_the_builder_with_the_app(qtbot: QtBot, make_page: PageFactory) -> None:
    page = _shown(qtbot, make_page())
    _open(qtbot, page, CONTACTS)
    _click(qtbot, page.app_page.edit_button)
    builder = page.builder
    assert page.stack.currentWidget() is page.tabs and page.tabs.currentIndex() == BUILD_TAB
    assert builder.id_edit.text() == CONTACTS + "-copy"
    assert builder.mode_combo.currentData() == "structured"
    assert json.loads(builder.schema_edit.toPlainText())["type"] == "object"
    qtbot.waitUntil(lambda: builder.app is not None, timeout=20_000)
    assert "Maria Lopez" in builder.preview_text.toPlainText()  # its example, rendered


# --- running -------------------------------------------------------------------------------


def test_an_input_error_is_shown_next_to_the_input(
    qtbot: QtBot, engine: Engine, make_page: PageFactory
) -> None:
    page = _shown(qtbot, make_page(engine))
    _open(qtbot, page, CONTACTS)
    _click(qtbot, page.app_page.run_button)
    run = page.run_view
    assert page.stack.currentWidget() is run
    assert run.form.values() == {}  # the text input starts empty
    with qtbot.waitSignal(page.run_finished, timeout=30_000) as finished:
        _click(qtbot, run.run_button)
    error = finished.args[0]
    assert isinstance(error, AppError) and error.kind == "input" and error.field == "text"
    assert run.form.error_text("text") == "text: is required"
    assert engine.pid is None, "no model was loaded for a form that is not filled in"
    # An example fills the form and the error goes.
    _click(qtbot, run.example_buttons[0])
    assert "Maria Lopez" in str(run.form.values()["text"])
    assert run.form.error_text("text") == ""


def test_a_chat_app_hands_the_chat_a_preset(
    qtbot: QtBot, engine: Engine, make_page: PageFactory
) -> None:
    page = _shown(qtbot, make_page(engine))
    partner = next(a for a in builtin_catalogue() if a.id == "llmos.language-partner")
    _open(qtbot, page, partner.id)
    assert page.app_page.run_button.text().replace("&", "") == "Open in chat"
    _click(qtbot, page.app_page.run_button)
    run = page.run_view
    _click(qtbot, run.example_buttons[0])
    with qtbot.waitSignal(page.chat_requested, timeout=20_000) as signal:
        _click(qtbot, run.run_button)
    preset = signal.args[0]
    assert isinstance(preset, ChatPreset)
    assert preset.app_id == partner.id
    assert preset.system_prompt == partner.system_prompt
    assert preset.first_message is not None and "food" in preset.first_message
    assert engine.pid is None  # the chat page runs it, with its model


def test_a_structured_result_is_shown_as_a_table(qtbot: QtBot) -> None:
    """The contacts app's schema and a result that follows it: one column per property,
    titled as the schema says, one row per contact; values as plain text."""
    contacts = next(a for a in builtin_catalogue() if a.id == CONTACTS)
    view = StructuredResultView()
    qtbot.addWidget(view)
    result = {
        "contacts": [
            {
                "name": "Maria Lopez",
                "email": "maria@x.example",
                "phone": "+44 1",
                "organisation": "<b>B</b>",
            },
            {"name": "Tom Becker", "email": "tom@y.example", "phone": "", "organisation": ""},
        ]
    }
    view.set_result(result, contacts.output_schema)
    assert view.table_headers() == ["Name", "Email", "Phone", "Organisation"]
    assert view.table_cells() == [
        ["Maria Lopez", "maria@x.example", "+44 1", "<b>B</b>"],
        ["Tom Becker", "tom@y.example", "", ""],
    ]
    view.set_result({"contacts": []}, contacts.output_schema)
    assert view.table_headers() == ["Name", "Email", "Phone", "Organisation"]
    assert view.table_cells() == []


@pytest.mark.model
def test_run_a_form_app_streams_stops_copies_and_saves(
    qtbot: QtBot,
    engine: Engine,
    make_page: PageFactory,
    chat_model_path: Path,
    tmp_path: Path,
) -> None:
    """A fresh install: nothing loaded, so Run loads the starter, then streams."""
    page = _shown(qtbot, make_page(engine))
    states: list[EngineState] = []
    page.engine_state_changed.connect(lambda state, _model, _progress: states.append(state))
    _open(qtbot, page, "llmos.poem")
    qtbot.waitUntil(lambda: "starter model" in page.app_page.model_label.text(), timeout=30_000)
    _click(qtbot, page.app_page.run_button)
    run = page.run_view
    _click(qtbot, run.example_buttons[0])
    with (
        StallWatch() as stalls,
        qtbot.waitSignal(page.run_finished, timeout=180_000) as finished,
    ):
        _click(qtbot, run.run_button)
        assert run.stop_button.isEnabled() and not run.run_button.isEnabled()
        # Text appears while the reply is still being written.
        qtbot.waitUntil(lambda: run.text_view.text() != "", timeout=120_000)
        assert page.running
    result = finished.args[0]
    assert isinstance(result, AppRunResult), result
    assert result.text.strip() and run.text() == result.text
    assert engine.loaded is not None and Path(engine.loaded.path).name == chat_model_path.name
    assert EngineState.LOADING in states and EngineState.REPLYING in states
    assert states[-1] == EngineState.READY
    assert run.status_label.text().startswith("Done")
    assert stalls.longest < 0.25
    # The model is loaded now: the app page says so.
    qtbot.waitUntil(lambda: "loaded now" in page.app_page.model_label.text(), timeout=20_000)

    # Copy and Save give the text that was shown.
    QApplication.clipboard().clear()
    _click(qtbot, run.copy_button)
    assert QApplication.clipboard().text() == result.text
    _click(qtbot, run.save_button)
    dialog = next(d for d in page.dialogs if isinstance(d, QFileDialog))
    assert dialog.acceptMode() == QFileDialog.AcceptMode.AcceptSave
    target = tmp_path / "poem.md"
    with qtbot.waitSignal(page.saved, timeout=20_000):
        dialog.fileSelected.emit(str(target))
    assert target.read_text(encoding="utf-8") == result.text

    # Stop: a longer answer is stopped after its first words; what was written stays.
    run.form.set_values({"subject": "the sea, in great detail", "form": "free verse"})
    with qtbot.waitSignal(page.run_finished, timeout=120_000) as stopped:
        _click(qtbot, run.run_button)
        qtbot.waitUntil(lambda: run.text_view.text() != "", timeout=120_000)
        _click(qtbot, run.stop_button)
    assert stopped.args[0] is None
    assert run.status_label.text() == "Stopped; what was written is kept."
    assert run.text() != "" and run.text_view.text() != ""
    assert run.run_button.isEnabled() and not run.stop_button.isEnabled()


def _people_app() -> AppManifest:
    """A small structured app made from the contacts app: people and their roles, at
    most three, short strings. The engine's grammar makes small models slow (about one
    token a second for SmolLM2 on two busy cores), so its answer is kept short."""
    contacts = next(a for a in builtin_catalogue() if a.id == CONTACTS)
    person = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "title": "Name", "maxLength": 24},
            "role": {"type": "string", "title": "Role", "maxLength": 24},
        },
        "required": ["name", "role"],
        "additionalProperties": False,
    }
    return contacts.changed(
        id="test.people",
        output_schema={
            "type": "object",
            "properties": {"people": {"type": "array", "maxItems": 3, "items": person}},
            "required": ["people"],
            "additionalProperties": False,
        },
        sampling=contacts.sampling.model_copy(update={"max_tokens": 160}),
        examples=[{"text": "Maria Lopez is our head of design. Tom Becker is our accountant."}],
    )


@pytest.mark.model
def test_run_a_structured_app_shows_its_result_as_a_table(
    qtbot: QtBot,
    engine: Engine,
    make_page: PageFactory,
    service: AppsService,
    chat_model_path: Path,
) -> None:
    """A structured app on the starter: the engine constrains the reply to the app's
    schema (response_format), the runner validates it, the page shows a table with the
    schema's titles as columns and one row per item."""
    service.install(_people_app())
    page = _shown(qtbot, make_page(engine))
    _open(qtbot, page, "test.people")
    _click(qtbot, page.app_page.run_button)
    run = page.run_view
    _click(qtbot, run.example_buttons[0])
    with qtbot.waitSignal(page.run_finished, timeout=240_000) as finished:
        _click(qtbot, run.run_button)
        qtbot.waitUntil(lambda: run.text() != "", timeout=200_000)
        assert run.result_stack.currentWidget() is run.text_scroll  # the JSON streams
    result = finished.args[0]
    assert isinstance(result, AppRunResult), result
    assert isinstance(result.data, dict) and isinstance(result.data["people"], list)
    assert run.result_is_structured()
    assert run.result_stack.currentWidget() is run.structured_scroll
    view = run.structured_view
    assert view.table_headers() == ["Name", "Role"]
    assert view.table_cells() == [[p["name"], p["role"]] for p in result.data["people"]]
    assert json.loads(run.result_text()) == result.data


# --- translations ---------------------------------------------------------------------------


STORE_UI = Path(__file__).parents[2] / "llmos_desktop" / "ui" / "store"


def test_every_store_string_is_translatable(tmp_path: Path) -> None:
    """Every text the pane hands a widget is a tr()/translate() call, and lupdate finds
    each with a context it can name (a variable context would be lost)."""
    from tests.ui.test_i18n import tool, untranslated_literals

    files = sorted(STORE_UI.glob("*.py"))
    assert [line for path in files for line in untranslated_literals(path)] == []
    ts = tmp_path / "store.ts"
    tool.lupdate(ts, "zh_CN", files)
    found = tool.messages(ts)
    contexts = {context for context, _source, _text, _kind in found}
    assert len(found) > 150
    assert contexts <= {
        "AppListModel",
        "AppPage",
        "AppRowDelegate",
        "BuilderView",
        "CatalogueView",
        "InputForm",
        "InputsEditor",
        "RunView",
        "StorePage",
        "StoreWording",
        "StructuredResultView",
    }
