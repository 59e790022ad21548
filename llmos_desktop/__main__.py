"""``python -m llmos_desktop`` opens the window; ``--engine-child`` runs the engine process.

The engine flag is checked before anything heavy is imported, so the engine process
never loads Qt and the frozen app can use one executable for both.
"""

from __future__ import annotations

import sys


def main() -> int:
    if "--engine-child" in sys.argv[1:]:
        from llmos_desktop.core.engine.child import child_main

        return child_main(sys.argv[1:])
    from llmos_desktop.app import main as app_main

    return app_main()


if __name__ == "__main__":
    raise SystemExit(main())
