"""Settings → Remote engines: the OpenAI-compatible servers whose models the chat can use.

A team's serving engine (vLLM, Triton's OpenAI frontend, TGI, llama.cpp's llama-server,
Ollama, another LLMOS) is added here with its base URL, its API key (kept in the system
keyring, else a file only the user can read: ``core/secrets.py``, never in the
settings), TLS verification (on, with an optional CA file) and a timeout. "Check" asks
the server, in one click, whether it is reachable, whether it takes the key and which
models it serves. Removing one forgets its key.

Everything goes through ``EnginesService`` (core/engines/service.py), the front the
command line (``llmos engines``) uses too; its calls are blocking (disk, keyring,
network), so each runs on the loop's executor, as a task this section keeps and
``shutdown`` awaits. Dialogs open without a nested event loop (``OpenDialogs``). What a
server answers is untrusted text: every label here is plain text.

``engines_changed`` tells the window that the list changed, so the chat's model picker
asks the engines for their models again.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import shiboken6
from pydantic import ValidationError
from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.engines.types import (
    DEFAULT_TIMEOUT_S,
    EngineCheck,
    RemoteEngineConfig,
)
from llmos_desktop.ui.tasks import PageTasks
from llmos_desktop.ui.widgets.dialogs import OpenDialogs
from llmos_desktop.ui.widgets.fields import DoubleSpinBox, plain_label

if TYPE_CHECKING:
    from llmos_desktop.core.engines.service import EnginesService

log = logging.getLogger(__name__)

T = TypeVar("T")

# Sample values in empty fields: addresses and names, not words to translate.
URL_EXAMPLE = "http://gpu-server:8000/v1"
NAME_EXAMPLE = "team-vllm"
NAME_COLUMN, URL_COLUMN, STATE_COLUMN = range(3)
MAX_MODELS_SHOWN = 12


def check_text(check: EngineCheck) -> str:
    """What a check found, in one line (in the UI's language; the server's own error
    message as it sent it)."""
    if check.error is not None:
        return check.error.message
    count = len(check.models)
    if count == 0:
        text = QCoreApplication.translate(
            "EnginesSection", "Reachable, key accepted, but it serves no model"
        )
    elif count == 1:
        text = QCoreApplication.translate("EnginesSection", "Reachable, key accepted, 1 model")
    else:
        text = QCoreApplication.translate(
            "EnginesSection", "Reachable, key accepted, {count} models"
        ).format(count=count)
    if check.server_kind and str(check.server_kind) != "unknown":
        text += f" ({check.server_kind})"
    return text


class AddEngineDialog(QDialog):
    """Name, base URL, key, TLS verification, CA file, timeout. Validated with
    ``RemoteEngineConfig`` before it closes; the section adds it and, when the service
    refuses (a name taken, a keyring error), shows why here and keeps what was typed."""

    submitted = Signal(object, object)  # (RemoteEngineConfig, api_key: str | None)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("addEngineDialog")
        self.setWindowTitle(self.tr("Add a remote engine"))
        self._dialogs = OpenDialogs()
        intro = QLabel(
            self.tr(
                "Any server that speaks the OpenAI API: vLLM, Triton, TGI, llama.cpp's "
                "llama-server, Ollama or another LLMOS. The base URL is what an openai "
                "client takes as base_url."
            ),
            self,
        )
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.PlainText)
        self.name_edit = QLineEdit(self)
        self.name_edit.setObjectName("engineNameEdit")
        self.name_edit.setPlaceholderText(NAME_EXAMPLE)
        self.name_edit.setMaxLength(64)
        self.url_edit = QLineEdit(self)
        self.url_edit.setObjectName("engineUrlEdit")
        self.url_edit.setPlaceholderText(URL_EXAMPLE)
        self.url_edit.setMaxLength(2048)
        self.url_edit.setMinimumWidth(320)
        self.key_edit = QLineEdit(self)
        self.key_edit.setObjectName("engineKeyEdit")
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setMaxLength(4096)
        self.key_edit.setPlaceholderText(self.tr("none"))
        self.verify_check = QCheckBox(self.tr("&Check the server's TLS certificate"), self)
        self.verify_check.setObjectName("engineVerifyTlsCheck")
        self.verify_check.setChecked(True)
        self.verify_check.setAccessibleName(plain_label(self.verify_check.text()))
        ca_row = QWidget(self)
        ca_layout = QHBoxLayout(ca_row)
        ca_layout.setContentsMargins(0, 0, 0, 0)
        self.ca_edit = QLineEdit(ca_row)
        self.ca_edit.setObjectName("engineCaFileEdit")
        self.ca_edit.setPlaceholderText(self.tr("the system's certificate authorities"))
        self.ca_edit.setMaxLength(4096)
        self.ca_button = QPushButton(self.tr("Bro&wse…"), ca_row)
        self.ca_button.setObjectName("engineCaFileButton")
        self.ca_button.setAccessibleName(self.tr("Choose a CA certificate file"))
        self.ca_button.setAutoDefault(False)
        ca_layout.addWidget(self.ca_edit, 1)
        ca_layout.addWidget(self.ca_button)
        self.timeout_spin = DoubleSpinBox(self)
        self.timeout_spin.setObjectName("engineTimeoutSpin")
        self.timeout_spin.setDecimals(0)
        self.timeout_spin.setRange(1.0, 3600.0)
        self.timeout_spin.setValue(DEFAULT_TIMEOUT_S)
        self.timeout_spin.setSuffix(self.tr(" s"))
        self.timeout_spin.setToolTip(
            self.tr("How long a reply may go without a word before it counts as stalled")
        )
        form = QFormLayout()
        for text, field, buddy in (
            (self.tr("&Name:"), self.name_edit, None),
            (self.tr("Base &URL:"), self.url_edit, None),
            (self.tr("API &key:"), self.key_edit, None),
            (self.tr("CA &file:"), ca_row, self.ca_edit),
            (self.tr("&Timeout:"), self.timeout_spin, None),
        ):
            label = QLabel(text, self)
            label.setBuddy(buddy or field)
            (buddy or field).setAccessibleName(plain_label(text))
            form.addRow(label, field)
            if field is self.key_edit:
                form.addRow(self.verify_check)
        self.key_hint = QLabel(
            self.tr("The key is kept in the system keyring and sent only to this URL's host."),
            self,
        )
        self.key_hint.setWordWrap(True)
        self.error_label = QLabel(self)
        self.error_label.setObjectName("addEngineError")
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.key_hint)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(480)
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        self.ca_button.clicked.connect(self._on_ca_button_clicked)
        self.verify_check.toggled.connect(self.ca_edit.setEnabled)
        self.verify_check.toggled.connect(self.ca_button.setEnabled)

    def config(self) -> RemoteEngineConfig:
        """What was typed, validated (pydantic's ValidationError when it is not valid)."""
        return RemoteEngineConfig(
            name=self.name_edit.text().strip(),
            base_url=self.url_edit.text().strip(),
            verify_tls=self.verify_check.isChecked(),
            ca_file=(self.ca_edit.text().strip() or None)
            if self.verify_check.isChecked()
            else None,
            timeout_s=float(self.timeout_spin.value()),
        )

    def api_key(self) -> str | None:
        return self.key_edit.text().strip() or None

    def refuse(self, message: str) -> None:
        """Say why it was not added; what was typed stays."""
        self.error_label.setText(message)
        self.error_label.show()
        self.buttons.setEnabled(True)

    def _on_buttons_accepted(self) -> None:
        try:
            config = self.config()
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(p) for p in error["loc"])
            names = {
                "name": self.tr("Name"),
                "base_url": self.tr("Base URL"),
                "ca_file": self.tr("CA file"),
                "timeout_s": self.tr("Timeout"),
            }
            self.refuse(
                self.tr("{field}: {error}").format(
                    field=names.get(field, field),
                    error=str(error["msg"]).removeprefix("Value error, "),
                )
            )
            return
        self.error_label.hide()
        self.buttons.setEnabled(False)  # until the section says it was added, or why not
        self.submitted.emit(config, self.api_key())

    def _on_ca_button_clicked(self) -> None:
        dialog = QFileDialog(self, self.tr("Choose a CA certificate file"))
        dialog.setObjectName("engineCaFileDialog")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilters(
            [self.tr("Certificates (*.pem *.crt *.cer)"), self.tr("All files (*)")]
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(self.ca_edit.setText)
        self._dialogs.open(dialog)


class EnginesSection(QGroupBox):
    """The list of remote engines with Add, Check and Remove; see the module docstring."""

    engines_changed = Signal()
    checked = Signal(str, object)  # (name, EngineCheck) after a check

    def __init__(self, service: EnginesService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTitle(self.tr("Remote engines"))
        self.setObjectName("enginesSection")
        self._service = service
        self._tasks = PageTasks("engines section", self._on_task_done)
        self._dialogs = OpenDialogs()
        self._checks: dict[str, EngineCheck] = {}
        self._configs: list[RemoteEngineConfig] = []
        self._read_once = False

        intro = QLabel(
            self.tr(
                "OpenAI-compatible servers whose models the chat can use, such as a "
                "team's vLLM or Triton server. Their keys are kept in the system keyring "
                "(or a file only you can read)."
            ),
            self,
        )
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.PlainText)
        self.tree = QTreeWidget(self)
        self.tree.setObjectName("enginesList")
        self.tree.setAccessibleName(self.tr("Remote engines"))
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels([self.tr("Name"), self.tr("Base URL"), self.tr("State")])
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setMinimumHeight(90)
        self.tree.setMaximumHeight(170)
        header = self.tree.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.tree.setColumnWidth(NAME_COLUMN, 130)
        self.tree.setColumnWidth(URL_COLUMN, 240)
        self.empty_label = QLabel(self.tr("No remote engine yet."), self)
        self.empty_label.setObjectName("enginesEmpty")
        self.details_label = QLabel(self)
        self.details_label.setObjectName("engineDetails")
        self.details_label.setTextFormat(Qt.TextFormat.PlainText)
        self.details_label.setWordWrap(True)
        self.details_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.add_button = QPushButton(self.tr("Add…"), self)
        self.add_button.setObjectName("engineAddButton")
        self.add_button.setAccessibleName(self.tr("Add a remote engine"))
        self.check_button = QPushButton(self.tr("Check"), self)
        self.check_button.setObjectName("engineCheckButton")
        self.check_button.setAccessibleName(self.tr("Check the selected remote engine"))
        self.remove_button = QPushButton(self.tr("Remo&ve"), self)
        self.remove_button.setObjectName("engineRemoveButton")
        self.remove_button.setAccessibleName(self.tr("Remove the selected remote engine"))
        for button in (self.add_button, self.check_button, self.remove_button):
            button.setAutoDefault(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.check_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.tree)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.details_label)
        layout.addLayout(buttons)

        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.check_button.clicked.connect(self._on_check_button_clicked)
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.tree.currentItemChanged.connect(self._on_tree_current_item_changed)
        self._update_buttons()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._read_once:  # read when first shown: the window starts without it
            self._read_once = True
            self.refresh()

    # --- public API ---------------------------------------------------------------------

    def refresh(self) -> asyncio.Task[None]:
        """Read the list again (off the GUI thread)."""
        return self._start(self._refresh())

    def names(self) -> list[str]:
        return [config.name for config in self._configs]

    def state_text(self, name: str) -> str:
        """The State column of ``name``'s row."""
        for row in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(row)
            if item is not None and item.text(NAME_COLUMN) == name:
                return item.text(STATE_COLUMN)
        raise KeyError(name)

    def select(self, name: str) -> None:
        for row in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(row)
            if item is not None and item.text(NAME_COLUMN) == name:
                self.tree.setCurrentItem(item)
                return

    def check(self, name: str) -> asyncio.Task[None]:
        return self._start(self._check(name))

    def remove(self, name: str) -> asyncio.Task[None]:
        return self._start(self._remove(name))

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    @property
    def dialogs(self) -> list[QDialog]:
        return self._dialogs.showing()

    async def shutdown(self) -> None:
        self._dialogs.close_all()
        await self._tasks.cancel()

    # --- slots --------------------------------------------------------------------------

    def _on_add_button_clicked(self) -> None:
        dialog = AddEngineDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.submitted.connect(lambda config, key: self._start(self._add(dialog, config, key)))
        self._dialogs.open(dialog)

    def _on_check_button_clicked(self) -> None:
        name = self._selected()
        if name is not None:
            self.check(name)

    def _on_remove_button_clicked(self) -> None:
        name = self._selected()
        if name is None:
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            self.tr("Remove {name}?").format(name=name),
            self.tr(
                "Remove the engine {name} and forget its key? Chats that used its models "
                "keep their messages."
            ).format(name=name),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setObjectName("removeEngineQuestion")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.buttonClicked.connect(
            lambda button: (
                self.remove(name)
                if box.standardButton(button) == QMessageBox.StandardButton.Yes
                else None
            )
        )
        self._dialogs.open(box)

    def _on_tree_current_item_changed(self, *_args: Any) -> None:
        self._update_buttons()
        self._show_details()

    # --- work ---------------------------------------------------------------------------

    def _start(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        return self._tasks.start(coro)

    def _on_task_done(self, _task: asyncio.Task[Any]) -> None:
        if shiboken6.isValid(self):
            self._update_buttons()

    async def _call(self, func: Callable[..., Any], *args: Any) -> Any:
        """A service call off the GUI thread (an async one is awaited here)."""
        if inspect.iscoroutinefunction(func):
            return await func(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(func, *args))

    async def _refresh(self) -> None:
        try:
            configs = await self._call(self._service.list)
        except Exception as exc:
            log.warning("remote engines: %s", exc)
            if shiboken6.isValid(self):
                self.details_label.setText(
                    self.tr("The list of engines could not be read: {error}").format(
                        error=_message(exc)
                    )
                )
            return
        if shiboken6.isValid(self):
            self._show(list(configs))

    async def _add(
        self, dialog: AddEngineDialog, config: RemoteEngineConfig, api_key: str | None
    ) -> None:
        try:
            await self._call(self._service.add, config, api_key)
        except Exception as exc:  # a name taken, a key the keyring refused, a full disk
            if shiboken6.isValid(dialog):
                dialog.refuse(_message(exc))
            return
        if shiboken6.isValid(dialog):
            dialog.accept()
        if not shiboken6.isValid(self):
            return
        await self._refresh()
        self.engines_changed.emit()
        self.select(config.name)
        await self._check(config.name)

    async def _check(self, name: str) -> None:
        self._set_state(name, self.tr("Checking…"))
        try:
            found: EngineCheck = await self._call(self._service.check, name)
        except Exception as exc:
            if shiboken6.isValid(self):
                self._set_state(name, _message(exc))
            return
        if not shiboken6.isValid(self):
            return
        self._checks[name] = found
        self._set_state(name, check_text(found))
        self._show_details()
        self.checked.emit(name, found)

    async def _remove(self, name: str) -> None:
        try:
            await self._call(self._service.remove, name)
        except Exception as exc:
            if shiboken6.isValid(self):
                self.details_label.setText(
                    self.tr("{name} was not removed: {error}").format(
                        name=name, error=_message(exc)
                    )
                )
            return
        if not shiboken6.isValid(self):
            return
        self._checks.pop(name, None)
        await self._refresh()
        self.engines_changed.emit()

    # --- rendering ----------------------------------------------------------------------

    def _show(self, configs: list[RemoteEngineConfig]) -> None:
        selected = self._selected()
        self._configs = configs
        self.tree.clear()
        for config in configs:
            item = QTreeWidgetItem([config.name, config.base_url, self._state_of(config.name)])
            item.setToolTip(URL_COLUMN, config.base_url)
            self.tree.addTopLevelItem(item)
        self.empty_label.setVisible(not configs)
        if selected is not None:
            self.select(selected)
        if self.tree.currentItem() is None and self.tree.topLevelItemCount():
            self.tree.setCurrentItem(self.tree.topLevelItem(0))
        self._update_buttons()
        self._show_details()

    def _state_of(self, name: str) -> str:
        found = self._checks.get(name)
        return self.tr("Not checked yet") if found is None else check_text(found)

    def _set_state(self, name: str, text: str) -> None:
        for row in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(row)
            if item is not None and item.text(NAME_COLUMN) == name:
                item.setText(STATE_COLUMN, text)
                item.setToolTip(STATE_COLUMN, text)

    def _show_details(self) -> None:
        name = self._selected()
        found = self._checks.get(name) if name is not None else None
        if found is None:
            self.details_label.clear()
            self.details_label.hide()
            return
        lines = [check_text(found)]
        if found.models:
            shown = ", ".join(found.models[:MAX_MODELS_SHOWN])
            more = len(found.models) - MAX_MODELS_SHOWN
            if more > 0:
                shown += " " + self.tr("and {count} more").format(count=more)
            lines.append(self.tr("Models: {models}").format(models=shown))
        lines.extend(found.warnings)
        self.details_label.setText("\n".join(lines))
        self.details_label.show()

    def _selected(self) -> str | None:
        item = self.tree.currentItem()
        return item.text(NAME_COLUMN) if item is not None else None

    def _update_buttons(self) -> None:
        has = self._selected() is not None
        self.check_button.setEnabled(has)
        self.remove_button.setEnabled(has)


def _message(exc: BaseException) -> str:
    """An error in words: the service's own message when it has one."""
    message = getattr(exc, "message", None)
    return str(message) if message else (str(exc) or type(exc).__name__)
