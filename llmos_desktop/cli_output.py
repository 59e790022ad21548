"""How every ``llmos`` command writes: results to stdout, notes and errors to stderr.

One place for it, so that each command's output keeps the same shape: ``--json`` is one
indented JSON document (UTF-8 text as it is, not escaped), an error is one line that
starts with ``llmos: error:``, and every line is flushed as it is written (a program that
reads a pipe sees progress as it happens).
"""

from __future__ import annotations

import json
import sys


def print_json(value: object) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2), flush=True)


def error(text: str) -> None:
    print(f"llmos: error: {text}", file=sys.stderr, flush=True)


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def say(text: str) -> None:
    print(text, flush=True)
