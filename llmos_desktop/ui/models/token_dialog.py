"""Asks for a Hugging Face access token (for gated or private repositories).

The dialog only collects the text: the caller stores it with ``TokenStore.set`` off the
GUI thread (the system keyring, or a file only the user can read) and says where. The
field hides what is typed, and the token is never shown again, logged or put in a
label; it is only ever sent to the Hub endpoint (core/models/hub.py).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from llmos_desktop.core.models.hub_token import MAX_TOKEN_CHARS, check_token
from llmos_desktop.core.models.types import ModelsError

# What a Hugging Face token starts with: shown in the empty field, not a word to translate.
TOKEN_SHAPE = "hf_…"


class TokenDialog(QDialog):
    """A password field with a short explanation; ``token()`` after it is accepted."""

    def __init__(
        self, parent: QWidget | None = None, *, repo_id: str | None = None, reason: str = ""
    ) -> None:
        super().__init__(parent)
        self.setObjectName("tokenDialog")
        self.setWindowTitle(self.tr("Hugging Face token"))
        if repo_id:
            intro = self.tr(
                "{repo} needs a Hugging Face access token from an account that has accepted "
                "its terms."
            ).format(repo=repo_id)
        else:
            intro = self.tr("Gated and private repositories need a Hugging Face access token.")
        self.intro_label = QLabel(intro, self)
        self.intro_label.setTextFormat(Qt.TextFormat.PlainText)
        self.intro_label.setWordWrap(True)
        self.reason_label = QLabel(reason, self)
        self.reason_label.setTextFormat(Qt.TextFormat.PlainText)
        self.reason_label.setWordWrap(True)
        self.reason_label.setVisible(bool(reason))
        self.help_label = QLabel(
            self.tr(
                "Make a token with read access in your account's settings on the Hub "
                "(Settings → Access Tokens). It is kept in the system keyring, or where "
                "there is none in a file only you can read, and sent only to the Hub."
            ),
            self,
        )
        self.help_label.setTextFormat(Qt.TextFormat.PlainText)
        self.help_label.setWordWrap(True)
        self.field_label = QLabel(self.tr("&Token:"), self)
        self.token_edit = QLineEdit(self)
        self.token_edit.setObjectName("tokenEdit")
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setAccessibleName(self.tr("Token"))
        self.token_edit.setPlaceholderText(TOKEN_SHAPE)
        self.token_edit.setMaxLength(MAX_TOKEN_CHARS)
        self.field_label.setBuddy(self.token_edit)
        self.error_label = QLabel(self)
        self.error_label.setObjectName("tokenError")
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro_label)
        layout.addWidget(self.reason_label)
        layout.addWidget(self.help_label)
        layout.addWidget(self.field_label)
        layout.addWidget(self.token_edit)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(420)
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)

    def token(self) -> str:
        return self.token_edit.text().strip()

    def _on_buttons_accepted(self) -> None:
        if not self.token():
            self._refuse(self.tr("Enter a token, or Cancel."))
            return
        try:
            check_token(self.token())  # the store checks it again; this says it at once
        except ModelsError:
            self._refuse(self.tr("Paste the token as the Hub shows it: one word, no spaces."))
            return
        self.accept()

    def _refuse(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()
        self.token_edit.setFocus()
