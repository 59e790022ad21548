"""Frozen entry point of ``llmos``, the command line."""

from llmos_desktop.cli import main

raise SystemExit(main())
