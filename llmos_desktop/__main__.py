"""``python -m llmos_desktop`` opens the window; ``--engine-child`` runs the engine process.

The engine flag is checked before anything heavy is imported, so the engine process
never loads Qt and the frozen app can use one executable for both. ``--self-test MODEL``
is the installer smoke test (llmos_desktop/selftest.py).
"""

from __future__ import annotations

import sys


def main() -> int:
    argv = sys.argv[1:]
    if "--engine-child" in argv:
        from llmos_desktop.core.engine.process.child import child_main

        return child_main(argv)
    if getattr(sys, "frozen", False) and "--multiprocessing-fork" in argv:
        # Nothing of ours uses multiprocessing; this keeps a library that does from
        # re-running the whole app in each worker of a frozen build.
        import multiprocessing

        multiprocessing.freeze_support()
        return 0
    if any(arg == "--self-test" or arg.startswith("--self-test=") for arg in argv):
        from llmos_desktop.selftest import selftest_main

        return selftest_main(argv)
    from llmos_desktop.app import main as app_main

    return app_main()


if __name__ == "__main__":
    raise SystemExit(main())
