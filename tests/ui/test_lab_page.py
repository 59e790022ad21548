"""The Lab page, as a user drives it: real widgets (offscreen), the real ``LabService``
with its real lab worker processes (``python -m llmos_desktop --lab-worker``, llama.cpp
in them), the real results store in a temporary data folder, and the tiny random F32
llama model the lab tests write (tests/helpers/tiny_gguf.py), in the library's folder.

What a user checks: Quantize writes a new model, shows how far it is, says that the copy
loaded and replied, and the copy is then offered to measure; an already quantized source
is quantized only after the "lossy" confirmation, and Cancel leaves no file behind;
a speed run shows progress and Cancel stops it (no worker left, nothing stored);
perplexity and speed results show their uncertainty, appear in the comparison's table
and plots, and a comparison saved under a name is reopened and extended; a task score
of a store app over the user's own dataset lands in its own column. The plot is usable
from the keyboard and says what it shows.

Nothing is mocked. The Gemma and SmolLM2 tests carry the ``model`` marker.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog, QMessageBox, QPushButton
from pytestqt.qtbot import QtBot

from llmos_desktop.core.engine.contract import LoadOptions
from llmos_desktop.core.engine.control.service import Engine
from llmos_desktop.core.lab.service import LabService
from llmos_desktop.core.lab.types import (
    BenchResult,
    LabProgress,
    PerplexityResult,
    QuantizeResult,
    QuantType,
    ScoreResult,
)
from llmos_desktop.core.paths import AppPaths, app_paths
from llmos_desktop.core.settings import Settings
from llmos_desktop.ui.lab.compare_view import ALL_MEASURED, PERPLEXITY
from llmos_desktop.ui.lab.page import COMPARE_TAB, MEASURE_TAB, SCORE_TAB, LabPage
from llmos_desktop.ui.lab.plot import PlotPoint, ScatterPlot, nice_ticks
from tests.helpers.tiny_gguf import write_tiny_llama
from tests.ui.conftest import focus_chain, run_on_loop, spoken_name

RUN_TIMEOUT_MS = 180_000


@pytest.fixture
def paths() -> AppPaths:
    return app_paths().ensure()


@pytest.fixture
def settings() -> Settings:
    return Settings(load=LoadOptions(n_ctx=1024, n_threads=2))


@pytest.fixture
def service(paths: AppPaths, settings: Settings) -> Iterator[LabService]:
    with LabService(paths, settings) as made:
        yield made


@pytest.fixture
def tiny(service: LabService) -> Path:
    """The tiny F32 model, in the library's folder (so the forms list it)."""
    folder = service.models().library.folder
    folder.mkdir(parents=True, exist_ok=True)
    return write_tiny_llama(folder / "tiny-llama-F32.gguf")


@pytest.fixture
def page(
    qtbot: QtBot,
    service: LabService,
    settings: Settings,
    qasync_loop: asyncio.AbstractEventLoop,
) -> Iterator[LabPage]:
    made = LabPage(service, settings)
    qtbot.addWidget(made)
    made.resize(1100, 760)
    yield made
    run_on_loop(made.shutdown(), 30)
    assert lab_workers() == [], "a lab worker outlived the page"


def lab_workers() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "--lab-worker" in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.Error:
            continue
    return found


def _shown(qtbot: QtBot, page: LabPage, model: Path | None = None) -> LabPage:
    with qtbot.waitSignal(page.comparison_shown, timeout=20_000):
        page.show()
    if model is not None:
        qtbot.waitUntil(
            lambda: (
                page.quantize_form.source.select(model.absolute())
                or page.quantize_form.source.select(model)
            ),
            timeout=20_000,
        )
    return page


def _click(qtbot: QtBot, button: QPushButton) -> None:
    assert button.isVisible() and button.isEnabled(), button.objectName()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _choose(chooser_select: object, path: Path) -> None:
    assert callable(chooser_select)
    assert chooser_select(path) or chooser_select(path.absolute()), path


def _progress_log(page: LabPage) -> list[LabProgress]:
    seen: list[LabProgress] = []
    page.progress_reported.connect(seen.append)
    return seen


# --- quantize ---------------------------------------------------------------------------


