"""How the Store pane words an app's category, mode, input types and errors.

One place for the words, so the catalogue, the app page, the run view and the builder say
"Translation" and "Form" the same way. Every string goes through
``QCoreApplication.translate`` with the context ``StoreWording`` spelled out in each call
(these are functions, not widgets, so they have no ``self.tr``; and pyside6-lupdate
finds a context only when it is written in the call).

An app's own texts (its name, description, input labels) come from its manifest, in
English and Simplified Chinese: ``ui_language`` says which one the window speaks, and
``localized_name`` / ``localized_description`` / ``input_label`` pick it.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QLocale

from llmos_desktop.core.apps.manifest import AppError, AppManifest, InputField


def ui_language() -> str:
    """The language the window speaks: "zh_CN" or "en".

    ui/i18n.py installs the translators and makes the default QLocale follow the
    language chosen at start-up (unless the system's locale is in it already), so the
    default locale's language is the window's.
    """
    return "zh_CN" if QLocale().language() == QLocale.Language.Chinese else "en"


def localized_name(app: AppManifest, language: str) -> str:
    """The app's name in ``language``, else in English, else its plain name."""
    return app.display_name(language)


def localized_description(app: AppManifest, language: str) -> str:
    return app.display_description(language)


def input_label(field: InputField, language: str) -> str:
    """An input's label in ``language`` (else English, else its name)."""
    return field.display_label(language)


def category_text(category: str) -> str:
    """A category as a heading in the catalogue's list; an unknown one as it is written."""
    names = {
        "writing": QCoreApplication.translate("StoreWording", "Writing"),
        "translation": QCoreApplication.translate("StoreWording", "Translation"),
        "questions": QCoreApplication.translate("StoreWording", "Questions and answers"),
        "summaries": QCoreApplication.translate("StoreWording", "Summaries"),
        "code": QCoreApplication.translate("StoreWording", "Code"),
        "data": QCoreApplication.translate("StoreWording", "Data extraction"),
        "productivity": QCoreApplication.translate("StoreWording", "Productivity"),
        "learning": QCoreApplication.translate("StoreWording", "Learning"),
        "other": QCoreApplication.translate("StoreWording", "Other"),
    }
    return names.get(category, category)


def all_categories_text() -> str:
    return QCoreApplication.translate("StoreWording", "All apps")


def mode_text(mode: str) -> str:
    names = {
        "chat": QCoreApplication.translate("StoreWording", "Chat"),
        "form": QCoreApplication.translate("StoreWording", "Form"),
        "structured": QCoreApplication.translate("StoreWording", "Structured data"),
    }
    return names.get(mode, mode)


def mode_detail(mode: str) -> str:
    """What running an app of this mode does, for a tooltip and the app page."""
    details = {
        "chat": QCoreApplication.translate(
            "StoreWording", "Opens a new chat with this app's instructions."
        ),
        "form": QCoreApplication.translate(
            "StoreWording", "Fill in a form; the answer is written as it comes."
        ),
        "structured": QCoreApplication.translate(
            "StoreWording",
            "Fill in a form; the answer is data that follows the app's schema, shown as a "
            "table or fields.",
        ),
    }
    return details.get(mode, "")


def input_type_text(kind: str) -> str:
    names = {
        "text": QCoreApplication.translate("StoreWording", "Text"),
        "multiline": QCoreApplication.translate("StoreWording", "Long text"),
        "choice": QCoreApplication.translate("StoreWording", "Choice"),
        "number": QCoreApplication.translate("StoreWording", "Number"),
        "toggle": QCoreApplication.translate("StoreWording", "Yes / no"),
    }
    return names.get(kind, kind)


def error_text(error: BaseException) -> str:
    """An app or service error in words: the manifest's field, then its message."""
    if isinstance(error, AppError):
        message = error.message.strip() or QCoreApplication.translate(
            "StoreWording", "Something went wrong."
        )
        if error.field:
            return QCoreApplication.translate("StoreWording", "{field}: {message}").format(
                field=error.field, message=message
            )
        return message
    return QCoreApplication.translate("StoreWording", "Unexpected error: {error}").format(
        error=str(error) or type(error).__name__
    )
