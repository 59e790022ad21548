"""Models: GGUF metadata, the local library, Hub search, downloads and fit checks."""
