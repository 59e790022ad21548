"""How every ``llmos`` command writes: results to stdout, notes and errors to stderr.

One place for it, so that each command's output keeps the same shape: ``--json`` is one
indented JSON document (UTF-8 text as it is, not escaped), an error is one line that
starts with ``llmos: error:``, and every line is flushed as it is written (a program that
reads a pipe sees progress as it happens).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any


def print_json(value: object) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2), flush=True)


def error(text: str) -> None:
    print(f"llmos: error: {text}", file=sys.stderr, flush=True)


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def say(text: str) -> None:
    print(text, flush=True)


def run_group(
    args: argparse.Namespace,
    group: str,
    run: Callable[[str], int],
    errors: Sequence[tuple[type[Exception], Callable[[Any], tuple[str | None, int]]]] = (),
    *,
    before_exit: Callable[[], None] | None = None,
) -> int:
    """``llmos GROUP ACTION``: ``run(ACTION)``'s exit status; without an action, the
    group's help and 2. An error ends it as one line and a status: a ``CliError`` with
    its code, an exception of a kind in ``errors`` with what its function says (text
    None: nothing written), Ctrl+C with 130. ``before_exit`` runs first (a progress
    line to clear)."""
    from llmos_desktop.cli import CliError

    action = getattr(args, f"{group}_command", None)
    if action is None:
        parser = getattr(args, f"{group}_parser", None)
        if parser is not None:
            parser.print_help(sys.stderr)
        return 2
    rules: list[tuple[type[Exception], Callable[[Any], tuple[str | None, int]]]] = [
        (CliError, lambda exc: (str(exc), exc.code)),
        *errors,
    ]
    try:
        return run(action)
    except KeyboardInterrupt:
        if before_exit is not None:
            before_exit()
        return 130
    except Exception as exc:
        for kind, describe in rules:
            if isinstance(exc, kind):
                if before_exit is not None:
                    before_exit()
                text, code = describe(exc)
                if text is not None:
                    error(text)
                return code
        raise
