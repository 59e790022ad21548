"""Chats, without Qt: the store (one SQLite file), a chat's own options, the session (what
each chat action does to a stored conversation), and replies rendered as Markdown."""
