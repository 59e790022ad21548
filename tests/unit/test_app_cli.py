"""``llmos-desktop --help`` / ``--version`` answer on the terminal and open no window.

Run as a user would: a fresh process, no QT_QPA_PLATFORM and no display. Had a
QApplication been created there, Qt would have aborted (xcb without a display), so a
zero exit with the text already shows none was; the tests also ask Qt directly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmos_desktop import __version__
from llmos_desktop.__main__ import parse_command_line

# The gui-script entry (llmos_desktop.app:main), then: was a QApplication created?
APP_MAIN = """
import sys
from llmos_desktop.app import main
try:
    code = main(["llmos-desktop", *sys.argv[1:]])
except SystemExit as exit:
    code = exit.code
from PySide6.QtWidgets import QApplication
print("qt-app:", QApplication.instance())
raise SystemExit(code)
"""


def _run(*command: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"}
    }
    env["LLMOS_HOME"] = str(home)
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _assert_usage(out: str) -> None:
    assert out.startswith("usage: llmos-desktop")
    assert "--self-test MODEL" in out
    assert "--version" in out
    assert "-platform" in out  # Qt's options are mentioned as passed through


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_module_help_prints_usage_without_importing_qt(flag: str, llmos_home: Path) -> None:
    run = _run(sys.executable, "-X", "importtime", "-m", "llmos_desktop", flag, home=llmos_home)
    assert run.returncode == 0, run.stderr
    _assert_usage(run.stdout)
    # -X importtime lists every module imported: Qt was not even loaded.
    assert "PySide6" not in run.stderr
    assert "qasync" not in run.stderr


def test_module_version(llmos_home: Path) -> None:
    run = _run(sys.executable, "-m", "llmos_desktop", "--version", home=llmos_home)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"llmos-desktop {__version__}"


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_the_script_entry_creates_no_qt_application(flag: str, llmos_home: Path) -> None:
    run = _run(sys.executable, "-c", APP_MAIN, flag, home=llmos_home)
    assert run.returncode == 0, run.stderr
    assert run.stdout.rstrip().endswith("qt-app: None")
    if flag == "--help":
        _assert_usage(run.stdout)
    else:
        assert run.stdout.startswith(f"llmos-desktop {__version__}\n")


def test_the_installed_script_prints_help(llmos_home: Path) -> None:
    script = Path(sys.executable).with_name("llmos-desktop")
    if not script.is_file():
        pytest.skip("llmos-desktop is not installed next to this Python")
    run = _run(str(script), "--help", home=llmos_home)
    assert run.returncode == 0, run.stderr
    _assert_usage(run.stdout)


def test_the_script_entry_routes_self_test(tmp_path: Path, llmos_home: Path) -> None:
    """``llmos-desktop --self-test MODEL`` runs the self-test, not the window."""
    model = tmp_path / "absent.gguf"
    run = _run(sys.executable, "-c", APP_MAIN, "--self-test", str(model), home=llmos_home)
    assert run.returncode == 1, run.stderr
    result = json.loads(run.stdout.splitlines()[0])
    assert result["ok"] is False and "no model file" in result["error"]


@pytest.mark.parametrize(
    "qt_args",
    [
        ["-platform", "offscreen"],
        ["-style", "fusion", "-reverse"],
        ["-platform", "xcb", "-display", ":1", "-session", "abc"],
        ["--platform", "wayland", "-qwindowtitle", "x"],
        ["--self"],  # no abbreviation of our options swallows an argument
    ],
)
def test_qt_options_pass_through(qt_args: list[str]) -> None:
    options, rest = parse_command_line(qt_args)
    assert rest == qt_args
    assert options.self_test is None
