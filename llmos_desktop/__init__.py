"""LLMOS Desktop: local large language models for everyone."""

from __future__ import annotations

import os

# pydantic looks for plugins by reading the entry points of every installed distribution
# the first time a model class is built (tens of ms at each start of the window, the
# engine and the CLI). LLMOS uses no pydantic plugin; a user who sets this keeps theirs.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # Looked up when first asked for: importlib.metadata costs ~20-35 ms, which every
    # start of the window (and of the engine process) would pay for nothing.
    if name == "__version__":
        from importlib import metadata

        try:
            version = metadata.version("llmos-desktop")
        except metadata.PackageNotFoundError:  # a source tree that was never installed
            version = "0.0.0+unknown"
        globals()["__version__"] = version
        return version
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