def test_quantize_shows_progress_and_the_copy_lands_in_the_library(
    qtbot: QtBot, page: LabPage, service: LabService, tiny: Path
) -> None:
    """F32 -> Q8_0: the panel shows the stages and a bar, then what was written and that
    it replied; the file is in the models folder's quantized/ folder, the Measure form
    offers it, and the comparison lists it with its type and size."""
    _shown(qtbot, page, tiny)
    form = page.quantize_form
    qtbot.waitUntil(lambda: "F32 source" in form.source_note.text(), timeout=20_000)
    form.set_qtype(QuantType.Q8_0)
    assert "Q8_0" in form.source_note.text() and "about" in form.source_note.text()
    expected = service.models().library.folder / "quantized" / "tiny-llama-Q8_0.gguf"
    assert form.out_edit.placeholderText() == str(expected)
    seen = _progress_log(page)
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        _click(qtbot, form.start_button)
        assert page.running and page.run_panel.isVisible()
        assert page.run_panel.cancel_button.isVisible()
        assert not form.start_button.isEnabled(), "one run at a time"
        qtbot.waitUntil(lambda: bool(seen), timeout=RUN_TIMEOUT_MS)
    result = finished.args[0]
    assert isinstance(result, QuantizeResult), page.run_panel.result_label.text()
    assert {p.stage for p in seen} >= {"quantizing", "verifying"}
    assert result.path == expected and expected.is_file()
    text = page.run_panel.result_label.text()
    assert "tiny-llama-Q8_0.gguf" in text and "Q8_0" in text and "replied" in text
    assert not page.run_panel.error
    assert form.start_button.isEnabled()
    # The Measure form offers the new model, and the comparison lists it.
    qtbot.waitUntil(lambda: page.measure_form.model.select(expected), timeout=20_000)
    page.tabs.setCurrentIndex(COMPARE_TAB)
    qtbot.waitUntil(
        lambda: any(r.model_path == str(expected) for r in page.comparison_rows()),
        timeout=20_000,
    )
    row = next(r for r in page.comparison_rows() if r.model_path == str(expected))
    assert row.quant == "Q8_0" and row.size == expected.stat().st_size
    assert [p.name for p in expected.parent.iterdir()] == ["tiny-llama-Q8_0.gguf"]


@pytest.mark.model
def test_requantizing_asks_for_the_lossy_confirmation_and_cancel_keeps_nothing(
    qtbot: QtBot, page: LabPage, service: LabService, model_path: Path, tmp_path: Path
) -> None:
    """Gemma 3 270M is already Q4_K_M: the note says so, Quantize asks first (Cancel in
    the question runs nothing); "Requantize (lossy)" starts the run, and Cancel during it
    stops the worker and leaves neither the file nor a partial one."""
    _shown(qtbot, page)
    form = page.quantize_form
    form.source.add_file(model_path)
    qtbot.waitUntil(lambda: "already quantized" in form.source_note.text(), timeout=20_000)
    assert "Q4_K_M" in form.source_note.text()
    out = tmp_path / "out" / "gemma-Q8_0.gguf"
    out.parent.mkdir()
    form.out_edit.setText(str(out))
    form.set_qtype(QuantType.Q8_0)

    _click(qtbot, form.start_button)
    box = next(d for d in page.dialogs if d.objectName() == "labRequantizeBox")
    assert isinstance(box, QMessageBox) and "Q4_K_M" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    qtbot.waitUntil(lambda: not page.dialogs)
    assert not page.running, "nothing runs without the confirmation"

    _click(qtbot, form.start_button)
    box = next(d for d in page.dialogs if d.objectName() == "labRequantizeBox")
    assert isinstance(box, QMessageBox)
    lossy = next(b for b in box.buttons() if "lossy" in b.text())
    seen = _progress_log(page)
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        lossy.click()
        qtbot.waitUntil(lambda: page.running, timeout=5_000)
        qtbot.waitUntil(lambda: any(p.stage == "quantizing" for p in seen), timeout=RUN_TIMEOUT_MS)
        assert lab_workers(), "the run is in a worker process"
        _click(qtbot, page.run_panel.cancel_button)
    assert finished.args[0] is None
    assert "Cancelled" in page.run_panel.result_label.text()
    qtbot.waitUntil(lambda: lab_workers() == [], timeout=20_000)
    assert list(out.parent.iterdir()) == [], "no file and no partial file are left"
    listed = {str(m.path) for m in service.models().library.scan()}
    assert str(out) not in listed
    assert service.results(kind="quantize") == []


# --- measure and cancel -----------------------------------------------------------------


