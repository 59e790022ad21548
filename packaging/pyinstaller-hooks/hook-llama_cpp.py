"""PyInstaller hook for llama-cpp-python (PyInstaller and its contrib hooks have none).

llama_cpp loads its native libraries with ctypes from ``<package>/lib`` at import
time (llama_cpp/_ctypes_extensions.py: load_shared_library), which PyInstaller's
import analysis cannot see; without this hook a frozen app dies with "Shared library
with base name 'llama' not found". The libraries go to the same relative place in
the bundle (``llama_cpp/lib``), where that loader and the libraries' own
``$ORIGIN``/``@loader_path`` search paths find each other.

CUDA/Vulkan builds link against the toolkit's runtime libraries (cudart, cublas,
vulkan-1); PyInstaller's binary dependency analysis collects the ones it can find.
The user's GPU driver itself is never bundled.
"""

from __future__ import annotations

from PyInstaller.utils.hooks import collect_dynamic_libs

# Every shared library under llama_cpp/ (lib/*.so*, *.dylib, *.dll), kept in place.
binaries = collect_dynamic_libs("llama_cpp")

# The server extra (llama_cpp.server) is not used: the app has its own server.
excludedimports = ["llama_cpp.server"]
