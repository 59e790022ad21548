"""Frozen entry point of ``llmos-desktop``: the window, ``--engine-child`` or ``--self-test``."""

from llmos_desktop.__main__ import main

raise SystemExit(main())
