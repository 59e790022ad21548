"""The About dialog: version, engine backend, and the licences of what the app bundles.

Everything shown is plain text (no rich text, no links rendered as HTML). Qt and PySide6
are LGPL: the dialog says so and where their source is, as the licence asks. The full
licence texts ship in the installed app's ``licenses`` folder (build.spec collects them).
It also shows the logs folder (``app.log``, ``engine.log``), with a button that opens it,
and what kind of build this is (llmos_desktop/build_info.py): portable or tuned to the
build machine's processor, with or without the starter model, or a development checkout,
so a user (or a bug report) can tell the installers apart.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, QUrl, qVersion
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop import __version__
from llmos_desktop.build_info import BuildInfo, read_build_info
from llmos_desktop.resources import app_icon

QT_SOURCE_URL = "https://download.qt.io/official_releases/qt/"
PYSIDE_SOURCE_URL = "https://download.qt.io/official_releases/QtForPython/pyside6/"


def licenses_folder() -> Path | None:
    """Where the installed app keeps the licence texts; None when running from source."""
    meipass = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and meipass:
        folder = Path(meipass) / "licenses"
        if folder.is_dir():
            return folder
    return None


def default_logs_folder() -> Path:
    """Where this process logs: app.log's folder once logs.setup_logging ran, else the
    logs folder of the app's paths (LLMOS_HOME's in tests)."""
    from llmos_desktop.core.paths import app_paths
    from llmos_desktop.logs import log_file

    current = log_file()
    return current.parent if current is not None else app_paths().logs


def _llama_cpp_python_version() -> str:
    """From package metadata, so the GUI never imports llama_cpp (it loads native code)."""
    from importlib import metadata

    try:
        return metadata.version("llama_cpp_python")
    except metadata.PackageNotFoundError:
        return ""


def licence_text() -> str:
    """The component list with licences, as plain text (also used by tests)."""
    llama_version = _llama_cpp_python_version()
    python_version = ".".join(str(p) for p in sys.version_info[:3])
    folder = licenses_folder()
    where = (
        f"The full licence texts are in {folder}."
        if folder is not None
        else "Each component's licence text comes with its Python package."
    )
    return "\n".join(
        [
            f"LLMOS Desktop {__version__}: MIT licence.",
            "",
            "Bundled components and their licences:",
            "",
            f"Qt {qVersion()} and PySide6 {pyside_version} (Qt for Python): GNU LGPL v3.",
            "  LLMOS Desktop uses them unmodified and dynamically linked; you may replace",
            "  them with your own build. Source code:",
            f"    Qt: {QT_SOURCE_URL}",
            f"    PySide6: {PYSIDE_SOURCE_URL}",
            "",
            "llama.cpp and ggml (the inference engine): MIT licence.",
            "  https://github.com/ggml-org/llama.cpp",
            f"{('llama-cpp-python ' + llama_version).strip()}: MIT licence.",
            "  https://github.com/abetlen/llama-cpp-python",
            f"Python {python_version}: Python Software Foundation licence.",
            "",
            "Others: FastAPI, pydantic, anyio, h11, platformdirs, httpx-sse, httptools",
            "and PyYAML (MIT); uvloop (MIT or Apache 2.0); Starlette, uvicorn, httpx,",
            "sse-starlette, Jinja2, MarkupSafe, psutil, qasync and NumPy (BSD), with",
            "OpenBLAS inside NumPy (BSD) and its Fortran runtime (GPL v3 with the GCC",
            "runtime library exception); huggingface_hub and hf-xet (Apache 2.0);",
            "certifi (MPL 2.0); tqdm (MPL 2.0 and MIT); OpenSSL (Apache 2.0);",
            "SQLite (public domain).",
            "",
            where,
        ]
    )


class AboutDialog(QDialog):
    """``AboutDialog(backend="CPU")``: ``backend`` is what the engine reports (or "not started").

    ``logs_folder`` is shown, and opened by the "Open Log Folder" button; by default
    ``default_logs_folder()``. ``build``: this installation's build (default: read from
    the bundle; a checkout is "development").
    """

    def __init__(
        self,
        *,
        backend: str,
        logs_folder: Path | None = None,
        build: BuildInfo | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.logs_folder = default_logs_folder() if logs_folder is None else logs_folder
        self.build = read_build_info() if build is None else build
        self.setWindowTitle(self.tr("About LLMOS Desktop"))
        self.setWindowIcon(app_icon())
        self.setMinimumSize(620, 480)

        icon = QLabel(self)
        icon.setPixmap(app_icon().pixmap(64, 64))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.title_label = QLabel(self.tr("LLMOS Desktop {version}").format(version=__version__))
        self.title_label.setObjectName("aboutTitle")
        font = self.title_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.title_label.setFont(font)
        self.backend_label = QLabel(self.tr("Engine backend: {backend}").format(backend=backend))
        self.backend_label.setObjectName("aboutBackend")
        self.build_label = QLabel(self.build_description(self.build))
        self.build_label.setObjectName("aboutBuild")
        self.build_label.setWordWrap(True)
        summary = QLabel(
            self.tr("Local large language models in one window, with an OpenAI-compatible API.")
        )
        summary.setWordWrap(True)
        self.logs_label = QLabel(self.tr("Logs: {folder}").format(folder=self.logs_folder))
        self.logs_label.setObjectName("aboutLogs")
        self.logs_label.setWordWrap(True)
        for label in (
            self.title_label,
            self.backend_label,
            self.build_label,
            summary,
            self.logs_label,
        ):
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        heading = QVBoxLayout()
        heading.setSpacing(4)
        heading.addWidget(self.title_label)
        heading.addWidget(self.backend_label)
        heading.addWidget(self.build_label)
        heading.addWidget(summary)
        heading.addWidget(self.logs_label)
        heading.addStretch(1)
        top = QHBoxLayout()
        top.setSpacing(16)
        top.addWidget(icon)
        top.addLayout(heading, 1)

        self.licences = QPlainTextEdit(self)
        self.licences.setObjectName("aboutLicences")
        self.licences.setReadOnly(True)
        self.licences.setPlainText(licence_text())

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        self.open_logs_button = QPushButton(self.tr("Open Log Folder"), self)
        self.open_logs_button.setObjectName("aboutOpenLogs")
        self.open_logs_button.setEnabled(self.logs_folder.is_dir())
        self.open_logs_button.clicked.connect(self._on_open_logs_button_clicked)
        buttons.addButton(self.open_logs_button, QDialogButtonBox.ButtonRole.ActionRole)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(QLabel(self.tr("Licences")))
        layout.addWidget(self.licences, 1)
        layout.addWidget(buttons)

    def build_description(self, build: BuildInfo) -> str:
        """One or two sentences: the build's kind, and whether the starter is inside."""
        if build.is_development:
            return self.tr(
                "Build: development (running from source; the engine was compiled on this "
                "computer)."
            )
        if build.is_portable:
            kind = (
                self.tr("Build: portable, for {baseline} processors or newer.").format(
                    baseline=build.cpu_baseline
                )
                if build.cpu_baseline
                else self.tr("Build: portable.")
            )
        elif build.is_native:
            kind = self.tr(
                "Build: tuned to the processor of the computer it was built on; it may not "
                "run on other computers."
            )
        else:
            return self.tr("Build: unknown (this installation has no build information).")
        starter = (
            self.tr("The starter model is included.")
            if build.starter
            else self.tr("The starter model is not included.")
        )
        return f"{kind} {starter}"

    def _on_open_logs_button_clicked(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.logs_folder)))
