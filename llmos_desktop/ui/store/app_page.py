"""One app: what it does, what it asks for, which model it wants, and what can be done.

The page shows the app's name and description in the window's language, its version,
author, licence, category and mode, its inputs (with their kinds, defaults and limits),
the models it recommends (with the smallest context each needs) and the notes on which
models it was tried with. The buttons say what the page can do now: Run, Install,
Update (when a catalogue has a newer version), Remove, Export, and Edit a copy in the
builder. The StorePage decides; this page only shows and forwards.

When no suitable model is loaded or in the library, the page says so and offers the
recommended model: its Get button emits ``model_wanted(repo, file)``, and the window
hands that to the Models pane's download.

Everything from the manifest is plain text (labels with ``Qt.PlainText``).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QKeySequence, QPalette, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.apps.manifest import AppManifest, InputField
from llmos_desktop.ui.store import wording
from llmos_desktop.ui.store.catalogue_view import CatalogueRow

PAGE_ICON_SIZE = 72


def _plain(text: str, parent: QWidget, *, dim: bool = False, wrap: bool = True) -> QLabel:
    label = QLabel(text, parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(wrap)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if dim:
        label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


def _heading(text: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    font = QFont(label.font())
    font.setBold(True)
    label.setFont(font)
    return label


class AppPage(QWidget):
    """Shows one ``CatalogueRow``; actions go out through signals."""

    back_requested = Signal()
    run_requested = Signal(object)  # AppManifest
    install_requested = Signal(object)  # AppManifest (also an update)
    remove_requested = Signal(object)  # AppManifest
    export_requested = Signal(object)  # AppManifest
    edit_requested = Signal(object)  # AppManifest: a copy in the builder
    model_wanted = Signal(str, str)  # repo id, file

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("storeAppPage")
        self.row: CatalogueRow | None = None
        self._busy = False
        self.model_buttons: list[QPushButton] = []

        self.back_button = QPushButton(self.tr("← &Back"), self)
        self.back_button.setObjectName("appBackButton")
        self.back_button.setAccessibleName(self.tr("Back to the list of apps"))
        self.back_button.setAutoDefault(False)
        self.back_shortcut = QShortcut(QKeySequence(QKeySequence.StandardKey.Back), self)
        self.back_shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)

        self.icon_label = QLabel(self)
        self.icon_label.setFixedSize(PAGE_ICON_SIZE, PAGE_ICON_SIZE)
        self.title_label = QLabel(self)
        self.title_label.setObjectName("appTitle")
        self.title_label.setTextFormat(Qt.TextFormat.PlainText)
        self.title_label.setWordWrap(True)
        self.title_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = QFont(self.title_label.font())
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        self.title_label.setFont(font)
        self.facts_label = _plain("", self, dim=True)
        self.facts_label.setObjectName("appFacts")

        self.run_button = QPushButton(self.tr("&Run"), self)
        self.run_button.setObjectName("appRunButton")
        self.run_button.setDefault(True)
        self.install_button = QPushButton(self.tr("&Install"), self)
        self.install_button.setObjectName("appInstallButton")
        self.install_button.setAutoDefault(False)
        self.remove_button = QPushButton(self.tr("Re&move"), self)
        self.remove_button.setObjectName("appRemoveButton")
        self.remove_button.setAutoDefault(False)
        self.export_button = QPushButton(self.tr("E&xport…"), self)
        self.export_button.setObjectName("appExportButton")
        self.export_button.setToolTip(self.tr("Save this app as a .llmapp file to share"))
        self.export_button.setAutoDefault(False)
        self.edit_button = QPushButton(self.tr("Edit a &copy"), self)
        self.edit_button.setObjectName("appEditButton")
        self.edit_button.setToolTip(self.tr("Open a copy of this app in the builder"))
        self.edit_button.setAutoDefault(False)

        self.status_label = _plain("", self)
        self.status_label.setObjectName("appStatus")
        self.status_label.hide()

        # What the page says about the model: which one runs the app, or that none
        # suits and the recommended one can be fetched.
        self.model_frame = QFrame(self)
        self.model_frame.setObjectName("appModelFrame")
        self.model_frame.setFrameShape(QFrame.Shape.StyledPanel)
        self.model_label = _plain("", self.model_frame)
        self.model_label.setObjectName("appModelLabel")
        model_layout = QVBoxLayout(self.model_frame)
        model_layout.setContentsMargins(10, 8, 10, 8)
        model_layout.addWidget(self.model_label)
        self.model_frame.hide()

        body = QWidget(self)
        body.setObjectName("appBody")
        self.body_layout = QVBoxLayout(body)
        self.body_layout.setContentsMargins(4, 4, 12, 4)
        self.body_layout.setSpacing(8)
        self.description_label = _plain("", body)
        self.description_label.setObjectName("appDescription")
        self.inputs_heading = _heading(self.tr("Inputs"), body)
        self.inputs_grid = QGridLayout()
        self.inputs_grid.setHorizontalSpacing(14)
        self.inputs_grid.setVerticalSpacing(4)
        self.models_heading = _heading(self.tr("Recommended models"), body)
        self.models_grid = QGridLayout()
        self.models_grid.setHorizontalSpacing(14)
        self.models_grid.setVerticalSpacing(4)
        self.tried_heading = _heading(self.tr("Tried with"), body)
        self.tried_label = _plain("", body)
        self.tried_label.setObjectName("appTriedWith")
        self.about_heading = _heading(self.tr("About"), body)
        self.about_label = _plain("", body, dim=True)
        self.about_label.setObjectName("appAbout")
        self.body_layout.addWidget(self.description_label)
        self.body_layout.addSpacing(6)
        self.body_layout.addWidget(self.inputs_heading)
        self.body_layout.addLayout(self.inputs_grid)
        self.body_layout.addSpacing(6)
        self.body_layout.addWidget(self.models_heading)
        self.body_layout.addLayout(self.models_grid)
        self.body_layout.addSpacing(6)
        self.body_layout.addWidget(self.tried_heading)
        self.body_layout.addWidget(self.tried_label)
        self.body_layout.addSpacing(6)
        self.body_layout.addWidget(self.about_heading)
        self.body_layout.addWidget(self.about_label)
        self.body_layout.addStretch(1)
        self.body_scroll = QScrollArea(self)
        self.body_scroll.setObjectName("appScroll")
        self.body_scroll.setWidgetResizable(True)
        self.body_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.body_scroll.setWidget(body)

        head_text = QVBoxLayout()
        head_text.setSpacing(2)
        head_text.addWidget(self.title_label)
        head_text.addWidget(self.facts_label)
        head_text.addStretch(1)
        head = QHBoxLayout()
        head.setSpacing(12)
        head.addWidget(self.icon_label, 0, Qt.AlignmentFlag.AlignTop)
        head.addLayout(head_text, 1)
        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        for button in (self.run_button, self.install_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.edit_button)
        buttons.addWidget(self.export_button)
        top = QHBoxLayout()
        top.addWidget(self.back_button)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        layout.addLayout(top)
        layout.addLayout(head)
        layout.addLayout(buttons)
        layout.addWidget(self.status_label)
        layout.addWidget(self.model_frame)
        layout.addWidget(self.body_scroll, 1)

        self.back_button.clicked.connect(self.back_requested)
        self.back_shortcut.activated.connect(self.back_requested)
        self.run_button.clicked.connect(self._on_run_button_clicked)
        self.install_button.clicked.connect(self._on_install_button_clicked)
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.export_button.clicked.connect(self._on_export_button_clicked)
        self.edit_button.clicked.connect(self._on_edit_button_clicked)

    # --- public -------------------------------------------------------------------------

    @property
    def app(self) -> AppManifest | None:
        return self.row.app if self.row is not None else None

    def show_row(self, row: CatalogueRow, icon: QPixmap) -> None:
        self.row = row
        app = row.app
        language = wording.ui_language()
        self.icon_label.setPixmap(icon)
        self.title_label.setText(wording.localized_name(app, language))
        facts = [
            self.tr("by {author}").format(author=app.author) if app.author else "",
            self.tr("version {version}").format(version=app.version),
            wording.category_text(app.category),
            wording.mode_text(app.mode),
            self.tr("licence: {licence}").format(licence=app.licence) if app.licence else "",
        ]
        self.facts_label.setText(" · ".join(f for f in facts if f))
        self.description_label.setText(wording.localized_description(app, language))
        self._fill_inputs(app.inputs, language)
        self._fill_models(app)
        tried = [line for line in app.works_well_with if line.strip()]
        self.tried_label.setText("\n".join(f"• {line}" for line in tried))
        self.tried_heading.setVisible(bool(tried))
        self.tried_label.setVisible(bool(tried))
        about = [self.tr("Id: {id}").format(id=app.id), wording.mode_detail(app.mode)]
        if app.tags:
            about.append(self.tr("Tags: {tags}").format(tags=", ".join(app.tags)))
        if row.installed and row.installed_version and row.installed_version != app.version:
            about.append(
                self.tr("Installed version: {version}").format(version=row.installed_version)
            )
        self.about_label.setText("\n".join(a for a in about if a))
        self.status_label.hide()
        self.set_model_note("")
        self._update_buttons()
        self.body_scroll.verticalScrollBar().setValue(0)

    def set_busy(self, busy: bool, message: str = "") -> None:
        """While installing or removing: the buttons wait; ``message`` says what happens."""
        self._busy = busy
        self.show_status(message)
        self._update_buttons()

    def show_status(self, message: str) -> None:
        self.status_label.setText(message)
        self.status_label.setVisible(bool(message))

    def set_model_note(self, text: str) -> None:
        """Which model runs the app, or why none does (plain text); "" hides it."""
        self.model_label.setText(text)
        self.model_frame.setVisible(bool(text))

    # --- building -----------------------------------------------------------------------

    def _clear_grid(self, grid: QGridLayout) -> None:
        while grid.count():
            item = grid.takeAt(0)
            widget = item.widget()
            if widget is not None:
                widget.deleteLater()

    def _fill_inputs(self, inputs: list[InputField], language: str) -> None:
        self._clear_grid(self.inputs_grid)
        parent = self.inputs_heading.parentWidget()
        if not inputs:
            self.inputs_grid.addWidget(_plain(self.tr("None"), parent, dim=True), 0, 0)
            return
        for row, field in enumerate(inputs):
            name = wording.input_label(field, language)
            if field.required:
                name += " *"
            self.inputs_grid.addWidget(_plain(name, parent, wrap=False), row, 0)
            self.inputs_grid.addWidget(
                _plain(wording.input_type_text(field.type), parent, dim=True, wrap=False), row, 1
            )
            self.inputs_grid.addWidget(
                _plain(self._limits(field, language), parent, dim=True), row, 2
            )
        self.inputs_grid.setColumnStretch(2, 1)

    def _limits(self, field: InputField, language: str) -> str:
        parts: list[str] = []
        if field.type == "choice" and field.choices:
            parts.append(" / ".join(c.display(language) for c in field.choices))
        if field.type == "number":
            if field.min is not None and field.max is not None:
                parts.append(self.tr("{low} to {high}").format(low=field.min, high=field.max))
            elif field.min is not None:
                parts.append(self.tr("at least {low}").format(low=field.min))
            elif field.max is not None:
                parts.append(self.tr("at most {high}").format(high=field.max))
        if field.type in ("text", "multiline"):
            parts.append(self.tr("up to {n} characters").format(n=f"{field.length_limit:,}"))
        if field.default is not None and field.default != "":
            default = field.default
            if isinstance(default, bool):
                shown = self.tr("yes") if default else self.tr("no")
            else:
                shown = str(default)
            if len(shown) > 60:
                shown = shown[:60] + "…"
            parts.append(self.tr("default: {value}").format(value=shown))
        return " · ".join(parts)

    def _fill_models(self, app: AppManifest) -> None:
        self._clear_grid(self.models_grid)
        self.model_buttons = []
        parent = self.models_heading.parentWidget()
        models = app.recommended_models
        self.models_heading.setVisible(app.mode != "chat" or bool(models))
        if not models:
            self.models_grid.addWidget(
                _plain(self.tr("Any chat model (the app names none)."), parent, dim=True), 0, 0
            )
            return
        for row, model in enumerate(models):
            self.models_grid.addWidget(_plain(model.repo_id, parent, wrap=False), row, 0)
            self.models_grid.addWidget(_plain(model.file, parent, dim=True), row, 1)
            context = (
                self.tr("needs {n} tokens of context").format(n=f"{model.min_context:,}")
                if model.min_context
                else ""
            )
            self.models_grid.addWidget(_plain(context, parent, dim=True, wrap=False), row, 2)
            button = QPushButton(self.tr("Get"), parent)
            button.setObjectName("appGetModelButton")
            button.setAccessibleName(self.tr("Download {file}").format(file=model.file))
            button.setToolTip(self.tr("Download it on the Models page"))
            button.setAutoDefault(False)
            button.clicked.connect(
                lambda _checked=False, r=model.repo_id, f=model.file: self.model_wanted.emit(r, f)
            )
            self.models_grid.addWidget(button, row, 3)
            self.model_buttons.append(button)
        self.models_grid.setColumnStretch(1, 1)

    def _update_buttons(self) -> None:
        row = self.row
        busy = self._busy
        installed = row is not None and row.installed
        self.install_button.setVisible(row is not None and (not installed or row.update))
        self.install_button.setText(
            self.tr("&Update to {version}").format(version=row.app.version)
            if row is not None and installed and row.update
            else self.tr("&Install")
        )
        self.remove_button.setVisible(installed)
        self.run_button.setText(
            self.tr("Open in &chat")
            if row is not None and row.app.mode == "chat"
            else self.tr("&Run")
        )
        self.run_button.setToolTip(wording.mode_detail(row.app.mode) if row is not None else "")
        for button in (
            self.run_button,
            self.install_button,
            self.remove_button,
            self.export_button,
            self.edit_button,
        ):
            button.setEnabled(row is not None and not busy)

    # --- slots --------------------------------------------------------------------------

    def _on_run_button_clicked(self) -> None:
        if self.app is not None:
            self.run_requested.emit(self.app)

    def _on_install_button_clicked(self) -> None:
        if self.app is not None:
            self.install_requested.emit(self.app)

    def _on_remove_button_clicked(self) -> None:
        if self.app is not None:
            self.remove_requested.emit(self.app)

    def _on_export_button_clicked(self) -> None:
        if self.app is not None:
            self.export_requested.emit(self.app)

    def _on_edit_button_clicked(self) -> None:
        if self.app is not None:
            self.edit_requested.emit(self.app)
