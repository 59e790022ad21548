"""Frozen entry point of ``llmos``, the command line.

``llmos serve`` and ``llmos chat`` start their engine as this same executable with
``--engine-child`` (core/engine/control/supervisor.py, engine_command), and the engine
probes new model files with ``--engine-probe``: those two go to the engine's entry
point, first and by position, as in the window's launcher.
"""

import sys

if sys.argv[1:2] in (["--engine-child"], ["--engine-probe"]):
    from llmos_desktop.__main__ import main
else:
    from llmos_desktop.cli import main

raise SystemExit(main())
