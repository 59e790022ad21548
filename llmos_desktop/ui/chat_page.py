"""The chat page, under the name the window and the self-test import it by.

It lives in ui/chat/ (page, sidebar, per-chat settings); see ui/chat/page.py.
"""

from __future__ import annotations

from llmos_desktop.ui.chat.page import (
    SEND_AT_START_ENV,
    STARTER_CHOICE,
    ChatPage,
    check_model_file_message,
)

__all__ = ["SEND_AT_START_ENV", "STARTER_CHOICE", "ChatPage", "check_model_file_message"]