def test_a_speed_run_shows_progress_and_cancel_stops_it(
    qtbot: QtBot, page: LabPage, service: LabService, tiny: Path
) -> None:
    """A long speed run (50 repetitions): the bar moves, Cancel ends the worker, the
    panel says so, nothing is stored, and another run can start."""
    _shown(qtbot, page, tiny)
    page.tabs.setCurrentIndex(MEASURE_TAB)
    form = page.measure_form
    _choose(form.model.select, tiny)
    form.reps_spin.setValue(50)
    seen = _progress_log(page)
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        _click(qtbot, form.bench_button)
        qtbot.waitUntil(
            lambda: any(p.stage in ("pp", "tg") and p.fraction for p in seen),
            timeout=RUN_TIMEOUT_MS,
        )
        assert page.run_panel.fraction is not None and page.run_panel.fraction > 0
        assert "Measuring" in page.run_panel.stage_label.text()
        _click(qtbot, page.run_panel.cancel_button)
    assert finished.args[0] is None
    assert page.run_panel.result_label.text().startswith("Cancelled")
    assert not page.run_panel.cancel_button.isVisible()
    qtbot.waitUntil(lambda: lab_workers() == [], timeout=20_000)
    assert service.results(kind="bench") == []
    assert form.bench_button.isEnabled() and form.perplexity_button.isEnabled()


def test_measurements_fill_a_comparison_that_is_saved_reopened_and_extended(
    qtbot: QtBot, page: LabPage, service: LabService, tiny: Path
) -> None:
    """Perplexity (± its standard error) and speed (median ± spread) of the tiny model and
    of its Q4_0 copy: both rows in the table, points in both plots; the two are saved as
    a comparison, which reopens (also after the page is built again) and takes a third
    model."""
    _shown(qtbot, page, tiny)
    q4 = tiny.with_name("tiny-llama-Q4_0.gguf")
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        page.quantize_form.set_qtype(QuantType.Q4_0)
        page.quantize_form.out_edit.setText(str(q4))
        _click(qtbot, page.quantize_form.start_button)
    assert isinstance(finished.args[0], QuantizeResult), page.run_panel.result_label.text()
    assert page.measure_form.model.path() == q4, "Measure offers the new model at once"

    page.tabs.setCurrentIndex(MEASURE_TAB)
    form = page.measure_form
    form.ctx_spin.setValue(64)
    form.chunks_spin.setValue(2)
    form.pp_spin.setValue(32)
    form.tg_spin.setValue(8)
    form.reps_spin.setValue(2)
    for model in (tiny, q4):
        qtbot.waitUntil(lambda m=model: form.model.select(m), timeout=20_000)  # type: ignore[misc]
        with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
            _click(qtbot, form.perplexity_button)
        ppl = finished.args[0]
        assert isinstance(ppl, PerplexityResult), page.run_panel.result_label.text()
        assert ppl.n_chunks == 2 and ppl.n_ctx == 64
        text = page.run_panel.result_label.text()
        assert "Perplexity" in text and "±" in text and "64 tokens" in text
        with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
            _click(qtbot, form.bench_button)
        bench = finished.args[0]
        assert isinstance(bench, BenchResult), page.run_panel.result_label.text()
        text = page.run_panel.result_label.text()
        assert "pp32" in text and "tg8" in text and "2 runs" in text

    view = page.compare_view
    page.tabs.setCurrentIndex(COMPARE_TAB)
    qtbot.waitUntil(
        lambda: (
            len(page.comparison_rows()) == 2
            and all(r.ppl is not None and r.tg_tps is not None for r in page.comparison_rows())
        ),
        timeout=20_000,
    )
    assert view.table.rowCount() == 2
    names = {view.table.item(r, 0).text() for r in range(2)}
    assert names == {tiny.name, q4.name}
    headers = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]
    for r in range(2):
        assert "±" in view.table.item(r, headers.index("Perplexity")).text()
        assert "±" in view.table.item(r, headers.index("Generation (tokens/s)")).text()
        assert view.table.item(r, headers.index("Memory")).text() != "–"
    assert view.quality() == PERPLEXITY
    assert {p.key for p in view.speed_plot.points()} == {str(tiny), str(q4)}
    assert {p.key for p in view.size_plot.points()} == {str(tiny), str(q4)}
    assert {p.series for p in view.speed_plot.points()} == {"tiny-llama"}, "one model, one colour"
    # A click on a point chooses its row.
    view.show()
    position = view.size_plot.screen_position(str(q4))
    assert position is not None
    qtbot.mouseClick(view.size_plot, Qt.MouseButton.LeftButton, pos=position.toPoint())
    assert view.selected_paths() == [str(q4)]
    assert view.speed_plot.selected == str(q4)

    # Save the shown models under a name (the dialog answered as a user would).
    _click(qtbot, view.save_button)
    dialog = next(d for d in page.dialogs if d.objectName() == "labSaveComparisonDialog")
    assert isinstance(dialog, QInputDialog)
    with qtbot.waitSignal(page.comparison_shown, timeout=20_000):
        dialog.setTextValue("tiny quantizations")
        dialog.accept()
    assert view.current_comparison() == "tiny quantizations"
    assert [c.name for c in service.comparisons()] == ["tiny quantizations"]
    assert {r.model_path for r in page.comparison_rows()} == {str(q4)}, (
        "Save as keeps the selected rows"
    )
    # Extend it with the F32 file, then reopen it after "All measured models".
    with qtbot.waitSignal(page.comparison_shown, timeout=20_000):
        task = page.add_to_comparison([str(tiny)])
        assert task is not None
    assert [r.model_path for r in page.comparison_rows()] == [str(q4), str(tiny)]
    with qtbot.waitSignal(page.comparison_shown, timeout=20_000):
        page.open_comparison(ALL_MEASURED)
    with qtbot.waitSignal(page.comparison_shown, timeout=20_000):
        view.comparison_combo.setCurrentIndex(view.comparison_combo.findData("tiny quantizations"))
        view.comparison_combo.activated.emit(view.comparison_combo.currentIndex())
    assert {r.model_path for r in page.comparison_rows()} == {str(q4), str(tiny)}
    assert all(r.ppl is not None and r.tg_tps is not None for r in page.comparison_rows())


