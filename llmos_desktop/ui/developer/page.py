"""The Developer page: serve the engine's OpenAI-compatible API to other programs.

What a developer expects from a local model server (LM Studio's developer page is the
model): a switch, a fixed port that is remembered, the base URL and the key to copy,
example code that works as copied, a log of the requests, and the engine settings that
matter to a server.

- **The switch** calls ``Engine.set_api_server``: the engine process opens a second
  listener next to the window's own (same model, same queue: the window's replies and
  other programs' requests are served in the order they came). The engine starts if it
  is not running; the Engine service applies the setting again after every restart. The
  switch's state is a setting, so a server that was on is on again at the next start
  (the window applies it then, ``apply_at_start``).
- **Who may connect.** This computer only (127.0.0.1) by default. The local network
  (0.0.0.0) is an explicit choice with a sentence saying what it means, and it is
  refused without a key: here (the page says why and changes nothing), in
  ``ApiServerConfig``'s validation, and in the engine (a 400).
- **The key** is made with ``secrets`` (256 bits), shown, copied, regenerated. It opens
  only /v1 on that listener; the window's own control key never works there. It is kept
  in the settings file, which only the user can read (written with mode 0600).
- **Example code** is rendered by core/engine/snippets.py, the same text docs/api.md
  shows and its tests run, with this server's URL, key and loaded model.
- **The request log** is polled about once a second while the page is shown and the
  engine runs (``Engine.request_log(after)``), never otherwise.
- **Engine settings**: context size and parallel slots (``settings.load``: at the next
  model load), keep-alive (``engine_keep_alive_s``: at the next engine start), CORS
  origins (the listener's: at once when it is on). The page says when each applies.

Every engine call runs as an asyncio task on the qasync loop (the client is async; the
engine's start runs on the loop's executor inside ``Engine``). Settings are written by
the window's SettingsWriter on its worker thread, a moment after the last change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import shiboken6
from pydantic import ValidationError
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QHideEvent, QPalette, QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.engine.api_server import (
    LAN_HOST,
    LOOPBACK_HOST,
    ApiServerConfig,
    new_api_key,
)
from llmos_desktop.core.engine.contract import LoadOptions
from llmos_desktop.core.settings import Settings, SettingsWriter, field_bounds
from llmos_desktop.ui.developer.request_log_view import RequestLogView
from llmos_desktop.ui.developer.snippets_view import SnippetsView
from llmos_desktop.ui.tasks import PageTasks
from llmos_desktop.ui.widgets.banner import MessageBanner
from llmos_desktop.ui.widgets.fields import SpinBox, int_range, plain_label
from llmos_desktop.ui.widgets.form_page import (
    align_labels,
    form_hint,
    frame_page,
    group_form,
    scroll_column,
)
from llmos_desktop.ui.widgets.title import page_title

if TYPE_CHECKING:
    from llmos_desktop.core.engine.control.service import Engine

log = logging.getLogger(__name__)

T = TypeVar("T")

LOG_POLL_MS = 1000
SAVE_DELAY_MS = 400
MAX_ORIGINS_TEXT = 4000
MIN_PORT = 1024  # below it a server needs administrator rights on most systems
ORIGIN_EXAMPLE = "http://localhost:3000"  # shown in the empty field: an address, not words


def parse_origins(text: str) -> list[str]:
    """CORS origins from the field: separated by commas, spaces or new lines."""
    return [part for part in re.split(r"[\s,]+", text.strip()) if part]


def local_network_addresses() -> list[str]:
    """This computer's IPv4 addresses on its network interfaces (no loopback), from the
    interfaces themselves: nothing is sent anywhere to learn them."""
    from PySide6.QtNetwork import QAbstractSocket, QHostAddress, QNetworkInterface

    found = []
    for address in QNetworkInterface.allAddresses():
        if (
            address.protocol() == QAbstractSocket.NetworkLayerProtocol.IPv4Protocol
            and not address.isLoopback()
            and not address.isEqual(QHostAddress(QHostAddress.SpecialAddress.AnyIPv4))
        ):
            found.append(address.toString())
    return found


class DeveloperPage(QWidget):
    """The local API server: switch, address, key, example code, request log, engine
    settings; see the module docstring."""

    api_server_changed = Signal(object)  # the listener's state (dict), or None when off
    settings_changed = Signal(str)  # "api_server", "load", "engine_keep_alive_s"
    log_polled = Signal(int)  # how many new entries a poll brought (tests wait on it)

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        writer: SettingsWriter | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("developerPage")
        self._engine = engine
        self._settings = settings
        self._writer = writer
        self._tasks = PageTasks("developer page")
        self._apply_task: asyncio.Task[None] | None = None
        self._applying = False
        self._poll_task: asyncio.Task[int] | None = None
        self._save_task: asyncio.Task[None] | None = None
        self._state: dict[str, Any] | None = None
        self._log_pid: int | None = None
        self._closed = False
        self._row_labels: list[QLabel] = []

        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self._on_save_timer_timeout)
        self._log_timer = QTimer(self)
        self._log_timer.setInterval(LOG_POLL_MS)
        self._log_timer.timeout.connect(self._on_log_timer_timeout)

        self._build()
        self.show_settings()
        self._connect()

    # --- construction -------------------------------------------------------------------

    def _build(self) -> None:
        self.title_label = page_title(self.tr("Developer"), self)
        self.banner = MessageBanner(self)

        content, column = scroll_column(self, "developer")
        column.addWidget(self._server_group(content))
        column.addWidget(self._snippets_group(content))
        column.addWidget(self._log_group(content))
        column.addWidget(self._engine_group(content))
        column.addStretch(1)
        align_labels(self._row_labels)
        self.scroll_area = frame_page(self, "developer", content, self.title_label, self.banner)

    def _row(
        self, form: QFormLayout, text: str, field: QWidget, buddy: QWidget | None = None
    ) -> None:
        label = QLabel(text, field.parentWidget())
        label.setBuddy(buddy or field)
        (buddy or field).setAccessibleName(plain_label(text))
        form.addRow(label, field)
        self._row_labels.append(label)

    def _hint(self, form: QFormLayout, text: str, parent: QWidget) -> QLabel:
        return form_hint(form, text, parent, "developerHint")

    def _copy_row(
        self, parent: QWidget, edit_name: str, copy_spoken: str
    ) -> tuple[QWidget, QLineEdit, QPushButton, QHBoxLayout]:
        row = QWidget(parent)
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        edit = QLineEdit(row)
        edit.setObjectName(edit_name)
        edit.setReadOnly(True)  # selectable and copyable, not editable
        edit.setMinimumWidth(280)
        button = QPushButton(self.tr("Copy"), row)
        button.setObjectName(edit_name.replace("Edit", "CopyButton"))
        button.setAccessibleName(copy_spoken)
        button.setAutoDefault(False)
        layout.addWidget(edit, 1)
        layout.addWidget(button)
        return row, edit, button, layout

    def _server_group(self, parent: QWidget) -> QGroupBox:
        group = QGroupBox(self.tr("API server"), parent)
        form = group_form(group, fields_grow=True)
        self.enabled_check = QCheckBox(
            self.tr("&Serve the API to other programs on this computer or network"), group
        )
        self.enabled_check.setObjectName("apiEnabledCheck")
        self.enabled_check.setAccessibleName(plain_label(self.enabled_check.text()))
        form.addRow(self.enabled_check)
        self.state_label = QLabel(group)
        self.state_label.setObjectName("apiStateLabel")
        self.state_label.setTextFormat(Qt.TextFormat.PlainText)
        self.state_label.setWordWrap(True)
        self.state_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.state_label.setAccessibleName(self.tr("API server state"))
        form.addRow(self.state_label)

        self.port_spin = SpinBox(group)
        self.port_spin.setObjectName("apiPortSpin")
        low, high = _port_range()
        self.port_spin.setRange(low, high)
        self.port_spin.setKeyboardTracking(False)  # a port is applied once it is typed
        self._row(form, self.tr("&Port:"), self.port_spin)
        self.port_spin.setMaximumWidth(self.port_spin.sizeHint().width() + 40)

        reach = QWidget(group)
        reach_layout = QVBoxLayout(reach)
        reach_layout.setContentsMargins(0, 0, 0, 0)
        reach_layout.setSpacing(4)
        self.loopback_radio = QRadioButton(self.tr("This &computer only (127.0.0.1)"), reach)
        self.loopback_radio.setObjectName("apiLoopbackRadio")
        self.loopback_radio.setAccessibleName(plain_label(self.loopback_radio.text()))
        self.network_radio = QRadioButton(
            self.tr("Other devices on the local &network (0.0.0.0)"), reach
        )
        self.network_radio.setObjectName("apiNetworkRadio")
        self.network_radio.setAccessibleName(plain_label(self.network_radio.text()))
        self.reach_group = QButtonGroup(self)
        self.reach_group.addButton(self.loopback_radio)
        self.reach_group.addButton(self.network_radio)
        reach_layout.addWidget(self.loopback_radio)
        reach_layout.addWidget(self.network_radio)
        reach_title = QLabel(self.tr("Reachable from:"), group)
        reach_title.setBuddy(self.loopback_radio)
        form.addRow(reach_title, reach)
        self._row_labels.append(reach_title)
        self.reach_hint = self._hint(
            form,
            self.tr(
                "This computer only: programs on this computer can connect, nothing else. "
                "Local network: any device on your network (home, office, café Wi-Fi) that "
                "has the key can use the model and read what it writes; the key is required "
                "and travels unencrypted (plain HTTP), so choose it only on a network you trust."
            ),
            group,
        )

        url_row, self.url_edit, self.copy_url_button, _ = self._copy_row(
            group, "apiBaseUrlEdit", self.tr("Copy the base URL")
        )
        self._row(form, self.tr("Base &URL:"), url_row, self.url_edit)
        self.network_url_label = QLabel(group)
        self.network_url_label.setObjectName("apiNetworkUrlLabel")
        self.network_url_label.setTextFormat(Qt.TextFormat.PlainText)
        self.network_url_label.setWordWrap(True)
        self.network_url_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("", self.network_url_label)

        self.require_key_check = QCheckBox(self.tr("Require an API &key"), group)
        self.require_key_check.setObjectName("apiRequireKeyCheck")
        self.require_key_check.setAccessibleName(plain_label(self.require_key_check.text()))
        form.addRow(self.require_key_check)
        key_row, self.key_edit, self.copy_key_button, key_layout = self._copy_row(
            group, "apiKeyEdit", self.tr("Copy the API key")
        )
        self.regenerate_button = QPushButton(self.tr("&Regenerate"), key_row)
        self.regenerate_button.setObjectName("apiKeyRegenerateButton")
        self.regenerate_button.setAccessibleName(self.tr("Make a new API key"))
        self.regenerate_button.setToolTip(
            self.tr("Programs that use the old key must be given the new one")
        )
        self.regenerate_button.setAutoDefault(False)
        key_layout.addWidget(self.regenerate_button)
        self._row(form, self.tr("API key:"), key_row, self.key_edit)
        self._hint(
            form,
            self.tr(
                "Programs send the key as a bearer token (Authorization: Bearer KEY), as the "
                "openai clients do with api_key. It opens only this server's /v1 routes."
            ),
            group,
        )
        return group

    def _snippets_group(self, parent: QWidget) -> QGroupBox:
        group = QGroupBox(self.tr("Example code"), parent)
        layout = QVBoxLayout(group)
        self.snippets = SnippetsView(group)
        layout.addWidget(self.snippets)
        return group

    def _log_group(self, parent: QWidget) -> QGroupBox:
        group = QGroupBox(self.tr("Request log"), parent)
        layout = QVBoxLayout(group)
        top = QHBoxLayout()
        self.log_prompts_check = QCheckBox(self.tr("Log the prompt &text of each request"), group)
        self.log_prompts_check.setObjectName("apiLogPromptsCheck")
        self.log_prompts_check.setAccessibleName(plain_label(self.log_prompts_check.text()))
        self.clear_log_button = QPushButton(self.tr("C&lear"), group)
        self.clear_log_button.setObjectName("requestLogClearButton")
        self.clear_log_button.setAccessibleName(self.tr("Clear the request log shown here"))
        self.clear_log_button.setAutoDefault(False)
        top.addWidget(self.log_prompts_check, 1)
        top.addWidget(self.clear_log_button)
        layout.addLayout(top)
        hint = QLabel(
            self.tr(
                "The last 500 requests to the engine, this window's replies included. "
                "Prompts are never kept unless logging them is on, and the log is kept in "
                "memory only: it is gone when the engine stops."
            ),
            group,
        )
        hint.setObjectName("developerHint")
        hint.setWordWrap(True)
        hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout.addWidget(hint)
        self.log_view = RequestLogView(group)
        layout.addWidget(self.log_view, 1)
        return group

    def _engine_group(self, parent: QWidget) -> QGroupBox:
        group = QGroupBox(self.tr("Engine"), parent)
        form = group_form(group, fields_grow=False)
        self.context_spin = SpinBox(group)
        self.context_spin.setObjectName("developerContextSpin")
        self.context_spin.setRange(*int_range(LoadOptions, "n_ctx"))
        self.context_spin.setSingleStep(1024)
        self.context_spin.setGroupSeparatorShown(True)
        self.context_spin.setSuffix(self.tr(" tokens"))
        self._row(form, self.tr("Conte&xt size:"), self.context_spin)
        self.parallel_spin = SpinBox(group)
        self.parallel_spin.setObjectName("developerParallelSpin")
        self.parallel_spin.setRange(*int_range(LoadOptions, "n_parallel"))
        self.parallel_spin.setToolTip(
            self.tr("Requests served at once; they share the context size")
        )
        self._row(form, self.tr("Parallel sl&ots:"), self.parallel_spin)
        self.keep_alive_spin = SpinBox(group)
        self.keep_alive_spin.setObjectName("developerKeepAliveSpin")
        bounds = field_bounds(Settings, "engine_keep_alive_s")
        assert bounds.maximum is not None
        self.keep_alive_spin.setRange(0, int(bounds.maximum) // 60)
        self.keep_alive_spin.setSuffix(self.tr(" min"))
        self.keep_alive_spin.setSpecialValueText(self.tr("Never"))
        self.keep_alive_spin.setToolTip(
            self.tr("Unload the model after this long without requests; the next one loads it")
        )
        self._row(form, self.tr("Unload &after idle:"), self.keep_alive_spin)
        self.origins_edit = QLineEdit(group)
        self.origins_edit.setObjectName("apiCorsOriginsEdit")
        self.origins_edit.setPlaceholderText(ORIGIN_EXAMPLE)
        self.origins_edit.setMaxLength(MAX_ORIGINS_TEXT)
        self.origins_edit.setMinimumWidth(320)
        self.origins_edit.setToolTip(
            self.tr("Web pages allowed to call the API from a browser, separated by commas")
        )
        self._row(form, self.tr("CORS orig&ins:"), self.origins_edit)
        self._hint(
            form,
            self.tr(
                "Context size and parallel slots apply the next time a model is loaded; "
                "parallel slots share the context between them. Unloading after idle "
                "applies the next time the engine starts. CORS origins apply at once. "
                "The same settings exist for llmos serve: --ctx, --parallel, "
                "--keep-alive and --cors-origin."
            ),
            group,
        )
        return group

    def _controls(self) -> list[QWidget]:
        return [
            self.enabled_check,
            self.port_spin,
            self.loopback_radio,
            self.network_radio,
            self.require_key_check,
            self.log_prompts_check,
            self.context_spin,
            self.parallel_spin,
            self.keep_alive_spin,
            self.origins_edit,
        ]

    def _connect(self) -> None:
        self.enabled_check.toggled.connect(self._on_enabled_check_toggled)
        self.port_spin.valueChanged.connect(self._on_port_spin_changed)
        self.network_radio.toggled.connect(self._on_network_radio_toggled)
        self.require_key_check.toggled.connect(self._on_require_key_check_toggled)
        self.regenerate_button.clicked.connect(self._on_regenerate_button_clicked)
        self.copy_url_button.clicked.connect(self._on_copy_url_button_clicked)
        self.copy_key_button.clicked.connect(self._on_copy_key_button_clicked)
        self.log_prompts_check.toggled.connect(self._on_log_prompts_check_toggled)
        self.clear_log_button.clicked.connect(self._on_clear_log_button_clicked)
        self.context_spin.valueChanged.connect(self._on_context_spin_changed)
        self.parallel_spin.valueChanged.connect(self._on_parallel_spin_changed)
        self.keep_alive_spin.valueChanged.connect(self._on_keep_alive_spin_changed)
        self.origins_edit.editingFinished.connect(self._on_origins_edit_finished)
        self.snippets.copied.connect(self._on_snippets_copied)

    # --- settings <-> widgets -----------------------------------------------------------

    @property
    def config(self) -> ApiServerConfig:
        return self._settings.api_server

    def show_settings(self) -> None:
        """The settings' values in the widgets, without counting it as a change."""
        s = self._settings
        config = s.api_server
        blocked = [control.blockSignals(True) for control in self._controls()]
        try:
            self.enabled_check.setChecked(config.enabled)
            self.port_spin.setValue(config.port)
            network = not config.loopback
            self.network_radio.setChecked(network)
            self.loopback_radio.setChecked(not network)
            self.require_key_check.setChecked(config.api_key is not None)
            self.log_prompts_check.setChecked(config.log_prompts)
            self.context_spin.setValue(s.load.n_ctx)
            self.parallel_spin.setValue(s.load.n_parallel)
            self.keep_alive_spin.setValue(s.engine_keep_alive_s // 60)
            self.origins_edit.setText(", ".join(config.cors_origins))
        finally:
            for control, was in zip(self._controls(), blocked, strict=True):
                control.blockSignals(was)
        self.key_edit.setText(config.api_key or "")
        self.key_edit.setEnabled(config.api_key is not None)
        self.copy_key_button.setEnabled(config.api_key is not None)
        self.regenerate_button.setEnabled(config.api_key is not None)
        self.log_view.show_prompts(config.log_prompts)
        self._show_addresses()

    def base_url(self) -> str:
        """The base URL a program on this computer uses."""
        return f"http://{LOOPBACK_HOST}:{self.config.port}/v1"

    def _show_addresses(self) -> None:
        self.url_edit.setText(self.base_url())
        self.url_edit.setCursorPosition(0)
        if self.config.loopback:
            self.network_url_label.clear()
            self.network_url_label.hide()
        else:
            addresses = local_network_addresses()
            self.network_url_label.setText(
                self.tr("From other devices: {urls}").format(
                    urls=", ".join(f"http://{a}:{self.config.port}/v1" for a in addresses)
                )
                if addresses
                else self.tr(
                    "From other devices: this computer's network address, port {port}"
                ).format(port=self.config.port)
            )
            self.network_url_label.show()
        self._show_snippets()
        self._show_state()

    def _model_id(self) -> str:
        loaded = self._engine.loaded
        if loaded is None:
            return "local-model"
        return loaded.alias or Path(loaded.path).stem

    def _show_snippets(self) -> None:
        from llmos_desktop.core.engine import snippets

        self.snippets.set_snippets(
            snippets.snippets(self.base_url(), self.config.api_key, self._model_id())
        )

    def _show_state(self, error: str | None = None) -> None:
        if error is not None:
            self.state_label.setText(self.tr("Not serving: {error}").format(error=error))
        elif self._applying:
            self.state_label.setText(self.tr("Starting the API server…"))
        elif self._state is not None and self._state.get("enabled"):
            where = (
                self.tr("this computer only")
                if self.config.loopback
                else self.tr("this computer and the local network")
            )
            text = self.tr("Serving at {url} ({where}).").format(url=self.base_url(), where=where)
            if self._engine.loaded is None:
                text += " " + self.tr(
                    "No model is loaded yet: load one on the Chat or Models page; until then "
                    "requests get an error saying so."
                )
            self.state_label.setText(text)
        elif self.config.enabled:
            self.state_label.setText(self.tr("On: it starts with the engine."))
        else:
            self.state_label.setText(self.tr("Off. Only this window uses the engine."))

    # --- public API ---------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """An engine call of this page is running (an apply or a poll)."""
        return bool(self._tasks)

    @property
    def state(self) -> dict[str, Any] | None:
        """The listener's state as the engine last said (None: off or unknown)."""
        return self._state

    def apply(self) -> asyncio.Task[None]:
        """Tell the engine the current API server settings (start, restart or stop it)."""
        # After the one before it (a change made while the engine answered): never two at
        # once, and the last change is the one the engine keeps.
        previous = self._apply_task
        self._applying = True
        self._apply_task = self._start(self._apply(self.config, previous))
        self._show_state()
        return self._apply_task

    async def shutdown(self) -> None:
        """Stop polling, write what is waiting, wait for the page's tasks."""
        self._closed = True
        # The window may have been deleted already (a test's teardown): then only the
        # tasks are left to end, and a pending change is written by the window's save.
        if shiboken6.isValid(self):
            self._log_timer.stop()
            if self._save_timer.isActive():
                self._save_timer.stop()
                self._save_task = asyncio.ensure_future(self._save())
        await self._tasks.cancel(keep=[self._save_task])
        if self._save_task is not None:
            await asyncio.gather(self._save_task, return_exceptions=True)

    # --- changes ------------------------------------------------------------------------

    def _change_config(self, **changes: Any) -> bool:
        """Change the API server settings (validated); False when refused (and said)."""
        values = self.config.model_dump()
        values.update(changes)
        try:
            config = ApiServerConfig(**values)
        except ValidationError as exc:
            self.banner.show_error(
                self.tr("This was not changed: {error}").format(error=_first_error(exc))
            )
            self.show_settings()
            return False
        self._settings.api_server = config
        if self.banner.kind == "error":
            self.banner.clear()
        self._changed("api_server")
        self.show_settings()
        return True

    def _changed(self, name: str) -> None:
        self.settings_changed.emit(name)
        if self._writer is not None:
            self._save_timer.start()

    def _reapply_if_on(self) -> None:
        if self.config.enabled:
            self.apply()

    def _on_enabled_check_toggled(self, checked: bool) -> None:
        changes: dict[str, Any] = {"enabled": checked}
        if checked and self.config.api_key is None and not self.config.loopback:
            changes["api_key"] = new_api_key()
        if self._change_config(**changes):
            self.apply()

    def _on_port_spin_changed(self, port: int) -> None:
        if port != self.config.port and self._change_config(port=port):
            self._reapply_if_on()

    def _on_network_radio_toggled(self, network: bool) -> None:
        host = LAN_HOST if network else LOOPBACK_HOST
        if host == self.config.host:
            return
        if network and self.config.api_key is None:
            # Refused: the whole network must not reach a server anyone may use.
            self.banner.show_error(
                self.tr(
                    "The API was not opened to the local network: that needs an API key. "
                    "Turn on “Require an API key” first."
                )
            )
            self.show_settings()
            return
        if self._change_config(host=host):
            self._reapply_if_on()

    def _on_require_key_check_toggled(self, required: bool) -> None:
        if not required and not self.config.loopback:
            self.banner.show_error(
                self.tr(
                    "The key stays required while the API is open to the local network. "
                    "Choose “This computer only” first."
                )
            )
            self.show_settings()
            return
        if self._change_config(api_key=new_api_key() if required else None):
            self._reapply_if_on()

    def _on_regenerate_button_clicked(self) -> None:
        if self._change_config(api_key=new_api_key()):
            self.banner.show_info(
                self.tr("A new key was made. Programs that used the old one must use this one.")
            )
            self._reapply_if_on()

    def _on_copy_url_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.url_edit.text())
        self._said_copied(self.tr("The base URL was copied."))

    def _on_copy_key_button_clicked(self) -> None:
        if self.config.api_key:
            QGuiApplication.clipboard().setText(self.config.api_key)
            self._said_copied(self.tr("The API key was copied."))

    def _on_snippets_copied(self, _kind: str) -> None:
        self._said_copied(self.tr("The example was copied."))

    def _said_copied(self, text: str) -> None:
        if self.banner.kind != "error":
            self.banner.show_info(text)

    def _on_log_prompts_check_toggled(self, checked: bool) -> None:
        if self._change_config(log_prompts=checked):
            self._reapply_if_on()

    def _on_clear_log_button_clicked(self) -> None:
        self.log_view.log_model.clear()

    def _on_context_spin_changed(self, value: int) -> None:
        self._change_load(n_ctx=value)

    def _on_parallel_spin_changed(self, value: int) -> None:
        self._change_load(n_parallel=value)

    def _change_load(self, **changes: Any) -> None:
        values = self._settings.load.model_dump()
        values.update(changes)
        try:
            self._settings.load = LoadOptions(**values)
        except ValidationError as exc:
            self.banner.show_error(
                self.tr("This was not changed: {error}").format(error=_first_error(exc))
            )
            self.show_settings()
            return
        self._changed("load")

    def _on_keep_alive_spin_changed(self, minutes: int) -> None:
        try:
            self._settings.engine_keep_alive_s = minutes * 60
        except ValidationError as exc:
            self.banner.show_error(
                self.tr("This was not changed: {error}").format(error=_first_error(exc))
            )
            self.show_settings()
            return
        self._changed("engine_keep_alive_s")

    def _on_origins_edit_finished(self) -> None:
        origins = parse_origins(self.origins_edit.text())
        if tuple(origins) != self.config.cors_origins and self._change_config(
            cors_origins=tuple(origins)
        ):
            self._reapply_if_on()

    # --- engine calls -------------------------------------------------------------------

    def _start(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        return self._tasks.start(coro)

    async def _apply(self, config: ApiServerConfig, previous: asyncio.Task[None] | None) -> None:
        if previous is not None and not previous.done():
            await asyncio.gather(previous, return_exceptions=True)
        error: str | None = None
        try:
            state = await self._engine.set_api_server(config)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # refused (port in use, bad host) or no engine: said here
            log.warning("API server: %s", exc)
            state = None
            error = _engine_error_text(exc)
        if self._closed or not shiboken6.isValid(self):
            return
        if self._apply_task is not asyncio.current_task():
            return  # a later change is on its way: it says how things are
        self._applying = False
        self._state = state if isinstance(state, dict) and state.get("enabled") else None
        if error is not None:
            self.banner.show_error(
                self.tr("The API server could not be started: {error}").format(error=error)
            )
            if self.config.enabled:
                # Off, so the next start does not fail the same way unseen; the port and
                # the key stay.
                self._settings.api_server = self.config.model_copy(update={"enabled": False})
                self._changed("api_server")
                self.show_settings()
        self._show_state(error)
        self.api_server_changed.emit(self._state)
        self._update_polling()

    def refresh_state(self) -> None:
        """What the engine last said its listener does (None while no engine runs)."""
        state = self._engine.api_server_state()
        self._state = state if isinstance(state, dict) and state.get("enabled") else None
        error = state.get("error") if isinstance(state, dict) else None
        # A refusal when the server came back with a new engine (the port taken meanwhile).
        self._show_state(str(error) if error and self.config.enabled else None)

    # --- the request log ----------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._show_snippets()  # the loaded model may have changed
        self._update_polling()
        if self._apply_task is None or self._apply_task.done():
            self.refresh_state()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._log_timer.stop()

    def _update_polling(self) -> None:
        if self.isVisible() and not self._closed:
            if not self._log_timer.isActive():
                self._log_timer.start()
                self._on_log_timer_timeout()
        else:
            self._log_timer.stop()

    @property
    def polling(self) -> bool:
        return self._log_timer.isActive()

    def _on_log_timer_timeout(self) -> None:
        if self._poll_task is not None and not self._poll_task.done():
            return  # the last poll has not come back yet
        if not self._engine.running:
            return  # no engine: no log, and a poll must not start one
        self._poll_task = self._start(self.poll_log())

    async def poll_log(self) -> int:
        """Fetch the entries after the last one shown; returns how many were new."""
        pid = self._engine.pid
        model = self.log_view.log_model
        if pid != self._log_pid:
            model.restart()  # a new engine process numbers its entries from 1 again
            self._log_pid = pid
        try:
            answer = await self._engine.request_log(model.last_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the engine went away between two polls: try later
            log.info("request log: %s", exc)
            return 0
        if self._closed or not shiboken6.isValid(self):
            return 0
        entries = answer.get("entries") if isinstance(answer, Mapping) else None
        last_id = answer.get("last_id") if isinstance(answer, Mapping) else None
        if isinstance(last_id, int) and last_id < model.last_id:
            model.restart()  # the engine's log started again
        added = model.add_entries(entries if isinstance(entries, list) else [])
        if self.config.enabled and not self._applying:
            # The Engine applies the server again after a restart: say how that went.
            self.refresh_state()
        self.log_polled.emit(added)
        return added

    # --- saving -------------------------------------------------------------------------

    def _on_save_timer_timeout(self) -> None:
        self._save_task = self._start(self._save())

    async def _save(self) -> None:
        if self._writer is None:
            return
        try:
            await asyncio.wrap_future(self._writer.save(self._settings))
        except OSError as exc:
            if shiboken6.isValid(self.banner):
                self.banner.show_error(
                    self.tr("Settings could not be saved to {path}: {error}").format(
                        path=self._writer.path, error=exc.strerror or exc
                    )
                )

    @property
    def save_pending(self) -> bool:
        return self._save_timer.isActive() or (
            self._save_task is not None and not self._save_task.done()
        )


def _port_range() -> tuple[int, int]:
    bounds = field_bounds(ApiServerConfig, "port")
    low = max(MIN_PORT, int(bounds.minimum or 0))
    high = int(bounds.maximum) if bounds.maximum is not None else 65535
    return low, high


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return str(exc)
    message = str(errors[0].get("msg", ""))
    with contextlib.suppress(Exception):
        message = message.removeprefix("Value error, ")
    return message


def _engine_error_text(exc: Exception) -> str:
    """An engine error in words: the engine's own message, else the failure's."""
    failure = getattr(exc, "failure", None)
    if failure is not None and getattr(failure, "message", None):
        return str(failure.message)
    return str(exc) or type(exc).__name__
