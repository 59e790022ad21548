"""One Hub repository: its GGUF files grouped by quantization, fit advice, and its card.

Every ``.gguf`` model of the repository is listed (K- and IQ-quants, F16/BF16, split
models as one entry with their parts counted), grouped under its quantization, with its
size and whether it fits this computer (full GPU, partial offload, CPU only or too large,
and the context size that allows). The page (ModelsPage) supplies the advice, first from
the sizes alone, then refined from the model's header read off the GUI thread; the best
quantization for this machine is marked. A gated repository says so, with a button for a
token, before anything is downloaded.

The model card is untrusted Markdown (the Hub client has cut its YAML header): it is rendered by the chat's safe renderer in a
``MarkdownView``, which loads nothing and follows no link by itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QCoreApplication, QEvent, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFont, QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.chat.markdown import MarkdownRenderer
from llmos_desktop.core.models.types import FitAdvice, RemoteModel, RepoDetails
from llmos_desktop.ui.models import wording
from llmos_desktop.ui.models.library_view import error_colour
from llmos_desktop.ui.widgets.markdown_view import MarkdownView, theme_from_palette

QUANT, FILE, SIZE, FIT = range(4)
MODEL_ROLE = Qt.ItemDataRole.UserRole + 1
MAX_CARD_CHARS = 60_000  # the Hub client bounds the card too; a card is not a book


class RepoPage(QWidget):
    """Shows one ``RepoDetails``; downloads and tokens are asked for through signals."""

    back_requested = Signal()
    download_requested = Signal(object)  # RemoteModel
    token_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("repoPage")
        self.details: RepoDetails | None = None
        self.advices: list[FitAdvice | None] = []
        self.best: int | None = None
        self._web_url: str | None = None
        self._model_items: list[QTreeWidgetItem] = []

        self.back_button = QPushButton(self.tr("← &Back to results"), self)
        self.back_button.setObjectName("repoBackButton")
        self.back_button.setAccessibleName(self.tr("Back to the search results"))
        self.back_button.setAutoDefault(False)
        self.back_shortcut = QShortcut(QKeySequence(QKeySequence.StandardKey.Back), self)
        self.back_shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.title_label = QLabel(self)
        self.title_label.setObjectName("repoTitle")
        self.title_label.setTextFormat(Qt.TextFormat.PlainText)
        self.title_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = QFont(self.title_label.font())
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title_label.setFont(font)
        self.web_button = QPushButton(self.tr("O&pen on the Hub"), self)
        self.web_button.setObjectName("repoWebButton")
        self.web_button.setAccessibleName(self.tr("Open this repository on the Hub in a browser"))
        self.web_button.setAutoDefault(False)
        self.meta_label = QLabel(self)
        self.meta_label.setObjectName("repoMeta")
        self.meta_label.setTextFormat(Qt.TextFormat.PlainText)
        self.meta_label.setWordWrap(True)
        self.meta_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        # Gated or unauthorised: said before anything is downloaded, with a way to a token.
        self.access_frame = QFrame(self)
        self.access_frame.setObjectName("repoAccess")
        self.access_label = QLabel(self.access_frame)
        self.access_label.setObjectName("repoAccessText")
        self.access_label.setTextFormat(Qt.TextFormat.PlainText)
        self.access_label.setWordWrap(True)
        self.token_button = QPushButton(self.tr("Enter a &token…"), self.access_frame)
        self.token_button.setObjectName("repoTokenButton")
        self.token_button.setAccessibleName(self.tr("Enter a Hugging Face token"))
        self.token_button.setAutoDefault(False)
        access = QHBoxLayout(self.access_frame)
        access.setContentsMargins(10, 6, 6, 6)
        access.addWidget(self.access_label, 1)
        access.addWidget(self.token_button, 0, Qt.AlignmentFlag.AlignVCenter)
        self.access_frame.hide()

        self.status_label = QLabel(self)
        self.status_label.setObjectName("repoStatus")
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setWordWrap(True)
        self.best_label = QLabel(self)
        self.best_label.setObjectName("repoBest")
        self.best_label.setTextFormat(Qt.TextFormat.PlainText)
        self.best_label.setWordWrap(True)

        self.files = QTreeWidget(self)
        self.files.setObjectName("repoFiles")
        self.files.setAccessibleName(self.tr("GGUF files by quantization"))
        self.files.setColumnCount(4)
        self.files.setHeaderLabels(
            [self.tr("Quantization"), self.tr("File"), self.tr("Size"), self.tr("On this computer")]
        )
        self.files.setRootIsDecorated(False)  # groups of one are one row; see _fill_files
        self.files.setUniformRowHeights(True)
        self.files.setAlternatingRowColors(True)
        self.files.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.files.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QUANT, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(FILE, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(SIZE, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(FIT, QHeaderView.ResizeMode.ResizeToContents)
        self.download_button = QPushButton(self.tr("&Download"), self)
        self.download_button.setObjectName("repoDownloadButton")
        self.download_button.setAccessibleName(self.tr("Download the selected file"))
        self.download_button.setAutoDefault(False)
        self.download_button.setEnabled(False)

        self._renderer = MarkdownRenderer(theme_from_palette(self.palette(), self.tr("Copy")))
        self.card_view = MarkdownView(self._renderer, parent=self)
        self.card_view.setObjectName("repoCard")
        self.card_view.setAccessibleName(self.tr("Model card"))
        card_box = QWidget(self)
        card_layout = QVBoxLayout(card_box)
        card_layout.setContentsMargins(8, 8, 8, 8)
        card_layout.addWidget(self.card_view)
        card_layout.addStretch(1)
        self.card_scroll = QScrollArea(self)
        self.card_scroll.setObjectName("repoCardScroll")
        self.card_scroll.setWidgetResizable(True)
        self.card_scroll.setWidget(card_box)
        self.card_scroll.setBackgroundRole(QPalette.ColorRole.Base)
        # The keyboard scrolls the card through its scroll area (arrows, Page Up/Down):
        # the view itself is as tall as its text, so it takes no focus.
        self.card_scroll.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.card_scroll.setAccessibleName(self.tr("Model card"))
        self.card_view.setFocusPolicy(Qt.FocusPolicy.NoFocus)

        files_box = QWidget(self)
        files_layout = QVBoxLayout(files_box)
        files_layout.setContentsMargins(0, 0, 0, 0)
        files_layout.addWidget(self.files, 1)
        row = QHBoxLayout()
        row.addWidget(self.best_label, 1)
        row.addWidget(self.download_button)
        files_layout.addLayout(row)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.setObjectName("repoSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(files_box)
        self.splitter.addWidget(self.card_scroll)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([1, 1])  # half and half, whatever the tree would like

        head = QHBoxLayout()
        head.addWidget(self.back_button)
        head.addSpacing(8)
        head.addWidget(self.title_label, 1)
        head.addWidget(self.web_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addLayout(head)
        layout.addWidget(self.meta_label)
        layout.addWidget(self.access_frame)
        layout.addWidget(self.status_label)
        layout.addWidget(self.splitter, 1)

        self.back_button.clicked.connect(self.back_requested)
        self.back_shortcut.activated.connect(self.back_requested)
        self.web_button.clicked.connect(self._on_web_button_clicked)
        self.token_button.clicked.connect(self.token_requested)
        self.download_button.clicked.connect(self._on_download_button_clicked)
        self.files.itemSelectionChanged.connect(self._update_actions)
        self._apply_access_style()

    # --- public -------------------------------------------------------------------------

    def show_loading(self, repo_id: str) -> None:
        self.details = None
        self.advices = []
        self.best = None
        self.set_web_url(None)
        self.title_label.setText(repo_id)
        self.meta_label.clear()
        self.access_frame.hide()
        self.best_label.clear()
        self.files.clear()
        self.files.setRootIsDecorated(False)
        self._model_items = []
        self.card_view.set_text("")
        self.status_label.setText(self.tr("Reading the repository…"))
        self.status_label.show()
        self._update_actions()

    def set_web_url(self, url: str | None) -> None:
        """Where "Open on the Hub" goes (None: nowhere yet)."""
        self._web_url = url
        self.web_button.setEnabled(url is not None)

    def show_error(self, message: str, *, offer_token: bool = False) -> None:
        self.status_label.setText(message)
        self.status_label.show()
        if offer_token:
            self._show_access(message)

    def show_details(self, details: RepoDetails) -> None:
        """The repository's files (without advice yet: "Checking…") and its card."""
        self.details = details
        self.advices = [None] * len(details.models)
        self.best = None
        self.title_label.setText(details.repo_id)
        self.meta_label.setText(self._meta(details))
        if details.access_error is not None:
            # Gated or private, and this token (or none) has no access: say so first.
            text = wording.error_text(details.access_error)
            if details.gated:
                text = wording.gated_text(details.gated) + ". " + text
            self._show_access(text)
        else:
            self.access_frame.hide()  # open, or gated with a token that has access
        self._fill_files(details.models)
        if not details.models:
            self.status_label.setText(self.tr("This repository has no GGUF files."))
            self.status_label.show()
        else:
            self.status_label.hide()
        card = (details.card_markdown or "")[:MAX_CARD_CHARS]
        self.card_view.set_text(
            card if card.strip() else self.tr("This repository has no model card.")
        )
        self._update_actions()

    def set_advice(self, advices: Sequence[FitAdvice | None], best: int | None) -> None:
        """Fit advice per model (aligned with ``details.models``) and the best one."""
        if self.details is None:
            return
        self.advices = list(advices)
        self.best = best
        for index, item in enumerate(self._model_items):
            model: RemoteModel = item.data(FILE, MODEL_ROLE)
            advice = self.advices[index] if index < len(self.advices) else None
            self._show_model_item(item, model, advice, index == best)
        if best is not None and 0 <= best < len(self.details.models):
            model = self.details.models[best]
            self.best_label.setText(
                self.tr("★ Best for this computer: {name}").format(name=_model_label(model))
            )
            if not self.files.selectedItems():
                self.files.setCurrentItem(self._model_items[best])
        elif any(a is not None for a in self.advices):
            self.best_label.setText(
                self.tr("None of these files fits this computer fully with a useful context.")
            )
        self._update_actions()

    def selected_model(self) -> RemoteModel | None:
        items = self.files.selectedItems()
        if not items:
            return None
        model = items[0].data(FILE, MODEL_ROLE)
        return model if isinstance(model, RemoteModel) else None

    def select_model(self, index: int) -> None:
        if 0 <= index < len(self._model_items):
            self.files.setCurrentItem(self._model_items[index])

    def model_items(self) -> list[QTreeWidgetItem]:
        """The tree's model rows, in ``details.models`` order."""
        return list(self._model_items)

    # --- building -----------------------------------------------------------------------

    def _meta(self, details: RepoDetails) -> str:
        parts = [
            self.tr("{n} downloads").format(n=wording.count_text(details.downloads)),
            self.tr("{n} likes").format(n=wording.count_text(details.likes)),
        ]
        if details.license:
            parts.append(self.tr("licence: {licence}").format(licence=details.license))
        if details.last_modified is not None:
            parts.append(
                self.tr("updated {date}").format(date=wording.date_text(details.last_modified))
            )
        if details.gated:
            parts.append(self.tr("gated"))
        return " · ".join(parts)

    def _fill_files(self, models: Sequence[RemoteModel]) -> None:
        """One group per quantization, from the most compressed to full size.

        Most repositories have one file per quantization: such a group is a single row
        (the quantization, then the file). A group of several (an imatrix variant beside
        the plain one, several models in one repository) is a row with its files under it.
        """
        self.files.clear()
        self.files.setRootIsDecorated(False)
        groups: dict[str, list[int]] = {}
        order = sorted(range(len(models)), key=lambda i: (models[i].is_mmproj, models[i].size or 0))
        for index in order:
            model = models[index]
            key = (
                self.tr("Vision projector") if model.is_mmproj else model.quant or self.tr("Other")
            )
            groups.setdefault(key, []).append(index)
        self._model_items = [QTreeWidgetItem() for _ in models]
        for key, indices in groups.items():
            if len(indices) == 1:
                item = QTreeWidgetItem(self.files)
                self._model_items[indices[0]] = item
            else:
                group = QTreeWidgetItem(self.files)
                group.setFlags(Qt.ItemFlag.ItemIsEnabled)
                group.setText(FILE, self.tr("{n} files").format(n=len(indices)))
                for index in indices:
                    self._model_items[index] = QTreeWidgetItem(group)
                self.files.setRootIsDecorated(True)
            first = self.files.topLevelItem(self.files.topLevelItemCount() - 1)
            first.setText(QUANT, key)
            font = QFont(first.font(QUANT))
            font.setBold(True)
            first.setFont(QUANT, font)
        for index, item in enumerate(self._model_items):
            item.setData(FILE, MODEL_ROLE, models[index])
            self._show_model_item(item, models[index], None, False)
        self.files.expandAll()

    def _show_model_item(
        self, item: QTreeWidgetItem, model: RemoteModel, advice: FitAdvice | None, best: bool
    ) -> None:
        label = _model_label(model)
        item.setText(FILE, ("★ " if best else "") + label)
        item.setText(SIZE, wording.size_text(model.size))
        item.setTextAlignment(SIZE, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        tip = "\n".join(f.path for f in model.files)
        if best:
            tip = self.tr("Best for this computer") + "\n" + tip
        item.setToolTip(FILE, tip)
        font = QFont(item.font(FILE))
        font.setBold(best)
        item.setFont(FILE, font)
        if model.is_mmproj:
            item.setText(FIT, self.tr("Vision projector: used with its model"))
            item.setToolTip(FIT, "")
            return
        item.setText(FIT, wording.fit_text(advice))
        item.setToolTip(FIT, wording.fit_detail(advice))
        if advice is not None and advice.kind == "too_large":
            item.setForeground(FIT, error_colour(self.palette()))
        else:
            item.setData(FIT, Qt.ItemDataRole.ForegroundRole, None)
        spoken = f"{label}, {item.text(SIZE)}, {item.text(FIT)}"
        if best:
            spoken += ", " + self.tr("best for this computer")
        item.setData(FILE, Qt.ItemDataRole.AccessibleTextRole, spoken)

    def _show_access(self, message: str) -> None:
        self.access_label.setText(message)
        self.access_frame.show()
        self._apply_access_style()

    def _apply_access_style(self) -> None:
        palette = self.palette()
        dark = palette.color(QPalette.ColorRole.Window).lightness() < 128
        style = (
            "background: #4a3a14; color: #ffe9b3; border: 1px solid #7a6220;"
            if dark
            else "background: #fff4d6; color: #5c4400; border: 1px solid #f0d58a;"
        )
        sheet = f"#repoAccess {{ {style} border-radius: 4px; }}"
        if sheet != self.access_frame.styleSheet():
            self.access_frame.setStyleSheet(sheet)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "card_view"):
            self._apply_access_style()
            self._renderer = MarkdownRenderer(theme_from_palette(self.palette(), self.tr("Copy")))
            self.card_view.set_renderer(self._renderer)

    # --- slots --------------------------------------------------------------------------

    def _update_actions(self) -> None:
        model = self.selected_model()
        self.download_button.setEnabled(model is not None)
        if model is not None:
            self.download_button.setToolTip(
                self.tr("Download {name} ({size})").format(
                    name=_model_label(model), size=wording.size_text(model.size)
                )
            )

    def _on_download_button_clicked(self) -> None:
        model = self.selected_model()
        if model is not None:
            self.download_requested.emit(model)

    def _on_web_button_clicked(self) -> None:
        if self._web_url is not None:
            QDesktopServices.openUrl(QUrl(self._web_url))


def _model_label(model: RemoteModel) -> str:
    """A model's name, with how many parts a split model has."""
    name = model.files[0].path.rsplit("/", 1)[-1] if len(model.files) == 1 else model.name
    if model.is_split:
        return QCoreApplication.translate("RepoPage", "{name} ({n} parts)").format(
            name=name, n=len(model.files)
        )
    return name