# --- score ------------------------------------------------------------------------------


@pytest.fixture
def engine(paths: AppPaths, settings: Settings) -> Iterator[Engine]:
    """A real Engine service; its process starts only when a model is loaded."""
    from llmos_desktop.app import build_engine

    made = build_engine(paths, settings)
    yield made
    run_on_loop(made.close(), 30)


@pytest.mark.model
def test_a_score_runs_an_app_over_the_users_dataset(
    qtbot: QtBot,
    page: LabPage,
    service: LabService,
    engine: Engine,
    chat_model_path: Path,
    tmp_path: Path,
) -> None:
    """The translator app on the starter model over a two-pair dataset the user chose:
    progress per pair, a BLEU score over 2 pairs, and a score column in the comparison."""
    service.set_engine(engine)
    data = tmp_path / "mine.jsonl"
    pairs = [
        {"input": "Good morning.", "reference": "早上好。", "lang": "zh"},
        {"input": "Thank you very much.", "reference": "非常感谢。", "lang": "zh"},
    ]
    data.write_text("\n".join(json.dumps(p, ensure_ascii=False) for p in pairs), "utf-8")
    _shown(qtbot, page)
    page.tabs.setCurrentIndex(SCORE_TAB)
    form = page.score_form
    qtbot.waitUntil(lambda: form.app_combo.findData("llmos.translator") >= 0, timeout=20_000)
    form.app_combo.setCurrentIndex(form.app_combo.findData("llmos.translator"))
    form.model.add_file(chat_model_path)
    # "Your own JSONL file…" opens a file dialog; the user picks the file.
    other = form.data_combo.count() - 1
    form.data_combo.setCurrentIndex(other)
    form.data_combo.activated.emit(other)
    dialog = next(d for d in page.dialogs if d.objectName() == "labDataFileDialog")
    assert isinstance(dialog, QFileDialog)
    dialog.fileSelected.emit(str(data))
    dialog.close()
    assert form.dataset() == data
    form.metric_combo.setCurrentIndex(form.metric_combo.findData("bleu"))
    seen = _progress_log(page)
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        _click(qtbot, form.start_button)
    result = finished.args[0]
    assert isinstance(result, ScoreResult), page.run_panel.result_label.text()
    assert result.n_pairs == 2 and result.metric == "bleu"
    assert any(p.stage == "running" for p in seen)
    assert "BLEU" in page.run_panel.result_label.text()
    assert "2 pairs" in page.run_panel.result_label.text()
    qtbot.waitUntil(lambda: any(r.scores for r in page.comparison_rows()), timeout=20_000)
    row = next(r for r in page.comparison_rows() if r.scores)
    assert row.model_path == str(chat_model_path.absolute())
    view = page.compare_view
    headers = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]
    assert "translator BLEU" in headers


# --- the forms and the plot without a run -------------------------------------------------


