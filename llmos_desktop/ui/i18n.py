"""Which language the window speaks, and the Qt translators that make it speak it.

The source strings are English, so English needs no translator. For another language
two QTranslators are installed on the application before any widget is built: ours
(``resources/i18n/llmos_<lang>.qm``, built from the ``.ts`` by ``packaging/i18n.py``)
and Qt's own ``qtbase_<lang>.qm`` from PySide6's translations folder, which translates
the standard dialogs and buttons (the file dialog, "Close", "Cancel", context menus).

The language is chosen once, at start-up: widgets set their texts when they are built,
so a change in Settings applies at the next start (the page says so).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

from llmos_desktop.core.appearance import LANGUAGES, Language

log = logging.getLogger(__name__)

SOURCE_LANGUAGE: Language = "en"
# Shown in the language picker in the language itself, so anyone finds their own.
LANGUAGE_NAMES: dict[Language, str] = {"en": "English", "zh_CN": "简体中文"}


def system_language(locale: QLocale | None = None) -> Language:
    """The shipped translation that suits the system's UI languages, else English.

    Simplified Chinese is chosen for Chinese in the Simplified script or from mainland
    China or Singapore; Traditional Chinese (Taiwan, Hong Kong, Macao) is left in
    English rather than shown in a script its readers do not use.
    """
    locale = QLocale.system() if locale is None else locale
    for name in locale.uiLanguages() or [locale.name()]:
        candidate = QLocale(name)
        if candidate.language() == QLocale.Language.English:
            return "en"
        if candidate.language() == QLocale.Language.Chinese:
            if candidate.script() == QLocale.Script.TraditionalChineseScript:
                continue
            if candidate.script() == QLocale.Script.SimplifiedChineseScript or (
                candidate.territory()
                in (QLocale.Country.China, QLocale.Country.Singapore, QLocale.Country.AnyTerritory)
            ):
                return "zh_CN"
    return SOURCE_LANGUAGE


def choose_language(setting: str | None, locale: QLocale | None = None) -> Language:
    """The setting when it names a shipped translation, else the system's."""
    for language in LANGUAGES:
        if setting == language:
            return language
    return system_language(locale)


def translation_file(language: Language) -> Path:
    """Our compiled translation (.qm) for ``language``; FileNotFoundError when missing.

    Each file is named in full (tests/packaging checks that every file the code names
    is shipped); a new language adds a line here and one in core/settings.py's Language.
    """
    from llmos_desktop.resources import resource_path

    if language == "zh_CN":
        return resource_path("i18n", "llmos_zh_CN.qm")
    raise FileNotFoundError(f"no translation file for {language}")


def qt_translation_file(language: Language) -> Path:
    """Qt's own translation of its standard dialogs (may not exist in a pruned bundle)."""
    folder = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath))
    return folder / f"qtbase_{language}.qm"


def install_translators(app: QCoreApplication, language: Language) -> list[QTranslator]:
    """Install ours and Qt's translators for ``language`` on ``app``; the ones installed.

    Call before building widgets. A missing or unreadable file is logged and skipped:
    the window then shows English, never fails to start. The default QLocale follows the
    language too (numbers, Qt's date and size formats), unless the system's locale is
    already in that language (its territory's formats are then kept).
    """
    if QLocale.system().language() != QLocale(language).language():
        QLocale.setDefault(QLocale(language))
    if language == SOURCE_LANGUAGE:
        return []
    installed: list[QTranslator] = []
    try:
        ours = translation_file(language)
    except FileNotFoundError as exc:
        log.warning("no %s translation: %s", language, exc)
        ours = None
    for path in (ours, qt_translation_file(language)):
        if path is None:
            continue
        translator = QTranslator(app)  # parented: lives as long as the application
        if translator.load(str(path)) and app.installTranslator(translator):
            installed.append(translator)
        else:
            log.warning("could not load the translation %s", path)
            translator.deleteLater()
    return installed


def remove_translators(app: QCoreApplication, translators: list[QTranslator]) -> None:
    """Undo install_translators (tests switch languages in one process)."""
    for translator in translators:
        app.removeTranslator(translator)
        translator.deleteLater()
    QLocale.setDefault(QLocale.system())
