"""Chats: the conversation logic (session) and, later, the conversation store."""