def test_every_field_is_named_and_tab_reaches_it(qtbot: QtBot, page: LabPage, tiny: Path) -> None:
    """Screen readers hear a name for each field, and Tab walks each form in order."""
    _shown(qtbot, page, tiny)
    page.activateWindow()
    qtbot.waitUntil(lambda: page.isActiveWindow())
    for index, form, first, last in (
        (0, page.quantize_form, page.quantize_form.source.combo, page.quantize_form.start_button),
        (1, page.measure_form, page.measure_form.model.combo, page.measure_form.bench_button),
        (2, page.score_form, page.score_form.model.combo, page.score_form.start_button),
    ):
        page.tabs.setCurrentIndex(index)
        chain = focus_chain(first)
        assert last in chain, form.objectName()
        inside = [w for w in chain if form.isAncestorOf(w)]
        assert inside.index(first) < inside.index(last)
        for widget in inside:
            assert spoken_name(widget), f"{widget.objectName()} has no spoken name"


def test_the_plot_draws_points_and_is_usable_from_the_keyboard(qtbot: QtBot) -> None:
    """Round ticks; every point in the description; Right/Left walk the points in the
    order of the x axis and tell which one was chosen; the light and dark palettes give
    the series different colours that both stand out from the background."""
    assert nice_ticks(16.0, 26.1) == [16.0, 18.0, 20.0, 22.0, 24.0, 26.0, 28.0]
    plot = ScatterPlot()
    qtbot.addWidget(plot)
    plot.resize(420, 300)
    points = [
        PlotPoint("b", "Q4_0", "m", 120.0, 21.0, 5.0, 0.3, "m Q4_0"),
        PlotPoint("a", "F16", "m", 60.0, 18.2, 2.0, 0.3, "m F16"),
        PlotPoint("c", "Q4_1", "n", 170.0, 25.0, None, None, "n Q4_1"),
        PlotPoint("nan", "bad", "n", float("nan"), 1.0),
    ]
    plot.set_data(
        points, x_title="speed", y_title="ppl", x_higher_better=True, y_higher_better=False
    )
    assert [p.key for p in plot.points()] == ["b", "a", "c"], "a point without a value is left out"
    assert plot.accessibleDescription().splitlines()[1:] == ["m Q4_0", "m F16", "n Q4_1"]
    plot.show()
    chosen: list[str] = []
    plot.point_selected.connect(chosen.append)
    plot.setFocus()
    for _ in range(3):
        QTest.keyClick(plot, Qt.Key.Key_Right)
    QTest.keyClick(plot, Qt.Key.Key_Left)
    assert chosen == ["a", "b", "c", "b"]
    position = plot.screen_position("c")
    assert position is not None
    assert plot.point_at(position + QPointF(2, 2)) == points[2]
    assert plot.point_at(position + QPointF(40, 40)) is None
    image = plot.grab().toImage()
    background = plot.palette().color(QPalette.ColorRole.Base)
    dot = image.pixelColor(position.toPoint())
    assert dot != background and dot == plot.series_colour("n")
    light = plot.series_colour("m")
    dark_palette = QApplication.palette()
    dark_palette.setColor(QPalette.ColorRole.Window, Qt.GlobalColor.black)
    dark_palette.setColor(QPalette.ColorRole.WindowText, Qt.GlobalColor.white)
    plot.setPalette(dark_palette)
    assert plot.series_colour("m") != light
    assert plot.series_colour("m").lightness() > light.lightness()


def test_the_comparison_groups_quantizations_by_their_source_model(tmp_path: Path) -> None:
    """The comparison's series: a lab quantization belongs to its source's model, a file
    named with a type to the name without it."""
    from datetime import UTC, datetime

    from llmos_desktop.core.lab.types import LabRecord
    from llmos_desktop.ui.lab.rows import build_rows, family

    assert family("/m/SmolLM2-135M-Instruct.Q4_1.gguf") == "SmolLM2-135M-Instruct"
    assert family("/m/gemma-3-270m-it-Q4_K_M.gguf") == "gemma-3-270m-it"
    assert family("/m/plain.gguf") == "plain"
    now = datetime.now(UTC)
    source = tmp_path / "base-F16.gguf"
    records = [
        LabRecord("/q/renamed.gguf", 10, "Q4_0", "quantize", {"source": str(source)}, now),
        LabRecord("/q/renamed.gguf", 10, "Q4_0", "perplexity", {"ppl": 9.5, "n_ctx": 128}, now),
    ]
    rows = build_rows(records, read_memory=False)
    assert [(r.name, r.series, r.quant, r.ppl, r.ppl_ctx) for r in rows] == [
        ("renamed.gguf", "base", "Q4_0", 9.5, 128)
    ]
