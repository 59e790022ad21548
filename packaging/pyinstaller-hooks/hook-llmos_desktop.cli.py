"""PyInstaller hook for ``llmos_desktop.cli``: its subcommand modules.

cli.py imports each subcommand's module by name when it runs
(``importlib.import_module(f"llmos_desktop.cli_{name}")``), which PyInstaller's import
analysis cannot follow: without this hook the frozen ``llmos`` dies at start with
"No module named 'llmos_desktop.cli_models'". Every ``llmos_desktop/cli_*.py`` goes in,
so a new subcommand needs no change here.
"""

from __future__ import annotations

from pathlib import Path

import llmos_desktop

hiddenimports = sorted(
    f"llmos_desktop.{path.stem}"
    for path in Path(llmos_desktop.__file__).resolve().parent.glob("cli_*.py")
)
