"""The chat page and its parts: the conversation list, the per-chat settings, the page.

``page.ChatPage`` puts them together; ``ui/chat_page.py`` re-exports it under the name
the window and the self-test have always imported.
"""
