"""What every ``llmos`` command promises its callers: success without a traceback, and a
failure as one line ``llmos: error: ...`` on stderr with a non-zero exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def assert_ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result
    assert "Traceback" not in result.stderr
    return result


def assert_one_line_error(
    result: subprocess.CompletedProcess[str], *needles: str, code: int | None = None
) -> str:
    """The error line, after checking it is the only one, names every needle, and the
    exit status is non-zero (``code`` when given)."""
    assert result.returncode != 0, result
    if code is not None:
        assert result.returncode == code, result
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("llmos: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def one_thread_home(home: Path, n_ctx: int) -> Path:
    """``home`` (an empty LLMOS_HOME) with settings that load models on one thread in a
    small context: llama.cpp's spinning threads crawl on the shared, busy cores of a
    test machine."""
    config = home / "config"
    config.mkdir(parents=True)
    (config / "settings.json").write_text(
        json.dumps({"load": {"n_threads": 1, "n_ctx": n_ctx}}), encoding="utf-8"
    )
    return home


def llmos(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``llmos ARGS`` in a child Python (no terminal on stdin), its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "llmos_desktop.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
