"""Factories and helpers shared by the test folders (GGUF writers, engine starters)."""
