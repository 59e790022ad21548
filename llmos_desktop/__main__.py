"""``python -m llmos_desktop`` opens the window; ``--engine-child`` runs the engine process.

``--engine-probe PATH`` is the engine's throwaway test of a model file that llama.cpp
might abort or hang on (see llama_api.probe_main); the engine starts it so.
``--lab-worker`` is the model lab's worker process (core/lab/worker.py).

The engine flag is checked before anything heavy is imported, so the engine process
never loads Qt and the frozen app can use one executable for both. ``--self-test MODEL``
is the installer smoke test (llmos_desktop/selftest.py).

The desktop command line (``--help``, ``--version``) is defined here, in this light
module, and used by both entry points: this one (``python -m``, the frozen launcher) and
the ``llmos-desktop`` script, which calls ``llmos_desktop.app:main``. Here ``--help``
answers without importing Qt at all.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

PROG = "llmos-desktop"


def build_parser() -> argparse.ArgumentParser:
    """The options of the window command; everything it does not know is Qt's.

    ``allow_abbrev=False`` so that no Qt option is taken for an abbreviation of ours.
    ``--self-test`` is listed for the help only: it is routed before parsing, so that
    ``--self-test MODEL --help`` shows the self-test's own options.
    """
    from llmos_desktop import __version__  # importlib.metadata: not for the engine's start

    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "LLMOS Desktop: chat with local GGUF models and serve them as an "
            "OpenAI-compatible API, all in one window. Run without options to open it."
        ),
        epilog=(
            "Other options go to Qt, e.g. -platform xcb|wayland|offscreen, -style fusion. "
            "The command line server is the separate 'llmos' command (llmos serve --help)."
        ),
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--self-test",
        metavar="MODEL",
        help="check this installation end to end with a .gguf model: open the window, load "
        "MODEL, stream one reply, close; prints one JSON line, exit status 0 = passed "
        "(--self-test MODEL --help for its options)",
    )
    return parser


def wants_self_test(args: Sequence[str]) -> bool:
    return any(arg == "--self-test" or arg.startswith("--self-test=") for arg in args)


def parse_command_line(args: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our options and the arguments left for Qt (``args`` without the program name).

    ``--help`` and ``--version`` print and exit 0 here (SystemExit), before any
    QApplication exists.
    """
    return build_parser().parse_known_args(list(args))


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["--engine-probe"]:
        # The engine's throwaway test of a model file (llama_api.probe_main); first, and
        # by position, so that no model path is ever taken for one of the flags below.
        from llmos_desktop.core.engine.process.llama_api import probe_main

        return probe_main(args[1:])
    if args[:1] == ["--lab-worker"]:
        # The model lab's worker: one JSON job on stdin (core/lab/worker.py).
        from llmos_desktop.core.lab.worker import worker_main

        return worker_main(args[1:])
    if "--engine-child" in args:
        from llmos_desktop.core.engine.process.child import child_main

        return child_main(args)
    if getattr(sys, "frozen", False) and "--multiprocessing-fork" in args:
        # Nothing of ours uses multiprocessing; this keeps a library that does from
        # re-running the whole app in each worker of a frozen build.
        import multiprocessing

        multiprocessing.freeze_support()
        return 0
    if wants_self_test(args):
        from llmos_desktop.selftest import selftest_main

        return selftest_main(args)
    parse_command_line(args)  # --help / --version end here, without importing Qt
    from llmos_desktop.app import main as app_main

    return app_main([sys.argv[0], *args])


if __name__ == "__main__":
    raise SystemExit(main())
