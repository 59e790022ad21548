"""What every ``llmos`` command promises its callers: success without a traceback, and a
failure as one line ``llmos: error: ...`` on stderr with a non-zero exit status."""

from __future__ import annotations

import subprocess


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
