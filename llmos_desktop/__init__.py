"""LLMOS Desktop: local large language models for everyone."""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("llmos-desktop")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
