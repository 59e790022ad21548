"""The Models page, as a user drives it: real widgets (offscreen), the real ModelsService
against the fake Hub (a real HTTP server on 127.0.0.1, reached through the real
huggingface_hub client and our httpx downloads), real files in a real models folder.

What a user checks: search shows GGUF repositories and more arrive on scroll; a
repository page lists every GGUF file grouped by quantization with its size and whether
it fits this computer, the best one marked; a download shows its progress, pauses and
resumes, and the model is in the library once verified; a gated repository asks for a
token, and with it opens; the library shows each model's metadata and a readable row for
a broken file; Load hands the chat a ModelLoad for the model's file. The Hub section of
the Settings page (endpoint with the mirror, proxy, token) is tested here too.

No stand-ins, except ``QDesktopServices.openUrl`` (a test machine has no file manager)
where a test needs it. The token store is told not to use a system keyring, so no test
touches the user's keyring.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QFileDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QWidget,
)
from pytestqt.qtbot import QtBot

from llmos_desktop.core.engine.contract import LoadOptions, ModelLoad
from llmos_desktop.core.models import fit
from llmos_desktop.core.models.gguf.reader import read_gguf_info
from llmos_desktop.core.models.hub_token import TokenStore
from llmos_desktop.core.models.service import ModelsService
from llmos_desktop.core.models.types import LocalModel
from llmos_desktop.core.paths import AppPaths, app_paths
from llmos_desktop.core.settings import Settings, SettingsWriter
from llmos_desktop.ui.models.defaults_dialog import ModelDefaultsDialog
from llmos_desktop.ui.models.hub_browser import ACCESS, REPOSITORY
from llmos_desktop.ui.models.library_view import (
    ARCHITECTURE,
    CONTEXT,
    LAST_USED,
    PARAMETERS,
    QUANT,
    SIZE,
    SOURCE,
    TEMPLATE,
)
from llmos_desktop.ui.models.page import DISCOVER_TAB, DOWNLOADS_TAB, LIBRARY_TAB, ModelsPage
from llmos_desktop.ui.models.repo_page import FILE, FIT
from llmos_desktop.ui.models.repo_page import QUANT as FILE_QUANT
from llmos_desktop.ui.models.repo_page import SIZE as FILE_SIZE
from llmos_desktop.ui.models.token_dialog import TokenDialog
from llmos_desktop.ui.settings_page import CHINA_MIRROR, SettingsPage
from tests.helpers.gguf_factory import write_gguf
from tests.helpers.hub_server import FakeHub
from tests.ui.conftest import StallWatch, run_on_loop, spoken_name

TOKEN = "hf_" + "t" * 34
TINY_REPO = "tests/tiny-GGUF"
CARD = (
    "---\nlicense: apache-2.0\n---\n# Tiny test model\n\nA **tiny** model for tests. "
    "[Project page](https://example.com/tiny)\n\n![logo](file:///etc/passwd)\n\n"
    "| quant | use |\n|---|---|\n| Q4_K_M | most people |\n"
)
# Padding (a uint32 array in the metadata) gives each quantization its own size.
TINY_FILES = {
    "tiny-IQ2_XS.gguf": 10_000,
    "tiny-Q4_K_M.gguf": 30_000,
    "tiny-i1-Q4_K_M.gguf": 31_000,
    "tiny-Q8_0.gguf": 60_000,
    "tiny-F16-00001-of-00002.gguf": 50_000,
    "tiny-F16-00002-of-00002.gguf": 50_000,
    "mmproj-tiny-f16.gguf": 5_000,
}


def _gguf(folder: Path, name: str, padding: int = 0, **kwargs: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    extra = {"test.padding": [0] * padding} if padding else None
    return write_gguf(
        folder / name,
        context_length=32768,
        tensors=3,
        extra_kv=extra,
        chat_template="{% for m in messages %}{{ m.content }}{% endfor %}",
        **kwargs,  # type: ignore[arg-type]
    )


def _tiny_repo(hub: FakeHub, source: Path, repo_id: str = TINY_REPO, **kwargs: object) -> None:
    files = {name: _gguf(source / repo_id, name, padding) for name, padding in TINY_FILES.items()}
    hub.add_repo(repo_id, files, card=CARD, license="apache-2.0", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as started:
        yield started


@pytest.fixture
def paths() -> AppPaths:
    return app_paths().ensure()


@pytest.fixture
def settings(hub: FakeHub) -> Settings:
    return Settings(hub_endpoint=hub.url, load=LoadOptions(n_ctx=4096, n_threads=2))


@pytest.fixture
def service(paths: AppPaths, settings: Settings) -> Iterator[ModelsService]:
    with ModelsService(
        paths,
        settings,
        environ={},
        starter=None,
        token=TokenStore(paths.config / "token", use_keyring=False),
        download_options={"backoff": 0.05, "stall_seconds": 5.0, "min_free_bytes": 0},
    ) as made:
        yield made


PageFactory = Callable[[], ModelsPage]


@pytest.fixture
def make_page(
    qtbot: QtBot,
    service: ModelsService,
    settings: Settings,
    qasync_loop: asyncio.AbstractEventLoop,
) -> Iterator[PageFactory]:
    pages: list[ModelsPage] = []

    def make() -> ModelsPage:
        page = ModelsPage(service, settings, None)
        qtbot.addWidget(page)
        page.resize(1000, 640)
        pages.append(page)
        return page

    yield make
    for page in pages:
        run_on_loop(page.shutdown(), 30)


def _shown(qtbot: QtBot, page: ModelsPage, tab: int = LIBRARY_TAB) -> ModelsPage:
    page.tabs.setCurrentIndex(tab)
    with qtbot.waitSignal(page.library_changed, timeout=20_000):
        page.show()
    return page


def _rows(page: ModelsPage) -> dict[str, LocalModel]:
    return {m.name: m for m in page.library_view.model.models()}


def _cell(page: ModelsPage, name: str, column: int) -> str:
    model = page.library_view.model
    row = next(r for r, m in enumerate(model.models()) if m.name == name)
    return str(model.data(model.index(row, column)))


def _click(qtbot: QtBot, button: QPushButton) -> None:
    assert button.isVisible() and button.isEnabled(), button.objectName()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


# --- the Hub browser ----------------------------------------------------------------------


def test_search_shows_gguf_repositories_and_more_on_scroll(
    qtbot: QtBot, hub: FakeHub, make_page: PageFactory
) -> None:
    for n in range(45):
        hub.add_repo(
            f"org/model-{n:02d}-GGUF",
            {f"model-{n:02d}-Q4_K_M.gguf": b"GGUF" + bytes(60)},
            downloads=1000 - n,
            likes=n,
            gated="auto" if n == 3 else False,
        )
    hub.add_repo("org/not-a-gguf-repo", {"model.safetensors": b"x"}, tags=("safetensors",))
    page = _shown(qtbot, make_page())
    browser = page.browser

    with StallWatch() as stalls:
        with qtbot.waitSignal(browser.search_finished, timeout=20_000):
            page.tabs.setCurrentIndex(DISCOVER_TAB)  # the first visit searches
        model = browser.model
        assert model.rowCount() == 30  # one page
        assert browser.has_more
        names = [r.repo_id for r in model.repos()]
        assert names[:3] == ["org/model-00-GGUF", "org/model-01-GGUF", "org/model-02-GGUF"]
        assert "org/not-a-gguf-repo" not in names
        assert model.data(model.index(3, ACCESS)) == "Gated"
        assert model.data(model.index(4, ACCESS)) == "Open"
        assert "scroll for more" in browser.status_label.text()

        # Scrolling to the end brings the next page (the Hub's cursor).
        bar = browser.table.verticalScrollBar()
        assert bar.maximum() > 0, "the first page fills more than the view"
        with qtbot.waitSignal(browser.search_finished, timeout=20_000):
            bar.setValue(bar.maximum())
        qtbot.waitUntil(lambda: model.rowCount() == 45 and not browser.loading, timeout=20_000)
    assert not browser.has_more
    searches = hub.requests_for("/api/models", "GET")
    searches = [r for r in searches if r.path == "/api/models"]
    assert len(searches) == 2 and "cursor=" in searches[1].query
    assert stalls.longest < 0.25

    # Another sort order searches again, in that order.
    with qtbot.waitSignal(browser.search_finished, timeout=20_000):
        browser.sort_combo.setCurrentIndex(browser.sort_combo.findData("likes"))
    qtbot.waitUntil(lambda: model.rowCount() > 0, timeout=20_000)
    assert model.data(model.index(0, REPOSITORY)) == "org/model-44-GGUF"

    # Typed text narrows it.
    browser.search_edit.setFocus()
    browser.search_edit.clear()
    qtbot.keyClicks(browser.search_edit, "model-07")
    with qtbot.waitSignal(browser.search_finished, timeout=20_000):
        qtbot.keyClick(browser.search_edit, Qt.Key.Key_Return)
    assert [r.repo_id for r in model.repos()] == ["org/model-07-GGUF"]


def test_a_repository_page_groups_files_by_quantization_with_fit_advice(
    qtbot: QtBot, hub: FakeHub, make_page: PageFactory, tmp_path: Path
) -> None:
    _tiny_repo(hub, tmp_path / "hub")
    page = _shown(qtbot, make_page())
    repo_page = page.repo_page
    with qtbot.waitSignal(page.advice_refined, timeout=30_000):
        page.open_repo(TINY_REPO)
    assert page.discover_stack.currentWidget() is repo_page
    details = repo_page.details
    assert details is not None and details.repo_id == TINY_REPO

    # Every GGUF model, the split one as one entry, under its quantization (a group of
    # one file is one row).
    files = repo_page.files
    groups = {
        files.topLevelItem(i).text(FILE_QUANT): files.topLevelItem(i)
        for i in range(files.topLevelItemCount())
    }
    assert list(groups) == ["IQ2_XS", "Q4_K_M", "Q8_0", "F16", "Vision projector"]
    f16 = groups["F16"]
    assert "(2 parts)" in f16.text(FILE)
    assert f16.text(FILE_SIZE) == _size(hub, "tiny-F16-00001-of-00002.gguf")
    assert "KB" in f16.text(FILE_SIZE)
    q4 = groups["Q4_K_M"]  # two files: a row with both under it
    assert q4.text(FILE) == "2 files"
    assert [q4.child(i).text(FILE) for i in range(2)] == ["tiny-Q4_K_M.gguf", "tiny-i1-Q4_K_M.gguf"]
    assert q4.child(0).text(FILE_SIZE) == _size(hub, "tiny-Q4_K_M.gguf")

    # Fit advice per file, refined from the header read with a Range request.
    machine = fit.machine_memory()
    words = {
        "full_gpu": "Fits fully on the GPU",
        "partial_gpu": "Partly on the GPU",
        "cpu_only": "Runs on the CPU",
    }
    assert all(a is not None and not a.estimated for a in repo_page.advices[:1] if a)
    for index, item in enumerate(repo_page.model_items()):
        model = details.models[index]
        if model.is_mmproj:
            assert "Vision projector" in item.text(FIT)
            continue
        advice = repo_page.advices[index]
        assert advice is not None and not advice.estimated
        assert item.text(FIT).startswith(words[advice.kind])
        assert "32,768 tokens" in item.text(FIT)  # the trained context fits this machine
    header_reads = [r for r in hub.requests_for("/resolve/", "GET") if r.range]
    assert header_reads and all("tiny-IQ2_XS.gguf" in r.path for r in header_reads)

    # The best quantization for this machine is marked (what fit.best_choice says).
    assert machine.backend in ("cpu", "cuda", "metal", "vulkan")
    best = repo_page.best
    assert best is not None
    expected = fit.best_choice(details.models, [a for a in repo_page.advices if a is not None])
    assert best == expected
    marked = [item for item in repo_page.model_items() if item.text(FILE).startswith("★")]
    assert marked == [repo_page.model_items()[best]]
    assert str(details.models[best].quant) in repo_page.best_label.text()

    # The card, rendered safely: text and table shown, the image not loaded.
    shown = repo_page.card_view.shown_text()
    assert "Tiny test model" in shown and "most people" in shown and "license:" not in shown
    html = repo_page.card_view.toHtml()
    assert "<img" not in html and 'href="file:' not in html
    assert repo_page.card_view.refused_resources == 0  # nothing was even asked for
    assert repo_page.access_frame.isHidden()

    # Back to the results, by keyboard.
    repo_page.files.setFocus()
    qtbot.keyClick(repo_page.files, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert page.discover_stack.currentWidget() is page.browser


def _size(hub: FakeHub, name: str) -> str:
    from llmos_desktop.ui.models.wording import size_text

    files = hub.repos[TINY_REPO].files
    if "-of-" in name:
        stem = name.split("-00001-of-")[0]
        return size_text(sum(f.size for p, f in files.items() if p.startswith(stem)))
    return size_text(files[name].size)


def test_downloading_shows_progress_pauses_resumes_and_lands_in_the_library(
    qtbot: QtBot, hub: FakeHub, make_page: PageFactory, service: ModelsService, tmp_path: Path
) -> None:
    source = _gguf(tmp_path / "hub", "small-Q4_K_M.gguf", padding=400_000)  # ~1.6 MB
    hub.add_repo("tests/small-GGUF", {"small-Q4_K_M.gguf": source})
    hub.rate_limit = 200_000  # bytes/s: slow enough to watch and to pause
    page = _shown(qtbot, make_page())
    assert _rows(page) == {}
    assert page.first_run.isVisible()  # an empty library

    with qtbot.waitSignal(page.repo_shown, timeout=30_000):
        page.open_repo("tests/small-GGUF")
    page.repo_page.select_model(0)
    with StallWatch() as stalls:
        _click(qtbot, page.repo_page.download_button)
        qtbot.waitUntil(lambda: page.tabs.currentIndex() == DOWNLOADS_TAB, timeout=20_000)
        assert len(page.downloads_view.rows) == 1
        row = next(iter(page.downloads_view.rows.values()))
        qtbot.waitUntil(
            lambda: row.progress.status == "downloading" and row.progress.received > 100_000,
            timeout=20_000,
        )
        total = source.stat().st_size
        assert row.progress.total == total
        assert 0 < row.bar.value() < 1000
        assert " of " in row.status_label.text() and "/s" in row.status_label.text()
        assert page.tabs.tabText(DOWNLOADS_TAB).replace("&", "") == "Downloads (1)"

        _click(qtbot, row.pause_button)
        qtbot.waitUntil(lambda: row.progress.status == "paused", timeout=20_000)
        assert row.pause_button.text() == "Resume"
        paused_at = row.progress.received
        assert 0 < paused_at < total
        qtbot.wait(600)
        assert service.downloads.get(row.id).received == paused_at  # no bytes while paused
        assert not list((service.library.folder).rglob("*.gguf"))  # nor a model yet

        hub.rate_limit = None
        with qtbot.waitSignal(page.library_changed, timeout=30_000):
            _click(qtbot, row.pause_button)
        qtbot.waitUntil(lambda: row.progress.status == "done", timeout=30_000)
    assert stalls.longest < 0.25
    assert "Verified" in row.status_label.text() and row.bar.value() == 1000
    assert not row.pause_button.isVisible() and not row.cancel_button.isVisible()
    # The resume asked only for the bytes it did not have.
    ranges = [r.range for r in hub.requests_for("small-Q4_K_M.gguf", "GET") if r.range]
    assert f"bytes={paused_at}-" in ranges[-1]

    qtbot.waitUntil(lambda: "small-Q4_K_M" in _rows(page), timeout=20_000)
    model = _rows(page)["small-Q4_K_M"]
    # The header's file type wins over the name (the test file's weights are F32).
    assert model.error is None and model.quant == "F32" and model.architecture == "llama"
    assert model.path.read_bytes() == source.read_bytes()
    assert _cell(page, "small-Q4_K_M", SOURCE) == "tests/small-GGUF"
    assert page.first_run.isHidden()
    assert page.tabs.tabText(DOWNLOADS_TAB).replace("&", "") == "Downloads"

    _click(qtbot, page.clear_finished_button)
    qtbot.waitUntil(lambda: not page.downloads_view.rows, timeout=10_000)


def test_a_gated_repository_asks_for_a_token_and_then_opens(
    qtbot: QtBot, hub: FakeHub, make_page: PageFactory, service: ModelsService, tmp_path: Path
) -> None:
    _tiny_repo(hub, tmp_path / "hub", "gated/tiny-GGUF", gated="manual")
    hub.required_token = TOKEN
    page = _shown(qtbot, make_page())
    repo_page = page.repo_page
    with qtbot.waitSignal(page.repo_shown, timeout=30_000):
        page.open_repo("gated/tiny-GGUF")
    assert repo_page.access_frame.isVisible()
    assert "token" in repo_page.access_label.text()
    assert repo_page.files.topLevelItemCount() > 0  # the files are listed before access
    assert not [r for r in hub.requests_for("/resolve/", "GET") if r.authorization]

    _click(qtbot, repo_page.token_button)
    dialog = next(d for d in page.dialogs if isinstance(d, TokenDialog))
    assert "gated/tiny-GGUF" in dialog.intro_label.text()
    assert dialog.token_edit.echoMode() == dialog.token_edit.EchoMode.Password
    qtbot.keyClicks(dialog.token_edit, "not a token")
    dialog.buttons.button(dialog.buttons.StandardButton.Save).click()
    assert dialog.isVisible() and dialog.error_label.isVisible()  # refused, kept open
    dialog.token_edit.clear()
    qtbot.keyClicks(dialog.token_edit, TOKEN)
    with qtbot.waitSignal(page.repo_shown, timeout=30_000):
        dialog.buttons.button(dialog.buttons.StandardButton.Save).click()
    assert service.token.get() == TOKEN
    assert "file only you can read" in page.banner.text()
    assert repo_page.access_frame.isHidden()
    sent = [r.authorization for r in hub.requests if r.authorization]
    assert sent and all(a == f"Bearer {TOKEN}" for a in sent)


def test_a_download_the_hub_refuses_says_why(
    qtbot: QtBot, hub: FakeHub, make_page: PageFactory, tmp_path: Path
) -> None:
    hub.add_repo("tests/broken-GGUF", {"b-Q4_0.gguf": _gguf(tmp_path / "hub", "b-Q4_0.gguf")})
    page = _shown(qtbot, make_page())
    with qtbot.waitSignal(page.repo_shown, timeout=30_000):
        page.open_repo("tests/broken-GGUF")
    hub.fail_status = 404
    page.repo_page.select_model(0)
    _click(qtbot, page.repo_page.download_button)
    qtbot.waitUntil(lambda: len(page.downloads_view.rows) == 1, timeout=20_000)
    row = next(iter(page.downloads_view.rows.values()))
    qtbot.waitUntil(lambda: row.progress.status == "failed", timeout=20_000)
    assert row.status_label.text().startswith("Failed: Not found on the Hub.")
    assert row.pause_button.text() == "Retry"
    hub.fail_status = None
    with qtbot.waitSignal(page.library_changed, timeout=30_000):
        _click(qtbot, row.pause_button)
    assert "b-Q4_0" in _rows(page)


# --- the library --------------------------------------------------------------------------


@pytest.mark.model
def test_the_library_shows_metadata_errors_and_loads_a_model(
    qtbot: QtBot,
    make_page: PageFactory,
    service: ModelsService,
    settings: Settings,
    chat_model_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = service.library.folder
    _gguf(folder / "local", "tiny-Q8_0.gguf")
    for part in (1, 2):
        _gguf(folder / "local", f"split-Q4_0-0000{part}-of-00002.gguf")
    (folder / "local" / "broken.gguf").write_bytes(b"<html>not a model</html>" * 40)
    (folder / "local" / "half-Q4_0.gguf.part").write_bytes(b"GGUF" + bytes(100))
    page = _shown(qtbot, make_page())

    # SmolLM2, imported in place (its file stays where it is).
    task = page.import_file(chat_model_path, copy=False)
    qtbot.waitUntil(task.done, timeout=60_000)
    assert task.result() is not None
    rows = _rows(page)
    assert set(rows) == {"SmolLM2-135M-Instruct.Q4_1", "tiny-Q8_0", "split-Q4_0", "broken"}
    assert len(rows["split-Q4_0"].files) == 2  # one row for the split model

    info = read_gguf_info(chat_model_path)
    smol = "SmolLM2-135M-Instruct.Q4_1"
    assert _cell(page, smol, ARCHITECTURE) == "llama" == info.architecture
    assert _cell(page, smol, PARAMETERS) == "135M"
    assert _cell(page, smol, QUANT) == "Q4_1"
    assert _cell(page, smol, SIZE) == "98.4 MB"
    assert _cell(page, smol, CONTEXT) == f"{info.context_length:,} tokens"
    assert _cell(page, smol, TEMPLATE) == "Yes"
    assert _cell(page, smol, SOURCE) == "Used in place"
    assert rows[smol].path == chat_model_path

    # The broken file is a row that says why, across the metadata columns.
    broken = rows["broken"]
    assert broken.error
    assert _cell(page, "broken", ARCHITECTURE).startswith("Cannot be used: ")
    table = page.library_view.table
    row = next(r for r, m in enumerate(page.library_view.model.models()) if m.name == "broken")
    assert table.columnSpan(row, ARCHITECTURE) > 1
    page.library_view.select(broken.id)
    assert not page.library_view.load_button.isEnabled()
    assert page.library_view.delete_button.isEnabled()

    # Per-model defaults, then Load: the chat gets a ModelLoad for the file.
    page.library_view.select(rows[smol].id)
    _click(qtbot, page.library_view.defaults_button)
    dialog = next(d for d in page.dialogs if isinstance(d, ModelDefaultsDialog))
    dialog.context_spin.setValue(2048)
    dialog.threads_spin.setValue(1)
    with qtbot.waitSignal(page.library_changed, timeout=20_000):
        dialog.buttons.button(dialog.buttons.StandardButton.Save).click()
    page.library_view.select(rows[smol].id)
    with qtbot.waitSignal(page.load_requested, timeout=20_000) as loaded:
        _click(qtbot, page.library_view.load_button)
    spec = loaded.args[0]
    assert isinstance(spec, ModelLoad)
    assert spec.path == str(chat_model_path)
    assert (spec.n_ctx, spec.n_threads) == (2048, 1)
    if fit.machine_memory().backend == "cpu":
        assert spec.n_gpu_layers == 0  # "auto" on a machine without a GPU
    qtbot.waitUntil(lambda: _rows(page)[smol].last_used is not None, timeout=10_000)
    assert _cell(page, smol, LAST_USED) not in ("", "Never")

    # Show in the file manager opens the model's folder.
    opened: list[QUrl] = []

    def open_url(url: QUrl) -> bool:
        opened.append(url)
        return True

    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(open_url))
    page.library_view.select(rows["tiny-Q8_0"].id)
    _click(qtbot, page.library_view.reveal_button)
    assert opened == [QUrl.fromLocalFile(str(folder / "local"))]

    # Delete asks first; the in-place model is only forgotten, never deleted.
    page.library_view.select(rows[smol].id)
    _click(qtbot, page.library_view.delete_button)
    box = next(d for d in page.dialogs if isinstance(d, QMessageBox))
    assert "stays where it is" in box.informativeText()
    remove = next(b for b in box.buttons() if b.text() == "Remove")
    with qtbot.waitSignal(page.library_changed, timeout=20_000):
        remove.click()
    assert smol not in _rows(page) and chat_model_path.is_file()


def test_delete_asks_and_removes_the_files(
    qtbot: QtBot, make_page: PageFactory, service: ModelsService
) -> None:
    folder = service.library.folder
    files = [_gguf(folder / "x", f"split-Q4_0-0000{n}-of-00002.gguf") for n in (1, 2)]
    page = _shown(qtbot, make_page())
    model = _rows(page)["split-Q4_0"]
    page.library_view.select(model.id)
    page.library_view.table.setFocus()
    qtbot.keyClick(page.library_view.table, Qt.Key.Key_Delete)  # the keyboard asks too
    box = next(d for d in page.dialogs if isinstance(d, QMessageBox))
    assert "2 files" in box.informativeText()
    box.button(QMessageBox.StandardButton.Cancel).click()
    qtbot.wait(100)
    assert all(f.is_file() for f in files)

    _click(qtbot, page.library_view.delete_button)
    box = next(d for d in page.dialogs if isinstance(d, QMessageBox))
    delete = next(b for b in box.buttons() if b.text() == "Delete")
    with qtbot.waitSignal(page.library_changed, timeout=20_000):
        delete.click()
    assert not any(f.exists() for f in files)
    assert _rows(page) == {}
    assert page.first_run.isVisible()


def test_the_empty_library_recommends_models_that_fit_and_downloads_one(
    qtbot: QtBot, hub: FakeHub, make_page: PageFactory, tmp_path: Path
) -> None:
    from llmos_desktop.core.models.recommended import load_recommendations, recommend

    expected = recommend(fit.machine_memory(), load_recommendations())
    assert expected, "the curated list has a model for a machine like this one"
    first = expected[0]
    hub.add_repo(first.repo_id, {first.file: _gguf(tmp_path / "hub", first.file.rsplit("/")[-1])})
    page = _shown(qtbot, make_page())
    panel = page.first_run
    assert panel.isVisible()
    qtbot.waitUntil(lambda: len(panel.cards) == len(expected), timeout=20_000)
    assert [c.item for c in panel.cards] == expected
    assert "memory" in panel.machine_label.text()
    with qtbot.waitSignal(page.library_changed, timeout=30_000):
        _click(qtbot, panel.cards[0].download_button)
    assert page.tabs.currentIndex() == DOWNLOADS_TAB
    row = next(iter(page.downloads_view.rows.values()))
    assert row.progress.status == "done" and row.progress.repo_id == first.repo_id


# --- the Settings page's Hub section --------------------------------------------------------


@pytest.fixture
def settings_page(
    qtbot: QtBot, paths: AppPaths, qasync_loop: asyncio.AbstractEventLoop
) -> Iterator[SettingsPage]:
    writer = SettingsWriter(paths.settings_file)
    page = SettingsPage(
        settings=Settings(),
        paths=paths,
        writer=writer,
        token_store=TokenStore(paths.config / "token", use_keyring=False),
        environ={},
    )
    qtbot.addWidget(page)
    page.resize(800, 700)
    page.show()
    qtbot.waitUntil(lambda: not page.token_busy, timeout=10_000)
    yield page
    run_on_loop(page.flush(), 10)
    writer.close()


def test_settings_offer_the_mirror_a_proxy_and_a_token(
    qtbot: QtBot, settings_page: SettingsPage, paths: AppPaths, tmp_path: Path
) -> None:
    page = settings_page
    changed: list[str] = []
    page.settings_changed.connect(changed.append)
    settings = page._settings

    page.endpoint_combo.setCurrentIndex(page.endpoint_combo.findData(CHINA_MIRROR))
    assert settings.hub_endpoint == "https://hf-mirror.com"
    page.endpoint_combo.setCurrentIndex(page.endpoint_combo.findData("custom"))
    assert page.endpoint_edit.isEnabled()
    qtbot.keyClicks(page.endpoint_edit, "ftp://nope")
    qtbot.keyClick(page.endpoint_edit, Qt.Key.Key_Return)
    assert "http:// or https://" in page.banner.text()
    assert settings.hub_endpoint == "https://hf-mirror.com"  # the bad one was not kept
    page.endpoint_edit.clear()
    qtbot.keyClicks(page.endpoint_edit, "https://hub.example.com/")
    qtbot.keyClick(page.endpoint_edit, Qt.Key.Key_Return)
    assert settings.hub_endpoint == "https://hub.example.com"
    assert page.banner.text() == ""
    page.endpoint_combo.setCurrentIndex(0)
    assert settings.hub_endpoint is None

    page.proxy_combo.setCurrentIndex(page.proxy_combo.findData(""))
    assert settings.http_proxy == ""
    page.proxy_combo.setCurrentIndex(page.proxy_combo.findData("custom"))
    qtbot.keyClicks(page.proxy_edit, "http://proxy.example:3128")
    qtbot.keyClick(page.proxy_edit, Qt.Key.Key_Return)
    assert settings.http_proxy == "http://proxy.example:3128"

    page.set_models_folder(tmp_path / "elsewhere")
    assert settings.models_dir == str(tmp_path / "elsewhere")
    assert page.models_folder_edit.text() == str(tmp_path / "elsewhere")
    _click(qtbot, page.default_models_button)
    assert settings.models_dir is None and page.models_folder_edit.text() == str(paths.models)
    assert {"hub_endpoint", "http_proxy", "models_dir"} <= set(changed)
    qtbot.waitUntil(lambda: not page.save_pending, timeout=5_000)
    saved = paths.settings_file.read_text(encoding="utf-8")
    assert "proxy.example:3128" in saved

    assert page.token_label.text() == "No token"
    _click(qtbot, page.set_token_button)
    dialog = next(d for d in page.dialogs if isinstance(d, TokenDialog))
    qtbot.keyClicks(dialog.token_edit, TOKEN)
    dialog.buttons.button(dialog.buttons.StandardButton.Save).click()
    qtbot.waitUntil(lambda: "file only you can read" in page.token_label.text(), timeout=10_000)
    assert TOKEN not in page.token_label.text() and "hf_token" in changed
    assert (paths.config / "token").read_text().strip() == TOKEN
    _click(qtbot, page.clear_token_button)
    qtbot.waitUntil(lambda: page.token_label.text() == "No token", timeout=10_000)
    assert not (paths.config / "token").exists()


def test_pages_do_not_block_the_loop_while_reading_a_large_folder(
    qtbot: QtBot, make_page: PageFactory, service: ModelsService
) -> None:
    folder = service.library.folder / "many"
    first = _gguf(folder, "m-0000-Q4_0.gguf")
    for n in range(1, 150):
        shutil.copyfile(first, folder / f"m-{n:04d}-Q4_0.gguf")
    page = make_page()
    started = time.monotonic()
    with StallWatch() as stalls:
        _shown(qtbot, page)
    assert len(_rows(page)) == 150
    assert stalls.longest < 0.25, f"{stalls.longest:.3f} s in {time.monotonic() - started:.2f} s"


def test_every_control_is_reachable_by_tab_and_named(
    qtbot: QtBot, hub: FakeHub, make_page: PageFactory, service: ModelsService, tmp_path: Path
) -> None:
    _gguf(service.library.folder / "local", "tiny-Q8_0.gguf")
    _tiny_repo(hub, tmp_path / "hub")
    page = _shown(qtbot, make_page())
    page.activateWindow()
    qtbot.waitUntil(lambda: page.isActiveWindow(), timeout=5_000)

    def walk() -> list[QWidget]:
        """The widgets Tab visits, once each (the card steps through its links with Tab,
        as a browser does, so it may hold the focus for a few presses)."""
        first = page.tabs.tabBar()
        first.setFocus(Qt.FocusReason.TabFocusReason)
        chain: list[QWidget] = [first]
        for _ in range(200):
            current = QApplication.focusWidget()
            assert current is not None
            qtbot.keyClick(current, Qt.Key.Key_Tab)
            following = QApplication.focusWidget()
            assert following is not None
            if following is first:
                break
            if following is not chain[-1]:
                assert following not in chain, f"Tab is stuck in a loop at {following!r}"
                chain.append(following)
        else:
            raise AssertionError("Tab never came back to the tabs")
        assert all(spoken_name(w) for w in chain), [w for w in chain if not spoken_name(w)]
        # No two visible controls share an Alt key, nor take the window's menus' (F, G, H).
        widgets: list[QWidget] = list(page.findChildren(QWidget))
        keys = [
            m.lower()
            for w in widgets
            if isinstance(w, QAbstractButton | QLabel)
            and w.isVisible()
            and not (isinstance(w, QLabel) and w.buddy() is None)
            for m in re.findall(r"&(?!&)(\w)", w.text())
        ]
        bar = page.tabs.tabBar()
        keys += [
            m.lower() for i in range(bar.count()) for m in re.findall(r"&(\w)", bar.tabText(i))
        ]
        assert sorted(keys) == sorted(set(keys)) and not {"f", "g", "h"} & set(keys), keys
        return chain

    page.library_view.select(_rows(page)["tiny-Q8_0"].id)
    chain = walk()
    control: QWidget
    for control in (
        page.library_view.table,
        page.library_view.load_button,
        page.library_view.delete_button,
        page.library_view.import_button,
    ):
        assert control in chain, control.objectName()

    with qtbot.waitSignal(page.browser.search_finished, timeout=20_000):
        page.tabs.setCurrentIndex(DISCOVER_TAB)
    chain = walk()
    for control in (page.browser.search_edit, page.browser.sort_combo, page.browser.table):
        assert control in chain, control.objectName()

    with qtbot.waitSignal(page.advice_refined, timeout=30_000):
        page.open_repo(TINY_REPO)
    chain = walk()
    for control in (
        page.repo_page.back_button,
        page.repo_page.files,
        page.repo_page.download_button,
        page.repo_page.card_scroll,
    ):
        assert control in chain, control.objectName()


def test_a_new_models_folder_in_settings_is_scanned(
    qtbot: QtBot, make_page: PageFactory, service: ModelsService, settings: Settings, tmp_path: Path
) -> None:
    _gguf(service.library.folder, "old-Q4_0.gguf")
    page = _shown(qtbot, make_page())
    assert set(_rows(page)) == {"old-Q4_0"}
    elsewhere = tmp_path / "elsewhere"
    _gguf(elsewhere, "new-Q4_0.gguf")
    # What the Settings page does (the shared Settings object changes), then the window
    # forwards settings_changed("models_dir") to the page.
    settings.models_dir = str(elsewhere)
    with qtbot.waitSignal(page.library_changed, timeout=20_000):
        page.apply_setting("models_dir")
    assert set(_rows(page)) == {"new-Q4_0"}


def test_cancel_stops_a_download_and_leaves_nothing(
    qtbot: QtBot, hub: FakeHub, make_page: PageFactory, service: ModelsService, tmp_path: Path
) -> None:
    source = _gguf(tmp_path / "hub", "c-Q4_0.gguf", padding=200_000)
    hub.add_repo("tests/c-GGUF", {"c-Q4_0.gguf": source})
    hub.rate_limit = 100_000
    page = _shown(qtbot, make_page())
    task = page.download("tests/c-GGUF", "c-Q4_0.gguf")
    qtbot.waitUntil(task.done, timeout=20_000)
    row = page.downloads_view.rows[task.result()[0]]
    qtbot.waitUntil(lambda: row.progress.received > 0, timeout=20_000)
    _click(qtbot, row.cancel_button)
    qtbot.waitUntil(lambda: row.progress.status == "cancelled", timeout=20_000)
    assert row.status_label.text() == "Cancelled" and not row.cancel_button.isVisible()
    assert not [p for p in service.library.folder.rglob("*") if p.is_file()]
    assert _rows(page) == {}


def test_import_by_the_dialogs_copies_a_file_in(
    qtbot: QtBot, make_page: PageFactory, service: ModelsService, tmp_path: Path
) -> None:
    original = _gguf(tmp_path / "elsewhere", "mine-Q5_K_M.gguf")
    page = _shown(qtbot, make_page())
    _click(qtbot, page.first_run.import_button)
    files = next(d for d in page.dialogs if isinstance(d, QFileDialog))
    files.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    files.selectFile(str(original))
    files.accept()
    box = next(d for d in page.dialogs if isinstance(d, QMessageBox))
    copy = next(b for b in box.buttons() if b.text().replace("&", "") == "Copy in")
    with qtbot.waitSignal(page.library_changed, timeout=20_000):
        copy.click()
    model = _rows(page)["mine-Q5_K_M"]
    assert model.path != original and model.path.is_relative_to(service.library.folder)
    assert model.path.read_bytes() == original.read_bytes() and original.is_file()
    qtbot.waitUntil(lambda: page.library_view.selected_model() == model, timeout=5_000)
    assert "is in the library" in page.banner.text()
