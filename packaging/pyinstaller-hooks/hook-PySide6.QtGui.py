"""PySide6.QtGui: PyInstaller's own hook minus the Qt files we don't ship (see bundle_layout.py)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bundle_layout import filtered_qt_hook

hiddenimports, binaries, datas = filtered_qt_hook(__file__)
